"""Engine fixtures, shared by the whole suite: captioned videos (one coloured shape moving, a caption saying so) and one tiny model trained on them (once per session)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.engine.synthetic import make_pairs
from videobert_engine.train import TrainConfig, train

QUALITY_STEPS = 100  # about 1-2 minutes on 2 CPU cores; see docs/ENGINE.md for the figures


@dataclass
class World:
    train: list[dict]  # 160 captioned videos, captions repeat (48 distinct)
    held_out: list[dict]  # 32 more, each with its own caption, never trained on

    @staticmethod
    def records(items: list[dict]) -> list[dict]:
        return [{"path": r["path"], "text": r["text"]} for r in items]


@pytest.fixture(scope="session")
def world(tmp_path_factory) -> World:
    root = tmp_path_factory.mktemp("world")
    return World(
        train=make_pairs(root / "train", 160, seed=1), held_out=make_pairs(root / "held_out", 32, seed=2, distinct=True)
    )


@pytest.fixture(scope="session")
def trained(world: World, tmp_path_factory) -> Path:
    """The tiny preset trained on the world for QUALITY_STEPS steps with seed 0."""
    out = tmp_path_factory.mktemp("ckpt") / "tiny.pt"
    config = TrainConfig(
        preset="tiny",
        steps=QUALITY_STEPS,
        seed=0,
        out_path=str(out),
        threads=1,
        progress=False,
        log_path=str(out.with_suffix(".jsonl")),
    )
    return train(World.records(world.train), config)
