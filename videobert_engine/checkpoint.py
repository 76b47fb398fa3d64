"""Checkpoint files: config + weights + tokenizer + version string (+ trainer state, to resume).

    {"format": FORMAT, "engine": engine version, "version": "<preset>-<step>-<weights sha256[:12]>",
     "config": VideoBertConfig dict, "tokenizer": {"source", "json"}, "model": state dict,
     "train": {"step", "config", "optimizer", "scheduler", "generator", "torch_rng", "metrics"},
     "generation": the tag vocabulary of generate.py (optional; ``generate.attach_vocabulary`` adds it)}

Files are written to a temporary name and renamed, so a crash never leaves a half-written checkpoint; they load
with ``weights_only=True``.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import torch

from videobert_engine import __version__
from videobert_engine.config import VideoBertConfig
from videobert_engine.errors import CheckpointError, ModelVersionMismatch
from videobert_engine.joint import VideoBert
from videobert_engine.text import WordPiece

FORMAT = "videobert_engine.checkpoint/1"


def weights_digest(state: dict[str, torch.Tensor]) -> str:
    digest = hashlib.sha256()
    for name in sorted(state):
        digest.update(name.encode())
        digest.update(state[name].detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def save_checkpoint(
    path: str | os.PathLike, model: VideoBert, tokenizer: WordPiece, train_state: dict[str, Any] | None = None
) -> str:
    """Write the checkpoint; returns its version string."""
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    step = (train_state or {}).get("step", 0)
    version = f"{model.config.name}-s{step}-{weights_digest(state)[:12]}"
    payload = {
        "format": FORMAT,
        "engine": __version__,
        "version": version,
        "config": model.config.to_dict(),
        "tokenizer": tokenizer.to_dict(),
        "model": state,
        "train": train_state or {},
    }
    write_checkpoint(path, payload)
    return version


def write_checkpoint(path: str | os.PathLike, payload: dict[str, Any]) -> Path:
    """Write a checkpoint dict to a temporary name and rename it into place."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    torch.save(payload, tmp)
    os.replace(tmp, path)
    return path


def read_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """The raw checkpoint dict; raises CheckpointError / ModelVersionMismatch."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many kinds (pickle, zip, runtime) for a damaged file
        raise CheckpointError(f"checkpoint {path.name} is unreadable: {type(exc).__name__}: {str(exc)[:200]}") from None
    if not isinstance(payload, dict) or "format" not in payload:
        raise CheckpointError(f"{path.name} is not a videobert_engine checkpoint")
    if payload["format"] != FORMAT:
        raise ModelVersionMismatch(
            f"{path.name} has checkpoint format {payload['format']!r}; this engine reads {FORMAT!r}"
        )
    return payload


def load_model(payload: dict[str, Any]) -> tuple[VideoBert, WordPiece]:
    try:
        config = VideoBertConfig.from_dict(payload["config"])
        tokenizer = WordPiece.from_dict(payload["tokenizer"])
        model = VideoBert(config)
        model.load_state_dict(payload["model"])
    except (KeyError, TypeError, ValueError, RuntimeError) as exc:
        raise CheckpointError(
            f"checkpoint {payload.get('version', '?')} does not match its config: {str(exc)[:300]}"
        ) from None
    return model, tokenizer
