"""The served co-watch source: a sparse item-item model, each item's K strongest
cosine neighbours over the binary positive matrix (``implicit``'s
``CosineRecommender``), so its state is O(I·K) and travels with the ranker.

    X (U, I) binary positives ─► S (I, I) sparse, row i = i's K nearest items by cosine, diag S = 0
    score(u) = x_u S   (I,)   0 for an item no seen item counts among its neighbours

EASE (``ease.py``) is the stronger co-watch source, but its weights are dense (I, I);
this one is what a site can keep. K is fixed (``config.cowatch_neighbours``), not tuned.
"""

from __future__ import annotations

import warnings

import numpy as np
import scipy.sparse as sp
from implicit.nearest_neighbours import CosineRecommender
from implicit.utils import ParameterWarning

from mediarec.recommender.ease import binary_positive


class ItemKNN:
    """Each item's ``k`` cosine neighbours; ``similarity`` (I, I) CSR float32, zero diagonal."""

    def __init__(self, similarity: sp.csr_matrix):
        self.similarity = sp.csr_matrix(similarity, dtype=np.float32)

    @classmethod
    def fit(cls, user_items: sp.csr_matrix, k: int) -> ItemKNN:
        positive = binary_positive(user_items)
        model = CosineRecommender(K=k + 1)  # + 1: an item is its own nearest neighbour, dropped below
        with warnings.catch_warnings():  # it normalizes to COO itself, then warns that it is not CSR
            warnings.simplefilter("ignore", ParameterWarning)
            model.fit(positive, show_progress=False)
        n = positive.shape[1]
        s = sp.coo_matrix(model.similarity, dtype=np.float32)
        off = s.row != s.col
        # shape (n, n): trailing items nobody touched have no row in implicit's result
        return cls(sp.csr_matrix((s.data[off], (s.row[off], s.col[off])), shape=(n, n)))

    def scores_for(self, row: sp.csr_matrix) -> np.ndarray:
        """(I,) scores of a (1, I) history row."""
        return np.asarray((binary_positive(row) @ self.similarity).todense(), dtype=np.float32).ravel()

    def state(self) -> dict[str, np.ndarray]:
        s = self.similarity
        return {"data": s.data, "indices": s.indices, "indptr": s.indptr, "shape": np.array(s.shape)}

    @classmethod
    def from_state(cls, state: dict[str, np.ndarray]) -> ItemKNN:
        shape = tuple(int(v) for v in state["shape"])
        return cls(sp.csr_matrix((state["data"], state["indices"], state["indptr"]), shape=shape))
