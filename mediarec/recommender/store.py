"""Persisted, versioned CF factors: fit from the database, write the factors
under ``MEDIAREC_DATA_DIR/cf/<name>.npz``, register a ``CFModelVersion`` and
make it the active one; refresh single users without a refit; load the active
version (cached per process, reloaded when it changes on disk).

``cf_refit`` and ``cf_partial_fit_users`` are the services the periodic task
and the ingest path call.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
from django.db import connection, transaction
from django.utils import timezone

from mediarec.conf import app_settings
from mediarec.errors import ModelNotActive
from mediarec.models import CFModelVersion
from mediarec.recommender.base import FitError
from mediarec.recommender.cf import ALSRecommender
from mediarec.recommender.config import RecommenderConfig
from mediarec.recommender.content import normalize_rows
from mediarec.recommender.weights import build_user_items, event_weights

log = logging.getLogger(__name__)
KEEP_VERSIONS = 3  # older factor files are deleted after a refit
TRENDING_SIZE = 1000
ACTIVE_TTL_S = 5.0  # how long a process trusts its idea of the active version


@dataclass
class Events:
    """Interaction events as arrays (E,), ready for ``weights.event_weights``."""

    user_ids: np.ndarray
    video_ids: np.ndarray
    kinds: np.ndarray
    age_days: np.ndarray


def events_from_db(*, user_ids: list[int] | None = None, per_user_limit: int | None = None) -> Events:
    """All interactions (or those of ``user_ids``), ages computed in the database."""
    where, params = "", []
    if user_ids is not None:
        where, params = "WHERE user_id = ANY(%s)", [list(user_ids)]
    sql = f"SELECT user_id, video_id, kind, EXTRACT(EPOCH FROM now() - created_at) / 86400.0 FROM mediarec_interaction {where}"
    if per_user_limit is not None:
        sql = (
            "SELECT user_id, video_id, kind, age FROM (SELECT user_id, video_id, kind, "
            "EXTRACT(EPOCH FROM now() - created_at) / 86400.0 AS age, row_number() OVER "
            f"(PARTITION BY user_id ORDER BY created_at DESC) AS n FROM mediarec_interaction {where}) t "
            "WHERE n <= %s"
        )
        params.append(per_user_limit)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    if not rows:
        empty = np.empty(0, dtype=np.int64)
        return Events(empty, empty, np.empty(0, dtype=str), np.empty(0, dtype=np.float32))
    users, videos, kinds, ages = zip(*rows, strict=True)
    return Events(
        np.fromiter(users, np.int64, len(rows)),
        np.fromiter(videos, np.int64, len(rows)),
        np.array(kinds, dtype=str),
        np.array(ages, dtype=np.float32),
    )


@dataclass
class CFModel:
    """A fitted ALS model with the database ids of its rows and columns."""

    name: str
    recommender: ALSRecommender
    user_ids: np.ndarray  # (U,) sorted
    item_ids: np.ndarray  # (I,) sorted video ids

    @cached_property
    def unit_item_factors(self) -> np.ndarray:
        """(I, F) item factors scaled to unit length, for co-watch explanations."""
        return normalize_rows(self.recommender.item_factors)

    @cached_property
    def trending(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The most popular items at fit time: video ids, popularity, users behind each."""
        popularity = self.recommender.popularity
        top = np.lexsort((self.item_ids, -popularity))[:TRENDING_SIZE]
        return self.item_ids[top], popularity[top], self.recommender.item_counts[top]

    def item_index(self, video_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Column of each video id, and a mask of the ids the model knows."""
        video_ids = np.asarray(video_ids, dtype=np.int64)
        pos = np.searchsorted(self.item_ids, video_ids)
        pos = np.minimum(pos, max(len(self.item_ids) - 1, 0))
        known = self.item_ids[pos] == video_ids if len(self.item_ids) else np.zeros(len(video_ids), bool)
        return pos, known

    def save(self, path: Path) -> None:
        tmp = path.with_suffix(".tmp.npz")
        self.recommender.save(tmp, user_ids=self.user_ids, item_ids=self.item_ids)
        os.replace(tmp, path)  # readers never see a half-written file

    @classmethod
    def load(cls, name: str, path: Path, config: RecommenderConfig) -> CFModel:
        recommender = ALSRecommender.load(path, config)
        with np.load(path) as data:
            return cls(name, recommender, data["user_ids"], data["item_ids"])


def cf_dir() -> Path:
    path = app_settings.DATA_DIR / "cf"
    path.mkdir(parents=True, exist_ok=True)
    return path


def cf_refit(*, config: RecommenderConfig | None = None) -> CFModelVersion:
    """Fit ALS on every interaction, persist the factors and activate the new version.

    Raises :class:`~mediarec.recommender.base.FitError` when there is nothing to fit.
    """
    config = config or RecommenderConfig.from_settings()
    started = time.perf_counter()
    events = events_from_db()
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
    process notices within ``ACTIVE_TTL_S``) until the next refit activates one."""
    CFModelVersion.objects.filter(is_active=True).update(is_active=False)


def _prune_old_versions() -> None:
    for old in CFModelVersion.objects.filter(is_active=False)[KEEP_VERSIONS - 1 :]:
        Path(old.path).unlink(missing_ok=True)
        old.delete()


def cf_partial_fit_users(*, user_ids: list[int], config: RecommenderConfig | None = None) -> int:
    """Recompute (or add) the stored factors of ``user_ids`` from their current
    interactions, item factors fixed; returns how many users were updated."""
    config = config or RecommenderConfig.from_settings()
    version = CFModelVersion.objects.filter(is_active=True).first()
    if version is None:
        raise ModelNotActive("no collaborative-filtering model is active; run cf_refit first.")
    model = CFModel.load(version.name, Path(version.path), config)
    events = events_from_db(user_ids=user_ids)
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


_cache_lock = threading.Lock()
_cache: dict[str, tuple] = {}


def clear_cache() -> None:
    with _cache_lock:
        _cache.clear()


def _active_row() -> tuple[str, str] | None:
    now = time.monotonic()
    with _cache_lock:
        hit = _cache.get("row")
        if hit and now - hit[0] < ACTIVE_TTL_S:
            return hit[1]
    row = CFModelVersion.objects.filter(is_active=True).values_list("name", "path").first()
    with _cache_lock:
        _cache["row"] = (now, row)
    return row


def active_cf_model(config: RecommenderConfig) -> CFModel | None:
    """The active CF model, loaded once per process and reloaded when it changes."""
    row = _active_row()
    if row is None:
        return None
    name, path = row
    try:
        mtime = os.stat(path).st_mtime
    except FileNotFoundError:
        log.error("active CF model %s has no factor file at %s", name, path)
        return None
    with _cache_lock:
        cached = _cache.get("model")
        if cached and cached[0] == name and cached[1] == mtime:
            return cached[2]
    model = CFModel.load(name, Path(path), config)
    with _cache_lock:
        _cache["model"] = (name, mtime, model)
    return model
