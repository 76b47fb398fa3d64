"""Views of a clip that the video tower reads: the whole frame, and an object-centred glimpse.

    clip (B, 3, T, H, W), decoded at ``scale`` x the tower's input size S
      ├─► frame view: area downscale by ``scale``                    (B, 3, T, S, S)
      └─► object view: saliency ─► the most salient blob, followed from frame to frame
            ─► a square around it, one side for the whole clip ─► resampled to S x S   (B, 3, T, S, S)

The object view exists because small objects lose their shape at the tower's size: on the demo's world an
object is 7-13 px across in a 48 px frame, and a from-scratch tower learns its colour but memorizes its shape
(docs/EVALUATION.md, "Why shape does not come"). The glimpse shows the object at about a third of the view,
whatever its size and position, from frames decoded at twice the size.

Saliency is frequency-tuned (Achanta et al. 2009): a pixel's distance, in an opponent colour space, from the
frame's mean colour, after a light blur. It needs no training and no weights, and runs on any device.
The blob is followed by preferring, in each frame, peaks near the previous frame's; its extent is the box of
the pixels at least half as salient as the peak, in a window around it. Everything is batched tensor work.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from einops import rearrange

GLIMPSE_MARGIN = 1.5  # the square's side over the blob's extent
TRACK_SIGMA = 0.25  # how far (share of the frame height) a blob is expected to move between sampled frames
TRACK_FLOOR = 0.3  # weight left to peaks far from the previous one (a new object may take over)


def frame_view(x: torch.Tensor, scale: int) -> torch.Tensor:
    """(B, C, T, H, W) -> (B, C, T, H / scale, W / scale): area downscale (exact at integer ``scale``)."""
    return x if scale == 1 else F.avg_pool3d(x, kernel_size=(1, scale, scale))


def saliency(x: torch.Tensor) -> torch.Tensor:
    """(N, 3, H, W) frames (RGB, any affine normalization) -> (N, H, W) distance from the frame's mean colour."""
    r, g, b = x.unbind(1)
    opponent = torch.stack([(r + g + b) / 3, r - g, (r + g) / 2 - b], dim=1)  # lightness, red-green, yellow-blue
    blurred = F.avg_pool2d(opponent, 3, stride=1, padding=1, count_include_pad=False)
    d = blurred - opponent.mean(dim=(2, 3), keepdim=True)
    return (d * d).sum(1).sqrt()  # (N, H, W); Tensor.norm over dim 1 is a slow path on CPU


def _smooth(s: torch.Tensor, radius: int) -> torch.Tensor:
    """(N, H, W) -> (N, H, W): two box blurs, close to a Gaussian of about ``radius`` px."""
    k = 2 * radius + 1
    s = F.avg_pool2d(s[:, None], k, stride=1, padding=radius, count_include_pad=False)
    return F.avg_pool2d(s, k, stride=1, padding=radius, count_include_pad=False)[:, 0]


