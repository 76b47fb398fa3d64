"""Trainer: builds the model from a preset, decodes every video once, and optimizes the objectives of losses.py.

AdamW with linear warmup and cosine decay, gradient clipping, bf16 autocast on CUDA. Every step draws its batch,
its masks and its dropout from a generator seeded by (seed, step), so a run is reproducible and a resumed run
continues exactly where the checkpoint left off.
"""

from __future__ import annotations

import json
import logging
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

from videobert_engine.checkpoint import load_model, read_checkpoint, save_checkpoint
from videobert_engine.config import preset
from videobert_engine.data import ClipCache, decode_all
from videobert_engine.errors import EngineError
from videobert_engine.joint import VideoBert
from videobert_engine.losses import Batch, Objectives, compute_losses
from videobert_engine.text import WordPiece, load_minilm

log = logging.getLogger("videobert_engine")


@dataclass
class TrainConfig:
    preset: str = "tiny"
    overrides: dict[str, Any] = field(default_factory=dict)  # preset(...) overrides, e.g. {"embed_dim": 128}
    steps: int = 200  # the planned length of the run (the lr schedule spans it)
    stop_at: int | None = None  # end this run after this step and save; resume_from continues it
    batch_size: int = 32
    clips_per_item: int = 1  # clips of each video per step (an ordered random subset of the cached n_clips); 0 = all
    lr: float = 2e-3
    pretrained_lr_scale: float = 0.0  # lr factor for a warm-started text tower; 0 freezes it (see text_states)
    min_lr_ratio: float = 0.05
    weight_decay: float = 0.05
    warmup_steps: int | None = None  # default: 5% of the steps
    grad_clip: float = 1.0
    seed: int = 0
    out_path: str = "videobert.pt"
    resume_from: str | None = None
    checkpoint_every: int = 0  # 0: only at the end
    save_optimizer: bool = True  # keep the AdamW state in the checkpoint (to resume); False makes it 3x smaller
    device: str | None = None  # None: cuda when available
    num_workers: int = 2  # decoding processes
    threads: int | None = None  # torch CPU threads while training (None: leave as is); 1 is best on a busy machine
    objectives: Objectives = field(default_factory=Objectives)
    log_path: str | None = None  # per-step metrics as JSONL
    progress: bool = True

    def __post_init__(self) -> None:
        if isinstance(self.objectives, dict):
            self.objectives = Objectives(**self.objectives)


def resolve_device(device: str | None) -> torch.device:
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise EngineError(f"device {device!r} was asked for but CUDA is not available on this machine")
    return torch.device(device)


def lr_at(step: int, cfg: TrainConfig) -> float:
    """Multiplier of the base lr: linear warmup, then cosine down to min_lr_ratio."""
    warmup = cfg.warmup_steps if cfg.warmup_steps is not None else max(1, cfg.steps // 20)
    if step < warmup:
        return (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, cfg.steps - warmup))
    return cfg.min_lr_ratio + (1 - cfg.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress))


def text_frozen(model: VideoBert, cfg: TrainConfig) -> bool:
    return model.config.text.init == "minilm" and cfg.pretrained_lr_scale == 0


def make_optimizer(model: VideoBert, cfg: TrainConfig) -> torch.optim.AdamW:
    pretrained = model.config.text.init == "minilm"
    groups: dict[tuple[bool, bool], list] = {}
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        key = (p.dim() >= 2, pretrained and name.startswith("text."))
        groups.setdefault(key, []).append(p)
    param_groups = [
        {
            "params": ps,
            "weight_decay": cfg.weight_decay if decay else 0.0,
            "lr_scale": cfg.pretrained_lr_scale if warm else 1.0,
        }
        for (decay, warm), ps in sorted(groups.items())
    ]
    return torch.optim.AdamW(param_groups, lr=cfg.lr, betas=(0.9, 0.98), eps=1e-6)


@torch.no_grad()
def text_states(model: VideoBert, ids: torch.Tensor, mask: torch.Tensor, device, chunk: int = 64) -> torch.Tensor:
    """A frozen text tower's token states of every text, computed once: (N, L, dt) float16 on the CPU.

    With the tower frozen (and MLM off) a step only needs these, so the tower costs one pass per text, not one
    per step.
    """
    tower = model.text.eval()
    out = torch.zeros((*ids.shape, tower.num_features), dtype=torch.float16)
    for start in range(0, len(ids), chunk):
        rows = slice(start, start + chunk)
        out[rows] = tower.forward_features(ids[rows].to(device), mask[rows].to(device)).to("cpu", torch.float16)
    return out


def word_idf(ids: torch.Tensor, mask: torch.Tensor, vocab_size: int, n_special: int) -> torch.Tensor:
    """(vocab,) log(N / df) of each word over the corpus; 0 for words in half the texts or more ("a", "the", ".")."""
    used = torch.zeros((len(ids), vocab_size))
    used.scatter_(1, ids, (mask & (ids >= n_special)).float())
    df = used.sum(0)
    return torch.where(df > 0, (len(ids) / df.clamp(min=1)).log().clamp(min=0) * (df < len(ids) / 2), 0.0)


