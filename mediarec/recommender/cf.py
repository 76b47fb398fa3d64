"""Collaborative filtering with ``implicit``: ALS (what the site serves) and
BPR (a baseline for offline evaluation). Both wrap the implicit model behind
the ``Recommender`` contract; the user's current row is folded in at request
time, so a user with new interactions is scored fresh without a refit."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from implicit.bpr import BayesianPersonalizedRanking
from implicit.cpu.als import AlternatingLeastSquares
from threadpoolctl import threadpool_limits

from mediarec.recommender.base import FitError, Recommender
from mediarec.recommender.cold_map import ColdMap, fit_cold_map
from mediarec.recommender.content import normalize_rows
from mediarec.recommender.weights import positive_part


def _cosine_to(factors: np.ndarray, itemid: int) -> np.ndarray:
    norms = np.linalg.norm(factors, axis=1)
    norms[norms == 0] = 1.0
    return (factors @ factors[itemid]) / (norms * norms[itemid])


class ALSRecommender(Recommender):
    """Implicit-feedback ALS on the signed confidence matrix (negatives = dislikes)."""

    def __init__(self, config=None):
        super().__init__(config)
        self.model: AlternatingLeastSquares | None = None

    def _new_model(self) -> AlternatingLeastSquares:
        c = self.config
        return AlternatingLeastSquares(
            factors=c.factors,
            regularization=c.regularization,
            alpha=1.0,  # confidences are already scaled in weights.py
            iterations=c.iterations,
            random_state=c.seed,
            num_threads=c.num_threads,
        )

    def _fit(self, user_items: sp.csr_matrix, item_embeddings: np.ndarray | None) -> None:
        if user_items.nnz == 0:
            raise FitError("cannot fit ALS without interactions")
        # implicit runs its own threads; a BLAS thread pool on top only slows it
        # down (implicit checks, and warns, when the model is built).
        with threadpool_limits(1, "blas"):
            self.model = self._new_model()
            self.model.fit(user_items, show_progress=False)
        if not (np.isfinite(self.model.user_factors).all() and np.isfinite(self.model.item_factors).all()):
            raise FitError("ALS produced non-finite factors; lower the confidence alpha or raise regularization")

    @property
    def item_factors(self) -> np.ndarray:
        return self.model.item_factors

    def user_vector(self, row: sp.csr_matrix) -> np.ndarray:
        """Factors for a user with history ``row`` (1, I), solved against the item factors. (F,)"""
        # One small solve: a thread pool would cost more than it saves.
        threads, self.model.num_threads = self.model.num_threads, 1
        try:
            return self.model.recalculate_user(0, sp.csr_matrix(row, dtype=np.float32))
        finally:
            self.model.num_threads = threads

    def _score(self, userid: int, row: sp.csr_matrix) -> np.ndarray | None:
        return self.model.item_factors @ self.user_vector(row)

    def _item_similarity(self, itemid: int) -> np.ndarray:
        return _cosine_to(self.model.item_factors, itemid)

    def partial_fit_users(self, userids: np.ndarray, user_items: sp.csr_matrix) -> None:
        """Refresh (or add) the stored factors of ``userids`` from their rows, items fixed."""
        with threadpool_limits(1, "blas"):
            self.model.partial_fit_users(np.asarray(userids), sp.csr_matrix(user_items, dtype=np.float32))

    def _state(self) -> dict[str, np.ndarray]:
        return {"user_factors": self.model.user_factors, "item_factors": self.model.item_factors}

    def _set_state(self, state: dict[str, np.ndarray]) -> None:
        with threadpool_limits(1, "blas"):
            self.model = self._new_model()
        self.model.user_factors = state["user_factors"].astype(np.float32)
        self.model.item_factors = state["item_factors"].astype(np.float32)
        self.model.factors = self.model.item_factors.shape[1]


class ColdALSRecommender(ALSRecommender):
    """ALS whose items nobody has touched get factors from their content (``cold_map.py``),
    so a new upload is scored u · v̂ by the same model; the map is refitted with every fit."""

    reaches_cold_items = True

    def __init__(self, config=None):
        super().__init__(config)
        self.cold_map: ColdMap | None = None
        self.scoring_factors: np.ndarray | None = None  # (I, F) ALS factors, mapped ones for cold items

    def _fit(self, user_items: sp.csr_matrix, item_embeddings: np.ndarray | None) -> None:
        if item_embeddings is None:
            raise FitError("ALS with a cold map needs item embeddings")
        super()._fit(user_items, item_embeddings)
        self._map(normalize_rows(item_embeddings))

    def _map(self, content: np.ndarray) -> None:
        c = self.config
        self.cold_map = fit_cold_map(
            content,
            self.model.item_factors,
            self.item_counts,
            lambdas=c.cold_map_lambdas,
            min_users=c.cold_map_min_users,
            knn_k=c.cold_map_knn_k,
            knn_power=c.cold_map_knn_power,
            knn_mix=c.cold_map_knn_mix,
            knn_items=c.cold_map_knn_items,
        )
        self.content = content
        cold = self.item_counts == 0
        # (I, F) mapped factors of the items nobody has touched, zeros for the rest (nothing reads
        # theirs; mapping every item through the neighbour part cost a 100k refit about 50 s)
        self.mapped_factors = np.zeros_like(self.model.item_factors)
        self.mapped_factors[cold] = self.cold_map.predict(content[cold])
        self.scoring_factors = np.where(cold[:, None], self.mapped_factors, self.model.item_factors)

    def _score(self, userid: int, row: sp.csr_matrix) -> np.ndarray | None:
        return self.scoring_factors @ self.user_vector(row)

    def _item_similarity(self, itemid: int) -> np.ndarray:
        return _cosine_to(self.scoring_factors, itemid)

    def _state(self) -> dict[str, np.ndarray]:
        return {**super()._state(), "content": self.content}

    def _set_state(self, state: dict[str, np.ndarray]) -> None:
        super()._set_state(state)
        self._map(state["content"])


class BPRRecommender(Recommender):
    """Bayesian personalized ranking on the positive entries (a baseline)."""

    def __init__(self, config=None):
        super().__init__(config)
        self.user_factors: np.ndarray | None = None
        self.item_factors: np.ndarray | None = None

    def _fit(self, user_items: sp.csr_matrix, item_embeddings: np.ndarray | None) -> None:
        positive = positive_part(user_items)
        if positive.nnz == 0:
            raise FitError("cannot fit BPR without positive interactions")
        c = self.config
        # One thread keeps BPR's SGD deterministic for a seed.
        model = BayesianPersonalizedRanking(
            factors=c.bpr_factors,
            learning_rate=c.bpr_learning_rate,
            regularization=c.bpr_regularization,
            iterations=c.iterations * 10,
            random_state=c.seed,
            num_threads=1,
            use_gpu=False,
        )
        model.fit(positive, show_progress=False)
        self.user_factors, self.item_factors = model.user_factors, model.item_factors
        if not np.isfinite(self.item_factors).all():
            raise FitError("BPR produced non-finite factors; lower the learning rate")

    def user_vector(self, row: sp.csr_matrix) -> np.ndarray:
        """Fold-in: the confidence-weighted mean of the liked items' factors (bias column = 1)."""
        positive = positive_part(row)
        weights = positive.data / positive.data.sum()
        vector = weights @ self.item_factors[positive.indices]
        vector[-1] = 1.0  # implicit's BPR keeps the item bias in the last column
        return vector

    def _score(self, userid: int, row: sp.csr_matrix) -> np.ndarray | None:
        return self.item_factors @ self.user_vector(row)

    def _item_similarity(self, itemid: int) -> np.ndarray:
        return _cosine_to(self.item_factors[:, :-1], itemid)

    def _state(self) -> dict[str, np.ndarray]:
        return {"user_factors": self.user_factors, "item_factors": self.item_factors}

    def _set_state(self, state: dict[str, np.ndarray]) -> None:
        self.user_factors, self.item_factors = state["user_factors"], state["item_factors"]
