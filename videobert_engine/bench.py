"""Throughput benchmark: video tower clips/s, fused-embedding clips/s, decode frames/s, for one preset and device.

On CUDA it also times a bare reference C3D (the preset's layout plus the 487-way fc8, bf16, ``channels_last_3d``)
in the same run and prints fused / bare: the fused path must not cost much more than its video tower.
Model timings use random weights and inputs already on the device; decoding is timed separately on a video the
benchmark writes (h264, 640x360, 30 fps, 20 s).
"""

from __future__ import annotations

import dataclasses
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
import torch

from videobert_engine.c3d import C3D, normalize_clips
from videobert_engine.config import preset
from videobert_engine.decode import sample_clips
from videobert_engine.joint import VideoBert
from videobert_engine.train import resolve_device


@dataclass
class BenchResult:
    preset: str
    device: str
    batch_clips: int
    video_tower_clips_s: float
    fused_clips_s: float
    decode_frames_s: float
    decode_videos_s: float
    bare_c3d_clips_s: float | None = None

    def lines(self) -> list[str]:
        out = [
            f"preset={self.preset} device={self.device} batch={self.batch_clips} clips",
            f"video tower      {self.video_tower_clips_s:10.1f} clips/s",
            f"fused embedding  {self.fused_clips_s:10.1f} clips/s",
            f"decode           {self.decode_frames_s:10.1f} frames/s ({self.decode_videos_s:.2f} videos/s, one process)",
        ]
        if self.bare_c3d_clips_s:
            out += [
                f"bare C3D (ref)   {self.bare_c3d_clips_s:10.1f} clips/s",
                f"fused / bare     {self.fused_clips_s / self.bare_c3d_clips_s:10.3f}",
            ]
        return out


def _timed(fn, device: torch.device, iters: int, warmup: int) -> float:
    """Seconds per call (best of ``iters``), after ``warmup`` calls."""
    for _ in range(warmup):
        fn()
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    sync()
    best = float("inf")
    for _ in range(iters):
        start = time.perf_counter()
        fn()
        sync()
        best = min(best, time.perf_counter() - start)
    return best


def bench_models(name: str, device: torch.device, batch_clips: int, iters: int, warmup: int) -> dict[str, float]:
    cfg = preset(name, text__init="random")  # timing needs no pretrained weights
    if cfg.text.vocab == "corpus":
        cfg.text.vocab_size = cfg.text.corpus_vocab_size
    n, c = cfg.clips.n_clips, cfg.clips
    items = max(1, batch_clips // n)
    cuda = device.type == "cuda"
    model = VideoBert(cfg).eval().to(device)
    if cuda:
        model.video.to(memory_format=torch.channels_last_3d)
    gen = torch.Generator().manual_seed(0)
    clips = torch.randint(
        0, 256, (items, n, c.frames_per_clip, c.size, c.size, 3), generator=gen, dtype=torch.uint8
    ).to(device)
    ids = torch.randint(5, cfg.text.vocab_size, (items, cfg.text.max_len), generator=gen).to(device)
    mask = torch.ones_like(ids, dtype=torch.bool)
    has_video = torch.ones(items, dtype=torch.bool, device=device)
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=cuda)
    out = {}
    with torch.inference_mode(), autocast:
        t = _timed(lambda: model.clip_features(clips), device, iters, warmup)
        out["video_tower_clips_s"] = items * n / t
        t = _timed(lambda: model.embed(clips, has_video, ids, mask), device, iters, warmup)
        out["fused_clips_s"] = items * n / t
    if cuda:
        bare = (
            C3D(dataclasses.replace(cfg.video, num_classes=487)).eval().to(device, memory_format=torch.channels_last_3d)
        )
        x = normalize_clips(clips.flatten(0, 1)).to(torch.bfloat16).contiguous(memory_format=torch.channels_last_3d)
        with torch.inference_mode(), autocast:
            t = _timed(lambda: bare(x), device, iters, warmup)
        out["bare_c3d_clips_s"] = items * n / t
    return out


def write_bench_video(path: Path, seconds: int = 20, fps: int = 30, size: tuple[int, int] = (640, 360)) -> Path:
    w, h = size
    rng = np.random.default_rng(0)
    base = rng.integers(0, 256, (h // 8, w // 8, 3), dtype=np.uint8).repeat(8, 0).repeat(8, 1)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps, options={"preset": "ultrafast"})
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        for i in range(seconds * fps):
            frame = av.VideoFrame.from_ndarray(np.roll(base, 4 * i, axis=1), format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def bench_decode(name: str, iters: int) -> tuple[float, float]:
    spec = preset(name).clips
    with tempfile.TemporaryDirectory() as tmp:
        path = write_bench_video(Path(tmp) / "bench.mp4")
        sample_clips(path, spec)
        start = time.perf_counter()
        for _ in range(iters):
            sample_clips(path, spec)
        seconds = time.perf_counter() - start
    frames = iters * spec.n_clips * spec.frames_per_clip
    return frames / seconds, iters / seconds


def run_bench(
    name: str = "tiny",
    device: str | None = "cpu",
    batch_clips: int = 32,
    iters: int = 5,
    warmup: int = 2,
    decode_iters: int = 5,
) -> BenchResult:
    dev = resolve_device(device)
    if dev.type == "cuda":
        torch.backends.cudnn.benchmark = True
    models = bench_models(name, dev, batch_clips, iters, warmup)
    frames_s, videos_s = bench_decode(name, decode_iters)
    return BenchResult(
        preset=name,
        device=str(dev) if dev.type != "cuda" else torch.cuda.get_device_name(dev),
        batch_clips=batch_clips,
        decode_frames_s=frames_s,
        decode_videos_s=videos_s,
        **models,
    )
