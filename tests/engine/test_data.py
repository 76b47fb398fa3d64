"""Manifests and the decoding DataLoader (worker processes, errors carried per item, decode-once cache)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from tests.engine.captioned import World
from videobert_engine import EngineError
from videobert_engine.config import preset
from videobert_engine.data import clip_loader, decode_all, load_manifest, write_manifest

SPEC = preset("tiny").clips


def test_manifest_round_trip_and_errors(tmp_path: Path):
    records = [{"path": "/a.mp4", "text": "first"}, {"path": None, "text": "text only"}]
    path = write_manifest(tmp_path / "pairs.jsonl", records)
    assert load_manifest(path) == records
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"path": "/a.mp4", "text": "ok"}\nnot json\n')
    with pytest.raises(EngineError, match=r"bad\.jsonl:2"):
        load_manifest(bad)


def test_loader_batches_in_order_with_workers(world: World, tmp_path: Path):
    bad = tmp_path / "bad.mp4"
    bad.write_text("nope")
    records = [*World.records(world.train[:5]), {"path": None, "text": "x"}, {"path": str(bad), "text": "y"}]
    batches = list(clip_loader(records, SPEC, batch_size=3, num_workers=2))
    assert [b.index.tolist() for b in batches] == [[0, 1, 2], [3, 4, 5], [6]]
    assert batches[1].has_video.tolist() == [True, True, False]
    assert batches[1].clips.shape == (2, SPEC.n_clips, SPEC.frames_per_clip, SPEC.size, SPEC.size, 3)
    assert batches[2].errors.keys() == {6} and "bad.mp4" in batches[2].errors[6]
    in_process = list(clip_loader(records, SPEC, batch_size=3, num_workers=0))
    assert all(torch.equal(a.clips, b.clips) for a, b in zip(batches, in_process, strict=True))


def test_decode_all_caches_each_video_once(world: World, tmp_path: Path):
    records = [{"path": None, "text": "t"}, *World.records(world.train[:3])]
    cache = decode_all(records, SPEC, num_workers=2, progress=False)
    assert cache.row_of.tolist() == [-1, 0, 1, 2]
    assert cache.clips.shape == (3, SPEC.n_clips, SPEC.frames_per_clip, SPEC.size, SPEC.size, 3)
    assert cache.errors == {} and cache.clips.float().std() > 0
