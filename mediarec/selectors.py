"""Read operations of the mediarec app. Selectors return querysets or plain data."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np
from django.contrib.auth import get_user_model
from django.db import connection
from django.db.models import Q, QuerySet

from mediarec.caching import TTLCache
from mediarec.models import CFModelVersion, ModelVersion, RankerVersion, Video, VideoStatus

ACTIVE_VERSION_TTL_S = 5.0  # how long a process trusts its idea of the active versions
_active_versions = TTLCache(ACTIVE_VERSION_TTL_S)


def catalog_health() -> dict:
    """Cheap facts that prove the database answers (used by the ping task)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT extversion FROM pg_extension WHERE extname = 'vector'")
        row = cursor.fetchone()
    return {
        "videos": Video.objects.count(),
        "ready": Video.objects.filter(status=VideoStatus.READY).count(),
        "pgvector": row[0] if row else None,
    }


def video_list_published() -> QuerySet[Video]:
    return Video.objects.filter(published=True)


def video_list_visible(*, user) -> QuerySet[Video]:
    """Published videos for everyone; unpublished ones too for their uploader and staff."""
    visible = Q(published=True)
    if user is not None and user.is_authenticated:
        visible = Q() if user.is_staff else visible | Q(uploader=user)
    return Video.objects.filter(visible)


NO_OWN_TEXT = (Q(title_is_file_name=True) | Q(title="")) & Q(description="", tags="", transcript="")


def video_list_without_own_text(*, videos: QuerySet[Video] | None = None) -> QuerySet[Video]:
    """Videos nobody wrote about (a file name for a title, nothing else): their words are all generated."""
    return (Video.objects.all() if videos is None else videos).filter(NO_OWN_TEXT)


def video_for_media(*, name: str, user) -> Video | None:
    """The video whose file or thumbnail is stored as ``name``, if ``user`` may see it."""
    if "\x00" in name:  # no stored name has one, and PostgreSQL text cannot take it
        return None
    return video_list_visible(user=user).filter(Q(file=name) | Q(thumbnail=name)).only("file", "thumbnail").first()


def model_version_active() -> ModelVersion | None:
    """The active embedding model version, read now."""
    return ModelVersion.objects.filter(is_active=True).first()


def model_version_active_cached() -> ModelVersion | None:
    """The active embedding model version as the serving path sees it (at most ``ACTIVE_VERSION_TTL_S`` old)."""
    return _active_versions.get("model-version", model_version_active)


def cf_model_version_active() -> CFModelVersion | None:
    """The active collaborative-filtering model version, read now."""
    return CFModelVersion.objects.filter(is_active=True).first()


def cf_model_version_active_cached() -> CFModelVersion | None:
    """The active CF model version as the serving path sees it (at most ``ACTIVE_VERSION_TTL_S`` old)."""
    return _active_versions.get("cf-model-version", cf_model_version_active)


def ranker_version_active() -> RankerVersion | None:
    """The active learned-ranker version, read now."""
    return RankerVersion.objects.filter(is_active=True).first()


def ranker_version_active_cached() -> RankerVersion | None:
    """The active ranker version as the serving path sees it (at most ``ACTIVE_VERSION_TTL_S`` old)."""
    return _active_versions.get("ranker-version", ranker_version_active)


@cache
def _user_by_pk_sql() -> tuple[str, tuple[str, ...]]:
    user_model = get_user_model()
    fields = user_model._meta.concrete_fields
    quote = connection.ops.quote_name
    sql = "SELECT {} FROM {} WHERE {} = %s".format(
        ", ".join(quote(f.column) for f in fields),
        quote(user_model._meta.db_table),
        quote(user_model._meta.pk.column),
    )
    return sql, tuple(f.attname for f in fields)


def user_active_by_pk(pk: int):
    """The active user with primary key ``pk``, or None. Every API request
    authenticates with it, so it runs one precompiled statement: building the
    ORM query cost three times the query itself."""
    sql, attnames = _user_by_pk_sql()
    with connection.cursor() as cursor:
        cursor.execute(sql, [pk])
        row = cursor.fetchone()
    if row is None:
        return None
    user = get_user_model().from_db(connection.alias, attnames, row)
    return user if getattr(user, "is_active", True) else None


@dataclass
class Events:
    """Interaction events as arrays (E,), ready for ``weights.event_weights``."""

    user_ids: np.ndarray
    video_ids: np.ndarray
    kinds: np.ndarray
    age_days: np.ndarray


def interaction_events(*, user_ids: list[int] | None = None, per_user_limit: int | None = None) -> Events:
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
