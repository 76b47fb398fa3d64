"""Validation data carved from the training matrix, for choosing what a fit
cannot choose on its own (EASE's λ, the learned ranker's trees) without ever
looking at a test split.

    train (U, I) ─► holdout_latest ─► earlier (U, I)   what generators are fitted on
                                   └► later   (U, I)   1 = a held-out positive pair (the labels)

With event times the held-out pairs are each user's latest positive ones
(a time-ordered split, like a site that fits on the past and serves the
future); without them, a seeded random share of each user's positive pairs.
``carve_cold`` first takes every pair of a few random items out of the
training matrix and makes all of them labels, so those items are cold to the
generators and are judged the way an item the catalog has no event for is
judged later on: by everyone who comes to it. The ranker then sees cold items
in the share the catalog has them.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp


def _pair_times(train: sp.csr_matrix, times: sp.csr_matrix) -> np.ndarray:
    """(nnz,) the time of each stored pair of ``train``, in its storage order."""
    times = sp.csr_matrix(times)
    if np.array_equal(times.indptr, train.indptr) and np.array_equal(times.indices, train.indices):
        return np.asarray(times.data, dtype=np.float64)
    rows = np.repeat(np.arange(train.shape[0]), np.diff(train.indptr))
    return np.asarray(times[rows, train.indices], dtype=np.float64).ravel()


def holdout_latest(
    train: sp.csr_matrix,
    times: sp.csr_matrix | None,
    *,
    fraction: float = 0.2,
    min_positive: int = 3,
    seed: int = 0,
    fold: int = 0,
) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    """``(earlier, later)``: per user with ``min_positive`` positive pairs or more,
    round(``fraction`` · n) of them (at least one) move to ``later`` with their values;
    earlier keeps the rest.

    ``fold`` k takes the k-th such slice instead of the first, so folds 0, 1, ... hold
    out disjoint pairs: with times, the slice k windows back from the latest, and the
    pairs newer than it leave ``earlier`` too (a fit on the past of each window); without
    times, a disjoint random slice, and ``earlier`` keeps every other pair."""
    train = sp.csr_matrix(train, dtype=np.float32)
    train.sort_indices()
    rng = np.random.default_rng(seed)
    # Ties (and the no-times case) break randomly, so the split never follows item order.
    order_key = rng.random(train.nnz) if times is None else _pair_times(train, times) + 1e-6 * rng.random(train.nnz)
    held = np.zeros(train.nnz, dtype=bool)
    dropped = np.zeros(train.nnz, dtype=bool)  # newer than a time-ordered fold's window
    for user in range(train.shape[0]):
        lo, hi = train.indptr[user], train.indptr[user + 1]
        positive = lo + np.flatnonzero(train.data[lo:hi] > 0)
        n_out = max(1, int(np.floor(len(positive) * fraction + 0.5)))
        past = len(positive) - fold * n_out  # pairs at or before the fold's window
        if len(positive) < min_positive or past <= 0 or (times is not None and past < min_positive):
            continue
        newest_first = positive[np.argsort(-order_key[positive], kind="stable")]
        held[newest_first[fold * n_out : (fold + 1) * n_out]] = True
        if times is not None:
            dropped[newest_first[: fold * n_out]] = True
    rows = np.repeat(np.arange(train.shape[0]), np.diff(train.indptr))
    keep = ~held & ~dropped
    earlier = sp.csr_matrix((train.data[keep], (rows[keep], train.indices[keep])), shape=train.shape)
    later = sp.csr_matrix((train.data[held], (rows[held], train.indices[held])), shape=train.shape)
    return earlier, later


def carve_cold(train: sp.csr_matrix, fraction: float, *, seed: int = 0) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    """``(rest, cold_pairs)``: ``train`` without any pair of a random ``fraction`` of the items
    that have a positive pair, and those items' positive pairs (with their values)."""
    train = sp.csr_matrix(train, dtype=np.float32)
    rng = np.random.default_rng(seed)
    touched = np.flatnonzero(np.diff(sp.csc_matrix(train > 0).indptr) > 0)
    cold = np.zeros(train.shape[1], dtype=bool)
    cold[rng.permutation(touched)[: int(np.floor(len(touched) * fraction + 0.5))]] = True
    keep = sp.diags((~cold).astype(np.float32))
    rest = sp.csr_matrix(train @ keep)
    cold_pairs = sp.csr_matrix(train.maximum(0) @ sp.diags(cold.astype(np.float32)))
    rest.eliminate_zeros()
    cold_pairs.eliminate_zeros()
    return rest, cold_pairs


def ndcg_at(scores: np.ndarray, labels: sp.csr_matrix, users: np.ndarray, k: int = 10) -> float:
    """Mean nDCG@k of dense ``scores`` (len(users), I) against binary ``labels`` rows (already-seen
    items must be -inf in ``scores``). A small copy of the lab's metric, for choices made inside a fit."""
    top = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    discounts = 1.0 / np.log2(np.arange(2, k + 2))
    total = 0.0
    for row, user in enumerate(users):
        relevant = labels.indices[labels.indptr[user] : labels.indptr[user + 1]]
        hits = np.isin(top[row], relevant)
        ideal = discounts[: min(len(relevant), k)].sum()
        total += (hits * discounts[: len(hits)]).sum() / ideal
    return total / max(len(users), 1)
