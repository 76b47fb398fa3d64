"""Tune the hybrid's config on the synthetic world by coordinate descent.

Starting from the current defaults, each field in ``SEARCH_SPACE`` is set in
turn to each of its values with the others held; the value with the best
objective is kept, and the sweep repeats for ``rounds``. The objective is the
hybrid's nDCG@K averaged over the protocols given — the world's three
holdouts, plus a MovieLens-format dataset's two when one is given — so no
single protocol decides alone. After the
search, ``PRODUCT_KNOBS`` (trending weight, MMR) are swept one at a time
around the result and reported with coverage and novelty, not tuned.

Tune on a world seed other than the one results are reported on, so the
reported figures are not the ones the search was fitted to.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import numpy as np
from threadpoolctl import threadpool_limits

from lab.evaluation.protocol import Protocol
from lab.evaluation.runner import MODELS, evaluate_model
from mediarec.recommender.config import RecommenderConfig

# Tuned for accuracy against the ground truth.
SEARCH_SPACE: dict[str, list] = {
    "user_history_k": [2.0, 5.0, 10.0, 20.0, 50.0],
    "item_history_k": [5.0, 10.0, 20.0, 50.0, 100.0],
    "fresh_weight": [0.0, 0.05, 0.1, 0.2, 0.3],
    "candidates_per_source": [25, 50, 100, 200],
    "factors": [32, 64, 128],
    "regularization": [0.01, 0.05, 0.2, 1.0],
}
# Swept and reported, never tuned on accuracy: the ground truth has no popularity
# in it and no taste for variety, so accuracy alone would always set trending to 0
# (which leaves a user without history an unordered list) and switch MMR off.
PRODUCT_KNOBS: dict[str, list] = {
    "popularity_weight": [0.0, 0.1, 0.2, 0.35, 0.5],
    "mmr_lambda": [0.6, 0.7, 0.8, 0.9, 1.0],
}
REPORTED = ("ndcg", "recall", "coverage", "novelty")


def objective(config: RecommenderConfig, protocols: list[Protocol], k: int, metric: str) -> tuple[float, dict]:
    """Mean of the hybrid's ``metric``@``k`` over ``protocols``, and the per-protocol
    value of it plus the mean of each ``REPORTED`` metric."""
    per_protocol: dict[str, float] = {}
    reported: dict[str, list[float]] = {m: [] for m in REPORTED}
    with threadpool_limits(1, "blas"):
        for protocol in protocols:
            result = evaluate_model(lambda p=protocol: MODELS["hybrid"](config, p), protocol, [k])
            per_protocol[protocol.name] = result.metrics[k][metric]
            for m in REPORTED:
                reported[m].append(result.metrics[k][m])
    parts = {**per_protocol, **{f"mean_{m}": float(np.mean(v)) for m, v in reported.items()}}
    return float(np.mean(list(per_protocol.values()))), parts


def tune_hybrid(
    protocols: list[Protocol],
    *,
    base: RecommenderConfig,
    space: dict[str, list] = SEARCH_SPACE,
    k: int = 10,
    metric: str = "ndcg",
    rounds: int = 2,
    log: Callable[[str], None] = lambda _: None,
) -> dict:
    """Returns ``{"best": {field: value}, "score", "baseline", "trials": [...]}``."""
    cache: dict[tuple, tuple[float, dict]] = {}

    def score(config: RecommenderConfig) -> tuple[float, dict]:
        key = tuple(getattr(config, f) for f in (*space, *PRODUCT_KNOBS))
        if key not in cache:
            cache[key] = objective(config, protocols, k, metric)
        return cache[key]

    trials = []
    current = base
    baseline, baseline_parts = score(current)
    best_score = baseline
    log(f"defaults: {metric}@{k} = {baseline:.4f} {baseline_parts}")
    for round_ in range(1, rounds + 1):
        changed = False
        for name, values in space.items():
            for value in values:
                candidate = replace(current, **{name: value})
                value_score, parts = score(candidate)
                trials.append({"round": round_, "field": name, "value": value, "score": value_score, **parts})
                if value_score > best_score + 1e-9:
                    best_score, current, changed = value_score, candidate, True
            log(f"round {round_}: {name} = {getattr(current, name)} ({metric}@{k} {best_score:.4f})")
        if not changed:
            break
    sweeps = []
    for name, values in PRODUCT_KNOBS.items():
        for value in values:
            value_score, parts = score(replace(current, **{name: value}))
            sweeps.append({"field": name, "value": value, "score": value_score, **parts})
        log(f"swept {name}: " + ", ".join(f"{t['value']}: {t['score']:.4f}" for t in sweeps if t["field"] == name))
    return {
        "metric": f"{metric}@{k}",
        "baseline": baseline,
        "baseline_parts": baseline_parts,
        "score": best_score,
        "score_parts": score(current)[1],
        "best": {name: getattr(current, name) for name in space},
        "defaults": {name: getattr(base, name) for name in space},
        "trials": trials,
        "sweeps": sweeps,
    }
