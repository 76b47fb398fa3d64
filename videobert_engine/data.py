"""Records, datasets and worker DataLoaders: decoding runs in worker processes so the model is never starved.

A record is ``{"path": str | None, "text": str}``; ``path`` None means the item has no video (text only).
A manifest is a JSONL file with one record per line.
"""

from __future__ import annotations

import json
import multiprocessing
import os
from dataclasses import dataclass
from pathlib import Path

import torch
from torch.utils.data import DataLoader, Dataset
from tqdm.auto import tqdm

from videobert_engine.config import ClipConfig
from videobert_engine.decode import sample_clips
from videobert_engine.errors import EngineError, UnreadableVideo


def load_manifest(path: str | os.PathLike) -> list[dict]:
    records = []
    with open(path, encoding="utf-8") as f:
        for line_no, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise EngineError(f"{path}:{line_no}: not JSON ({exc.msg})") from None
            if not isinstance(record, dict) or not ({"path", "text"} & record.keys()):
                raise EngineError(f'{path}:{line_no}: expected {{"path": ..., "text": ...}}')
            records.append({"path": record.get("path"), "text": record.get("text") or ""})
    return records


class ClipDataset(Dataset):
    """Item i -> {"index", "clips" (n, T, S, S, 3) uint8 or None, "error" str or None}.

    ``sample`` decodes one file (``sample_clips``, or ``hwdecode.clip_sampler(device)``'s choice)."""

    def __init__(self, records: list[dict], spec: ClipConfig, sample=sample_clips):
        self.records, self.spec, self.sample = records, spec, sample

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, i: int) -> dict:
        path = self.records[i].get("path")
        if not path:
            return {"index": i, "clips": None, "error": None}
        try:
            return {"index": i, "clips": torch.from_numpy(self.sample(path, self.spec)), "error": None}
        except UnreadableVideo as exc:
            return {"index": i, "clips": None, "error": str(exc)}


@dataclass
class ClipBatch:
    index: torch.Tensor  # (B,) record indices
    has_video: torch.Tensor  # (B,) bool
    clips: torch.Tensor  # (R, n, T, S, S, 3) uint8, one row per True in has_video
    errors: dict[int, str]  # record index -> reason its video could not be read

    def pin_memory(self) -> ClipBatch:
        return ClipBatch(self.index, self.has_video, self.clips.pin_memory(), self.errors)


def collate(items: list[dict]) -> ClipBatch:
    has_video = torch.tensor([it["clips"] is not None for it in items], dtype=torch.bool)
    clips = [it["clips"] for it in items if it["clips"] is not None]
    return ClipBatch(
        index=torch.tensor([it["index"] for it in items], dtype=torch.long),
        has_video=has_video,
        clips=torch.stack(clips) if clips else torch.empty(0, dtype=torch.uint8),
        errors={it["index"]: it["error"] for it in items if it["error"]},
    )


def _worker_init(_: int) -> None:
    torch.set_num_threads(1)  # workers only decode; leave the cores to PyAV and the main process


def _decoder_context() -> multiprocessing.context.BaseContext:
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(["videobert_engine.data"])  # torch and PyAV imported once, in the server
    return ctx


def clip_loader(
    records: list[dict],
    spec: ClipConfig,
    batch_size: int,
    num_workers: int,
    pin_memory: bool = False,
    sample=sample_clips,
) -> DataLoader:
    """Batches in record order; ``num_workers`` processes decode in parallel (0 decodes in this process)."""
    workers = max(0, min(num_workers, len(records) // max(batch_size, 1) + 1))
    return DataLoader(
        ClipDataset(records, spec, sample),
        # Decoders start from a clean forkserver, not a fork of the caller: a
        # fork inherits the caller's sockets and locks (a Celery child's broker
        # connection is closed by kombu's after-fork hook and can block there).
        multiprocessing_context=_decoder_context() if workers else None,
        batch_size=batch_size,
        shuffle=False,
        num_workers=workers,
        collate_fn=collate,
        pin_memory=pin_memory,
        worker_init_fn=_worker_init if workers else None,
        # a backstop for a decoder stuck in native code; each video already has its own deadline
        timeout=(spec.timeout_s * batch_size + 60) if workers else 0,
        prefetch_factor=2 if workers else None,
    )


@dataclass
class ClipCache:
    """Every record's clips, decoded once: ``clips[row_of[i]]`` for record i, or row_of[i] == -1 (no video)."""

    clips: torch.Tensor  # (M, n, T, S, S, 3) uint8
    row_of: torch.Tensor  # (N,) long
    errors: dict[int, str]


def decode_all(records: list[dict], spec: ClipConfig, num_workers: int = 2, progress: bool = True) -> ClipCache:
    n_with_path = sum(1 for r in records if r.get("path"))
    shape = (spec.n_clips, spec.frames_per_clip, spec.size, spec.size, 3)
    clips = torch.empty((n_with_path, *shape), dtype=torch.uint8)
    row_of = torch.full((len(records),), -1, dtype=torch.long)
    errors: dict[int, str] = {}
    filled = 0
    loader = clip_loader(records, spec, batch_size=8, num_workers=num_workers)
    for batch in tqdm(loader, desc="decode", unit="batch", disable=not progress, leave=False):
        rows = batch.index[batch.has_video]
        if len(rows):
            clips[filled : filled + len(rows)] = batch.clips
        row_of[rows] = torch.arange(filled, filled + len(rows))
        filled += len(rows)
        errors.update(batch.errors)
    return ClipCache(clips[:filled], row_of, errors)


def write_manifest(path: str | os.PathLike, records: list[dict]) -> Path:
    with open(path, "w", encoding="utf-8") as f:
        for r in records:
            f.write(json.dumps({"path": r.get("path"), "text": r.get("text") or ""}) + "\n")
    return Path(path)
