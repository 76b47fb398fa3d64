"""Video files for the decode tests, written with PyAV: indexed frames, sparse long files, rotation, VFR, damage."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np


def index_image(i: int, size: tuple[int, int]) -> np.ndarray:
    """Frame i (< 4096) as three gray stripes, left to right: base-16 digits of i, 16 levels apart."""
    w, h = size
    image = np.empty((h, w, 3), dtype=np.uint8)
    for k, digit in enumerate((i // 256, (i // 16) % 16, i % 16)):
        image[:, k * w // 3 : (k + 1) * w // 3] = digit * 16 + 8
    return image


def read_index(image: np.ndarray, aspect: float = 4 / 3) -> int:
    """Inverse of ``index_image`` on a decoded frame that was center-cropped to a square from ``aspect`` (w / h)."""
    s = image.shape[0]
    lo, hi = (1 - 1 / aspect) / 2, (1 + 1 / aspect) / 2  # the part of the width the square crop kept
    digits = []
    for k in range(3):
        a, b = max(k / 3, lo), min((k + 1) / 3, hi)
        x = round(((a + b) / 2 - lo) / (hi - lo) * s)
        digits.append(round((float(image[s // 2, max(0, x - 1) : x + 2].mean()) - 8) / 16))
    return digits[0] * 256 + digits[1] * 16 + digits[2]


def write_frames(
    path: Path,
    images,
    *,
    codec: str = "libx264",
    fps: int = 10,
    pix_fmt: str = "yuv420p",
    options: dict | None = None,
    times: list[float] | None = None,
    rotation: int | None = None,
) -> Path:
    """Encode ``images`` (iterable of (H, W, 3) uint8); ``times`` gives each frame's presentation time (VFR)."""
    images = iter(images)
    first = next(images)
    h, w = first.shape[:2]
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=fps, options=options or {})
        stream.width, stream.height, stream.pix_fmt = w, h, pix_fmt
        if times is not None:
            stream.time_base = Fraction(1, 1000)
            stream.codec_context.time_base = Fraction(1, 1000)
        if rotation is not None:
            stream.set_display_rotation(rotation)
        for i, image in enumerate([first, *images]):
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            if times is not None:
                frame.pts, frame.time_base = round(times[i] * 1000), Fraction(1, 1000)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def write_indexed(path: Path, seconds: float, fps: int, size=(96, 72), gop: int = 10, codec: str = "libx264") -> Path:
    frames = (index_image(i, size) for i in range(int(seconds * fps)))
    options = {"g": str(gop), "crf": "0", "preset": "ultrafast"} if codec == "libx264" else {"g": str(gop)}
    return write_frames(path, frames, codec=codec, fps=fps, options=options)


def truncate(src: Path, dst: Path, keep: float) -> Path:
    data = src.read_bytes()
    dst.write_bytes(data[: int(len(data) * keep)])
    return dst


def smash_header(src: Path, dst: Path, n: int = 64) -> Path:
    data = bytearray(src.read_bytes())
    data[:n] = np.random.default_rng(0).integers(0, 256, n, dtype=np.uint8).tobytes()
    dst.write_bytes(bytes(data))
    return dst


def reference_clips(path: Path, spec) -> np.ndarray:
    """What ``sample_clips`` must return, the slow way: every frame decoded, then sample-and-hold per target."""
    from videobert_engine.decode import _Reader, to_square_rgb

    with _Reader(path, 60.0) as reader:
        targets = reader.target_times(spec).reshape(-1)
        with av.open(str(path)) as container:
            frames = list(container.decode(video=0))
        times = np.array([f.time - reader.start for f in frames])
    held = np.clip(np.searchsorted(times, targets, side="right") - 1, 0, None)
    images = np.stack([to_square_rgb(frames[i], spec.size, spec.fit) for i in held])
    return images.reshape(spec.n_clips, spec.frames_per_clip, spec.size, spec.size, 3)
