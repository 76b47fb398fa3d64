"""One evaluation protocol instance: what the models are fitted on and what they
are scored against. MovieLens files and the synthetic world both produce these,
so the runner treats every dataset alike.

    train     (U, I) CSR  signed confidences, built by ``recommender.weights`` (what models fit on)
    relevant  (U, I) CSR  nonzero = relevant held-out item of that user (binary gain)
    history   (U, I) CSR  the row each user is recommended from; its items are never recommended
                          (defaults to train; differs for new users, who are not in the fit)
    unavailable (I,) bool items nobody may be recommended (not uploaded yet at the cutoff)
    item_embeddings (I, D) content vectors, or None when the dataset has none
    cold_items (I,) bool  items with no training interaction at all
    item_age_days (I,)    days since upload at the cutoff, where the dataset knows (feeds "fresh")
    train_times (U, I) CSR  time of each training pair's latest event (train's pattern), where the
                          dataset knows: the learned ranker carves its validation split by it
    holdout  "time" when the test pairs come after the training ones, "random" when they are drawn
                          from the same period, "cold" when they are every pair of items held out
                          whole (item cold start): models carve validation data the same way

``Protocol.validation()`` is the same protocol one level down, carved from ``train`` alone: what
``evaluate --tune`` chooses on, so no choice reads ``relevant``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import scipy.sparse as sp

from mediarec.recommender.split import carve_cold, holdout_latest


@dataclass
class Protocol:
    dataset: str  # "world" or "movielens"
    name: str  # "temporal", "new-uploads", "standard", "item-cold-start", ...
    train: sp.csr_matrix
    relevant: sp.csr_matrix
    item_embeddings: np.ndarray | None = None
    history: sp.csr_matrix | None = None
    unavailable: np.ndarray | None = None
    item_age_days: np.ndarray | None = None
    train_times: sp.csr_matrix | None = None
    holdout: str = "time"
    description: str = ""
    info: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.train = sp.csr_matrix(self.train, dtype=np.float32)
        self.relevant = sp.csr_matrix(self.relevant, dtype=np.float32)
        self.relevant.eliminate_zeros()
        self.history = self.train if self.history is None else sp.csr_matrix(self.history, dtype=np.float32)
        if self.history.shape != self.train.shape:
            raise ValueError(f"history {self.history.shape} and train {self.train.shape} differ in shape")
        if self.train.shape != self.relevant.shape:
            raise ValueError(f"train {self.train.shape} and relevant {self.relevant.shape} differ in shape")
        if self.train_times is not None and self.train_times.shape != self.train.shape:
            raise ValueError(f"train_times {self.train_times.shape} and train {self.train.shape} differ in shape")
        if self.item_embeddings is not None and len(self.item_embeddings) != self.n_items:
            raise ValueError(f"{len(self.item_embeddings)} item embeddings for {self.n_items} items")

    @property
    def validation_times(self) -> sp.csr_matrix | None:
        """The times a model's validation split follows: None (a random split) unless the test is later in time."""
        return self.train_times if self.holdout == "time" else None

    def validation(self, *, fraction: float = 0.2, seed: int = 0) -> Protocol:
        """Fitted on part of ``train`` and scored on the rest, carved as the test was: with ``holdout``
        "cold", every pair of a random ``fraction`` of the touched items; otherwise each user's latest
        ``fraction`` of positive pairs (by time where ``holdout`` is "time", at random where not),
        after as large a share of the touched items as the catalog has untouched ones lost every
        pair (so the new uploads a test asks for have their like here). The labels are the held-out
        positive pairs: observed events, where the world's test reads its ground truth. The items
        untouched in ``train`` are unavailable here: no pair of theirs can be a label, so a list that
        reached them would only lose (at this level they are uploads still to come)."""
        cold_share = fraction if self.holdout == "cold" else float(self.cold_items.mean())
        earlier, labels = carve_cold(self.train, cold_share, seed=seed)
        if self.holdout != "cold":
            earlier, later = holdout_latest(earlier, self.validation_times, fraction=fraction, seed=seed)
            labels = labels + later.maximum(0)
        times = None
        if self.train_times is not None:
            times = sp.csr_matrix(self.train_times.multiply((earlier != 0).astype(np.float32)))
        return replace(
            self,
            name=f"{self.name} (validation)",
            train=earlier,
            relevant=(labels > 0).astype(np.float32),
            history=None,
            unavailable=self.cold_items | (False if self.unavailable is None else self.unavailable),
            train_times=times,
            description=f"carved from the training data of: {self.description}",
            info={"carved_from": self.key, "fraction": fraction, "seed": seed},
        )

    @property
    def n_users(self) -> int:
        return self.train.shape[0]

    @property
    def n_items(self) -> int:
        return self.train.shape[1]

    @property
    def cold_items(self) -> np.ndarray:
        """(I,) bool: available items with no training interaction."""
        cold = np.diff(self.train.tocsc().indptr) == 0
        return cold if self.unavailable is None else cold & ~self.unavailable

    @property
    def eval_users(self) -> np.ndarray:
        """Users with at least one relevant item: the only ones scored."""
        return np.flatnonzero(np.diff(self.relevant.indptr) > 0)

    @property
    def item_user_counts(self) -> np.ndarray:
        """(I,) training users who interacted with each item (for novelty)."""
        return np.diff(self.train.tocsc().indptr)

    @property
    def key(self) -> str:
        return f"{self.dataset}/{self.name}"

    def summary(self) -> dict:
        return {
            "users": self.n_users,
            "items": self.n_items,
            "train_interactions": int(self.train.nnz),
            "relevant_pairs": int(self.relevant.nnz),
            "eval_users": len(self.eval_users),
            "cold_items": int(self.cold_items.sum()),
            **self.info,
        }
