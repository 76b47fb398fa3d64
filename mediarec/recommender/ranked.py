"""The two-stage hybrid in memory: candidates from every source, ordered by a
learned ranker (``ranker.py``). With no ranker fitted (too little history to
learn from) it serves the fixed blend of ``HybridRecommender``.

    fit(train):
      for each of ranker_folds folds (disjoint held-out pairs):
        train ─► split.carve_cold + holdout_latest ─► earlier ─► Sources.fit ─► candidates + features
                                                   └► later  ─────────────────► labels
      every fold's queries ─► Ranker.fit (lambdarank)
      train ─► Sources.fit (every generator again, on everything; EASE keeps its λ)

    recommend(row):
      Sources.candidates(row) ─► ranker.features ─► Ranker.score ─► MMR ─► page, with reasons

The sources: ALS (cold items through the content → CF map), item-item co-watch
(EASE; ``cowatch=False``, as the served ranker, the sparse item-kNN of ``item_knn.py``), content
cosine to the taste, the map's CF score among the items nobody has touched,
trending, and fresh uploads where ages are known. The site fits this at every CF
refit (``mediarec.services.cf_models``) and orders its feed with ``rank_candidates``.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from mediarec.recommender import ranker as rk
from mediarec.recommender.base import FitError, top_n
from mediarec.recommender.blend import Ranked, blend_weights, history_strength, mmr, normalize
from mediarec.recommender.cf import ColdALSRecommender
from mediarec.recommender.config import RecommenderConfig
from mediarec.recommender.content import MISSING, ContentRecommender, normalize_rows
from mediarec.recommender.ease import EASERecommender
from mediarec.recommender.hybrid import HybridRecommender
from mediarec.recommender.item_knn import ItemKNN
from mediarec.recommender.split import carve_cold, holdout_latest

RECENT = 5  # history items the "recent" features compare against


class Sources:
    """Every candidate generator, fitted on one matrix."""

    def __init__(self, config: RecommenderConfig, item_age_days: np.ndarray | None, *, cowatch: bool = True):
        self.config = config
        self.item_age_days = None if item_age_days is None else np.asarray(item_age_days, dtype=np.float32)
        # True: EASE co-watch; False: the sparse item-kNN instead (EASE's dense (I, I) weights
        # do not scale to a served catalog)
        self.cowatch = cowatch
        self.ease: EASERecommender | None = None
        self.item_knn: ItemKNN | None = None

    def fit(self, user_items: sp.csr_matrix, embeddings: np.ndarray, *, ease_lambda=None, times=None) -> Sources:
        c = self.config
        self.als = ColdALSRecommender(c).fit(user_items, item_embeddings=embeddings)
        self.content = ContentRecommender(c).fit(user_items, item_embeddings=embeddings)
        if self.cowatch:
            self.ease = EASERecommender(c, interaction_times=times, lam=ease_lambda).fit(user_items)
        else:
            self.item_knn = ItemKNN.fit(user_items, c.cowatch_neighbours)
        self.item_counts, self.popularity = self.als.item_counts, self.als.popularity
        self.n_active_users = max(int((np.diff(sp.csr_matrix(user_items > 0).indptr) > 0).sum()), 1)
        self.cf_unit = normalize_rows(self.als.scoring_factors)  # (I, F) for co-watch cosines
        return self

    def raw_scores(self, row: sp.csr_matrix) -> dict[str, np.ndarray]:
        """source → (I,) scores over the catalog for a user with positive history."""
        user = self.als.user_vector(row)
        cold = self.item_counts == 0
        taste = self.content.taste(row)
        n = len(self.item_counts)
        raw = {
            "als": self.als.scoring_factors @ user,
            "cowatch": self._cowatch_scores(row, n),
            "content": np.full(n, np.nan, np.float32) if taste is None else self.content.scores_for(taste),
            "coldmap": np.where(cold, self.als.mapped_factors @ user, np.nan),
            "trending": self.popularity,
        }
        raw["content"] = np.where(raw["content"] == MISSING, np.nan, raw["content"])
        if self.item_age_days is not None:
            age = self.item_age_days
            raw["fresh"] = np.where(age <= self.config.fresh_days, 1.0 - age / self.config.fresh_days, np.nan)
        return {s: np.asarray(v, dtype=np.float32) for s, v in raw.items()}

    def _cowatch_scores(self, row: sp.csr_matrix, n: int) -> np.ndarray:
        if self.ease is not None:
            return self.ease.scores_for(row)
        if self.item_knn is not None:
            return self.item_knn.scores_for(row)
        return np.full(n, np.nan, np.float32)  # a ranker saved before the served path had co-watch

    def candidates(self, row: sp.csr_matrix, exclude: np.ndarray, recent: np.ndarray) -> rk.Candidates:
        k = self.config.ranker_candidates
        raw = self.raw_scores(row)
        nominated = {s: top_n(np.nan_to_num(v, nan=-np.inf), k, exclude=exclude)[0] for s, v in raw.items()}
        items = np.unique(np.concatenate(list(nominated.values())))
        ranks = {}
        for s, ids in nominated.items():
            position = np.full(len(self.item_counts), np.nan, np.float32)
            position[ids] = np.arange(len(ids))
            ranks[s] = position[items]
        content = self.content.item_embeddings
        n_user = float((row.data > 0).sum())
        return rk.Candidates(
            items=items,
            scores={s: v[items] for s, v in raw.items()},
            ranks=ranks,
            item_user_share=self.item_counts[items] / self.n_active_users,
            item_popularity_share=self.popularity[items] / max(float(self.popularity.mean()), 1e-9),
            recent_content=(content[items] @ content[recent].T).max(axis=1)
            if len(recent)
            else np.full(len(items), np.nan),
            recent_cf=(self.cf_unit[items] @ self.cf_unit[recent].T).max(axis=1)
            if len(recent)
            else np.full(len(items), np.nan),
            n_user=n_user,
            blend=blend_score({s: v[items] for s, v in raw.items()}, self.item_counts[items], n_user, self.config),
            item_history=history_strength(self.item_counts[items], self.config.item_history_k),
        )


def blend_score(raw: dict[str, np.ndarray], item_counts: np.ndarray, n_user: float, config) -> np.ndarray:
    """(C,) the fixed blend's score (``blend.blend``) of candidates with raw source scores
    ``raw`` (C,) each, ALS as its CF part; ``item_counts`` (C,) their users."""
    weights = blend_weights(n_user, item_counts, config)
    parts = {"cf": raw["als"], "content": raw["content"], "trending": raw["trending"], "fresh": raw.get("fresh")}
    return sum(weights[s] * normalize(v) for s, v in parts.items() if v is not None)


def rank_candidates(
    cands: rk.Candidates, ranker: rk.Ranker, vectors: np.ndarray | None, *, limit: int, offset: int, config
) -> list[Ranked]:
    """The page ``[offset, offset + limit)`` of ``cands`` by the ranker's score, diversified by MMR
    over their unit content ``vectors`` (C, D), each with its nominating sources and the reason
    whose features added most to its score. The in-memory and the served ranked paths share it."""
    if not len(cands.items):
        return []
    x = rk.features(cands)
    scores = ranker.score(x)
    wanted = offset + limit
    head = np.lexsort((cands.items, -scores))[: wanted * config.mmr_pool]
    order = head[mmr(scores[head], None if vectors is None else vectors[head], wanted, config.mmr_lambda)]
    order = order[offset:wanted]
    parts = ranker.contributions(x[order], scores[order])
    ranked = []
    for j, idx in enumerate(order):
        contributions = {s: float(parts[s][j]) for s in rk.SOURCES}
        nominated = [s for s in cands.ranks if np.isfinite(cands.ranks[s][idx])]
        nominated.sort(key=lambda s: -contributions[s])
        top = nominated[0] if nominated else max(contributions, key=contributions.get)
        ranked.append(
            Ranked(int(cands.items[idx]), float(scores[idx]), tuple(nominated), rk.REASON[top], contributions)
        )
    return ranked


def recent_items(row: sp.csr_matrix, times_row: sp.csr_matrix | None) -> np.ndarray:
    """The user's ``RECENT`` latest positive items (by time where known, else strongest)."""
    positive = row.indices[row.data > 0]
    if times_row is not None and times_row.nnz:
        when = np.asarray(times_row[0, positive].todense()).ravel()
        if (when > 0).all():
            return positive[np.argsort(-when, kind="stable")[:RECENT]]
    return positive[np.argsort(-row.data[row.data > 0], kind="stable")[:RECENT]]


