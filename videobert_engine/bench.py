"""Throughput benchmark: video tower clips/s, fused-embedding clips/s, decode frames/s, for one preset and device.

On CUDA it also times a bare reference C3D (the preset's layout plus the 487-way fc8, bf16, ``channels_last_3d``)
in the same run and prints fused / bare: the fused path must not cost much more than its video tower.
Model timings use random weights and inputs already on the device; decoding is timed separately on a video the
benchmark writes (h264, 640x360, 30 fps, 20 s).

Decode cost: the CPU time (``process_time``, all threads of this process) of ``sample_clips`` against a bare
one-thread decode of every frame of the same file, for the generated file and each file given with ``--files``.
CPU time, not wall time, so that the ratio holds on a machine shared with other work.
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
from videobert_engine.embed import InferenceConfig, prepare_model
from videobert_engine.joint import VideoBert
from videobert_engine.train import resolve_device


@dataclass
class BenchResult:
    preset: str
    device: str
    batch_clips: int
    video_tower_clips_s: float | None  # None: the models were not timed (--no-models)
    fused_clips_s: float | None
    decode_frames_s: float
    decode_videos_s: float
    bare_c3d_clips_s: float | None = None
    decode_cost: list[DecodeCost] = dataclasses.field(default_factory=list)

    def lines(self) -> list[str]:
        out = [f"preset={self.preset} device={self.device} batch={self.batch_clips} clips"]
        if self.fused_clips_s is not None:
            out += [
                f"video tower      {self.video_tower_clips_s:10.1f} clips/s",
                f"fused embedding  {self.fused_clips_s:10.1f} clips/s",
            ]
        out.append(
            f"decode           {self.decode_frames_s:10.1f} frames/s ({self.decode_videos_s:.2f} videos/s, one process)"
        )
        if self.bare_c3d_clips_s:
            out += [
                f"bare C3D (ref)   {self.bare_c3d_clips_s:10.1f} clips/s",
                f"fused / bare     {self.fused_clips_s / self.bare_c3d_clips_s:10.3f}",
            ]
        out += decode_cost_lines(self.decode_cost)
        return out


@dataclass
class DecodeCost:
    """CPU seconds of ``sample_clips`` and of a bare decode of every frame of one file (best of the repeats)."""

    file: str
    codec: str
    frames: int
    key_frames: int
    sample_cpu_s: float
    bare_cpu_s: float

    @property
    def ratio(self) -> float:
        return self.sample_cpu_s / self.bare_cpu_s


def decode_cost_lines(costs: list[DecodeCost]) -> list[str]:
    if not costs:
        return []
    out = [
        f"{'decode cost: file':44s} {'codec':10s} {'frames':>6s} {'keys':>5s} {'sample s':>9s} {'bare s':>8s} {'ratio':>6s}"
    ]
    for c in costs:
        out.append(
            f"  {c.file[-42:]:42s} {c.codec:10s} {c.frames:6d} {c.key_frames:5d} {c.sample_cpu_s:9.3f} {c.bare_cpu_s:8.3f} {c.ratio:6.3f}"
        )
    sample, bare = sum(c.sample_cpu_s for c in costs), sum(c.bare_cpu_s for c in costs)
    out.append(f"sample_clips / bare decode, CPU time over {len(costs)} files: {sample / bare:.3f}")
    return out


def bare_decode(path: str | Path) -> tuple[int, int]:
    """Decode every frame with one thread, nothing else -> (frames, key frames)."""
    frames = keys = 0
    with av.open(str(path), metadata_errors="ignore") as container:
        stream = container.streams.video[0]
        stream.codec_context.thread_count = 1
        for frame in container.decode(stream):
            frames += 1
            keys += frame.key_frame
    return frames, keys


def decode_cost(path: str | Path, spec, repeats: int = 3) -> DecodeCost:
    """Best-of-``repeats`` CPU time of each, taken in turn so that both see the same machine."""
    sample = bare = float("inf")
    for _ in range(repeats):
        start = time.process_time()
        sample_clips(path, spec)
        sample = min(sample, time.process_time() - start)
        start = time.process_time()
        frames, keys = bare_decode(path)
        bare = min(bare, time.process_time() - start)
    with av.open(str(path), metadata_errors="ignore") as container:
        codec = container.streams.video[0].codec_context.name
    return DecodeCost(Path(path).name, codec, frames, keys, sample, bare)


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


def bench_models(
    name: str, device: torch.device, batch_clips: int, iters: int, warmup: int, inference: InferenceConfig | None = None
) -> dict[str, float]:
    cfg = preset(name, text__init="random")  # timing needs no pretrained weights
    if cfg.text.vocab == "corpus":
        cfg.text.vocab_size = cfg.text.corpus_vocab_size
    n, c = cfg.clips.n_clips, cfg.clips
    items = max(1, batch_clips // n)
    cuda = device.type == "cuda"
    model = prepare_model(VideoBert(cfg), device, inference)
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


def bench_decode(name: str, iters: int, files: list[str | Path] = ()) -> tuple[float, float, list[DecodeCost]]:
    """-> (sampled frames/s, videos/s on the generated file, decode cost of the generated file then ``files``)."""
    spec = preset(name).clips
    with tempfile.TemporaryDirectory() as tmp:
        path = write_bench_video(Path(tmp) / "bench.mp4")
        sample_clips(path, spec)
        start = time.perf_counter()
        for _ in range(iters):
            sample_clips(path, spec)
        seconds = time.perf_counter() - start
        costs = [decode_cost(path, spec, max(1, iters))]
    costs += [decode_cost(f, spec, max(1, iters)) for f in files]
    frames = iters * spec.n_clips * spec.frames_per_clip
    return frames / seconds, iters / seconds, costs


MODEL_FIGURES = ("video_tower_clips_s", "fused_clips_s")


def run_bench(
    name: str = "tiny",
    device: str | None = "cpu",
    batch_clips: int = 32,
    iters: int = 5,
    warmup: int = 2,
    decode_iters: int = 5,
    files: list[str | Path] = (),
    models: bool = True,
    inference: InferenceConfig | None = None,
) -> BenchResult:
    dev = resolve_device(device)
    figures = bench_models(name, dev, batch_clips, iters, warmup, inference) if models else dict.fromkeys(MODEL_FIGURES)
    frames_s, videos_s, costs = bench_decode(name, decode_iters, files)
    return BenchResult(
        preset=name,
        device=str(dev) if dev.type != "cuda" else torch.cuda.get_device_name(dev),
        batch_clips=batch_clips,
        decode_frames_s=frames_s,
        decode_videos_s=videos_s,
        decode_cost=costs,
        **figures,
    )
