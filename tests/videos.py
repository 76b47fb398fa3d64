"""Write small real video files with PyAV for tests (any codec PyAV ships)."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np


def write_video(
    path: Path,
    *,
    codec: str = "libx264",
    frames: int = 12,
    fps: int = 12,
    size: tuple[int, int] = (64, 48),
    color: tuple[int, int, int] = (200, 40, 40),
    audio: bool = False,
    pix_fmt: str = "yuv420p",
    options: dict | None = None,
) -> Path:
    """A moving square on a coloured background; returns ``path``. ``options`` go
    to the muxer (``{"movflags": "faststart"}``: the MP4 index first; ``{"live": "1"}``:
    a WebM without a duration)."""
    width, height = size
    with av.open(str(path), mode="w", options=options or {}) as container:
        stream = container.add_stream(codec, rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, pix_fmt
        audio_stream = container.add_stream("aac", rate=16000) if audio else None
        for i in range(frames):
            image = np.zeros((height, width, 3), dtype=np.uint8)
            image[:] = color
            x = (i * 3) % max(1, width - 8)
            image[height // 3 : height // 3 + 8, x : x + 8] = 255
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
        if audio_stream is not None:
            _write_tone(container, audio_stream, seconds=frames / fps)
    return path


def write_audio_only(path: Path, seconds: float = 1.0) -> Path:
    with av.open(str(path), mode="w", format="mp4") as container:
        stream = container.add_stream("aac", rate=16000)
        _write_tone(container, stream, seconds=seconds)
    return path


def write_audio_with_cover(path: Path, seconds: float = 1.0) -> Path:
    """An m4a: AAC audio plus a JPEG cover picture (a video stream with the ``attached_pic`` disposition)."""
    with av.open(str(path), mode="w", format="mp4") as container:
        audio = container.add_stream("aac", rate=16000)
        cover = container.add_stream("mjpeg", rate=1)
        cover.width, cover.height, cover.pix_fmt = 64, 64, "yuvj420p"
        cover.disposition = av.stream.Disposition.attached_pic
        picture = av.VideoFrame.from_ndarray(np.full((64, 64, 3), 128, np.uint8), format="rgb24")
        for packet in [*cover.encode(picture.reformat(format="yuvj420p")), *cover.encode()]:
            container.mux(packet)
        _write_tone(container, audio, seconds=seconds)
    return path


def _write_tone(container, stream, *, seconds: float) -> None:
    rate = 16000
    samples = int(rate * seconds)
    t = np.arange(samples) / rate
    wave = (0.2 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)[None, :]
    frame_size = stream.codec_context.frame_size or 1024
    for start in range(0, samples, frame_size):
        chunk = wave[:, start : start + frame_size]
        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(chunk), format="fltp", layout="mono")
        frame.sample_rate = rate
        frame.pts = start
        frame.time_base = Fraction(1, rate)
        for packet in stream.encode(frame):
            container.mux(packet)
    for packet in stream.encode():
        container.mux(packet)