def grades(user_items: sp.csr_matrix, config: RecommenderConfig) -> np.ndarray:
    """The confidence thresholds between label grades: quantiles of the positive training values,
    so a held-out pair above j of them is graded 1 + j (``ranker_label_grades`` = 1: binary)."""
    positive = user_items.data[user_items.data > 0]
    if config.ranker_label_grades <= 1 or not len(positive):
        return np.empty(0)
    return np.quantile(positive, np.arange(1, config.ranker_label_grades) / config.ranker_label_grades)


def propensity_weights(item_counts: np.ndarray, config: RecommenderConfig) -> np.ndarray:
    """(I,) each item's inverse propensity: (most users ÷ its users)^``ranker_propensity_power``,
    at most ``ranker_propensity_cap``, in quarter-octave steps.

    A site shows popular videos more, so a held-out event on one says less about taste than
    one on a video few were shown; weighting each label's gain by 1 / propensity, with
    propensity ∝ the item's users^power, makes the ranker's nDCG an inverse-propensity
    estimate of the nDCG it would have if every item were equally exposed (power 0: as observed).
    """
    counts = np.maximum(np.asarray(item_counts, dtype=np.float64), 1.0)
    weight = np.minimum((counts.max() / counts) ** config.ranker_propensity_power, config.ranker_propensity_cap)
    return 2.0 ** (np.round(4 * np.log2(weight)) / 4)


