"""Interaction events → one signed, time-decayed, confidence-scaled
user×item matrix. The CF fit, the taste vectors and the serving path all read
events through here, so a like means the same thing everywhere.

For a user u and item i with events e (kind k_e, age a_e in days):

    w_ui = Σ_e weight[k_e] · 0.5 ** (a_e / half_life)          (signed)
    c_ui = sign(w_ui) · (1 + alpha · log1p(|w_ui| / epsilon))   (stored)

implicit's ALS reads a positive c_ui as preference 1 with confidence c_ui, and
a negative one as preference 0 with confidence |c_ui|. A pair whose events
cancel out is stored as -1: seen, with no preference either way.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from mediarec.recommender.config import RecommenderConfig


def event_weights(kinds: np.ndarray, age_days: np.ndarray, config: RecommenderConfig) -> np.ndarray:
    """Signed, decayed weight of each event; unknown kinds weigh 0. (E,) float32."""
    kinds_present, inverse = np.unique(np.asarray(kinds, dtype=str), return_inverse=True)
    base = np.array([config.kind_weights.get(k, 0.0) for k in kinds_present], dtype=np.float32)[inverse]
    decay = np.power(0.5, np.maximum(np.asarray(age_days, dtype=np.float32), 0.0) / config.half_life_days)
    return base * decay.astype(np.float32)


def confidence(weights: np.ndarray, config: RecommenderConfig) -> np.ndarray:
    """Log confidence scaling (Hu, Koren & Volinsky 2008), keeping the sign; |c| >= 1."""
    w = np.asarray(weights, dtype=np.float32)
    magnitude = 1.0 + config.confidence_alpha * np.log1p(np.abs(w) / config.confidence_epsilon)
    return np.where(w > 0, magnitude, -magnitude).astype(np.float32)


def build_user_items(
    user_idx: np.ndarray,
    item_idx: np.ndarray,
    weights: np.ndarray,
    *,
    shape: tuple[int, int],
    config: RecommenderConfig,
) -> sp.csr_matrix:
    """Sum event weights per (user, item), then scale to confidences. (U, I) CSR float32.

    Every pair with an event is stored, so "seen" is simply "has an entry".
    """
    summed = sp.coo_matrix(
        (np.asarray(weights, dtype=np.float32), (np.asarray(user_idx), np.asarray(item_idx))), shape=shape
    ).tocsr()
    summed.sum_duplicates()
    data = confidence(summed.data, config)
    matrix = sp.csr_matrix((data, summed.indices, summed.indptr), shape=shape, dtype=np.float32)
    matrix.sort_indices()
    return matrix


def user_row(item_idx: np.ndarray, weights: np.ndarray, *, n_items: int, config: RecommenderConfig) -> sp.csr_matrix:
    """One user's history as a (1, I) row, built exactly like a fit row."""
    return build_user_items(
        np.zeros(len(item_idx), dtype=np.int64), item_idx, weights, shape=(1, n_items), config=config
    )


def positive_part(matrix: sp.csr_matrix) -> sp.csr_matrix:
    out = matrix.copy()
    out.data = np.maximum(out.data, 0.0)
    out.eliminate_zeros()
    return out


def latest_times(
    user_idx: np.ndarray, item_idx: np.ndarray, times: np.ndarray, *, shape: tuple[int, int]
) -> sp.csr_matrix:
    """The time of each (user, item) pair's latest event, in the pattern of ``build_user_items``. (U, I) CSR float64.

    Any monotone unit works (seconds, days); only the order is read (``split.holdout_latest``).
    A time of 0 would read as no entry, so times are shifted to start at 1.
    """
    times = np.asarray(times, dtype=np.float64)
    shifted = times - (times.min() if len(times) else 0.0) + 1.0
    key = np.asarray(user_idx, dtype=np.int64) * shape[1] + np.asarray(item_idx, dtype=np.int64)
    order = np.lexsort((shifted, key))
    key, shifted = key[order], shifted[order]
    last = np.flatnonzero(np.r_[key[1:] != key[:-1], True])
    users, items = np.divmod(key[last], shape[1])
    matrix = sp.csr_matrix((shifted[last], (users, items)), shape=shape, dtype=np.float64)
    matrix.sort_indices()
    return matrix
