"""The blend: turn per-source scores of a candidate pool into one ranked,
diversified, explained list. Pure numpy, shared by the in-memory
``HybridRecommender`` and the database path in ``mediarec.serving.feeds``.

    pool (items × {cf, content, trending, fresh} raw scores)
      ↓ normalize      min-max per source over the pool; absent → 0
      ↓ weigh          w_cf = h_u·h_i, w_content = 1 − h_u·h_i,
      ↓                w_trending = p·(1 − h_u), w_fresh = f
      ↓ sum            score = Σ_s w_s · ŝ_s
      ↓ MMR            λ·score − (1 − λ)·max cos(item, already chosen)
      ↓ explain        the source contributing most, and the history item behind it
    ranked list

with h_u = n_u / (n_u + k_u) (user history) and h_i = n_i / (n_i + k_i)
(item history); docs/RECOMMENDER.md gives the reasoning.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from mediarec.recommender.config import RecommenderConfig

SOURCES = ("cf", "content", "trending", "fresh")


@dataclass
class Pool:
    """Candidates and what each source says about them; NaN = no score from that source."""

    items: np.ndarray  # (C,) item keys: matrix indices in memory, video ids in the database
    raw: dict[str, np.ndarray]  # source → (C,) raw scores
    nominated: dict[str, np.ndarray]  # source → (C,) bool: the source put the item in the pool
    item_history: np.ndarray  # (C,) n_i, users who engaged with the item
    vectors: np.ndarray | None = None  # (C, D) unit embeddings for MMR (zero rows where missing)


@dataclass(frozen=True)
class Ranked:
    item: int
    score: float
    sources: tuple[str, ...]  # nominating sources, largest contribution first
    reason: str  # the source that contributed most
    contributions: dict[str, float] = field(default_factory=dict)


def normalize(raw: np.ndarray) -> np.ndarray:
    """Min-max to [0, 1] over the finite entries; NaN → 0; a constant source → 1."""
    raw = np.asarray(raw, dtype=np.float32)
    finite = np.isfinite(raw)
    out = np.zeros_like(raw)
    if not finite.any():
        return out
    lo, hi = raw[finite].min(), raw[finite].max()
    out[finite] = 1.0 if hi == lo else (raw[finite] - lo) / (hi - lo)
    return out


def history_strength(n: np.ndarray | float, k: float) -> np.ndarray:
    n = np.asarray(n, dtype=np.float32)
    return n / (n + k)


def blend_weights(n_user: float, item_history: np.ndarray, config: RecommenderConfig) -> dict[str, np.ndarray]:
    """Per-item weight of each source, adapted to the user's and the item's history."""
    h_u = history_strength(n_user, config.user_history_k)
    h_i = history_strength(item_history, config.item_history_k)
    cf = h_u * h_i
    ones = np.ones_like(h_i)
    return {
        "cf": cf,
        "content": 1.0 - cf,
        "trending": config.popularity_weight * (1.0 - h_u) * ones,
        "fresh": config.fresh_weight * ones,
    }


def blend(pool: Pool, n_user: float, config: RecommenderConfig) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Blended scores (C,) and each source's contribution (C,)."""
    weights = blend_weights(n_user, pool.item_history, config)
    contributions = {
        s: weights[s] * normalize(pool.raw[s]) if s in pool.raw else np.zeros(len(pool.items), np.float32)
        for s in SOURCES
    }
    return sum(contributions.values()), contributions


def mmr(relevance: np.ndarray, vectors: np.ndarray | None, k: int, lam: float) -> np.ndarray:
    """Greedy maximal marginal relevance: indices of ``k`` items, chosen in order.

    ``lam`` = 1 keeps the relevance order; lower values trade relevance for
    dissimilarity (cosine of ``vectors``) to the items already chosen.
    """
    n = len(relevance)
    k = min(k, n)
    if vectors is None or lam >= 1.0:
        return np.lexsort((np.arange(n), -relevance))[:k]
    rel = normalize(relevance)
    similarity = vectors @ vectors.T  # (n, n), n = a few pages of candidates
    chosen: list[int] = []
    max_sim = np.zeros(n, dtype=np.float32)
    available = np.ones(n, dtype=bool)
    for _ in range(k):
        gain = np.where(available, lam * rel - (1.0 - lam) * max_sim, -np.inf)
        best = int(np.argmax(gain))  # first index wins ties
        chosen.append(best)
        available[best] = False
        max_sim = np.maximum(max_sim, similarity[best])
    return np.array(chosen, dtype=np.int64)


def rank(pool: Pool, *, n_user: float, config: RecommenderConfig, limit: int, offset: int = 0) -> list[Ranked]:
    """Blend, diversify the top ``(offset + limit) · mmr_pool``, and return one page."""
    if not len(pool.items):
        return []
    scores, contributions = blend(pool, n_user, config)
    wanted = offset + limit
    head = np.lexsort((pool.items, -scores))[: wanted * config.mmr_pool]
    vectors = pool.vectors[head] if pool.vectors is not None else None
    order = head[mmr(scores[head], vectors, wanted, config.mmr_lambda)][offset:wanted]
    ranked = []
    for idx in order:
        parts = {s: float(contributions[s][idx]) for s in SOURCES}
        nominated = [s for s in SOURCES if s in pool.nominated and pool.nominated[s][idx]]
        nominated.sort(key=lambda s: -parts[s])
        reason = max(nominated, key=lambda s: parts[s]) if nominated else max(parts, key=parts.get)
        ranked.append(Ranked(int(pool.items[idx]), float(scores[idx]), tuple(nominated), reason, parts))
    return ranked


def because(candidates: np.ndarray, history: np.ndarray, history_keys: np.ndarray) -> list[int | None]:
    """For each candidate vector (K, D), the history item (H, D) it is most like."""
    if not len(history) or not len(candidates):
        return [None] * len(candidates)
    sims = candidates @ history.T  # (K, H)
    best = np.argmax(sims, axis=1)
    return [int(history_keys[b]) if sims[i, b] > 0 else None for i, b in enumerate(best)]


def explanation(reason: str, because_title: str | None) -> str:
    """A sentence for a user on why an item is in their feed."""
    if reason == "content":
        return f"Because you watched “{because_title}”" if because_title else "Similar content"
    if reason == "cf":
        return (
            f"People who watched “{because_title}” also watched this"
            if because_title
            else "Popular with viewers who share your taste"
        )
    if reason == "fresh":
        return "New upload"
    if reason == "cowatch":
        return "Viewers of this video also watched it"
    return "Trending now"
