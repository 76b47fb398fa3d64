"""CF model writes: fit ALS from the database, write the factors under
``MEDIAREC_DATA_DIR/cf/<name>.npz``, register a ``CFModelVersion`` and make it
the active one; refresh single users without a refit; retire the active one.

``cf_refit`` and ``cf_partial_fit_users`` are the services the periodic task
and the ingest path call; ``mediarec.serving.cf_model`` loads the active one.
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
from mediarec.models import CFModelVersion
from mediarec.recommender.base import FitError
from mediarec.recommender.cf import ALSRecommender
from mediarec.recommender.config import RecommenderConfig
from mediarec.recommender.weights import build_user_items, event_weights
from mediarec.selectors import cf_model_version_active, interaction_events
from mediarec.serving.cf_model import CFModel

log = logging.getLogger(__name__)
KEEP_VERSIONS = 3  # older factor files are deleted after a refit


def cf_dir() -> Path:
    path = app_settings.DATA_DIR / "cf"
    path.mkdir(parents=True, exist_ok=True)
    return path


def cf_refit(*, config: RecommenderConfig | None = None) -> CFModelVersion:
    """Fit ALS on every interaction, persist the factors and activate the new version.

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
    matrix = build_user_items(user_idx, item_idx, weights, shape=(len(user_ids), len(item_ids)), config=config)
    recommender = ALSRecommender(config).fit(matrix)
    name = f"als-{timezone.now():%Y%m%d-%H%M%S-%f}"
    path = cf_dir() / f"{name}.npz"
    CFModel(name, recommender, user_ids, item_ids).save(path)
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
        transaction.on_commit(_prune_old_versions)
    log.info("fitted %s on %d interactions in %.1fs", name, len(events.user_ids), version.fit_seconds)
    return version


def cf_deactivate() -> None:
    """No CF model is active afterwards: serving goes on without CF (each
    process notices within ``selectors.ACTIVE_VERSION_TTL_S``) until the next refit activates one."""
    CFModelVersion.objects.filter(is_active=True).update(is_active=False)


def _prune_old_versions() -> None:
    for old in CFModelVersion.objects.filter(is_active=False)[KEEP_VERSIONS - 1 :]:
        Path(old.path).unlink(missing_ok=True)
        old.delete()


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
