"""Content: a user's taste is the recency-weighted mean of the embeddings of
videos they engaged with, pushed away from what they disliked; items are
scored by cosine similarity to it. The database path finds the nearest items
with pgvector HNSW (``mediarec.serving.feeds``) using the same ``taste_vector``."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from mediarec.recommender.base import FitError, Recommender
from mediarec.recommender.config import RecommenderConfig

MISSING = -2.0  # score of an item with no embedding: below any cosine


def normalize_rows(matrix: np.ndarray) -> np.ndarray:
    matrix = np.asarray(matrix, dtype=np.float32)
    norms = np.linalg.norm(matrix, axis=-1, keepdims=True)
    return matrix / np.where(norms == 0, 1.0, norms)


def taste_weights(confidences: np.ndarray) -> np.ndarray:
    """Signed strength of each history entry: |c| - 1 is 0 for a long-decayed event."""
    c = np.asarray(confidences, dtype=np.float32)
    return np.sign(c) * np.maximum(np.abs(c) - 1.0, 1e-3)


def taste_vector(embeddings: np.ndarray, confidences: np.ndarray, config: RecommenderConfig) -> np.ndarray | None:
    """(D,) unit taste from history embeddings (n, D) and their signed confidences (n,).

    None when there is no positive signal to build a taste from.
    """
    if not len(embeddings):
        return None
    w = taste_weights(confidences)
    positive, negative = w > 0, w < 0
    if not positive.any():
        return None
    embeddings = normalize_rows(embeddings)
    taste = w[positive] @ embeddings[positive] / w[positive].sum()
    if negative.any():
        taste = taste - config.dislike_push * (-w[negative]) @ embeddings[negative] / (-w[negative]).sum()
    norm = np.linalg.norm(taste)
    return None if norm == 0 else (taste / norm).astype(np.float32)


def strongest_history(row: sp.csr_matrix, limit: int) -> tuple[np.ndarray, np.ndarray]:
    """Item indices and confidences of the ``limit`` strongest entries of a (1, I) row."""
    order = np.argsort(-np.abs(row.data), kind="stable")[:limit]
    return row.indices[order], row.data[order]


class ContentRecommender(Recommender):
    """Cosine similarity between item embeddings and the user's taste vector."""

    reaches_cold_items = True

    def __init__(self, config=None):
        super().__init__(config)
        self.item_embeddings: np.ndarray | None = None  # (I, D) unit rows, zeros where missing
        self.has_embedding: np.ndarray | None = None  # (I,) bool

    def _fit(self, user_items: sp.csr_matrix, item_embeddings: np.ndarray | None) -> None:
        if item_embeddings is None:
            raise FitError("the content recommender needs item embeddings")
        self.item_embeddings = normalize_rows(item_embeddings)
        self.has_embedding = np.linalg.norm(self.item_embeddings, axis=1) > 0

    def taste(self, row: sp.csr_matrix) -> np.ndarray | None:
        items, confidences = strongest_history(row, self.config.taste_history)
        keep = self.has_embedding[items]
        return taste_vector(self.item_embeddings[items[keep]], confidences[keep], self.config)

    def scores_for(self, taste: np.ndarray) -> np.ndarray:
        return np.where(self.has_embedding, self.item_embeddings @ taste, MISSING).astype(np.float32)

    def _score(self, userid: int, row: sp.csr_matrix) -> np.ndarray | None:
        taste = self.taste(row)
        return None if taste is None else self.scores_for(taste)

    def _item_similarity(self, itemid: int) -> np.ndarray:
        if not self.has_embedding[itemid]:
            return np.full(self.n_items, MISSING, dtype=np.float32)
        return self.scores_for(self.item_embeddings[itemid])

    def _state(self) -> dict[str, np.ndarray]:
        return {"item_embeddings": self.item_embeddings}

    def _set_state(self, state: dict[str, np.ndarray]) -> None:
        self._fit(None, state["item_embeddings"])
