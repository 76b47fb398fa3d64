"""Fit every baseline and the hybrid on a protocol's training matrix, recommend
for each scored user, and score the lists side by side.

    Protocol ─► for each model: fit(train, item_embeddings) ─► recommend top-max(K) per user
                                                            ─► metrics.score_topk ─► results dict

The models are the project's own recommenders (``mediarec.recommender``), so
what is measured here is what the site serves.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass

import numpy as np
from threadpoolctl import threadpool_limits
from tqdm import tqdm

from lab.evaluation.metrics import score_topk
from lab.evaluation.peers import BiVAERecommender
from lab.evaluation.protocol import Protocol
from mediarec.recommender.base import Recommender
from mediarec.recommender.cf import ALSRecommender, BPRRecommender, ColdALSRecommender
from mediarec.recommender.config import RecommenderConfig
from mediarec.recommender.content import ContentRecommender
from mediarec.recommender.ease import EASERecommender
from mediarec.recommender.hybrid import HybridRecommender
from mediarec.recommender.popularity import PopularityRecommender
from mediarec.recommender.ranked import RankedRecommender

# name → (config, protocol) → an unfitted recommender. "ranked-served" is what the
# site serves (the learned ranker without EASE, whose dense weights do not scale to a
# site), "hybrid" the blend it serves without a ranker; "ranked" the learned two-stage
# model with EASE as its co-watch source (on the world's warm protocols both follow the
# events, which favour CF, where the ground truth favours content, issue #14); "ease" a peer.
MODELS: dict[str, Callable[[RecommenderConfig, Protocol], Recommender]] = {
    "popularity": lambda config, protocol: PopularityRecommender(config),
    "als": lambda config, protocol: ALSRecommender(config),
    "als-cold": lambda config, protocol: ColdALSRecommender(config),
    "bpr": lambda config, protocol: BPRRecommender(config),
    "content": lambda config, protocol: ContentRecommender(config),
    "ease": lambda config, protocol: EASERecommender(config, interaction_times=protocol.validation_times),
    "hybrid": lambda config, protocol: HybridRecommender(config, item_age_days=protocol.item_age_days),
    "ranked": lambda config, protocol: RankedRecommender(
        config,
        item_age_days=protocol.item_age_days,
        interaction_times=protocol.train_times,
        validation=protocol.holdout,
    ),
    "ranked-served": lambda config, protocol: RankedRecommender(
        config,
        item_age_days=protocol.item_age_days,
        interaction_times=protocol.train_times,
        validation=protocol.holdout,
        cowatch=False,
    ),
}
# Peers from other libraries, run with ``evaluate --peers`` (lab/evaluation/peers.py).
PEERS: dict[str, Callable[[RecommenderConfig, Protocol], Recommender]] = {
    "bivae": lambda config, protocol: BiVAERecommender(config),
}
NEEDS_EMBEDDINGS = {"content", "als-cold", "hybrid", "ranked", "ranked-served"}
# The single models a hybrid is held against (evaluate's ratio line; issue #14 counts EASE among them).
SINGLE_MODELS = ("popularity", "als", "als-cold", "bpr", "content", "ease")


@dataclass
class ModelResult:
    fit_s: float
    recommend_ms: float  # mean wall time of one recommend call
    metrics: dict[int, dict[str, float | None]] | None = None
    skipped: str | None = None

    def to_dict(self) -> dict:
        metrics = None if self.metrics is None else {str(k): v for k, v in self.metrics.items()}
        return {"fit_s": self.fit_s, "recommend_ms": self.recommend_ms, "metrics": metrics, "skipped": self.skipped}


def recommend_all(
    model: Recommender, protocol: Protocol, users: np.ndarray, n: int, *, progress: bool = False
) -> np.ndarray:
    """(len(users), n) item indices, best first, -1 where a list runs short."""
    recs = np.full((len(users), n), -1, dtype=np.int64)
    history = protocol.history
    unavailable = None if protocol.unavailable is None else np.flatnonzero(protocol.unavailable)
    for row, user in enumerate(tqdm(users, desc="recommend", leave=False, disable=not progress)):
        ids, _ = model.recommend(int(user), history[user], N=n, filter_items=unavailable)
        recs[row, : len(ids)] = ids
    return recs


def evaluate_model(
    make: Callable[[], Recommender], protocol: Protocol, ks: list[int], *, progress: bool = False
) -> ModelResult:
    started = time.perf_counter()
    model = make().fit(protocol.train, item_embeddings=protocol.item_embeddings)
    fit_s = time.perf_counter() - started
    users = protocol.eval_users
    started = time.perf_counter()
    recs = recommend_all(model, protocol, users, max(ks), progress=progress)
    recommend_ms = 1000 * (time.perf_counter() - started) / max(len(users), 1)
    relevant = protocol.relevant[users]
    metrics = score_topk(
        recs,
        relevant,
        ks,
        item_user_counts=protocol.item_user_counts,
        n_train_users=protocol.n_users,
        cold_items=protocol.cold_items,
    )
    return ModelResult(fit_s=round(fit_s, 3), recommend_ms=round(recommend_ms, 3), metrics=metrics)


def evaluate_protocol(
    protocol: Protocol,
    ks: list[int],
    *,
    config: RecommenderConfig,
    models: Iterable[str] = tuple(MODELS),
    progress: bool = False,
    log: Callable[[str], None] = lambda _: None,
) -> dict:
    """Every model on one protocol: ``{"dataset", "protocol", "summary", "models": {name: result}}``."""
    results: dict[str, dict] = {}
    for name in models:
        if name in NEEDS_EMBEDDINGS and protocol.item_embeddings is None:
            results[name] = ModelResult(0.0, 0.0, skipped="no item embeddings").to_dict()
            continue
        log(f"{protocol.key}: {name}")
        make = MODELS.get(name) or PEERS[name]
        result = evaluate_model(lambda make=make: make(config, protocol), protocol, ks, progress=progress)
        results[name] = result.to_dict()
    return {
        "dataset": protocol.dataset,
        "protocol": protocol.name,
        "description": protocol.description,
        "summary": protocol.summary(),
        "models": results,
    }


def run_evaluation(
    protocols: Iterable[Protocol],
    ks: list[int],
    *,
    config: RecommenderConfig,
    models: Iterable[str] = tuple(MODELS),
    progress: bool = False,
    log: Callable[[str], None] = lambda _: None,
) -> dict:
    """Every model on every protocol; the JSON that ``evaluate --json`` prints.

    BLAS runs on one thread: implicit runs its own threads, and the per-user
    scoring is too small to gain from more.
    """
    models = list(models)
    unknown = sorted(set(models) - set(MODELS) - set(PEERS))
    if unknown:
        raise ValueError(f"unknown model(s) {', '.join(unknown)}; choose from {', '.join([*MODELS, *PEERS])}")
    ks = sorted(set(ks))
    with threadpool_limits(1, "blas"):
        results = [
            evaluate_protocol(p, ks, config=config, models=models, progress=progress, log=log) for p in protocols
        ]
    return {"ks": ks, "models": models, "config": asdict(config), "results": results}
