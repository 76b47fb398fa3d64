"""Read operations of the mediarec app. Selectors return querysets or plain data."""

from __future__ import annotations

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