def make_batch(
    cfg: TrainConfig,
    cache: ClipCache,
    ids: torch.Tensor,
    mask: torch.Tensor,
    usable: torch.Tensor,
    gen: torch.Generator,
    states: torch.Tensor | None = None,
    idf: torch.Tensor | None = None,
) -> Batch:
    pick = usable[torch.randperm(len(usable), generator=gen)[: cfg.batch_size]]
    rows = cache.row_of[pick]
    has_video = rows >= 0
    clips = cache.clips[rows[has_video]]  # (R, n, T, S, S, 3)
    n = cache.clips.shape[1]
    k = n if not cfg.clips_per_item else min(cfg.clips_per_item, n)
    clip_index = torch.rand((len(clips), n), generator=gen).argsort(1)[:, :k].sort(1).values  # (R, k)
    clips = torch.gather(clips, 1, clip_index[..., None, None, None, None].expand(-1, -1, *clips.shape[2:]))
    length = int(mask[pick].sum(1).max().clamp(min=1))
    cached = None if states is None else states[pick, :length].float()
    return Batch(clips, clip_index, has_video, ids[pick, :length], mask[pick, :length], cached, idf)


def train(records: list[dict], config: TrainConfig) -> Path:
    """Train on ``records`` ({"path": str | None, "text": str}); returns the checkpoint path (``config.out_path``)."""
    threads = torch.get_num_threads()
    if config.threads:
        torch.set_num_threads(config.threads)
    try:
        return _train(records, config)
    finally:
        torch.set_num_threads(threads)


def _train(records: list[dict], config: TrainConfig) -> Path:
    device = resolve_device(config.device)
    texts = [r.get("text") or "" for r in records]
    start, payload = 0, None
    if config.resume_from:
        payload = read_checkpoint(config.resume_from)
        model, tokenizer = load_model(payload)
        start = payload["train"].get("step", 0)
    else:
        torch.manual_seed(config.seed)
        model_cfg = preset(config.preset, **config.overrides)
        tokenizer = WordPiece.for_config(model_cfg.text, texts)
        model_cfg.text.vocab_size = tokenizer.vocab_size
        model = VideoBert(model_cfg)
        if model_cfg.text.init == "minilm":
            load_minilm(model.text)
    spec = model.config.clips

    cache = decode_all(records, spec, config.num_workers, progress=config.progress)
    for i, reason in sorted(cache.errors.items()):
        log.warning("record %d: video skipped, text kept: %s", i, reason)
    ids, mask = tokenizer.encode(texts, model.config.text.max_len)
    usable = ((cache.row_of >= 0) | mask.any(1)).nonzero().squeeze(1)
    if not ((cache.row_of >= 0) & mask.any(1)).any():
        raise EngineError("no record has both a readable video and a text; nothing to learn from")

    model.to(device)
    if device.type == "cuda":
        model.video.to(memory_format=torch.channels_last_3d)
    states = None
    if text_frozen(model, config):
        model.text.requires_grad_(False)
        states = text_states(model, ids, mask, device)
    idf = word_idf(ids, mask, tokenizer.vocab_size, tokenizer.n_special) if config.objectives.words else None
    optimizer = make_optimizer(model, config)
    if payload is not None and payload["train"].get("optimizer"):
        optimizer.load_state_dict(payload["train"]["optimizer"])
    log_file = open(config.log_path, "a", encoding="utf-8", buffering=1) if config.log_path else None  # noqa: SIM115
    metrics: dict[str, float] = {}
    model.train()
    if states is not None:
        model.text.eval()
    end = min(config.steps, config.stop_at or config.steps)
    bar = tqdm(
        range(start, end),
        desc=f"train {model.config.name}",
        disable=not config.progress,
        initial=start,
        total=config.steps,
    )
    started = time.perf_counter()
    try:
        for step in bar:
            gen = torch.Generator().manual_seed(config.seed * 1_000_003 + step)
            torch.manual_seed(config.seed * 1_000_003 + step)  # dropout
            for group in optimizer.param_groups:
                group["lr"] = config.lr * group["lr_scale"] * lr_at(step, config)
            batch = make_batch(config, cache, ids, mask, usable, gen, states, idf)
            batch = Batch(
                *(
                    t if t is None else t.to(device, non_blocking=True)
                    for t in (
                        batch.clips,
                        batch.clip_index,
                        batch.has_video,
                        batch.ids,
                        batch.text_mask,
                        batch.text_states,
                        batch.word_weight,
                    )
                )
            )
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
                loss, metrics = compute_losses(model, batch, config.objectives, tokenizer, gen)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            metrics["grad_norm"] = float(torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip))
            optimizer.step()
            metrics["lr"] = optimizer.param_groups[0]["lr"]
            metrics["time_s"] = time.perf_counter() - started  # since this run's first step (decoding excluded)
            bar.set_postfix(
                {
                    k: f"{v:.3g}"
                    for k, v in metrics.items()
                    if k in ("loss", "nce_acc", "mlm_acc", "clip_acc", "align_acc")
                }
            )
            if log_file:
                log_file.write(json.dumps({"step": step + 1, **metrics}) + "\n")
            if config.checkpoint_every and (step + 1) % config.checkpoint_every == 0 and step + 1 < end:
                _save(config, model, tokenizer, optimizer, step + 1, metrics, cache)
    finally:
        if log_file:
            log_file.close()
    model.eval()
    version = _save(config, model, tokenizer, optimizer, max(start, end), metrics, cache)
    log.info("saved %s (version %s)", config.out_path, version)
    return Path(config.out_path)


def _save(config: TrainConfig, model, tokenizer, optimizer, step: int, metrics: dict, cache: ClipCache) -> str:
    state = {
        "step": step,
        "config": asdict(config),
        "optimizer": optimizer.state_dict() if config.save_optimizer else None,
        "metrics": metrics,
        "decode_errors": len(cache.errors),
    }
    return save_checkpoint(config.out_path, model, tokenizer, state)
