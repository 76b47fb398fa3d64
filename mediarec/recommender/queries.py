"""The SQL the serving path needs, kept in one place: pgvector HNSW nearest
neighbours with filters, embeddings by id (binary transfer), a user's history,
trending, fresh uploads and co-watch counts. Each function returns numpy
arrays or plain tuples, never model instances."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import psycopg
from django.db import connection
from psycopg.adapt import Loader
from psycopg.pq import Format
from psycopg.types import TypeInfo

from mediarec.models import Video
from mediarec.recommender.config import RecommenderConfig

_vector_oids: dict[str, int] = {}


class _VectorLoader(Loader):
    """pgvector's binary format: int16 dim, int16 unused, dim × float32 (big-endian)."""

    format = Format.BINARY

    def load(self, data) -> np.ndarray:
        return np.frombuffer(data, dtype=">f4", offset=4).astype(np.float32)


def _binary_cursor():
    """A raw psycopg cursor on Django's connection that returns vectors as numpy arrays."""
    connection.ensure_connection()
    raw = connection.connection
    name = connection.settings_dict["NAME"]
    if name not in _vector_oids:
        _vector_oids[name] = TypeInfo.fetch(raw, "vector").oid
    cursor = psycopg.Cursor(raw)  # Django's default client-side cursor cannot read binary
    cursor.adapters.register_loader(_vector_oids[name], _VectorLoader)
    return cursor


def as_literal(vector: np.ndarray) -> str:
    return "[" + ",".join(f"{x:.6g}" for x in np.asarray(vector, dtype=np.float32)) + "]"


def nearest_videos(
    vector: np.ndarray, *, version: str, exclude: list[int], limit: int, config: RecommenderConfig
) -> tuple[np.ndarray, np.ndarray]:
    """Published videos of embedding ``version`` nearest to ``vector`` by cosine,
    skipping ``exclude``: ids (K,) and cosine similarities (K,), best first.

    pgvector's iterative scan keeps walking the HNSW graph until ``limit`` rows
    pass the filters; ``ef_search`` must be at least ``limit`` or the scan
    returns at most ``ef_search`` rows per pass.
    """
    ef_search = max(config.ef_search, limit)
    literal = as_literal(vector)
    with connection.cursor() as cursor:
        # One multi-statement query: PostgreSQL runs it as one implicit transaction,
        # so the SET LOCALs hold for this scan only and cost no extra round trip.
        # (Inside an outer atomic block they last until that block ends.)
        cursor.execute(
            f"SET LOCAL hnsw.ef_search = {int(ef_search)}; SET LOCAL hnsw.iterative_scan = relaxed_order; "
            f"SET LOCAL hnsw.max_scan_tuples = {int(config.max_scan_tuples)}; "
            "SELECT id, embedding <=> %s::vector AS distance FROM mediarec_video "
            "WHERE published AND embedding IS NOT NULL AND embedding_version = %s AND NOT (id = ANY(%s)) "
            "ORDER BY embedding <=> %s::vector LIMIT %s",
            [literal, version, list(exclude), literal, int(limit)],
        )
        while cursor.description is None and cursor.nextset():
            pass
        rows = cursor.fetchall()
    if not rows:
        return np.empty(0, np.int64), np.empty(0, np.float32)
    ids = np.array([r[0] for r in rows], dtype=np.int64)
    sims = 1.0 - np.array([r[1] for r in rows], dtype=np.float32)
    order = np.lexsort((ids, -sims))  # relaxed_order may return rows slightly out of order
    return ids[order], sims[order]


_CARD = {"id", "title", "tags", "channel", "duration_s", "thumbnail", "file", "status", "created_at"}
# In model field order, which is the order ``Model.from_db`` expects the values in.
CARD_FIELDS = tuple(f.attname for f in Video._meta.concrete_fields if f.attname in _CARD)


def published_cards(ids: list[int], *, version: str | None) -> tuple[np.ndarray, list[np.ndarray | None], dict]:
    """The published ones among ``ids``: their ids, their embeddings where of
    ``version``, and their ``CARD_FIELDS`` rows by id (turn one into a ``Video``
    with ``card``; building model instances for a whole pool costs too much)."""
    if not ids:
        return np.empty(0, np.int64), [], {}
    columns = ", ".join(CARD_FIELDS)
    with _binary_cursor() as cursor:
        cursor.execute(
            f"SELECT {columns}, CASE WHEN embedding_version = %s THEN embedding END FROM mediarec_video "
            "WHERE id = ANY(%s) AND published",
            [version or "", list(ids)],
            binary=True,
        )
        rows = cursor.fetchall()
    return (
        np.array([r[0] for r in rows], dtype=np.int64),
        [r[-1] for r in rows],
        {r[0]: r[:-1] for r in rows},
    )


def card(row: tuple) -> Video:
    """A ``Video`` holding only ``CARD_FIELDS`` (enough for a card or an API item)."""
    return Video.from_db("default", CARD_FIELDS, row)


@dataclass
class History:
    """A user's most recent events, newest first, with what the taste needs."""

    video_ids: np.ndarray  # (E,)
    kinds: np.ndarray  # (E,)
    age_days: np.ndarray  # (E,)
    titles: dict[int, str]  # video id → title
    embeddings: dict[int, np.ndarray]  # video id → embedding of the active version


