"""Render a video's attributes into a real video file with PyAV.

    attributes --Scene--> frames (H, W, 3) uint8 --PyAV--> .mp4 (H.264) / .webm (VP9)

A frame is drawn in three layers: the background (plain, gradient, vertical
bands or a grid, shifted by the camera pan and scaled by the zoom), the
objects (shape, colour and texture in the object's own rotating frame, moved
by their motion), then lighting and sensor noise over the whole picture, applied
while converting to the encoder's yuv420p.
Linear motion wraps around the frame edges, so the picture content moves by
exactly ``speed / fps`` pixels a frame. Each video draws from its own
``render_seed``; the same spec always gives the same frames.

``render_catalog`` renders many videos in a process pool (spawned workers,
one encoder thread each). Run ``python -m lab.synthetic.render --videos 300``
to measure videos/s without Django.
"""

from __future__ import annotations

import argparse
import math
import multiprocessing
import os
import tempfile
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

from lab.synthetic.catalog import RGB, VideoSpec

SPEED_PX_S = {"none": 0.0, "slow": 0.08, "medium": 0.2, "fast": 0.4}  # fraction of the width per second
DIRECTIONS = {"left": (-1.0, 0.0), "right": (1.0, 0.0), "up": (0.0, -1.0), "down": (0.0, 1.0)}  # image y points down
SPIN_RAD_S = 1.6
ZOOM_RANGE = 0.8  # scale goes 1 -> 1.8 (in) or 1.8 -> 1 (out)
PAN_PX_S = 0.15  # fraction of the width per second
LIGHT_LOW = 0.35
NOISE_SIGMA = {"clean": 0.0, "light": 6.0, "heavy": 16.0}
ENCODERS = {
    "h264": ("libx264", {"preset": "ultrafast", "crf": "30"}),
    "vp9": ("libvpx-vp9", {"deadline": "realtime", "cpu-used": "8", "crf": "40", "b": "0"}),
}


def _shade(rgb, factor: float) -> np.ndarray:
    return np.clip(np.asarray(rgb, dtype=np.float32) * factor, 0, 255).astype(np.uint8)


def _tones(backdrop: str) -> tuple[np.ndarray, np.ndarray]:
    """The backdrop tone and a second tone for patterns (lighter on black)."""
    base = np.asarray(RGB[backdrop], dtype=np.uint8)
    return base, (_shade(base, 0.7) if backdrop != "black" else np.asarray((70, 70, 70), np.uint8))


