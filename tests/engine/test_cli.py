"""``python -m videobert_engine train|embed|bench`` as a user runs them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.engine.captioned import World
from tests.engine.files import write_indexed
from videobert_engine.data import write_manifest

pytestmark = pytest.mark.slow  # trains, or starts processes or a browser

ROOT = Path(__file__).resolve().parents[2]


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "videobert_engine", *args], cwd=ROOT, capture_output=True, text=True, timeout=300
    )


def test_train_then_embed(world: World, tmp_path: Path):
    manifest = write_manifest(
        tmp_path / "pairs.jsonl", [*World.records(world.train[:8]), {"path": None, "text": "text only"}]
    )
    ckpt = tmp_path / "ckpt.pt"
    run = cli(
        "train",
        "--manifest",
        str(manifest),
        "--out",
        str(ckpt),
        "--preset",
        "tiny",
        "--steps",
        "2",
        "--seed",
        "0",
        "--batch-size",
        "4",
        "--threads",
        "1",
        "--no-progress",
    )
    assert run.returncode == 0, run.stderr
    summary = json.loads(run.stdout.strip().splitlines()[-1])
    assert summary["version"].startswith("tiny-s2-") and "loss" in summary["metrics"]

    out = tmp_path / "vecs.npy"
    run = cli("embed", "--checkpoint", str(ckpt), "--manifest", str(manifest), "--out", str(out), "--no-progress")
    assert run.returncode == 0, run.stderr
    vecs = np.load(out)
    assert vecs.shape == (9, 256) and np.allclose(np.linalg.norm(vecs, axis=1), 1, atol=1e-5)
    assert json.loads(run.stdout.strip().splitlines()[-1])["version"] == summary["version"]


def test_bad_input_is_one_line_and_status_2(tmp_path: Path):
    run = cli(
        "embed",
        "--checkpoint",
        str(tmp_path / "missing.pt"),
        "--manifest",
        str(tmp_path / "m.jsonl"),
        "--out",
        str(tmp_path / "v.npy"),
    )
    assert run.returncode == 2 and run.stderr.strip().startswith("error: checkpoint") and "Traceback" not in run.stderr


QUICK_BENCH = ["bench", "--preset", "tiny", "--batch-size", "8", "--iters", "1", "--warmup", "0", "--decode-iters", "1"]


def test_bench_prints_the_figures():
    run = cli(*QUICK_BENCH, "--device", "cpu", "--json")
    assert run.returncode == 0, run.stderr
    for label in ("video tower", "fused embedding", "clips/s", "decode", "frames/s"):
        assert label in run.stdout
    figures = json.loads(run.stdout.strip().splitlines()[-1])
    assert figures["fused_clips_s"] > 0 and figures["video_tower_clips_s"] > 0 and figures["decode_frames_s"] > 0
    assert figures["bare_c3d_clips_s"] is None  # the reference C3D runs on CUDA only


def test_bench_prints_the_decode_cost_of_given_files(tmp_path: Path):
    one_key = write_indexed(tmp_path / "one_key.mp4", seconds=20, fps=10, gop=100_000)
    run = cli("bench", "--preset", "tiny", "--no-models", "--decode-iters", "1", "--files", str(one_key), "--json")
    assert run.returncode == 0, run.stderr
    assert "one_key.mp4" in run.stdout and "sample_clips / bare decode, CPU time over 2 files" in run.stdout
    assert "fused embedding" not in run.stdout  # --no-models
    costs = json.loads(run.stdout.strip().splitlines()[-1])["decode_cost"]
    assert [c["file"] for c in costs] == ["bench.mp4", "one_key.mp4"]
    assert costs[1]["frames"] == 200 and costs[1]["key_frames"] == 1
    assert all(c["sample_cpu_s"] > 0 and c["bare_cpu_s"] > 0 for c in costs)


def test_bench_on_cuda():
    run = cli(*QUICK_BENCH, "--device", "cuda")
    if torch.cuda.is_available():
        assert run.returncode == 0 and "bare C3D (ref)" in run.stdout and "fused / bare" in run.stdout, run.stderr
    else:  # the CPU machines: one clear line, no traceback
        assert run.returncode == 2 and "CUDA is not available" in run.stderr and "Traceback" not in run.stderr
