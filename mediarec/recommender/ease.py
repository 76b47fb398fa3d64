"""EASE (Steck 2019): a closed-form item-item model, the strongest simple peer
on MovieLens-style data, and the co-watch source of the learned ranker.

    X (U, I) binary positives ─► G = XᵀX + λI ─► P = G⁻¹ ─► B = I − P · diag(1 / diag P), diag B = 0
    score(u) = x_u B

λ is chosen on validation data carved from the training matrix
(``split.holdout_latest``): each λ in ``config.ease_lambdas`` is fitted on the
earlier pairs and scored by nDCG@10 on the later ones; the best is refitted on
everything. B is dense (I, I): fine for evaluation catalogs; a served catalog
would keep only each item's strongest neighbours.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from mediarec.recommender.base import FitError, Recommender
from mediarec.recommender.split import holdout_latest, ndcg_at
from mediarec.recommender.weights import positive_part


def binary_positive(user_items: sp.csr_matrix) -> sp.csr_matrix:
    positive = positive_part(sp.csr_matrix(user_items, dtype=np.float32))
    positive.data[:] = 1.0
    return positive


def ease_weights(positive: sp.csr_matrix, lam: float) -> np.ndarray:
    """(I, I) float32 item-item weights B with a zero diagonal."""
    gram = np.asarray((positive.T @ positive).todense(), dtype=np.float64)
    gram[np.diag_indices_from(gram)] += lam
    p = np.linalg.inv(gram)
    b = -p / np.diag(p)[None, :]
    b[np.diag_indices_from(b)] = 0.0
    return b.astype(np.float32)


def choose_lambda(user_items: sp.csr_matrix, times: sp.csr_matrix | None, lambdas: tuple[float, ...], seed: int):
    """(best λ, {λ: validation nDCG@10}) on a split carved from ``user_items``."""
    earlier, later = holdout_latest(user_items, times, seed=seed)
    users = np.flatnonzero(np.diff(later.indptr) > 0)
    if len(users) == 0:
        return lambdas[len(lambdas) // 2], {}
    x = binary_positive(earlier)
    seen = sp.csr_matrix(earlier)[users]
    scores: dict[float, float] = {}
    for lam in lambdas:
        s = (x[users] @ ease_weights(x, lam)).astype(np.float32)
        s[seen.nonzero()] = -np.inf
        scores[lam] = ndcg_at(s, later, users)
    return max(scores, key=scores.get), scores


class EASERecommender(Recommender):
    """Embarrassingly shallow autoencoder on the binary positive matrix."""

    def __init__(self, config=None, *, interaction_times: sp.csr_matrix | None = None, lam: float | None = None):
        super().__init__(config)
        self.interaction_times = interaction_times  # (U, I) for the time-ordered λ choice
        self.lam = lam  # fixed λ; None = choose on validation at fit
        self.validation: dict[float, float] = {}
        self.weights: np.ndarray | None = None  # (I, I)

    def _fit(self, user_items: sp.csr_matrix, item_embeddings: np.ndarray | None) -> None:
        positive = binary_positive(user_items)
        if positive.nnz == 0:
            raise FitError("cannot fit EASE without positive interactions")
        if self.lam is None:
            self.lam, self.validation = choose_lambda(
                user_items, self.interaction_times, self.config.ease_lambdas, self.config.seed
            )
        self.weights = ease_weights(positive, self.lam)
        if not np.isfinite(self.weights).all():
            raise FitError(f"EASE produced non-finite weights at λ={self.lam}; raise it")

    def scores_for(self, row: sp.csr_matrix) -> np.ndarray:
        """(I,) scores of a (1, I) history row."""
        return np.asarray(binary_positive(row) @ self.weights, dtype=np.float32).ravel()

    def _score(self, userid: int, row: sp.csr_matrix) -> np.ndarray | None:
        return self.scores_for(row)

    def _item_similarity(self, itemid: int) -> np.ndarray:
        return self.weights[itemid]

    def _state(self) -> dict[str, np.ndarray]:
        return {"weights": self.weights, "lam": np.array(self.lam, dtype=np.float64)}

    def _set_state(self, state: dict[str, np.ndarray]) -> None:
        self.weights, self.lam = state["weights"], float(state["lam"])
