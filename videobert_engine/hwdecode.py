"""Clips decoded on the GPU's NVDEC engines (PyNvVideoCodec), with the PyAV path as the per-file fallback.

    path ─► PyAV: packet times (demux only) ─► frame index per target time (the same sample-and-hold)
         ─► NVDEC: those frames, RGB on the GPU ─► scale + center crop (area filter) + rotation ─► (n, T, S, S, 3)

- ``clip_sampler(device)`` is how a caller picks a path: on CUDA with PyNvVideoCodec installed (the ``gpu``
  extra) it is ``NvdecSampler``, everywhere else PyAV's ``sample_clips``.
- ``NvdecSampler`` falls back to ``sample_clips`` for any file the hardware path cannot read (a codec NVDEC lacks,
  a damaged file, a rotated one); so a damaged file raises PyAV's ``UnreadableVideo`` with its usual reason.
- Frames are the ones ``sample_clips`` takes (frame i is the i-th in presentation order). Pixels differ a little:
  NVDEC's colour conversion and torch's area filter stand in for swscale's. The equivalence test states the bound.
- The result is a uint8 numpy array like ``sample_clips``'s, so DataLoader workers and batching are unchanged.
"""

from __future__ import annotations

import functools
import importlib.util
import os
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from videobert_engine.config import ClipConfig
from videobert_engine.decode import _Reader, sample_clips, scaled_size
from videobert_engine.errors import HardwareDecodeError, UnreadableVideo


def hardware_decoder_available() -> bool:
    """PyNvVideoCodec imports and a CUDA device is there (checked first: on CPU nothing is imported)."""
    return torch.cuda.is_available() and not isinstance(_pynvvideocodec(), Exception)


@functools.cache
def _pynvvideocodec():
    """The module, or the exception importing it raised (no driver library, a wheel for another CUDA)."""
    if importlib.util.find_spec("PyNvVideoCodec") is None:
        return ModuleNotFoundError("PyNvVideoCodec is not installed")
    try:
        import PyNvVideoCodec
    except Exception as exc:
        return exc
    return PyNvVideoCodec


@dataclass
class FramePlan:
    indices: np.ndarray  # (n, T) frame index in presentation order, per target time
    rotation: int  # degrees counter-clockwise to turn the frames upright


def plan_frames(path: str | os.PathLike, spec: ClipConfig) -> FramePlan:
    """Which frame each target time holds, from the packet times alone (no decoding past the first frame).

    Raises ``UnreadableVideo`` for a file PyAV cannot open, ``HardwareDecodeError`` where the plan would not match
    ``sample_clips`` (no timestamps, a truncated stream: let the PyAV path decide).
    """
    with _Reader(path, spec.timeout_s) as r:
        first = next(r.frames(), None)
        if first is None:
            raise UnreadableVideo(f"{r.name}: no decodable video frame")
        rotation = first.rotation % 360
        r._seek(0.0)
        tb = r.stream.time_base
        try:
            times = [float(p.pts * tb) - r.start for p in r.container.demux(r.stream) if p.size and p.pts is not None]
        except Exception as exc:
            raise HardwareDecodeError(f"{r.name}: cannot list the packets ({exc})") from None
        if not times:
            raise HardwareDecodeError(f"{r.name}: no packet timestamps")
        pts = np.sort(np.array(times))
        targets = r.target_times(spec)
        frame_s = float(np.median(np.diff(pts))) if len(pts) > 1 else 0.0
        if targets.max() - (pts[-1] + frame_s) > r.truncation_tolerance_s():
            raise HardwareDecodeError(f"{r.name}: frames stop before the clips do")
        indices = np.clip(np.searchsorted(pts, targets, side="right") - 1, 0, None)
    return FramePlan(indices, rotation)


def square_rgb_batch(frames: torch.Tensor, size: int, fit: str = "crop", rotation: int = 0) -> torch.Tensor:
    """(U, H, W, 3) uint8 on any device -> (U, size, size, 3) uint8: area-filtered scale, center crop, upright."""
    _, h, w, _ = frames.shape
    sw, sh = scaled_size(w, h, size, fit)
    x = F.interpolate(frames.permute(0, 3, 1, 2).float(), size=(sh, sw), mode="area")  # (U, 3, sh, sw)
    x = x.round_().clamp_(0, 255).to(torch.uint8).permute(0, 2, 3, 1)
    top, left = (sh - size) // 2, (sw - size) // 2
    x = x[:, top : top + size, left : left + size]
    quarter_turns = rotation // 90
    return torch.rot90(x, k=quarter_turns, dims=(1, 2)) if quarter_turns else x


def sample_clips_nvdec(path: str | os.PathLike, spec: ClipConfig, gpu_id: int = 0) -> np.ndarray:
    """``sample_clips`` on NVDEC -> uint8 (n_clips, frames_per_clip, size, size, 3); raises ``HardwareDecodeError``
    (and ``UnreadableVideo`` for a file nothing can open)."""
    if not hardware_decoder_available():
        raise HardwareDecodeError("no hardware decoder here (PyNvVideoCodec and a CUDA device are needed)")
    plan = plan_frames(path, spec)
    if plan.rotation:
        raise HardwareDecodeError(f"{os.path.basename(path)}: rotated video, left to the PyAV path")
    nvc = _pynvvideocodec()
    unique, inverse = np.unique(plan.indices.reshape(-1), return_inverse=True)
    try:
        decoder = nvc.SimpleDecoder(str(path), gpu_id=gpu_id, output_color_type=nvc.OutputColorType.RGB)
        if unique[-1] >= len(decoder):
            raise HardwareDecodeError(f"{os.path.basename(path)}: the decoder counts fewer frames than the packets")
        decoded = decoder.get_batch_frames_by_index(unique.tolist())
        frames = torch.stack([torch.from_dlpack(f) for f in decoded])  # (U, H, W, 3) uint8 on the GPU
    except HardwareDecodeError:
        raise
    except Exception as exc:  # PyNvVideoCodec raises plain exceptions for unsupported codecs and bad streams
        raise HardwareDecodeError(f"{os.path.basename(path)}: NVDEC cannot read it ({exc})") from None
    images = square_rgb_batch(frames, spec.size, spec.fit)[torch.from_numpy(inverse).to(frames.device)]
    return images.reshape(*plan.indices.shape, spec.size, spec.size, 3).cpu().numpy()


@dataclass(frozen=True)
class NvdecSampler:
    """NVDEC first, PyAV for any file it cannot read. Picklable, for DataLoader worker processes."""

    gpu_id: int = 0

    def __call__(self, path: str | os.PathLike, spec: ClipConfig) -> np.ndarray:
        try:
            return sample_clips_nvdec(path, spec, self.gpu_id)
        except HardwareDecodeError:
            return sample_clips(path, spec)


def clip_sampler(device: torch.device | str):
    """The clip decoder for a model on ``device``: NVDEC on CUDA where it is installed, else PyAV."""
    device = torch.device(device)
    if device.type == "cuda" and hardware_decoder_available():
        return NvdecSampler(device.index or 0)
    return sample_clips