class RankedRecommender(HybridRecommender):
    """Candidates from every source, ordered by a LightGBM lambdarank model."""

    reaches_cold_items = True

    def __init__(
        self,
        config=None,
        *,
        item_age_days=None,
        interaction_times: sp.csr_matrix | None = None,
        validation: str = "time",
        cowatch: bool = True,
    ):
        super().__init__(config, item_age_days=item_age_days)
        self.cowatch = cowatch  # co-watch from EASE; False: from the sparse item-kNN, as served (``Sources``)
        self.interaction_times = None if interaction_times is None else sp.csr_matrix(interaction_times)
        if validation not in ("time", "random", "cold"):
            raise ValueError(f"validation is 'time', 'random' or 'cold', not {validation!r}")
        # "time": each user's latest pairs are the labels (a site: fit on the past, serve the
        # future); "random": a random share, for data whose test split ignores time; "cold":
        # only the pairs of the items made cold, for a test that asks only for items nobody has
        # touched (item cold start), so warm items are never labels.
        self.validation = validation
        self.sources: Sources | None = None
        self.ranker: rk.Ranker | None = None
        self.training: dict = {}  # what the ranker was taught on (users, rows, validation nDCG)

    def _fit(self, user_items: sp.csr_matrix, item_embeddings: np.ndarray | None) -> None:
        if item_embeddings is None:
            raise FitError("the ranked hybrid needs item embeddings")
        c = self.config
        split_times = self.interaction_times if self.validation == "time" else None
        full = Sources(c, self.item_age_days, cowatch=self.cowatch).fit(user_items, item_embeddings, times=split_times)
        # Validation items made cold in the share the catalog has cold ones, all their pairs labels.
        cold_share = max(c.ranker_min_cold_fraction, float((self.item_counts == 0).mean()))
        self.training = {"cold_share": round(cold_share, 4), "folds": c.ranker_folds}
        ease_lambda = full.ease.lam if full.ease is not None else None
        thresholds, weights = grades(user_items, c), propensity_weights(self.item_counts, c)
        queries = []  # (user, features (C, F), gains (C,)) of every fold
        for fold in range(c.ranker_folds):
            earlier, cold_pairs = carve_cold(user_items, cold_share, seed=c.seed + fold)
            later = cold_pairs
            if self.validation != "cold":
                earlier, warm_pairs = holdout_latest(
                    earlier, split_times, fraction=c.ranker_validation_fraction, seed=c.seed, fold=fold
                )
                later = warm_pairs + cold_pairs
            queries += self._fold_queries(earlier, later, item_embeddings, ease_lambda, thresholds, weights, fold)
        self.ranker = self._fit_ranker(queries)
        self.sources = full
        self.cf, self.content = full.als, full.content  # the blend's parts, for the fallback and explain()

    def _fold_queries(self, earlier, later, embeddings, ease_lambda, thresholds, weights, fold) -> list[tuple]:
        """One validation fold's queries: the sources fitted on ``earlier``, each labelled user's
        candidates and features, and their gains from ``later``."""
        users = np.flatnonzero((np.diff(later.indptr) > 0) & (np.asarray((earlier > 0).sum(axis=1)).ravel() > 0))
        if len(users) < self.config.ranker_min_users or earlier.nnz == 0:
            return []
        # ranker_max_users bounds the queries of all folds together, so more folds cost a large site
        # one source fit each, not more candidate rows (the refit's time and memory)
        per_fold = -(-self.config.ranker_max_users // self.config.ranker_folds)
        if len(users) > per_fold:  # a seeded sample
            rng = np.random.default_rng(self.config.seed + fold)
            users = np.sort(rng.choice(users, per_fold, replace=False))
        sources = Sources(self.config, self.item_age_days, cowatch=self.cowatch)
        sources.fit(earlier, embeddings, ease_lambda=ease_lambda)
        # Items with no training event can have no label here: as candidates they would only
        # teach that cold items are never relevant.
        untouched = np.flatnonzero(self.item_counts == 0)
        queries = []
        for user in users:
            row = earlier[user]
            times_row = None if self.interaction_times is None else self.interaction_times[user]
            cands = sources.candidates(row, np.union1d(row.indices, untouched), recent_items(row, times_row))
            value = np.asarray(later[user, cands.items].todense()).ravel()
            grade = np.where(value > 0, 1 + np.searchsorted(thresholds, value, side="left"), 0)
            queries.append((int(user), rk.features(cands), grade * weights[cands.items]))
        return queries

    def _fit_ranker(self, queries: list[tuple]) -> rk.Ranker | None:
        if not queries:
            return None
        users, xs, ys = zip(*queries, strict=True)
        x, y = np.vstack(xs), np.concatenate(ys).astype(np.float32)
        self.training |= {
            "users": len(set(users)),
            "queries": len(queries),
            "rows": len(x),
            "positives": int((y > 0).sum()),
        }
        if y.sum() == 0:
            return None
        ranker = rk.Ranker(self.config).fit(x, y, np.array([len(q) for q in ys]), query_users=np.array(users))
        self.training["validation_ndcg@10"] = ranker.validation_ndcg
        if self.config.ranker_gate:
            self.training["gate"] = dict(zip(map(str, ranker.gate_edges), ranker.gate_choice, strict=False))
            self.training["gate_validation"] = {str(k): v for k, v in ranker.gate_validation.items()}
        return ranker

    def recommend_ranked(self, userid, user_items, N=10, *, offset=0, exclude=None) -> list[Ranked]:
        row = sp.csr_matrix(user_items, dtype=np.float32)
        if self.ranker is None or not (row.data > 0).any():
            return super().recommend_ranked(userid, row, N, offset=offset, exclude=exclude)
        exclude = row.indices if exclude is None else np.union1d(row.indices, exclude)
        times_row = self._times_row(userid, row)
        cands = self.sources.candidates(row, exclude, recent_items(row, times_row))
        vectors = self.content.item_embeddings[cands.items]
        return rank_candidates(cands, self.ranker, vectors, limit=N, offset=offset, config=self.config)

    def _times_row(self, userid: int, row: sp.csr_matrix) -> sp.csr_matrix | None:
        """The user's event times when ``row`` is the fitted row of a known user."""
        t = self.interaction_times
        if t is None or not 0 <= userid < t.shape[0]:
            return None
        times_row = t[userid]
        return times_row if np.array_equal(np.sort(times_row.indices), np.sort(row.indices)) else None

    def _state(self) -> dict[str, np.ndarray]:
        s = self.sources
        state = {f"als.{k}": v for k, v in s.als._state().items()}
        state |= {"content.item_embeddings": s.content.item_embeddings, "n_active_users": np.array(s.n_active_users)}
        if s.ease is not None:
            state |= {"ease.weights": s.ease.weights, "ease.lam": np.array(s.ease.lam)}
        if s.item_knn is not None:
            state |= {f"cowatch.{k}": v for k, v in s.item_knn.state().items()}
        if self.item_age_days is not None:
            state["item_age_days"] = np.asarray(self.item_age_days, dtype=np.float32)
        if self.ranker is not None:
            state |= {f"ranker.{k}": v for k, v in self.ranker.state().items()}
        return state

    def _set_state(self, state: dict[str, np.ndarray]) -> None:
        self.item_age_days = state.get("item_age_days")
        s = Sources(self.config, self.item_age_days, cowatch="ease.weights" in state)
        s.als, s.content = ColdALSRecommender(self.config), ContentRecommender(self.config)
        s.ease = EASERecommender(self.config) if s.cowatch else None
        for part in (s.als, s.content, s.ease):
            if part is not None:
                part.popularity, part.item_counts, part.n_items = self.popularity, self.item_counts, self.n_items
        s.als._set_state({k.removeprefix("als."): v for k, v in state.items() if k.startswith("als.")})
        s.content._set_state({"item_embeddings": state["content.item_embeddings"]})
        if s.ease is not None:
            s.ease._set_state({"weights": state["ease.weights"], "lam": state["ease.lam"]})
        knn_state = {k.removeprefix("cowatch."): v for k, v in state.items() if k.startswith("cowatch.")}
        s.item_knn = ItemKNN.from_state(knn_state) if knn_state else None
        self.cowatch = s.cowatch
        s.item_counts, s.popularity, s.cf_unit = (
            self.item_counts,
            self.popularity,
            normalize_rows(s.als.scoring_factors),
        )
        s.n_active_users = int(state["n_active_users"])
        self.sources, self.cf, self.content = s, s.als, s.content
        ranker_state = {k.removeprefix("ranker."): v for k, v in state.items() if k.startswith("ranker.")}
        self.ranker = rk.Ranker.from_state(ranker_state, self.config) if ranker_state else None
