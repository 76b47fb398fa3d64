"""CF model writes: fit ALS from the database, write the factors under
``MEDIAREC_DATA_DIR/cf/<name>.npz``, register a ``CFModelVersion`` and make it
the active one; refresh single users without a refit; retire the active one.

With an active embedding version the refit fits the learned ranker too
(``recommender.ranked``, without its EASE source), in the same pass: its full
fit's ALS is the CF model served, and the ranker, its cold map and the mapped
factors of every video nobody had engaged with go to
``MEDIAREC_DATA_DIR/cf/<name>.ranker.npz`` as a ``RankerVersion`` of that CF
model, activated with it. Too little history for a ranker: none is active and
the blend serves.

``cf_refit`` and ``cf_partial_fit_users`` are the services the periodic task
and the ingest path call; ``mediarec.serving.cf_model`` and
``mediarec.serving.ranker_model`` load the active ones.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np
from django.db import transaction
from django.utils import timezone

from mediarec.conf import app_settings, recommender_config
from mediarec.errors import ModelNotActive
from mediarec.models import CFModelVersion, RankerVersion
from mediarec.recommender.base import FitError
from mediarec.recommender.cf import ALSRecommender
from mediarec.recommender.config import RecommenderConfig
from mediarec.recommender.content import normalize_rows
from mediarec.recommender.ranked import RankedRecommender
from mediarec.recommender.weights import build_user_items, event_weights, latest_times
from mediarec.selectors import cf_model_version_active, interaction_events, model_version_active
from mediarec.serving import queries
from mediarec.serving.cf_model import CFModel
from mediarec.serving.ranker_model import RankerModel

log = logging.getLogger(__name__)
KEEP_VERSIONS = 3  # older factor files are deleted after a refit


def cf_dir() -> Path:
    path = app_settings.DATA_DIR / "cf"
    path.mkdir(parents=True, exist_ok=True)
    return path


def cf_refit(*, config: RecommenderConfig | None = None) -> CFModelVersion:
    """Fit ALS (and, when it can, the learned ranker) on every interaction, persist
    them and activate the new versions together.

    Raises :class:`~mediarec.recommender.base.FitError` when there is nothing to fit.
    """
    config = config or recommender_config()
    started = time.perf_counter()
    events = interaction_events()
    if not len(events.user_ids):
        raise FitError("no interactions to fit collaborative filtering on")
    user_ids, user_idx = np.unique(events.user_ids, return_inverse=True)
    item_ids, item_idx = np.unique(events.video_ids, return_inverse=True)
    weights = event_weights(events.kinds, events.age_days, config)
    shape = (len(user_ids), len(item_ids))
    matrix = build_user_items(user_idx, item_idx, weights, shape=shape, config=config)
    times = latest_times(user_idx, item_idx, -events.age_days, shape=shape)
    name = f"als-{timezone.now():%Y%m%d-%H%M%S-%f}"
    recommender, ranker = _fit(matrix, times, item_ids, name, config)
    path = cf_dir() / f"{name}.npz"
    CFModel(name, recommender, user_ids, item_ids).save(path)
    ranker_path = cf_dir() / f"{name}.ranker.npz"
    if ranker is not None:
        ranker.save(ranker_path)
    params = {k: getattr(config, k) for k in ("factors", "regularization", "iterations", "half_life_days")}
    params["confidence_alpha"] = config.confidence_alpha
    params["kind_weights"] = config.kind_weights
    with transaction.atomic():
        cf_deactivate()
        version = CFModelVersion.objects.create(
            name=name,
            path=str(path),
            params=params,
            n_users=len(user_ids),
            n_items=len(item_ids),
            n_interactions=len(events.user_ids),
            fit_seconds=time.perf_counter() - started,
            is_active=True,
        )
        if ranker is not None:
            RankerVersion.objects.create(
                name=ranker.name,
                path=str(ranker_path),
                cf_model=version,
                params={k: getattr(config, k) for k in RANKER_PARAMS},
                training=ranker.training,
                n_cold_items=len(ranker.cold_ids),
                fit_seconds=version.fit_seconds,
                is_active=True,
            )
        transaction.on_commit(_prune_old_versions)
    log.info("fitted %s on %d interactions in %.1fs", name, len(events.user_ids), version.fit_seconds)
    return version


RANKER_PARAMS = ("ranker_candidates", "ranker_trees", "ranker_learning_rate", "ranker_leaves", "ranker_min_child",
                 "ranker_label_grades", "ranker_validation_fraction", "ranker_max_users", "ranker_propensity_power",
                 "ranker_propensity_cap", "ranker_popularity_features", "ranker_gate", "ranker_gate_edges",
                 "ranker_monotone", "cowatch_neighbours")  # fmt: skip


def _fit(matrix, times, item_ids: np.ndarray, name: str, config: RecommenderConfig):
    """(ALS to serve, the ranker's ``RankerModel`` or None). The ranker needs embeddings
    of the active version and enough history; without either, ALS alone is fitted."""
    version = model_version_active()
    catalog = queries.catalog(version=version.name if version else None)
    at = np.searchsorted(catalog.ids, item_ids)  # every interacted video is in the catalog
    vectors = catalog.vectors[at] if catalog.vectors.shape[1] else None
    if vectors is not None and np.any(vectors != 0):
        ranked = RankedRecommender(config, item_age_days=catalog.age_days[at], interaction_times=times, cowatch=False)
        try:
            ranked.fit(matrix, item_embeddings=vectors)
        except FitError as exc:  # e.g. too few items with history for the cold map
            log.info("no learned ranker for %s: %s", name, exc)
        else:
            return _served_als(ranked), _ranker_model(ranked, catalog, item_ids, name)
    return ALSRecommender(config).fit(matrix), None


def _served_als(ranked: RankedRecommender) -> ALSRecommender:
    """The ranked fit's full ALS as the plain model the CF store keeps (the cold map goes with the ranker)."""
    cold = ranked.sources.als
    als = ALSRecommender(ranked.config)
    als.model, als.n_items = cold.model, cold.n_items
    als.popularity, als.item_counts = cold.popularity, cold.item_counts
    return als


def _ranker_model(ranked: RankedRecommender, catalog: queries.Catalog, item_ids: np.ndarray, name: str):
    """The served ranker: the booster, the cold map, and mapped factors for every published video
    with an embedding that the fit had no positive entry for (the served path's cold items)."""
    if ranked.ranker is None:
        log.info("no learned ranker for %s: too little history (%s)", name, ranked.training)
        return None
    sources = ranked.sources
    untouched = item_ids[sources.item_counts == 0]
    outside = ~np.isin(catalog.ids, item_ids)
    has_vector = np.any(catalog.vectors != 0, axis=1)
    cold = catalog.published & has_vector & (outside | np.isin(catalog.ids, untouched))
    return RankerModel(
        name=f"{name}.ranker",
        cf_name=name,
        ranker=ranked.ranker,
        cold_map=sources.als.cold_map,
        cold_ids=catalog.ids[cold],
        cold_factors=sources.als.cold_map.predict(normalize_rows(catalog.vectors[cold])),
        n_active_users=sources.n_active_users,
        popularity_mean=float(sources.popularity.mean()),
        training=ranked.training,
        cowatch=sources.item_knn,  # indexed like item_ids, the CF model's columns
    )


def cf_deactivate() -> None:
    """No CF model (and so no ranker) is active afterwards: serving goes on without CF (each
    process notices within ``selectors.ACTIVE_VERSION_TTL_S``) until the next refit activates one."""
    RankerVersion.objects.filter(is_active=True).update(is_active=False)
    CFModelVersion.objects.filter(is_active=True).update(is_active=False)


def _prune_old_versions() -> None:
    for old in CFModelVersion.objects.filter(is_active=False)[KEEP_VERSIONS - 1 :]:
        for ranker in old.rankers.all():
            Path(ranker.path).unlink(missing_ok=True)
        Path(old.path).unlink(missing_ok=True)
        old.delete()  # its rankers with it


def cf_partial_fit_users(*, user_ids: list[int], config: RecommenderConfig | None = None) -> int:
    """Recompute (or add) the stored factors of ``user_ids`` from their current
    interactions, item factors fixed; returns how many users were updated."""
    config = config or recommender_config()
    version = cf_model_version_active()
    if version is None:
        raise ModelNotActive("no collaborative-filtering model is active; run cf_refit first.")
    model = CFModel.load(version.name, Path(version.path), config)
    events = interaction_events(user_ids=user_ids)
    cols, known = model.item_index(events.video_ids)
    events_users = events.user_ids[known]
    if not len(events_users):
        return 0
    target = np.unique(events_users)
    all_users = np.union1d(model.user_ids, target)
    rows = np.searchsorted(target, events_users)
    weights = event_weights(events.kinds[known], events.age_days[known], config)
    matrix = build_user_items(rows, cols[known], weights, shape=(len(target), len(model.item_ids)), config=config)
    if len(all_users) > len(model.user_ids):  # keep the stored factors aligned with the sorted ids
        factors = np.zeros((len(all_users), model.recommender.model.factors), dtype=np.float32)
        factors[np.searchsorted(all_users, model.user_ids)] = model.recommender.model.user_factors
        model.recommender.model.user_factors = factors
        model.user_ids = all_users
    model.recommender.partial_fit_users(np.searchsorted(all_users, target), matrix)
    model.save(Path(version.path))
    CFModelVersion.objects.filter(pk=version.pk).update(n_users=len(all_users))
    return len(target)