class Scene:
    """Everything about a video's picture that does not change between frames."""

    def __init__(self, spec: VideoSpec):
        a = spec.attributes
        self.attributes = a
        self.width, self.height = spec.size
        self.fps = spec.fps
        self.n_frames = max(1, round(spec.duration_s * spec.fps))
        rng = np.random.default_rng(spec.render_seed)
        W, H = self.width, self.height

        base, second = _tones(a["backdrop"])
        ys, xs = np.mgrid[0:H, 0:W]
        pattern = a["background"]
        if pattern == "gradient":
            mix = (ys / max(1, H - 1))[..., None].astype(np.float32)
            bg = second[None, None, :] * (1 - mix) + base[None, None, :] * mix
        elif pattern == "bands":
            period = W // int(rng.integers(4, 9))  # whole periods across the width, so panning wraps seamlessly
            bg = np.where(((xs // max(2, period // 2)) % 2 == 0)[..., None], base, second)
        elif pattern == "grid":
            cell = max(8, W // int(rng.integers(5, 10)))
            line = ((xs % cell) < 2) | ((ys % cell) < 2)
            bg = np.where(line[..., None], second, base)
        else:
            bg = np.broadcast_to(base, (H, W, 3))
        self.background = np.ascontiguousarray(bg, dtype=np.uint8)
        self.moving_background = pattern != "plain" and (a["pan"] != "none" or a["zoom"] != "none")

        n = int(a["n_objects"])
        shrink = 1.0 if n <= 2 else 0.8 if n <= 4 else 0.65
        self.radius = rng.uniform(0.09, 0.14, size=n) * min(W, H) * shrink
        self.origin = np.stack([rng.uniform(0, W, size=n), rng.uniform(0, H, size=n)], axis=1)  # (n, 2) x, y
        speed = SPEED_PX_S[a["speed"]] * W
        if a["motion"] in DIRECTIONS:
            self.velocity = np.tile(np.asarray(DIRECTIONS[a["motion"]]) * speed, (n, 1))
        elif a["motion"] == "diagonal":
            sx, sy = rng.choice((-1.0, 1.0), size=2)
            self.velocity = np.tile(np.asarray((sx, sy)) * speed / math.sqrt(2), (n, 1))
        elif a["motion"] == "bounce":
            angle = rng.uniform(0, 2 * math.pi, size=n)
            self.velocity = np.stack([np.cos(angle), np.sin(angle)], axis=1) * speed
        else:
            self.velocity = np.zeros((n, 2))
        self.angle0 = rng.uniform(0, 2 * math.pi, size=n)
        self.spin = {"none": 0.0, "clockwise": SPIN_RAD_S, "counterclockwise": -SPIN_RAD_S}[a["rotation"]]
        self.color = np.asarray(RGB[a["color"]], dtype=np.uint8)
        self.dark = _shade(self.color, 0.55)

        lighting = a["lighting"]
        t = np.arange(self.n_frames) / max(1, self.n_frames - 1)
        if lighting == "brightening":
            self.light = LIGHT_LOW + (1 - LIGHT_LOW) * t
        elif lighting == "dimming":
            self.light = 1 - (1 - LIGHT_LOW) * t
        elif lighting == "flicker":
            self.light = np.where(rng.random(self.n_frames) < 0.35, 0.55, 1.0)
        else:
            self.light = np.ones(self.n_frames)
        sigma = NOISE_SIGMA[a["noise"]]
        # A few noise fields in yuv420p layout (chroma at half strength), reused in
        # a random order: far cheaper than fresh noise every frame.
        scale = np.concatenate([np.full(H * W, sigma), np.full(H * W // 2, sigma / 2)]).astype(np.float32)
        self.noise = [rng.standard_normal(H * W * 3 // 2, dtype=np.float32) * scale for _ in range(4)] if sigma else []
        self.noise_order = rng.integers(0, 4, size=self.n_frames)

    def frame(self, i: int) -> np.ndarray:
        """Frame ``i`` in yuv420p, (H * 3 // 2, W) uint8: the picture, then lighting and noise."""
        noise = self.noise[self.noise_order[i]] if self.noise else None
        return rgb_to_yuv420p(self.picture(i), light=self.light[i], noise=noise)

    def picture(self, i: int) -> np.ndarray:
        """The objects over the background at frame ``i``, (H, W, 3) uint8 RGB."""
        a, W, H = self.attributes, self.width, self.height
        t = i / self.fps
        frac = i / max(1, self.n_frames - 1)
        scale = {"none": 1.0, "in": 1 + ZOOM_RANGE * frac, "out": 1 + ZOOM_RANGE * (1 - frac)}[a["zoom"]]
        pan = {"none": 0.0, "left": -1.0, "right": 1.0}[a["pan"]] * PAN_PX_S * W * t  # camera x offset
        center = np.array([W / 2, H / 2])

        if self.moving_background:
            src_x = np.floor(center[0] + (np.arange(W) - center[0]) / scale + pan).astype(np.intp) % W
            src_y = np.clip(center[1] + (np.arange(H) - center[1]) / scale, 0, H - 1).astype(np.intp)
            image = self.background.take(src_y, axis=0).take(src_x, axis=1)
        else:
            image = self.background.copy()

        positions = self._positions(t)
        positions[:, 0] -= pan
        positions = center + (positions - center) * scale
        wrap = a["zoom"] == "none"
        for k in range(len(positions)):
            self._draw(image, positions[k], self.radius[k] * scale, self.angle0[k] + self.spin * t, wrap)
        return image

    def _positions(self, t: float) -> np.ndarray:
        """(n, 2) object centres at time ``t``, before camera and zoom."""
        p = self.origin + self.velocity * t
        if self.attributes["motion"] != "bounce":
            return p
        size = np.array([self.width, self.height], dtype=np.float64)
        lo = self.radius[:, None]
        span = np.maximum(size[None, :] - 2 * lo, 1.0)
        u = np.mod(p - lo, 2 * span)  # triangle wave: reflect off the walls
        return lo + np.where(u < span, u, 2 * span - u)

    def _draw(self, image: np.ndarray, pos: np.ndarray, r: float, angle: float, wrap: bool) -> None:
        H, W = image.shape[:2]
        R = math.ceil(r) + 1
        cx, cy = round(pos[0]), round(pos[1])
        offsets = np.arange(-R, R + 1)
        cols, rows = cx + offsets, cy + offsets
        # Object-local coordinates in pixels, before rotation.
        dx, dy = offsets + (cx - pos[0]), offsets + (cy - pos[1])
        if wrap:
            cols, rows = cols % W, rows % H
        else:
            keep_c, keep_r = (cols >= 0) & (cols < W), (rows >= 0) & (rows < H)
            if not keep_c.any() or not keep_r.any():
                return
            cols, dx, rows, dy = cols[keep_c], dx[keep_c], rows[keep_r], dy[keep_r]
        dx, dy = dx[None, :], dy[:, None]
        cos, sin = math.cos(angle), math.sin(angle)
        u = (dx * cos + dy * sin) / r
        v = (-dx * sin + dy * cos) / r
        mask = _shape_mask(self.attributes["shape"], u, v)
        if not mask.any():
            return
        colour = _texture(self.attributes["texture"], u, v, self.color, self.dark)
        if rows[-1] - rows[0] == len(rows) - 1 and cols[-1] - cols[0] == len(cols) - 1:
            # Contiguous (the usual case): write through a view, no gather/scatter.
            np.copyto(image[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1], colour, where=mask[..., None])
        else:  # wraps around an edge
            region = np.ix_(rows, cols)
            image[region] = np.where(mask[..., None], colour, image[region])


def _shape_mask(shape: str, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    rho2 = u * u + v * v
    if shape == "circle":
        return rho2 <= 1.0
    if shape == "ring":
        return (rho2 <= 1.0) & (rho2 >= 0.3)
    if shape == "square":
        return (np.abs(u) <= 0.8) & (np.abs(v) <= 0.8)
    if shape == "triangle":
        s3 = math.sqrt(3)
        return (v <= 0.5) & (s3 * u - v <= 1.0) & (-s3 * u - v <= 1.0)
    if shape == "star":
        phi = np.arctan2(v, u)
        return np.sqrt(rho2) <= 0.42 + 0.58 * ((1 + np.cos(5 * phi)) / 2) ** 2
    if shape == "cross":
        au, av_ = np.abs(u), np.abs(v)
        return ((au <= 0.3) & (av_ <= 0.95)) | ((av_ <= 0.3) & (au <= 0.95))
    raise ValueError(f"unknown shape {shape!r}")


def _texture(texture: str, u: np.ndarray, v: np.ndarray, color: np.ndarray, dark: np.ndarray) -> np.ndarray:
    """(h, w, 3) fill colours; every texture keeps the object's hue."""
    if texture == "solid":
        return np.broadcast_to(color, (*u.shape, 3))
    if texture == "striped":
        pick = np.floor(u * 2.5) % 2 == 0
    elif texture == "checkered":
        pick = (np.floor(u * 2.5) + np.floor(v * 2.5)) % 2 == 0
    elif texture == "dotted":
        fu, fv = np.mod(u * 2.5, 1.0) - 0.5, np.mod(v * 2.5, 1.0) - 0.5
        return np.where((fu * fu + fv * fv < 0.05)[..., None], np.uint8(245), color)
    else:
        raise ValueError(f"unknown texture {texture!r}")
    return np.where(pick[..., None], color, dark)


def render_frames(spec: VideoSpec) -> Iterator[np.ndarray]:
    """Every frame of ``spec`` in yuv420p, (H * 3 // 2, W) uint8."""
    scene = Scene(spec)
    for i in range(scene.n_frames):
        yield scene.frame(i)


# BT.601 limited range, what decoders assume for untagged standard-definition video.
_YUV = np.array([[0.257, 0.504, 0.098], [-0.148, -0.291, 0.439], [0.439, -0.368, -0.071]], dtype=np.float32)


def rgb_to_yuv420p(image: np.ndarray, *, light: float = 1.0, noise: np.ndarray | None = None) -> np.ndarray:
    """(H, W, 3) RGB -> (H * 3 // 2, W) planar yuv420p, as PyAV's ``from_ndarray`` takes it.

    ``light`` scales the picture's brightness (exactly as scaling RGB would) and
    ``noise`` (H * W * 3 // 2,) is added to the planes. Chroma is sampled at the
    top-left pixel of each 2x2 block. Converting here, in one float pass, is
    several times faster than swscale's rgb24 path plus separate lighting and
    noise passes.
    """
    h, w = image.shape[:2]
    planes = np.empty(h * w * 3 // 2, dtype=np.float32)
    planes[: h * w] = image.reshape(-1, 3).astype(np.float32) @ (_YUV[0] * light)
    chroma = image[::2, ::2].reshape(-1, 3).astype(np.float32) @ (_YUV[1:].T * light)  # (H/2 * W/2, 2)
    planes[h * w :] = chroma.T.ravel()
    planes[: h * w] += 16.5
    planes[h * w :] += 128.5
    if noise is not None:
        planes += noise
        np.clip(planes, 0, 255, out=planes)
    return planes.astype(np.uint8).reshape(h * 3 // 2, w)


def render_video(spec: VideoSpec, path: Path) -> Path:
    """Write ``spec`` to ``path`` (H.264 in mp4 or VP9 in webm, by ``spec.codec``)."""
    codec, options = ENCODERS[spec.codec]
    width, height = spec.size
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream(codec, rate=spec.fps, options=options)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.codec_context.thread_count = 1  # parallelism comes from the process pool
        for planes in render_frames(spec):
            for packet in stream.encode(av.VideoFrame.from_ndarray(planes, format="yuv420p")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def _one_blas_thread() -> None:
    """Render workers convert frames with small matrix products (``rgb_to_yuv420p``). With a BLAS thread per
    core in every worker, and other busy processes on the machine, OpenBLAS's spinning threads made a 4 s
    render take over ten minutes (a CI run while an evaluation ran); one thread per worker is as fast alone."""
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)


def _render_one(job: tuple[VideoSpec, str]) -> tuple[int, str, float]:
    spec, path = job
    start = time.perf_counter()
    render_video(spec, Path(path))
    return spec.index, path, time.perf_counter() - start


def video_filename(spec: VideoSpec, seed: int) -> str:
    return f"world{seed}-{spec.index:06d}.{spec.extension}"


@dataclass
class RenderedVideo:
    spec: VideoSpec
    path: Path
    seconds: float  # encode time inside its worker


def render_catalog(
    specs: Iterable[VideoSpec], out_dir: Path, *, seed: int, workers: int | None = None
) -> Iterator[RenderedVideo]:
    """Render every spec in a process pool; yields them in input order as they finish."""
    specs = list(specs)
    out_dir.mkdir(parents=True, exist_ok=True)
    workers = max(1, workers or os.cpu_count() or 1)
    jobs = [(spec, str(out_dir / video_filename(spec, seed))) for spec in specs]
    by_index = {spec.index: spec for spec in specs}
    if workers == 1:
        results: Iterator = map(_render_one, jobs)
        for index, path, seconds in results:
            yield RenderedVideo(by_index[index], Path(path), seconds)
        return
    # Spawned, not forked: the parent may hold database connections and threads.
    with ProcessPoolExecutor(
        max_workers=workers, mp_context=multiprocessing.get_context("spawn"), initializer=_one_blas_thread
    ) as pool:
        for index, path, seconds in pool.map(_render_one, jobs, chunksize=1):
            yield RenderedVideo(by_index[index], Path(path), seconds)


def main(argv: list[str] | None = None) -> None:
    from lab.synthetic import World, WorldConfig

    parser = argparse.ArgumentParser(description="Render a world's catalog and report videos/s.")
    parser.add_argument("--videos", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=os.cpu_count())
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    world = World.generate(WorldConfig(n_videos=args.videos, n_users=1, days=1, seed=args.seed))
    out = args.out or Path(tempfile.mkdtemp(prefix="world-render-"))
    start = time.perf_counter()
    total_bytes, video_seconds = 0, 0.0
    for done in render_catalog(world.videos, out, seed=args.seed, workers=args.workers):
        total_bytes += done.path.stat().st_size
        video_seconds += done.spec.duration_s
    wall = time.perf_counter() - start
    print(
        f"rendered {len(world.videos)} videos ({video_seconds / 60:.1f} min of video, {total_bytes / 1e6:.1f} MB) "
        f"in {wall:.1f} s with {args.workers} workers: {len(world.videos) / wall:.2f} videos/s -> {out}"
    )


if __name__ == "__main__":
    main()