def user_history(user_id: int, *, version: str | None, limit: int = 500) -> History:
    """One query for the events, titles and active embeddings of a user's history."""
    with _binary_cursor() as cursor:
        cursor.execute(
            "SELECT i.video_id, i.kind, (EXTRACT(EPOCH FROM now() - i.created_at) / 86400.0)::float8, v.title, "
            "CASE WHEN v.embedding_version = %s THEN v.embedding END "
            "FROM (SELECT video_id, kind, created_at FROM mediarec_interaction WHERE user_id = %s "
            "      ORDER BY created_at DESC LIMIT %s) i "
            "JOIN mediarec_video v ON v.id = i.video_id ORDER BY i.created_at DESC",
            [version or "", user_id, limit],
            binary=True,
        )
        rows = cursor.fetchall()
    return History(
        np.array([r[0] for r in rows], dtype=np.int64),
        np.array([r[1] for r in rows], dtype=str),
        np.array([r[2] for r in rows], dtype=np.float32),
        {r[0]: r[3] for r in rows},
        {r[0]: r[4] for r in rows if r[4] is not None},
    )


def _kind_weights_sql(config: RecommenderConfig) -> tuple[str, list]:
    positive = [(k, float(w)) for k, w in config.kind_weights.items() if w > 0]
    values = ", ".join(["(%s, %s::float8)"] * len(positive))
    return values, [x for pair in positive for x in pair]


def trending(config: RecommenderConfig, *, limit: int = 500) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Published videos by summed positive confidence over the trending window:
    ids, scores and the number of users behind each. Same confidence as ``weights.py``."""
    values, params = _kind_weights_sql(config)
    sql = f"""
        SELECT video_id, SUM(1 + %s * ln(1 + w / %s)) AS score, COUNT(*) AS users FROM (
            SELECT i.user_id, i.video_id,
                   SUM(k.weight * power(0.5, EXTRACT(EPOCH FROM now() - i.created_at) / 86400.0 / %s)) AS w
            FROM mediarec_interaction i JOIN (VALUES {values}) AS k(kind, weight) ON k.kind = i.kind
            WHERE i.created_at > now() - make_interval(secs => %s)
            GROUP BY i.user_id, i.video_id
        ) pairs JOIN mediarec_video v ON v.id = pairs.video_id AND v.published
        WHERE w > 0 GROUP BY video_id ORDER BY score DESC, video_id LIMIT %s"""
    with connection.cursor() as cursor:
        cursor.execute(
            sql,
            [
                config.confidence_alpha,
                config.confidence_epsilon,
                config.half_life_days,
                *params,
                config.trending_window_days * 86400.0,
                limit,
            ],
        )
        rows = cursor.fetchall()
    return (
        np.array([r[0] for r in rows], dtype=np.int64),
        np.array([r[1] for r in rows], dtype=np.float32),
        np.array([r[2] for r in rows], dtype=np.float32),
    )


def fresh(config: RecommenderConfig, *, version: str, limit: int = 100) -> tuple[np.ndarray, np.ndarray]:
    """Published, embedded videos uploaded within ``fresh_days``: ids and ages in days, newest first."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT id, EXTRACT(EPOCH FROM now() - created_at) / 86400.0 FROM mediarec_video "
            "WHERE published AND embedding_version = %s AND created_at > now() - make_interval(secs => %s) "
            "ORDER BY created_at DESC, id DESC LIMIT %s",
            [version, config.fresh_days * 86400.0, limit],
        )
        rows = cursor.fetchall()
    return np.array([r[0] for r in rows], dtype=np.int64), np.array([r[1] for r in rows], dtype=np.float32)


def cowatched(video_id: int, config: RecommenderConfig, *, limit: int) -> tuple[np.ndarray, np.ndarray, int]:
    """Videos engaged with by the latest ``cowatch_users`` engagers of ``video_id``:
    ids, how many of those users engaged with each, and how many users were looked at."""
    positive = [k for k, w in config.kind_weights.items() if w > 0]
    sql = """
        WITH watchers AS (
            SELECT user_id FROM mediarec_interaction WHERE video_id = %s AND kind = ANY(%s)
            GROUP BY user_id ORDER BY MAX(created_at) DESC LIMIT %s
        )
        SELECT i.video_id, COUNT(DISTINCT i.user_id), (SELECT COUNT(*) FROM watchers)
        FROM mediarec_interaction i JOIN watchers w ON w.user_id = i.user_id
        WHERE i.video_id <> %s AND i.kind = ANY(%s)
        GROUP BY i.video_id ORDER BY 2 DESC, 1 LIMIT %s"""
    with connection.cursor() as cursor:
        cursor.execute(sql, [video_id, positive, config.cowatch_users, video_id, positive, limit])
        rows = cursor.fetchall()
    if not rows:
        return np.empty(0, np.int64), np.empty(0, np.float32), 0
    return (
        np.array([r[0] for r in rows], dtype=np.int64),
        np.array([r[1] for r in rows], dtype=np.float32),
        int(rows[0][2]),
    )
