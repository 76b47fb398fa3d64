"""Batched inference: records -> fused embeddings, text queries -> vectors in the same space.

    emb = Embedder.from_checkpoint("ckpt.pt")
    vecs, errors = emb.embed_videos([{"path": "a.mp4", "text": "title . tags"}, ...])
    queries = emb.embed_texts(["red ball bouncing"])
    scores = queries @ vecs.T

Runs under ``inference_mode``; on CUDA in bf16, with the levers of ``InferenceConfig`` (``channels_last_3d``,
cuDNN autotuning, optionally ``torch.compile`` of the video tower); on CPU none of them applies. Decoding happens in
DataLoader worker processes while the model works on the previous batch; on CUDA they decode on NVDEC where
PyNvVideoCodec is installed (``hwdecode.clip_sampler``), file by file falling back to PyAV.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch
from tqdm.auto import tqdm

from videobert_engine.checkpoint import load_model, read_checkpoint
from videobert_engine.data import clip_loader
from videobert_engine.decode import sample_clips
from videobert_engine.errors import ModelVersionMismatch
from videobert_engine.hwdecode import clip_sampler
from videobert_engine.joint import VideoBert
from videobert_engine.text import WordPiece
from videobert_engine.train import resolve_device


@dataclass
class InferenceConfig:
    """How the model runs on CUDA. CPU runs take none of these, so CPU results never change."""

    channels_last: bool = True  # the C3D tower in channels_last_3d (cuDNN's fast 3-D convolutions)
    cudnn_benchmark: bool = True  # let cuDNN time its algorithms for each new input shape
    compile_video: bool = False  # torch.compile the C3D tower (minutes of compiling on the first batches)
    compile_mode: str = "max-autotune-no-cudagraphs"
    hardware_decode: bool = True  # decode on NVDEC where PyNvVideoCodec is installed (hwdecode.clip_sampler)


def prepare_model(model: VideoBert, device: torch.device, config: InferenceConfig | None = None) -> VideoBert:
    """``model`` in eval mode on ``device``, with the CUDA levers of ``config`` applied."""
    config = config or InferenceConfig()
    model = model.eval().to(device)
    if device.type != "cuda":
        return model
    torch.backends.cudnn.benchmark = config.cudnn_benchmark
    if config.channels_last:
        model.video.to(memory_format=torch.channels_last_3d)
    if config.compile_video:
        model.video.compile(mode=config.compile_mode, dynamic=False)
    return model


@dataclass
class VideoBatch:
    """One decoded batch, the records that failed taken out."""

    rows: np.ndarray  # (B,) record indices of the items kept
    clips: torch.Tensor | None  # (R, N, T, H, W, 3) uint8 on the device, one row per True in has_video
    has_video: torch.Tensor  # (B,) bool on the device
    texts: list[str]  # (B,) each item's text ("" = none)
    errors: dict[int, str]  # record index -> why it was left out


class Embedder:
    def __init__(
        self,
        model: VideoBert,
        tokenizer: WordPiece,
        version: str,
        device: str | torch.device | None = None,
        inference: InferenceConfig | None = None,
    ):
        self.device = resolve_device(str(device) if device is not None else None)
        self.inference = inference or InferenceConfig()
        self.model = prepare_model(model, self.device, self.inference)
        self.tokenizer = tokenizer
        self.version = version
        self.embedding_dim = model.config.embed_dim
        self.config = model.config

    @classmethod
    def from_checkpoint(
        cls,
        path: str | os.PathLike,
        device: str | None = None,
        expect_version: str | None = None,
        inference: InferenceConfig | None = None,
    ) -> Embedder:
        """Raises CheckpointError for a missing/bad file, ModelVersionMismatch when ``expect_version`` differs."""
        payload = read_checkpoint(path)
        if expect_version is not None and payload["version"] != expect_version:
            raise ModelVersionMismatch(
                f"checkpoint {os.fspath(path)} holds model {payload['version']}, expected {expect_version}"
            )
        model, tokenizer = load_model(payload)
        return cls(model, tokenizer, payload["version"], device, inference)

    def sampler(self):
        """The clip decoder of this embedder: NVDEC on CUDA where installed and allowed, else PyAV."""
        return clip_sampler(self.device) if self.inference.hardware_decode else sample_clips

    def _autocast(self):
        return torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.device.type == "cuda")

    def _text(self, texts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        ids, mask = self.tokenizer.encode(texts, self.config.text.max_len)
        return ids.to(self.device), mask.to(self.device)

    def video_batches(
        self, records: list[dict], batch_size: int = 16, num_workers: int = 2, progress: bool = False
    ) -> Iterator[VideoBatch]:
        """Decoded batches of ``records`` in order, on this device; ``errors`` collects the records left out.

        A record whose video cannot be read is left out with its reason, as is one with neither video nor text.
        """
        cuda = self.device.type == "cuda"
        loader = clip_loader(
            records, self.config.clips, batch_size, num_workers, pin_memory=cuda, sample=self.sampler()
        )
        for batch in tqdm(loader, desc="embed", unit="batch", disable=not progress):
            texts = [records[int(i)].get("text") or "" for i in batch.index]
            for i, text, has in zip(batch.index.tolist(), texts, batch.has_video.tolist(), strict=True):
                if not has and not text.strip() and i not in batch.errors:
                    batch.errors[i] = "no video and no text to embed"
            keep = torch.tensor([int(i) not in batch.errors for i in batch.index], dtype=torch.bool)
            yield VideoBatch(
                rows=batch.index[keep].numpy(),
                clips=batch.clips.to(self.device, non_blocking=True) if batch.clips.ndim > 1 else None,
                has_video=batch.has_video[keep].to(self.device),
                texts=[t for t, k in zip(texts, keep.tolist(), strict=True) if k],
                errors=dict(batch.errors),
            )

    @torch.inference_mode()
    def embed_videos(
        self, records: list[dict], batch_size: int = 16, num_workers: int = 2, progress: bool = False
    ) -> tuple[np.ndarray, dict[int, str]]:
        """-> (vectors (N, D) float32, L2-normalized; {index: reason} for items that got an all-zero row).

        A record without a path is embedded from its text alone; one whose video cannot be read gets a zero row
        and its reason in ``errors``, as does one with neither video nor text.
        """
        out = np.zeros((len(records), self.embedding_dim), dtype=np.float32)
        errors: dict[int, str] = {}
        for batch in self.video_batches(records, batch_size, num_workers, progress):
            errors.update(batch.errors)
            if not len(batch.rows):
                continue
            ids, mask = self._text(batch.texts)
            with self._autocast():
                vecs = self.model.embed(batch.clips, batch.has_video, ids, mask)
            out[batch.rows] = vecs.float().cpu().numpy()
        return out, dict(sorted(errors.items()))

    @torch.inference_mode()
    def embed_texts(self, texts: list[str], batch_size: int = 256) -> np.ndarray:
        """Text queries -> (N, D) float32, L2-normalized, in the space of ``embed_videos`` (empty text -> zeros)."""
        out = np.zeros((len(texts), self.embedding_dim), dtype=np.float32)
        for start in range(0, len(texts), batch_size):
            chunk = texts[start : start + batch_size]
            ids, mask = self._text(chunk)
            no_video = torch.zeros(len(chunk), dtype=torch.bool, device=self.device)
            with self._autocast():
                out[start : start + len(chunk)] = self.model.embed(None, no_video, ids, mask).float().cpu().numpy()
        return out
