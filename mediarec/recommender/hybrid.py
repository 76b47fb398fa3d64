"""The hybrid recommender in memory: ALS + content + trending (+ fresh
uploads when item ages are given), blended by ``blend.rank``. Offline
evaluation fits it on a matrix; the site serves the same blend from the
database in ``mediarec.serving.feeds``."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from mediarec.recommender.base import FitError, Recommender, top_n
from mediarec.recommender.blend import Pool, Ranked, because, rank
from mediarec.recommender.cf import ALSRecommender
from mediarec.recommender.content import ContentRecommender, normalize_rows


class HybridRecommender(Recommender):
    reaches_cold_items = True

    def __init__(self, config=None, *, item_age_days: np.ndarray | None = None):
        super().__init__(config)
        self.cf = ALSRecommender(self.config)
        self.content = ContentRecommender(self.config)
        self.item_age_days = item_age_days  # (I,) days since upload, for the fresh source

    def _fit(self, user_items: sp.csr_matrix, item_embeddings: np.ndarray | None) -> None:
        if item_embeddings is None:
            raise FitError("the hybrid recommender needs item embeddings")
        self.cf.fit(user_items)
        self.content.fit(user_items, item_embeddings=item_embeddings)

    def _recommend(self, userid, row, N, exclude):
        ranked = self.recommend_ranked(userid, row, N, exclude=exclude)
        return (
            np.array([r.item for r in ranked], dtype=np.int64),
            np.array([r.score for r in ranked], dtype=np.float32),
        )

    def recommend_ranked(
        self, userid: int, user_items: sp.csr_matrix, N: int = 10, *, offset: int = 0, exclude=None
    ) -> list[Ranked]:
        """The blended, diversified page, best first, with sources and reasons per item."""
        if self.popularity is None:
            raise FitError("HybridRecommender is not fitted")
        row = sp.csr_matrix(user_items, dtype=np.float32)
        exclude = row.indices if exclude is None else np.union1d(row.indices, exclude)
        pool = self._pool(row, exclude)
        n_user = float((row.data > 0).sum())
        return rank(pool, n_user=n_user, config=self.config, limit=N, offset=offset)

    def _pool(self, row: sp.csr_matrix, exclude: np.ndarray) -> Pool:
        k = self.config.candidates_per_source
        raw = {"trending": self.popularity}
        if (row.data > 0).any():
            raw["cf"] = self.cf._score(0, row)
            taste = self.content.taste(row)
            if taste is not None:
                raw["content"] = self.content.scores_for(taste)
        if self.item_age_days is not None:
            age = np.asarray(self.item_age_days, dtype=np.float32)
            raw["fresh"] = np.where(age <= self.config.fresh_days, 1.0 - age / self.config.fresh_days, np.nan)
        nominated_sets = {s: top_n(np.nan_to_num(v, nan=-np.inf), k, exclude=exclude)[0] for s, v in raw.items()}
        items = np.unique(np.concatenate(list(nominated_sets.values())))
        return Pool(
            items=items,
            raw={s: v[items] for s, v in raw.items()},
            nominated={s: np.isin(items, ids) for s, ids in nominated_sets.items()},
            item_history=self.item_counts[items],
            vectors=self.content.item_embeddings[items],
        )

    def explain(self, ranked: list[Ranked], user_items: sp.csr_matrix) -> list[int | None]:
        """The history item behind each ranked item (by embedding, or CF factors for CF)."""
        row = sp.csr_matrix(user_items, dtype=np.float32)
        liked = row.indices[row.data > 0]
        items = np.array([r.item for r in ranked], dtype=np.int64)
        by_content = because(self.content.item_embeddings[items], self.content.item_embeddings[liked], liked)
        factors = normalize_rows(self.cf.item_factors)
        by_cf = because(factors[items], factors[liked], liked)
        return [c if r.reason == "cf" else e for r, e, c in zip(ranked, by_content, by_cf, strict=True)]

    def _item_similarity(self, itemid: int) -> np.ndarray:
        content = self.content._item_similarity(itemid)
        cowatch = self.cf._item_similarity(itemid)
        h_i = self.item_counts[itemid] / (self.item_counts[itemid] + self.config.item_history_k)
        return (1.0 - h_i) * content + h_i * cowatch

    def _state(self) -> dict[str, np.ndarray]:
        state = {f"cf.{k}": v for k, v in self.cf._state().items()}
        state["content.item_embeddings"] = self.content.item_embeddings
        if self.item_age_days is not None:
            state["item_age_days"] = np.asarray(self.item_age_days, dtype=np.float32)
        return state

    def _set_state(self, state: dict[str, np.ndarray]) -> None:
        self.item_age_days = state.get("item_age_days")
        for part in (self.cf, self.content):
            part.popularity, part.item_counts, part.n_items = self.popularity, self.item_counts, self.n_items
        self.cf._set_state({k.removeprefix("cf."): v for k, v in state.items() if k.startswith("cf.")})
        self.content._set_state({"item_embeddings": state["content.item_embeddings"]})
