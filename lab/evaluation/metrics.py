"""Top-K ranking metrics, computed from a padded matrix of recommendations.

Every function reads the same two inputs:

    recs      (U, K) int    item index per rank, best first; -1 pads a short list
    relevant  (U, I) CSR    nonzero = the item is relevant to that user (binary gain)

and averages over the U users given (callers pass only users with at least one
relevant item). The exact definitions, for one user with relevant set R and
list r_1..r_K, hit h_j = [r_j ∈ R]:

    Precision@K = Σ_{j≤K} h_j / K                  (a short list still divides by K)
    Recall@K    = Σ_{j≤K} h_j / |R|
    nDCG@K      = Σ_{j≤K} h_j / log2(j+1)  ÷  Σ_{j≤min(|R|,K)} 1 / log2(j+1)
    MAP@K       = mean over users of AP@K,   AP@K = Σ_{j≤K} h_j · Precision@j / |R|
    Coverage@K  = |∪_u {r_1..r_K}| / n_items   (share of the catalog recommended to anyone)
    Novelty@K   = mean over every recommended slot of −log2 p(i),  p(i) = (c_i + 1) / (n_users + 1)
                  with c_i = training users who interacted with i (Laplace-smoothed so unseen items are finite)
    ColdRecall@K = Recall@K restricted to relevant items that have no training interaction,
                  averaged over users that have at least one such item (None when no user has one)
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

METRICS = ("precision", "recall", "ndcg", "map", "coverage", "novelty", "cold_recall")


def hit_matrix(recs: np.ndarray, relevant: sp.csr_matrix) -> np.ndarray:
    """(U, K) bool: is the item at each rank relevant to that user."""
    recs = np.asarray(recs)
    relevant = sp.csr_matrix(relevant)
    n_users, n_items = relevant.shape
    rows = np.repeat(np.arange(n_users, dtype=np.int64), np.diff(relevant.indptr))
    rel_keys = rows * n_items + relevant.indices.astype(np.int64)
    rec_keys = np.arange(n_users, dtype=np.int64)[:, None] * n_items + recs.astype(np.int64)
    return np.isin(rec_keys, rel_keys) & (recs >= 0)


def precision_at_k(hits: np.ndarray, k: int) -> np.ndarray:
    return hits[:, :k].sum(axis=1) / k


def recall_at_k(hits: np.ndarray, n_relevant: np.ndarray, k: int) -> np.ndarray:
    return hits[:, :k].sum(axis=1) / n_relevant


def ndcg_at_k(hits: np.ndarray, n_relevant: np.ndarray, k: int) -> np.ndarray:
    discounts = 1.0 / np.log2(np.arange(2, k + 2))  # rank j → 1 / log2(j + 1)
    dcg = (hits[:, :k] * discounts[: hits[:, :k].shape[1]]).sum(axis=1)
    ideal = np.cumsum(discounts)[np.minimum(n_relevant, k) - 1]
    return dcg / ideal


def average_precision_at_k(hits: np.ndarray, n_relevant: np.ndarray, k: int) -> np.ndarray:
    h = hits[:, :k].astype(np.float64)
    precision_at_j = np.cumsum(h, axis=1) / np.arange(1, h.shape[1] + 1)
    return (precision_at_j * h).sum(axis=1) / n_relevant


def catalog_coverage(recs: np.ndarray, k: int, n_items: int) -> float:
    top = recs[:, :k]
    return len(np.unique(top[top >= 0])) / n_items


def novelty(recs: np.ndarray, k: int, item_user_counts: np.ndarray, n_users: int) -> float:
    top = recs[:, :k]
    top = top[top >= 0]
    if top.size == 0:
        return 0.0
    p = (np.asarray(item_user_counts)[top] + 1.0) / (n_users + 1.0)
    return float(np.mean(-np.log2(p)))


def cold_start_recall(
    hits: np.ndarray, recs: np.ndarray, relevant: sp.csr_matrix, cold: np.ndarray, k: int
) -> float | None:
    """Recall@K over the relevant items that are cold (``cold`` is an (I,) bool mask)."""
    cold_relevant = sp.csr_matrix(relevant).multiply(sp.csr_matrix(cold.astype(np.float32)[None, :])).tocsr()
    cold_relevant.eliminate_zeros()
    n_cold = np.diff(cold_relevant.indptr)
    users = n_cold > 0
    if not users.any():
        return None
    top = recs[:, :k]
    cold_hits = hits[:, :k] & cold[np.maximum(top, 0)] & (top >= 0)
    return float(np.mean(cold_hits[users].sum(axis=1) / n_cold[users]))


def score_topk(
    recs: np.ndarray,
    relevant: sp.csr_matrix,
    ks: list[int],
    *,
    item_user_counts: np.ndarray,
    n_train_users: int,
    cold_items: np.ndarray | None = None,
) -> dict[int, dict[str, float | None]]:
    """Every metric at every K, for users with at least one relevant item.

    ``recs`` must hold at least ``max(ks)`` columns (pad with -1).
    """
    relevant = sp.csr_matrix(relevant)
    n_items = relevant.shape[1]
    n_relevant = np.diff(relevant.indptr)
    keep = n_relevant > 0
    if not keep.any():
        raise ValueError("no user has a relevant item to score")
    recs, relevant, n_relevant = np.asarray(recs)[keep], relevant[keep], n_relevant[keep]
    if recs.shape[1] < max(ks):
        raise ValueError(f"recommendation lists hold {recs.shape[1]} items; K up to {max(ks)} needs that many columns")
    hits = hit_matrix(recs, relevant)
    cold = np.zeros(n_items, dtype=bool) if cold_items is None else np.asarray(cold_items, dtype=bool)
    results: dict[int, dict[str, float | None]] = {}
    for k in ks:
        results[k] = {
            "precision": float(precision_at_k(hits, k).mean()),
            "recall": float(recall_at_k(hits, n_relevant, k).mean()),
            "ndcg": float(ndcg_at_k(hits, n_relevant, k).mean()),
            "map": float(average_precision_at_k(hits, n_relevant, k).mean()),
            "coverage": catalog_coverage(recs, k, n_items),
            "novelty": novelty(recs, k, item_user_counts, n_train_users),
            "cold_recall": cold_start_recall(hits, recs, relevant, cold, k),
        }
    return results
