"""The learned ranking stage: features of each (user, candidate) pair built
from plain arrays, and a LightGBM lambdarank model over them.

    candidate sources (als, cowatch, content, coldmap, trending, fresh)
      ↓ Candidates: per source raw score + nomination rank, item and user facts
      ↓ features()   (C, F) float32, NaN = not known (LightGBM routes it)
      ↓ Ranker.score (C,)  higher = better;  Ranker.contributions → per source, for the reason

Nothing here knows where the arrays came from: the in-memory ``RankedRecommender``
(``ranked.py``) fills ``Candidates`` from its fitted models, and the served path
(``mediarec.serving.feeds``) fills the same fields from the database (ANN hits, the
persisted ALS factors and cold map, popularity and upload ages) and calls the same
``features``.
"""

from __future__ import annotations

from dataclasses import dataclass

import lightgbm as lgb
import numpy as np

from mediarec.recommender.config import RecommenderConfig

SOURCES = ("als", "cowatch", "content", "coldmap", "trending", "fresh")
# The blend's vocabulary for explanations (blend.explanation): item-item co-watch
# reads as CF, the content → CF map as content.
REASON = {
    "als": "cf",
    "cowatch": "cf",
    "content": "content",
    "coldmap": "content",
    "trending": "trending",
    "fresh": "fresh",
}
RANKER_VERSION = "ranker-2"


@dataclass
class Candidates:
    """One user's candidates and what is known about each; every array is (C,)."""

    items: np.ndarray  # item keys (matrix indices in memory, video ids when served)
    scores: dict[str, np.ndarray]  # source → raw score; NaN where the source has none
    ranks: dict[str, np.ndarray]  # source → 0-based position in its nominations; NaN = not nominated
    item_user_share: np.ndarray  # users with a positive entry for the item ÷ users with any
    item_popularity_share: np.ndarray  # time-decayed positive confidence ÷ the catalog's mean
    recent_content: np.ndarray  # max content cosine to the user's most recent positive items
    recent_cf: np.ndarray  # max CF-factor cosine to them (co-watch strength)
    n_user: float  # the user's positive history entries
    blend: np.ndarray | None = None  # the fixed blend's score (blend.blend) over these candidates
    item_history: np.ndarray | None = None  # h_i = n_i / (n_i + k_i), the blend's item history strength


# Raw scores whose scale means the same in every fit (cosines, the fresh ramp); the
# others (ALS dot products, EASE sums, popularity) enter only relative to the user's
# candidates, so a ranker taught on the validation fit reads the full fit alike.
ABSOLUTE = ("content", "coldmap", "fresh")
PARTS = ("rank", "z", "score")


def _source_features(s: str) -> tuple[str, ...]:
    return PARTS if s in ABSOLUTE else PARTS[:2]


def feature_names() -> list[str]:
    names = [f"{s}_{part}" for s in SOURCES for part in _source_features(s)]
    return [
        *names,
        "recent_content",
        "recent_cf",
        "item_user_share",
        "item_popularity_share",
        "n_user",
        "blend_z",
        "blend_score",
        "item_history",
    ]


# What only says how popular an item is (``ranker_popularity_features`` = False leaves them out).
POPULARITY_FEATURES = ("trending_rank", "trending_z", "item_user_share", "item_popularity_share", "item_history")

# Which source each feature speaks for, to name the reason for an item.
FEATURE_SOURCE = {
    **{f"{s}_{part}": s for s in SOURCES for part in PARTS},
    "recent_content": "content",
    "recent_cf": "cowatch",
    "item_user_share": "trending",
    "item_popularity_share": "trending",
    "n_user": None,
    "blend_z": None,
    "blend_score": None,
    "item_history": None,
}


# Sources whose higher score means a better match for this user (trending and the item facts say how
# popular an item is, which may count either way).
MONOTONE_SOURCES = ("als", "cowatch", "content", "coldmap", "fresh", "blend")