def object_boxes(x: torch.Tensor, scale: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, 3, T, H, W) -> per frame, the glimpse centre (B, T, 2) as (y, x) pixels and its side (B,) in pixels.

    The blob is looked for at 1 / ``scale`` of the size (the view's size: enough to find it, 1 / scale² of the
    work) and its box is given in the pixels of ``x``."""
    x = frame_view(x, scale)
    B, _, T, H, W = x.shape
    sal = rearrange(saliency(rearrange(x, "b c t h w -> (b t) c h w")), "(b t) h w -> b t h w", b=B)
    smooth = rearrange(_smooth(rearrange(sal, "b t h w -> (b t) h w"), max(1, H // 48)), "(b t) h w -> b t h w", b=B)
    ys = torch.arange(H, device=x.device, dtype=x.dtype)[:, None].expand(H, W)
    xs = torch.arange(W, device=x.device, dtype=x.dtype)[None, :].expand(H, W)
    window = H / 4  # half the side of the region searched for the blob's extent (objects are under H / 2)
    centres, sides, prev = [], [], None
    for t in range(T):
        s = smooth[:, t]  # (B, H, W)
        if prev is not None:
            d2 = (ys - prev[:, 0, None, None]) ** 2 + (xs - prev[:, 1, None, None]) ** 2
            s = s * (TRACK_FLOOR + torch.exp(-d2 / (2 * (TRACK_SIGMA * H) ** 2)))
        peak = s.flatten(1).argmax(1)  # (B,)
        py, px = (peak // W).to(x.dtype), (peak % W).to(x.dtype)
        level = smooth[:, t].flatten(1).gather(1, peak[:, None])[:, 0]  # (B,)
        near = ((ys - py[:, None, None]).abs() <= window) & ((xs - px[:, None, None]).abs() <= window)
        mask = near & (sal[:, t] >= 0.5 * level[:, None, None])
        big, small = torch.finfo(x.dtype).max, torch.finfo(x.dtype).min
        y0 = torch.where(mask, ys, big).amin(dim=(1, 2))
        y1 = torch.where(mask, ys, small).amax(dim=(1, 2))
        x0 = torch.where(mask, xs, big).amin(dim=(1, 2))
        x1 = torch.where(mask, xs, small).amax(dim=(1, 2))
        found = mask.any(dim=(1, 2))
        cy = torch.where(found, (y0 + y1) / 2, py)
        cx = torch.where(found, (x0 + x1) / 2, px)
        side = torch.where(found, torch.maximum(y1 - y0, x1 - x0) + 1, torch.full_like(py, H / 3))
        centres.append(torch.stack([cy, cx], dim=1))
        sides.append(side)
        prev = centres[-1]
    side = (torch.stack(sides, dim=1).median(dim=1).values * GLIMPSE_MARGIN).clamp(H / 8, H)  # one side per clip
    return (torch.stack(centres, dim=1) + 0.5) * scale - 0.5, side * scale


MOTION_FEATURES = 4
MOTION_SCALE = 10.0  # a fast object moves about 0.07 of the frame per sampled frame: features of order 1


def object_motion(centre: torch.Tensor, height: int) -> torch.Tensor:
    """The track ``centre`` (B, T, 2) of ``object_boxes``, in pixels of frames ``height`` high -> (B, 4): how the
    clip's most salient object moves, in frame heights per sampled frame (x 10): the median step down and right
    (robust to a wrap-around at an edge), the mean step length, and how much the steps vary (a bounce turns, a
    drift does not). Zeros for a single frame."""
    B, T, _ = centre.shape
    if T < 2:
        return centre.new_zeros(B, MOTION_FEATURES)
    steps = centre.diff(dim=1) / height * MOTION_SCALE  # (B, T - 1, 2)
    length = steps.square().sum(-1).sqrt()  # (B, T - 1)
    spread = (steps - steps.median(dim=1, keepdim=True).values).abs().mean(dim=(1, 2))
    return torch.cat([steps.median(dim=1).values, length.mean(1, keepdim=True), spread[:, None]], dim=1)


def object_view(x: torch.Tensor, size: int, boxes: tuple[torch.Tensor, torch.Tensor] | None = None) -> torch.Tensor:
    """(B, 3, T, H, W) -> (B, 3, T, size, size): each frame's glimpse of the clip's most salient object.
    ``boxes``: ``object_boxes(x, H // size)`` when the caller has them."""
    B, C, T, H, W = x.shape
    centre, side = boxes if boxes is not None else object_boxes(x, max(1, H // size))  # (B, T, 2), (B,)
    frames = rearrange(x, "b c t h w -> (b t) c h w")
    cy, cx = rearrange(centre, "b t yx -> yx (b t)")
    span = side.repeat_interleave(T)  # (B*T,)
    zero = torch.zeros_like(span)
    # affine_grid maps the output square to input coordinates in [-1, 1] (align_corners=False)
    theta = torch.stack(
        [
            torch.stack([span / W, zero, (2 * cx + 1) / W - 1], dim=1),
            torch.stack([zero, span / H, (2 * cy + 1) / H - 1], dim=1),
        ],
        dim=1,
    )  # (B*T, 2, 3)
    grid = F.affine_grid(theta, (B * T, C, size, size), align_corners=False)
    glimpse = F.grid_sample(frames, grid, mode="bilinear", padding_mode="border", align_corners=False)
    return rearrange(glimpse, "(b t) c h w -> b c t h w", b=B)
