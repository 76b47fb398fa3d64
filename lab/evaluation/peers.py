"""Peers from other well-kept libraries, behind the same ``Recommender`` contract, so
``evaluate --peers`` scores them in the same run and table as the project's models.

    bivae  Cornac's BiVAE (Truong et al. 2021), with the settings of Cornac's own
           MovieLens example (k=50, encoder [100], tanh, Poisson, 500 epochs, batch 128,
           lr 0.001); nothing here is tuned. It cannot fold in a user it was not fitted
           on, so such a user gets the trending fallback, and it cannot reach cold items.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from mediarec.recommender.base import FitError, Recommender
from mediarec.recommender.weights import positive_part


class BiVAERecommender(Recommender):
    def __init__(self, config=None):
        super().__init__(config)
        self.model = None
        self.train_rows: sp.csr_matrix | None = None

    def _fit(self, user_items: sp.csr_matrix, item_embeddings: np.ndarray | None) -> None:
        try:
            import cornac
            from cornac.models import BiVAECF
        except ImportError as exc:  # a lab extra, not a plugin dependency
            raise FitError("the BiVAE peer needs cornac (pip install cornac)") from exc
        positive = positive_part(user_items).tocoo()
        if positive.nnz == 0:
            raise FitError("cannot fit BiVAE without positive interactions")
        # Cornac keeps its own id maps; ids are the matrix indices as strings.
        triples = [(str(u), str(i), 1.0) for u, i in zip(positive.row, positive.col, strict=True)]
        self.data = cornac.data.Dataset.from_uir(triples, seed=self.config.seed)
        self.model = BiVAECF(
            k=50, encoder_structure=[100], act_fn="tanh", likelihood="pois", n_epochs=500, batch_size=128,
            learning_rate=0.001, seed=self.config.seed, use_gpu=False,
        )  # fmt: skip
        self.model.fit(self.data)
        self.user_map = {int(k): v for k, v in self.data.uid_map.items()}
        self.item_index = np.array([int(k) for k in sorted(self.data.iid_map, key=self.data.iid_map.get)])
        self.train_rows = sp.csr_matrix(user_items)

    def _score(self, userid: int, row: sp.csr_matrix) -> np.ndarray | None:
        inner = self.user_map.get(userid)
        if inner is None or not np.array_equal(self.train_rows[userid].indices, row.indices):
            return None  # not a fitted user: the trending fallback
        scores = np.full(self.n_items, -np.inf, dtype=np.float32)
        scores[self.item_index] = np.asarray(self.model.score(inner), dtype=np.float32)
        return scores

    def _item_similarity(self, itemid: int) -> np.ndarray:
        raise NotImplementedError("the BiVAE peer is for evaluation only")