def monotone_constraints() -> list[int]:
    """LightGBM's ``monotone_constraints`` in ``feature_names()`` order: +1 for the raw score and z-score of
    ``MONOTONE_SOURCES`` and for the recent-item cosines, −1 for their nomination ranks (0 = first), 0 else.

    The folds' sources are fitted on less data than the served ones, so their scores spread differently;
    an unconstrained booster can learn bends in a score that hold on the folds only."""
    signs = {"rank": -1, "z": 1, "score": 1}
    out = []
    for name in feature_names():
        source, _, part = name.rpartition("_")
        if source in MONOTONE_SOURCES and part in signs:
            out.append(signs[part])
        else:
            out.append(1 if name in ("recent_content", "recent_cf") else 0)
    return out


def _z(score: np.ndarray) -> np.ndarray:
    """``score`` as a z-score over its finite entries (the user's candidates); NaN stays NaN."""
    finite = score[np.isfinite(score)]
    return (score - finite.mean()) / (finite.std() + 1e-6) if len(finite) else score


def features(c: Candidates) -> np.ndarray:
    """(C, F) in ``feature_names()`` order. Per source: the nomination rank, the score as a
    z-score over the user's candidates and, for ``ABSOLUTE`` sources, the raw score; then
    item and user facts, and the fixed blend's score, so the ranker can start from it."""
    n = len(c.items)
    nan = np.full(n, np.nan, np.float32)
    columns = []
    for s in SOURCES:
        score = np.asarray(c.scores.get(s, nan), dtype=np.float32)
        z = _z(score)
        part = {"rank": np.asarray(c.ranks.get(s, np.full(n, np.nan)), dtype=np.float32), "z": z, "score": score}
        columns += [part[p] for p in _source_features(s)]
    columns += [
        c.recent_content,
        c.recent_cf,
        c.item_user_share,
        c.item_popularity_share,
        np.full(n, np.log1p(c.n_user)),
    ]
    blend = nan if c.blend is None else np.asarray(c.blend, dtype=np.float32)
    columns += [_z(blend), blend, nan if c.item_history is None else c.item_history]
    return np.column_stack([np.asarray(col, dtype=np.float32) for col in columns])


# What a user segment may be ordered by instead of the booster (``Ranker.gate``): single
# sources' z-scores and the fixed blend's, each a feature the booster also reads.
GATE_SCORERS = ("ranker", "blend_z", "content_z", "cowatch_z", "als_z")
GATE_MIN_QUERIES = 20  # fewer validation users in a segment: the booster orders it


def ndcg_at_10(scores: np.ndarray, gains: np.ndarray) -> float:
    """nDCG@10 of one query's ``scores`` (C,) against its ``gains`` (C,), ties broken by row."""
    discounts = 1.0 / np.log2(np.arange(2, 12))
    top = np.lexsort((np.arange(len(scores)), -scores))[:10]
    ideal = np.sort(gains)[::-1][:10]
    return float((gains[top] * discounts[: len(top)]).sum() / max((ideal * discounts[: len(ideal)]).sum(), 1e-12))


def _scorer_values(x: np.ndarray, scorer: str) -> np.ndarray:
    """(N,) the feature ``scorer`` names, NaN below every known value (the source had no score)."""
    v = x[:, feature_names().index(scorer)].astype(np.float32)
    finite = np.isfinite(v)
    return np.where(finite, v, (v[finite].min() if finite.any() else 0.0) - 1.0)


