"""Tune a model's config by coordinate descent, on validation data only.

Starting from the current defaults, each field of the model's search space
(``SPACES``) is set in turn to each of its values with the others held; the
value with the best objective is kept, and the sweep repeats for ``rounds``.
The objective is the model's nDCG@K averaged over the *validation* protocols
carved from each given protocol's training data (``Protocol.validation``), so
no single protocol decides alone and no trial reads a test split. After the
search, ``PRODUCT_KNOBS`` (trending weight, MMR) are swept one at a time around
the blend's result and reported with coverage and novelty, not tuned; then the
defaults and the result are scored once on the test protocols, for the report.

    protocols ─► .validation() ─► trials (fit on its train, score on its labels) ─► best
    protocols ─────────────────► test figures of the defaults and of the best (read after the choice)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import numpy as np
from threadpoolctl import threadpool_limits

from lab.evaluation.protocol import Protocol
from lab.evaluation.runner import MODELS, evaluate_model
from mediarec.recommender.config import RecommenderConfig

# Tuned for accuracy: the blend's weights and its CF model.
SEARCH_SPACE: dict[str, list] = {
    "user_history_k": [2.0, 5.0, 10.0, 20.0, 50.0],
    "item_history_k": [5.0, 10.0, 20.0, 50.0, 100.0],
    "fresh_weight": [0.0, 0.05, 0.1, 0.2, 0.3],
    "candidates_per_source": [25, 50, 100, 200],
    "factors": [32, 64, 128],
    "regularization": [0.01, 0.05, 0.2, 1.0],
}
# The learned ranker's booster and teaching data (each trial refits every source on each fold).
RANKER_SPACE: dict[str, list] = {
    "ranker_monotone": [False, True],
    "ranker_leaves": [15, 31, 63],
    "ranker_min_child": [20, 40, 100],
    "ranker_learning_rate": [0.02, 0.05, 0.1],
    "ranker_label_grades": [1, 3],
}
SPACES: dict[str, dict[str, list]] = {"hybrid": SEARCH_SPACE, "ranked": RANKER_SPACE, "ranked-served": RANKER_SPACE}
# Swept and reported, never tuned on accuracy: the ground truth has no popularity
# in it and no taste for variety, so accuracy alone would always set trending to 0
# (which leaves a user without history an unordered list) and switch MMR off.
PRODUCT_KNOBS: dict[str, list] = {
    "popularity_weight": [0.0, 0.1, 0.2, 0.35, 0.5],
    "mmr_lambda": [0.6, 0.7, 0.8, 0.9, 1.0],
}
REPORTED = ("ndcg", "recall", "coverage", "novelty")


def objective(
    config: RecommenderConfig, protocols: list[Protocol], k: int, metric: str, model: str = "hybrid"
) -> tuple[float, dict]:
    """Mean of ``model``'s ``metric``@``k`` over ``protocols``, and the per-protocol
    value of it plus the mean of each ``REPORTED`` metric."""
    per_protocol: dict[str, float] = {}
    reported: dict[str, list[float]] = {m: [] for m in REPORTED}
    with threadpool_limits(1, "blas"):
        for protocol in protocols:
            result = evaluate_model(lambda p=protocol: MODELS[model](config, p), protocol, [k])
            per_protocol[protocol.key] = result.metrics[k][metric]
            for m in REPORTED:
                reported[m].append(result.metrics[k][m])
    parts = {**per_protocol, **{f"mean_{m}": float(np.mean(v)) for m, v in reported.items()}}
    return float(np.mean(list(per_protocol.values()))), parts


def tune(
    protocols: list[Protocol],
    *,
    base: RecommenderConfig,
    model: str = "hybrid",
    space: dict[str, list] | None = None,
    k: int = 10,
    metric: str = "ndcg",
    rounds: int = 2,
    log: Callable[[str], None] = lambda _: None,
) -> dict:
    """Returns ``{"best": {field: value}, "score", "baseline", "trials": [...], "test": {...}}``; every
    score but ``test``'s is on the validation protocols."""
    space = SPACES[model] if space is None else space
    validation = [p.validation(seed=base.seed) for p in protocols]
    cache: dict[tuple, tuple[float, dict]] = {}

    def score(config: RecommenderConfig) -> tuple[float, dict]:
        key = tuple(getattr(config, f) for f in (*space, *PRODUCT_KNOBS))
        if key not in cache:
            cache[key] = objective(config, validation, k, metric, model)
        return cache[key]

    trials = []
    current = base
    baseline, baseline_parts = score(current)
    best_score = baseline
    log(f"defaults: validation {metric}@{k} = {baseline:.4f} {baseline_parts}")
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
    for name, values in (PRODUCT_KNOBS if model == "hybrid" else {}).items():  # a ranker's trial costs minutes
        for value in values:
            value_score, parts = score(replace(current, **{name: value}))
            sweeps.append({"field": name, "value": value, "score": value_score, **parts})
        log(f"swept {name}: " + ", ".join(f"{t['value']}: {t['score']:.4f}" for t in sweeps if t["field"] == name))
    log("scoring the defaults and the result once on the test protocols, for the report")
    test = {
        name: objective(config, protocols, k, metric, model)[1]
        for name, config in (("defaults", base), ("best", current))
    }
    return {
        "model": model,
        "metric": f"{metric}@{k}",
        "validation": [p.key for p in validation],
        "baseline": baseline,
        "baseline_parts": baseline_parts,
        "score": best_score,
        "score_parts": score(current)[1],
        "best": {name: getattr(current, name) for name in space},
        "defaults": {name: getattr(base, name) for name in space},
        "trials": trials,
        "sweeps": sweeps,
        "test": test,
    }
