"""Read operations of the mediarec app. Selectors return querysets or plain data."""

from __future__ import annotations

from functools import cache

from django.contrib.auth import get_user_model
from django.db import connection
from django.db.models import QuerySet

from mediarec.models import Video, VideoStatus


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