class Ranker:
    """LightGBM lambdarank over ``features``; one query group per user.

    A gate may hand a segment of users (by history size, ``ranker_gate_edges``) to one of
    ``GATE_SCORERS`` where that orders the validation users of the segment better than the
    booster does (``ranker_gate``): the ranker then never does worse there than its parts did
    on validation data."""

    def __init__(self, config: RecommenderConfig | None = None):
        self.config = config or RecommenderConfig()
        self.booster: lgb.Booster | None = None
        self.validation_ndcg: float | None = None  # nDCG@10 on the held-out validation users
        self.gate_edges = np.asarray(self.config.ranker_gate_edges, dtype=np.float32)  # history sizes
        self.gate_choice = ["ranker"] * (len(self.gate_edges) + 1)  # scorer per segment
        self.gate_validation: dict = {}  # segment → scorer → validation nDCG@10, as chosen on

    def _params(self, label_gain: np.ndarray) -> dict:
        c = self.config
        return {
            "objective": "lambdarank",
            "metric": "ndcg",
            "eval_at": [10],
            "label_gain": [float(g) for g in label_gain],
            "learning_rate": c.ranker_learning_rate,
            "num_leaves": c.ranker_leaves,
            "min_data_in_leaf": c.ranker_min_child,
            "feature_fraction": 0.9,
            "lambda_l2": 1.0,
            "seed": c.seed,
            "deterministic": True,
            "force_row_wise": True,
            "num_threads": max(c.num_threads, 1) if c.num_threads else 2,
            "verbose": -1,
        } | ({"monotone_constraints": monotone_constraints(), "monotone_constraints_method": "intermediate"}
             if c.ranker_monotone else {})  # fmt: skip

    def fit(self, x: np.ndarray, y: np.ndarray, groups: np.ndarray, *, query_users: np.ndarray | None = None) -> Ranker:
        """``x`` (N, F), ``y`` (N,) gains ≥ 0 (0 = not relevant), ``groups`` (Q,) rows per query,
        in row order. Each distinct gain becomes a LightGBM label whose ``label_gain`` is that
        gain, so lambdarank optimizes nDCG with exactly these gains (a grade, or a grade
        weighted by inverse propensity, ``ranked.label_gains``).

        Queries without a positive label teach lambdarank nothing and are dropped;
        a seeded fifth of the rest picks the number of trees (early stopping). ``query_users``
        (Q,) names each query's user where one user has several (validation folds): a user's
        queries then all fall on the same side of that split.
        """
        if not self.config.ranker_popularity_features:  # never split on them, so never read them
            x = x.copy()
            x[:, [feature_names().index(name) for name in POPULARITY_FEATURES]] = np.nan
        y = np.asarray(y, dtype=np.float64)
        label_gain, y = np.unique(np.concatenate([[0.0], y]), return_inverse=True)
        y = y[1:].astype(np.float32)  # (N,) index into label_gain
        starts = np.concatenate([[0], np.cumsum(groups)[:-1]])
        useful = np.array([y[s : s + g].any() for s, g in zip(starts, groups, strict=True)], dtype=bool)
        rng = np.random.default_rng(self.config.seed)
        owner = np.arange(len(groups)) if query_users is None else np.unique(query_users, return_inverse=True)[1]
        held = useful & (rng.random(owner.max() + 1) < 0.2)[owner]
        train_q, valid_q = np.flatnonzero(useful & ~held), np.flatnonzero(held)

        # Each query's rows in a seeded random order: LightGBM's nDCG breaks ties by row order, and
        # candidates come sorted by item key, which on many catalogs follows age or popularity, so an
        # ensemble of a few trees (many ties) would otherwise look better to early stopping than it is.
        shuffle = np.random.default_rng(self.config.seed + 1)

        def take(queries):
            rows = np.concatenate([starts[q] + shuffle.permutation(groups[q]) for q in queries])
            return lgb.Dataset(
                x[rows], y[rows], group=groups[queries], feature_name=feature_names(), free_raw_data=False
            )

        train = take(train_q)
        valid = take(valid_q) if len(valid_q) else None
        evals: dict = {}
        self.booster = lgb.train(
            self._params(label_gain),
            train,
            num_boost_round=self.config.ranker_trees,
            valid_sets=[valid] if valid is not None else [],
            valid_names=["validation"] if valid is not None else [],
            callbacks=[lgb.early_stopping(40, verbose=False), lgb.record_evaluation(evals)] if valid else [],
        )
        if valid is not None:
            self.validation_ndcg = float(self.booster.best_score["validation"]["ndcg@10"])
            if self.config.ranker_gate:
                self._choose_gate(x, label_gain[y.astype(np.int64)], starts, groups, valid_q)
        return self

    def _segment(self, x: np.ndarray) -> np.ndarray:
        """(N,) each row's user segment: how many of ``gate_edges`` its history size exceeds."""
        n_user = np.expm1(x[:, feature_names().index("n_user")])
        return np.searchsorted(self.gate_edges, n_user, side="left")

    def _choose_gate(self, x, gains, starts, groups, queries) -> None:
        """Per segment, the scorer with the best mean nDCG@10 over the validation ``queries``
        (the booster's early-stopping users, so the booster is if anything favoured)."""
        by_segment: dict[int, list] = {}
        for q in queries:
            rows = slice(starts[q], starts[q] + groups[q])
            booster = self._booster_score(x[rows])
            values = {n: booster if n == "ranker" else _scorer_values(x[rows], n) for n in GATE_SCORERS}
            seg = int(self._segment(x[rows][:1])[0])
            by_segment.setdefault(seg, []).append([ndcg_at_10(values[n], gains[rows]) for n in GATE_SCORERS])
        for seg, table in sorted(by_segment.items()):
            mean = np.mean(table, axis=0)
            self.gate_validation[seg] = {n: round(float(m), 4) for n, m in zip(GATE_SCORERS, mean, strict=True)}
            if len(table) >= GATE_MIN_QUERIES:
                self.gate_choice[seg] = GATE_SCORERS[int(np.argmax(mean))]  # the booster wins ties

    def score(self, x: np.ndarray) -> np.ndarray:
        """(N,) higher = better: the booster's score, or the gate's scorer for a gated segment
        (rows of one query share a segment, so a query is ordered by one of them)."""
        scores = self._booster_score(x)
        if all(choice == "ranker" for choice in self.gate_choice):
            return scores
        segment = self._segment(x)
        for seg, choice in enumerate(self.gate_choice):
            rows = segment == seg
            if choice != "ranker" and rows.any():
                scores[rows] = _scorer_values(x[rows], choice)
        return scores

    def _booster_score(self, x: np.ndarray) -> np.ndarray:
        # One thread: a feed scores a few hundred rows, where OpenMP start-up costs more than it saves.
        return self.booster.predict(x, num_iteration=self.booster.best_iteration or None, num_threads=1).astype(
            np.float32
        )

    def contributions(self, x: np.ndarray, scores: np.ndarray | None = None) -> dict[str, np.ndarray]:
        """source → (C,) how much the score falls when that source's features are unknown (NaN).

        One batch of S·C rows (``scores``: ``score(x)``, if the caller has it). LightGBM's exact per-feature attribution (``pred_contrib``,
        TreeSHAP) cost ~8 ms for a 20-item page against ~0.1 ms for this; the reason only needs
        which source mattered most."""
        names = feature_names()
        masked = []
        for s in SOURCES:
            columns = [j for j, name in enumerate(names) if FEATURE_SOURCE[name] == s]
            without = x.copy()
            without[:, columns] = np.nan
            masked.append(without)
        gated = any(choice != "ranker" for choice in self.gate_choice)
        full = self._booster_score(x) if scores is None or gated else scores  # (C,) unmasked, when known
        without = self._booster_score(np.vstack(masked)).reshape(len(SOURCES), len(x))
        return {s: full - without[k] for k, s in enumerate(SOURCES)}

    def state(self) -> dict[str, np.ndarray]:
        text = self.booster.model_to_string(num_iteration=self.booster.best_iteration or None)
        return {
            "model": np.frombuffer(text.encode(), dtype=np.uint8),
            "version": np.array(RANKER_VERSION),
            "features": np.array(feature_names()),
            "gate_edges": self.gate_edges,
            "gate_choice": np.array(self.gate_choice),
        }

    @classmethod
    def from_state(cls, state: dict[str, np.ndarray], config: RecommenderConfig | None = None) -> Ranker:
        if str(state["version"]) != RANKER_VERSION or list(state["features"]) != feature_names():
            raise ValueError(f"ranker state {state['version']} does not match {RANKER_VERSION} and its features")
        ranker = cls(config)
        ranker.booster = lgb.Booster(model_str=state["model"].tobytes().decode())
        if "gate_choice" in state:  # rankers saved before the gate order every user by the booster
            ranker.gate_edges = np.asarray(state["gate_edges"], dtype=np.float32)
            ranker.gate_choice = [str(c) for c in state["gate_choice"]]
        return ranker
