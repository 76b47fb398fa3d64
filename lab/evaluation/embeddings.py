"""Content vectors for items that have text but no video (MovieLens items).

With a VideoBERT checkpoint the texts go through ``Embedder.embed_texts``, so
they land in the same space the site serves. Without one, the engine's text
tower is warm-started from the all-MiniLM-L6-v2 weights (``load_minilm``) and
its pooled output (masked mean of token states, the tower's pre-logits) is the
vector: an untrained joint model on top would only scramble it.
"""

from __future__ import annotations

import numpy as np
import torch

from videobert_engine.config import TextConfig
from videobert_engine.embed import Embedder
from videobert_engine.text import TextTower, WordPiece, load_minilm


@torch.inference_mode()
def embed_texts(
    texts: list[str], *, device: str = "cpu", checkpoint: str | None = None, batch_size: int = 128
) -> np.ndarray:
    """(N, D) float32, L2-normalized rows."""
    if checkpoint:
        return Embedder.from_checkpoint(checkpoint, device=device).embed_texts(texts, batch_size=batch_size)
    config = TextConfig(vocab="minilm", init="minilm", dropout=0.0)
    tokenizer = WordPiece.minilm()
    config.vocab_size = tokenizer.vocab_size
    tower = TextTower(config)
    load_minilm(tower)
    tower.eval().to(device)
    out = np.zeros((len(texts), config.d_model), dtype=np.float32)
    for start in range(0, len(texts), batch_size):
        ids, mask = tokenizer.encode(texts[start : start + batch_size], config.max_len)
        pooled = torch.nn.functional.normalize(tower(ids.to(device), mask.to(device)).float(), dim=-1)
        out[start : start + len(ids)] = pooled.cpu().numpy()
    return out
