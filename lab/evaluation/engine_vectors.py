"""The product's own content vectors for a synthetic world, for the world protocols.

    world ──render (cached on disk, lab.evaluation.embedding_quality.rendered_videos)──► video files
      ↓ train VideoBERT as the demo does (DEMO_TRAINING), on every video but the newest
      ↓ (the new-uploads holdout: a site's model has not seen tomorrow's uploads), or take --checkpoint
      ↓ Embedder.embed_videos(file, stored text): the fused vector the embedding worker stores
    (I, D) L2-normalized item vectors

The world's stand-in vectors (``World.standin_embeddings``, made from the
ground-truth attributes) are the oracle upper bound beside these, never the
product's figure.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from lab.evaluation.embedding_quality import DEFAULT_CACHE, rendered_videos, stored_text
from lab.synthetic import World

# The demo's training: lab/management/commands/demo.py runs ``train_videobert`` with these.
DEMO_TRAINING = {"preset": "tiny", "steps": 300, "seed": 0}


def world_engine_vectors(
    world: World,
    *,
    checkpoint: str | Path | None = None,
    new_uploads_frac: float = 0.1,
    cache: Path = DEFAULT_CACHE,
    num_workers: int = 2,
    log: Callable[[str], None] = lambda _: None,
) -> tuple[np.ndarray, dict]:
    """-> ((I, D) fused vectors of every world video, facts about how they were made)."""
    from videobert_engine.embed import Embedder
    from videobert_engine.train import TrainConfig, train

    started = time.perf_counter()
    paths = rendered_videos(world.videos, world.config.seed, cache=cache)
    texts = [stored_text(spec) for spec in world.videos]
    info: dict = {"rendered_s": round(time.perf_counter() - started, 1), "checkpoint": str(checkpoint or "trained")}
    with tempfile.TemporaryDirectory(prefix="world-engine-") as tmp:
        if checkpoint is None:
            unseen = set(world.holdout_new_uploads(new_uploads_frac).test_videos.tolist())
            records = [
                {"path": str(p), "text": t}
                for i, (p, t) in enumerate(zip(paths, texts, strict=True))
                if i not in unseen
            ]
            log(f"training VideoBERT as the demo does ({DEMO_TRAINING}) on {len(records)} world videos")
            started = time.perf_counter()
            checkpoint = train(
                records,
                TrainConfig(
                    **DEMO_TRAINING,
                    device="cpu",
                    num_workers=num_workers,
                    progress=False,
                    out_path=str(Path(tmp) / "world.pt"),
                ),
            )
            info |= {"trained_on": len(records), "train_s": round(time.perf_counter() - started, 1), **DEMO_TRAINING}
        embedder = Embedder.from_checkpoint(checkpoint, device="cpu")
        started = time.perf_counter()
        vectors, errors = embedder.embed_videos(
            [{"path": str(p), "text": t} for p, t in zip(paths, texts, strict=True)], num_workers=num_workers
        )
    if errors:
        raise RuntimeError(f"{len(errors)} world videos failed to embed: {sorted(errors.items())[:3]}")
    info |= {
        "checkpoint": str(checkpoint) if info.get("train_s") is None else "trained",
        "embed_s": round(time.perf_counter() - started, 1),
    }
    return vectors.astype(np.float32), info
