"""The GPU figures of the hardware-decode and fused-model work, in one run on the GPU machine.

    bash lab/benchmarks/gpu_check.sh          # installs the carried PyNvVideoCodec wheel, then runs this
    python -m lab.benchmarks.gpu_check --only model,nvdec

Sections, each printing its figures or the reason it was skipped:

    machine   GPU, driver, torch, PyAV, PyNvVideoCodec
    model     engine bench at the c3d preset: fused / bare, and the decode cost of the carried files
    nvdec     NVDEC against PyAV on the files it writes (the hwdecode tests), then decode throughput:
              frames/s of one NVDEC session and of k sessions in parallel, and clips videos/s of both paths
    e2e       Embedder.embed_videos on rendered world videos (random-init c3d model): videos/s, PyAV workers
              against NVDEC workers
    compile   the model bench again with torch.compile of the video tower (InferenceConfig.compile_video)

It reaches no network and installs nothing (gpu_check.sh installs only the carried wheels). Figures go to
docs/BENCHMARKS.md by hand.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

SECTIONS = ("machine", "model", "nvdec", "e2e", "compile")  # compile last: its first batches compile for minutes
# the engine tests alone: no Django (the GPU machine may lack it), no conftest, no project addopts
PYTEST_ALONE = ["--noconftest", "-p", "no:django", "-p", "no:cacheprovider", "-o", "addopts="]


def section(name: str):
    print(f"\n== {name}", flush=True)


def machine() -> None:
    import av
    import torch

    try:
        smi = subprocess.run(
            ["nvidia-smi", "--query-gpu=name,driver_version,memory.total", "--format=csv,noheader"],
            capture_output=True,
            text=True,
        )
        print(f"gpu: {smi.stdout.strip() or smi.stderr.strip()}")
    except FileNotFoundError:
        print("gpu: no nvidia-smi on this machine")
    print(
        f"torch {torch.__version__} (cuda {torch.version.cuda}), PyAV {av.__version__}, python {sys.version.split()[0]}"
    )
    try:
        import PyNvVideoCodec as nvc

        print(f"PyNvVideoCodec {nvc.__version__}")
    except Exception as exc:
        print(f"PyNvVideoCodec: not importable ({exc})")


def model(files: list[Path], device: str, name: str, compile_video: bool = False) -> None:
    from videobert_engine.bench import run_bench
    from videobert_engine.embed import InferenceConfig

    inference = InferenceConfig(compile_video=compile_video)
    result = run_bench(name, device, 64, iters=10, warmup=3, decode_iters=1, files=files, inference=inference)
    print(
        f"-- python -m videobert_engine bench --preset {name} --device {device} --batch-size 64 --iters 10 --warmup 3"
        f"{' --compile' if compile_video else ''}"
    )
    print("\n".join(result.lines()), flush=True)


def write_h264(path: Path, seconds: int, size: tuple[int, int], fps: int = 30) -> Path:
    from lab.benchmarks.decode_corpus import write_layout

    return write_layout(path, "libx264", seconds, fps, size, {"g": "60", "bf": "2", "preset": "ultrafast"})


def nvdec_sessions(path: Path, sessions: int) -> float:
    """Frames/s of ``sessions`` decoders reading the whole file at once, one thread each."""
    import PyNvVideoCodec as nvc

    counts = [0] * sessions

    def run(k: int) -> None:
        decoder = nvc.SimpleDecoder(str(path), gpu_id=0, output_color_type=nvc.OutputColorType.NATIVE)
        while batch := decoder.get_batch_frames(64):
            counts[k] += len(batch)

    threads = [threading.Thread(target=run, args=(k,)) for k in range(sessions)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sum(counts) / (time.perf_counter() - start)


def nvdec(files: list[Path], tmp: Path) -> None:
    from videobert_engine.config import preset
    from videobert_engine.decode import sample_clips
    from videobert_engine.hwdecode import hardware_decoder_available, sample_clips_nvdec

    run = subprocess.run(
        [sys.executable, "-m", "pytest", "tests/engine/test_hwdecode.py", "-q", "-rs", *PYTEST_ALONE],
        capture_output=True,
        text=True,
    )
    print(f"-- python -m pytest tests/engine/test_hwdecode.py: exit {run.returncode}")
    print("\n".join((run.stdout + run.stderr).strip().splitlines()[-8:]))
    if not hardware_decoder_available():
        print("skipped the throughput: no PyNvVideoCodec or no CUDA device here")
        return
    clip = write_h264(tmp / "h264_1080p_20s.mp4", 20, (1920, 1080))
    print(f"-- NVDEC decode of every frame, {clip.name} (h264 High, 1920x1080, 600 frames), NATIVE output")
    for k in (1, 2, 4, 7, 14):
        print(f"sessions {k:2d}: {nvdec_sessions(clip, k):9.0f} frames/s", flush=True)
    spec = preset("c3d").clips
    print("-- clips at the c3d preset, one process: videos/s of NVDEC (with its fallback) and of PyAV")
    for path in [clip, *files]:
        timings = {}
        for name, sample in (("nvdec", sample_clips_nvdec), ("pyav", sample_clips)):
            try:
                sample(path, spec)
                start = time.perf_counter()
                for _ in range(3):
                    sample(path, spec)
                timings[name] = f"{3 / (time.perf_counter() - start):7.1f}"
            except Exception as exc:
                timings[name] = f"({type(exc).__name__}: {str(exc)[:60]})"
        print(f"{path.name[:36]:36s} nvdec {timings['nvdec']}  pyav {timings['pyav']}", flush=True)


def e2e(tmp: Path, videos: int, workers: int, device: str, name: str) -> None:
    import torch

    from lab.synthetic.catalog import sample_catalog
    from lab.synthetic.render import render_catalog
    from videobert_engine.config import preset
    from videobert_engine.embed import Embedder, InferenceConfig
    from videobert_engine.joint import VideoBert
    from videobert_engine.text import WordPiece

    specs, _ = sample_catalog(videos, days=30, rng=np.random.default_rng(7), seed=7)
    for spec in specs:
        spec.duration_s = min(spec.duration_s, 10.0)
    start = time.perf_counter()
    records = [{"path": str(r.path), "text": r.spec.title} for r in render_catalog(specs, tmp / "world", seed=7)]
    print(f"rendered {len(records)} world videos in {time.perf_counter() - start:.1f} s (not timed)")
    torch.manual_seed(0)
    config = preset(name)
    tokenizer = WordPiece.for_config(config.text, [r["text"] for r in records])
    config.text.vocab_size = tokenizer.vocab_size
    for hardware_decode in (False, True):
        inference = InferenceConfig(hardware_decode=hardware_decode)
        embedder = Embedder(VideoBert(config), tokenizer, "random", device=device, inference=inference)
        sampler = embedder.sampler()
        embedder.embed_videos(records[:64], batch_size=64, num_workers=workers)  # warm-up
        start = time.perf_counter()
        _, errors = embedder.embed_videos(records, batch_size=64, num_workers=workers)
        seconds = time.perf_counter() - start
        print(
            f"decode {getattr(sampler, '__name__', type(sampler).__name__)}, {workers} workers: "
            f"{len(records) / seconds:7.1f} videos/s ({len(records)} videos in {seconds:.1f} s, {len(errors)} errors)",
            flush=True,
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lab.benchmarks.gpu_check", description=__doc__)
    parser.add_argument("--only", default=",".join(SECTIONS))
    parser.add_argument("--files", nargs="*", type=Path, default=[], help="real-world videos for the decode figures")
    parser.add_argument("--videos", type=int, default=256)
    parser.add_argument("--workers", type=int, default=14)
    parser.add_argument("--device", default="cuda", help="cpu only to try the script out")
    parser.add_argument("--preset", default="c3d")
    args = parser.parse_args(argv)
    only = set(args.only.split(","))
    with tempfile.TemporaryDirectory(prefix="gpu-check-") as tmp:
        for name in SECTIONS:
            if name not in only:
                continue
            section(name)
            try:
                if name == "machine":
                    machine()
                elif name == "model":
                    model(args.files, args.device, args.preset)
                elif name == "compile":
                    model([], args.device, args.preset, compile_video=True)
                elif name == "nvdec":
                    nvdec(args.files, Path(tmp))
                else:
                    e2e(Path(tmp), args.videos, args.workers, args.device, args.preset)
            except Exception as exc:  # one failing section must not hide the figures of the others
                print(f"section {name} failed: {type(exc).__name__}: {exc}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
