"""The contract every recommender follows (after benfred/implicit's
``RecommenderBase``): fit on a signed user×item matrix (``weights.py``) plus,
optionally, an item embedding matrix; recommend for one user's history row;
list similar items; save and load.

Shared behaviour lives here so every recommender gets it the same way:
items the user has seen (any stored entry in their row) or disliked (a
negative entry) are never recommended, ties break by item index, and a user
with no history gets the trending items (``popularity``, fitted here).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from mediarec.recommender.config import RecommenderConfig
from mediarec.recommender.weights import positive_part


class FitError(Exception):
    """Fitting failed: empty or malformed input, or a numerical problem."""


def top_n(scores: np.ndarray, n: int, *, exclude: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Indices and scores of the ``n`` best finite scores, best first; ties by index."""
    if n <= 0:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float32)
    cost = -np.asarray(scores, dtype=np.float32)  # a copy; lowest first, NaN sorts last
    if exclude is not None and len(exclude):
        cost[exclude] = np.inf
    if len(cost) > n:
        # One partition over every item, then an exact, stable ordering of the few
        # at or above the n-th best score (all of the ties at the cut-off).
        cutoff = cost[np.argpartition(cost, n - 1)[:n]].max()
        candidates = np.flatnonzero(cost <= cutoff) if np.isfinite(cutoff) else np.flatnonzero(np.isfinite(cost))
    else:
        candidates = np.flatnonzero(np.isfinite(cost))
    order = np.lexsort((candidates, cost[candidates]))[:n]
    ids = candidates[order].astype(np.int64)
    return ids, -cost[ids]


class Recommender(ABC):
    """Abstract base; subclasses implement ``_fit``, ``_score`` (or ``_recommend``) and ``_item_similarity``."""

    #: Whether the model can reach an item nobody interacted with (content can, CF cannot).
    reaches_cold_items: bool = False
    #: Arrays a caller stores next to the state (see ``save(**extra)``), skipped by ``load``.
    EXTRA_KEYS = ("user_ids", "item_ids")

    def __init__(self, config: RecommenderConfig | None = None):
        self.config = config or RecommenderConfig()
        self.popularity: np.ndarray | None = None  # (I,) decayed positive confidence sums
        self.item_counts: np.ndarray | None = None  # (I,) users with a positive entry
        self.n_items = 0

    # --- contract -------------------------------------------------------
    def fit(self, user_items: sp.csr_matrix, *, item_embeddings: np.ndarray | None = None) -> Recommender:
        """Fit on a (U, I) signed matrix and optional (I, D) unit item embeddings."""
        user_items = sp.csr_matrix(user_items, dtype=np.float32)
        if user_items.shape[1] == 0:
            raise FitError("cannot fit on a matrix with no items")
        if item_embeddings is not None and len(item_embeddings) != user_items.shape[1]:
            raise FitError(f"{len(item_embeddings)} item embeddings for {user_items.shape[1]} items")
        positive = positive_part(user_items)
        self.n_items = user_items.shape[1]
        self.popularity = np.asarray(positive.sum(axis=0), dtype=np.float32).ravel()
        self.item_counts = np.diff(positive.tocsc().indptr).astype(np.float32)
        self._fit(user_items, item_embeddings)
        return self

    def recommend(
        self,
        userid: int,
        user_items: sp.csr_matrix,
        N: int = 10,
        *,
        filter_items: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """The ``N`` best unseen items for the user whose history is ``user_items`` (1, I).

        ``userid`` may be unknown to the fit (a new user); the row decides.
        """
        if self.popularity is None:
            raise FitError(f"{type(self).__name__} is not fitted")
        row = sp.csr_matrix(user_items, dtype=np.float32)
        if row.shape != (1, self.n_items):
            raise ValueError(f"user_items must have shape (1, {self.n_items}); got {row.shape}")
        exclude = row.indices
        if filter_items is not None:
            exclude = np.union1d(exclude, np.asarray(filter_items, dtype=np.int64))
        return self._recommend(userid, row, N, exclude)

    def similar_items(self, itemid: int, N: int = 10) -> tuple[np.ndarray, np.ndarray]:
        """Items most like ``itemid`` (excluding itself), best first."""
        scores = self._item_similarity(itemid)
        return top_n(scores, N, exclude=np.array([itemid]))

    def save(self, path: str | Path, **extra: np.ndarray) -> None:
        """Write the fitted state (plus any ``extra`` arrays) to one ``.npz`` file."""
        np.savez(Path(path), **self._state(), **extra, popularity=self.popularity, item_counts=self.item_counts)

    @classmethod
    def load(cls, path: str | Path, config: RecommenderConfig | None = None) -> Recommender:
        model = cls(config)
        with np.load(Path(path), allow_pickle=False) as data:
            state = {k: data[k] for k in data.files if k not in cls.EXTRA_KEYS}
        model.popularity = state.pop("popularity")
        model.item_counts = state.pop("item_counts")
        model.n_items = len(model.popularity)
        model._set_state(state)
        return model

    # --- implemented by each recommender --------------------------------
    @abstractmethod
    def _fit(self, user_items: sp.csr_matrix, item_embeddings: np.ndarray | None) -> None: ...

    def _recommend(self, userid: int, row: sp.csr_matrix, N: int, exclude: np.ndarray):
        """Score every item (``_score``), falling back to popularity, and take the top N."""
        scores = self._score(userid, row) if (row.data > 0).any() else None
        return top_n(self.popularity if scores is None else scores, N, exclude=exclude)

    def _score(self, userid: int, row: sp.csr_matrix) -> np.ndarray | None:
        """(I,) scores for a user with some positive history, or None to fall back."""
        return None

    @abstractmethod
    def _item_similarity(self, itemid: int) -> np.ndarray: ...

    def _state(self) -> dict[str, np.ndarray]:
        return {}

    def _set_state(self, state: dict[str, np.ndarray]) -> None:
        return None
