"""The SQL the serving path needs, kept in one place: pgvector HNSW nearest
neighbours with filters (alone, or pipelined with the cards of a feed's other
candidates), cards and embeddings by id, a user's history, trending,
fresh uploads and co-watch counts. Each function returns numpy arrays or
plain tuples, never model instances.

Vectors travel in pgvector's binary format both ways: out as ``vector_send``
bytea, which psycopg reads without a Python call per row, decoded a column at
a time (``_vector_matrix``). Id lists travel as one array literal. Both
matter: per-element adaptation in Python cost more than the queries themselves.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import psycopg
from django.db import connection
from psycopg.adapt import Dumper
from psycopg.pq import Format
from psycopg.types import TypeInfo

from mediarec.models import EMBEDDING_DIM, Video
from mediarec.recommender.config import RecommenderConfig

_vector_dumpers: dict[str, type[Dumper]] = {}  # database name → dumper for its vector type


class _VectorDumper(Dumper):
    """A numpy vector in pgvector's binary format: int16 dim, int16 unused, dim × float32 (big-endian)."""

    format = Format.BINARY

    def dump(self, obj: np.ndarray) -> bytes:
        values = np.asarray(obj, dtype=">f4")
        return struct.pack(">HH", len(values), 0) + values.tobytes()


def _vector_matrix(values: list[bytes | None]) -> np.ndarray:
    """(N, D) float32 rows from ``vector_send`` values, zero rows for NULL."""
    present = np.array([v is not None for v in values], dtype=bool)
    if not present.any():
        return np.zeros((len(values), 0), np.float32)
    blob = b"".join(v for v in values if v is not None)
    dim = struct.unpack_from(">H", blob)[0]
    out = np.zeros((len(values), dim), np.float32)
    out[present] = np.frombuffer(blob, dtype=">f4").reshape(-1, dim + 1)[:, 1:]  # column 0 is the header
    return out


@contextmanager
def _binary_cursors(n: int = 1) -> Iterator[list[psycopg.Cursor]]:
    """``n`` raw psycopg cursors on Django's connection that send numpy vectors
    in binary (Django's default client-side cursor cannot read binary).

    Errors surface as Django's database errors and mark the connection, as
    with Django's own cursors, so that a broken connection is closed when the
    request ends."""
    connection.ensure_connection()
    raw = connection.connection
    with connection.wrap_database_errors:
        if not getattr(raw, "mediarec_ready", False):
            name = connection.settings_dict["NAME"]
            if name not in _vector_dumpers:
                oid = TypeInfo.fetch(raw, "vector").oid
                _vector_dumpers[name] = type("VectorDumper", (_VectorDumper,), {"oid": oid})
            raw.adapters.register_dumper(np.ndarray, _vector_dumpers[name])
            # Prepare each statement once per connection: the same few run for every feed,
            # and planning them anew took about a quarter of the database's CPU per request.
            # Django's own cursors bind client-side and are never prepared.
            raw.prepare_threshold = 0
            raw.mediarec_ready = True
        cursors = [psycopg.Cursor(raw) for _ in range(n)]
        try:
            yield cursors
        finally:
            for cursor in cursors:
                cursor.close()


def id_array(ids) -> str:
    """A bigint[] literal for ``= ANY(%s::bigint[])``."""
    return "{" + ",".join(map(str, np.asarray(ids, dtype=np.int64).tolist())) + "}"


_HALF_TYPE = f"halfvec({EMBEDDING_DIM})"
_HALF = f"embedding::{_HALF_TYPE}"

_HNSW_SETTINGS = (
    "SELECT set_config('hnsw.ef_search', %s, true), set_config('hnsw.iterative_scan', 'relaxed_order', true), "
    "set_config('hnsw.max_scan_tuples', %s, true)"
)


def ann_sql(columns: str) -> str:
    """An HNSW scan for the ``%(limit)s`` published videos of ``%(version)s`` nearest to ``%(query)s``.

    It orders by the half-precision cast the index is built on (``models.Video``);
    ``columns`` read the full-precision embedding, so similarities are exact."""
    return (
        f"SELECT {columns} FROM mediarec_video "
        "WHERE published AND embedding IS NOT NULL AND embedding_version = %(version)s "
        f"AND NOT (id = ANY(%(exclude)s::bigint[])) ORDER BY {_HALF} <=> %(query)s::{_HALF_TYPE} LIMIT %(limit)s"
    )


def _with_hnsw_settings(statements: list[tuple[str, dict]], *, limit: int, config: RecommenderConfig) -> list[list]:
    """Rows of each statement, run after the HNSW scan settings in one round trip.

    The settings and the statements go in one pipeline, which PostgreSQL runs
    as one implicit transaction, so ``set_config(..., is_local => true)`` holds
    for these statements only. (Inside an outer atomic block it lasts until
    that block ends.)

    pgvector's iterative scan keeps walking the HNSW graph until ``limit`` rows
    pass the filters; ``ef_search`` must be at least ``limit`` or the scan
    returns at most ``ef_search`` rows per pass.
    """
    ef_search = max(config.ef_search, limit)
    with _binary_cursors(1 + len(statements)) as (scan_settings, *cursors):
        with scan_settings.connection.pipeline():  # one Sync, sent on exit
            scan_settings.execute(_HNSW_SETTINGS, [str(int(ef_search)), str(int(config.max_scan_tuples))])
            for cursor, (sql, params) in zip(cursors, statements, strict=True):
                cursor.execute(sql, params, binary=True)
        return [cursor.fetchall() for cursor in cursors]


def _by_similarity(ids: np.ndarray, distances: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Ids and cosine similarities, best first (a relaxed-order scan may return rows slightly out of order)."""
    sims = (1.0 - distances).astype(np.float32)
    order = np.lexsort((ids, -sims))
    return ids[order], sims[order]


def nearest_videos(
    vector: np.ndarray, *, version: str, exclude: list[int], limit: int, config: RecommenderConfig
) -> tuple[np.ndarray, np.ndarray]:
    """Published videos of embedding ``version`` nearest to ``vector`` by cosine,
    skipping ``exclude``: ids (K,) and cosine similarities (K,), best first."""
    params = {"version": version, "exclude": id_array(exclude), "query": np.asarray(vector), "limit": int(limit)}
    (rows,) = _with_hnsw_settings([(ann_sql("id, embedding <=> %(query)s"), params)], limit=limit, config=config)
    ids = np.array([r[0] for r in rows], dtype=np.int64)
    return _by_similarity(ids, np.array([r[1] for r in rows], dtype=np.float32))


_CARD = {"id", "title", "title_is_file_name", "caption", "tags", "channel", "duration_s", "thumbnail", "file", "status",
         "created_at"}  # fmt: skip
# In model field order, which is the order ``Model.from_db`` expects the values in.
CARD_FIELDS = tuple(f.attname for f in Video._meta.concrete_fields if f.attname in _CARD)
_CARD_COLUMNS = ", ".join(CARD_FIELDS)


@dataclass
class Cards:
    """Published videos: ids (C,) sorted, their embeddings of one version (C, D)
    with zero rows where they have none, and their ``CARD_FIELDS`` rows by id
    (turn one into a ``Video`` with ``card``; model instances for a whole pool
    cost too much)."""

    ids: np.ndarray
    vectors: np.ndarray
    rows: dict[int, tuple]


_CARDS_SQL = (
    f"SELECT {_CARD_COLUMNS}, CASE WHEN embedding_version = %(version)s THEN vector_send(embedding) END "
    "FROM mediarec_video "
    "WHERE id = ANY(%(ids)s::bigint[]) AND published"
)


def _cards(rows: list[tuple]) -> Cards:
    """Cards from rows of ``CARD_FIELDS`` followed by an embedding."""
    rows = sorted(rows, key=lambda r: r[0])
    vectors = _vector_matrix([r[-1] for r in rows])
    return Cards(np.array([r[0] for r in rows], dtype=np.int64), vectors, {r[0]: r[:-1] for r in rows})


def published_cards(ids, *, version: str | None) -> Cards:
    """The published ones among ``ids``, with their embeddings of ``version``."""
    if not len(ids):
        return _cards([])
    with _binary_cursors() as (cursor,):
        cursor.execute(_CARDS_SQL, {"version": version or "", "ids": id_array(ids)}, binary=True)
        return _cards(cursor.fetchall())


def feed_candidates(
    taste: np.ndarray, *, version: str, exclude, also, limit: int, config: RecommenderConfig
) -> tuple[Cards, tuple[np.ndarray, np.ndarray]]:
    """A feed's whole pool in one round trip: the ``limit`` published videos of
    ``version`` nearest to ``taste`` (skipping ``exclude``) and the published
    ones among ``also``, as cards with their embeddings; and the nearest ones'
    ids and cosine similarities, best first."""
    nearest = (
        ann_sql(f"{_CARD_COLUMNS}, vector_send(embedding), embedding <=> %(query)s"),
        {"version": version, "exclude": id_array(exclude), "query": np.asarray(taste), "limit": int(limit)},
    )
    others = (_CARDS_SQL, {"version": version, "ids": id_array(also)})
    near_rows, other_rows = _with_hnsw_settings([nearest, others], limit=limit, config=config)
    by_id = {r[0]: r for r in other_rows} | {r[0]: r[:-1] for r in near_rows}  # the last column is the distance
    ids = np.array([r[0] for r in near_rows], dtype=np.int64)
    return _cards(list(by_id.values())), _by_similarity(ids, np.array([r[-1] for r in near_rows], dtype=np.float32))


@dataclass
class Catalog:
    """Every video: ids (V,) sorted, ages in days (V,), published (V,) and embeddings of one version (V, D),
    zero rows where a video has none."""

    ids: np.ndarray
    age_days: np.ndarray
    published: np.ndarray
    vectors: np.ndarray


def catalog(*, version: str | None) -> Catalog:
    """The whole catalog with its ``version`` embeddings, for a refit (binary, like the feed's reads)."""
    with _binary_cursors() as (cursor,):
        cursor.execute(
            f"SELECT id, {AGE_DAYS_SQL.format(column='created_at')}, published, "
            "CASE WHEN embedding_version = %(version)s THEN vector_send(embedding) END FROM mediarec_video ORDER BY id",
            {"version": version or ""},
            binary=True,
        )
        rows = cursor.fetchall()
    return Catalog(
        np.array([r[0] for r in rows], dtype=np.int64),
        np.array([r[1] for r in rows], dtype=np.float32),
        np.array([r[2] for r in rows], dtype=bool),
        _vector_matrix([r[3] for r in rows]),
    )


def card(row: tuple) -> Video:
    """A ``Video`` holding only ``CARD_FIELDS`` (enough for a card or an API item)."""
    return Video.from_db("default", CARD_FIELDS, row)


@dataclass
class History:
    """A user's most recent events, with what the taste and the explanations need."""

    video_ids: np.ndarray  # (E,) one per event
    kinds: np.ndarray  # (E,)
    age_days: np.ndarray  # (E,)
    titles: dict[int, str]  # video id → title
    vector_ids: np.ndarray  # (H,) the strongest history videos with an active-version embedding
    vectors: np.ndarray  # (H, D) their embeddings


# Spare embeddings beyond the ``taste_history`` strongest videos: the database sums
# the weights in float64, the taste in float32, so a near-tie at the cut-off may fall
# either way, and the taste must still find an embedding for each video it keeps.
_SPARE_VECTORS = 8


def user_history(user_id: int, *, version: str | None, config: RecommenderConfig, limit: int = 500) -> History:
    """One query for a user's latest ``limit`` events and, once per distinct
    video, its title and the active embedding of only the videos that can make
    up the taste: the ``config.taste_history`` strongest by summed,
    decayed event weight (``weights.py``; ``content.strongest_history`` picks them
    by the same order, ties to the lower id), plus a few spare."""
    values, weights = _kind_weights_sql(config, positive_only=False)
    with _binary_cursors() as (cursor,):
        cursor.execute(
            # One row per event (video, kind, age), then one per distinct video (title, embedding).
            "WITH latest AS MATERIALIZED ("
            f"  SELECT video_id, kind, {AGE_DAYS_SQL.format(column='created_at')} AS age_days"
            "  FROM mediarec_interaction WHERE user_id = %s ORDER BY created_at DESC LIMIT %s"
            "), videos AS ("
            "  SELECT l.video_id, row_number() OVER (ORDER BY abs(SUM(COALESCE(k.weight, 0)"
            f"         * {decay_sql('l.age_days')})) DESC, l.video_id) AS strength_rank"
            f"  FROM latest l LEFT JOIN (VALUES {values}) AS k(kind, weight) ON k.kind = l.kind"
            "  GROUP BY l.video_id"
            ") "
            "SELECT video_id, kind, age_days, NULL::text, NULL::bytea FROM latest "
            "UNION ALL "
            # the title an explanation quotes: the generated caption, marked, in place of a file name
            "SELECT v.id, NULL, NULL, CASE WHEN v.title_is_file_name AND v.caption <> '' "
            "       THEN v.caption || ' (generated)' ELSE v.title END, "
            "       CASE WHEN w.strength_rank <= %s AND v.embedding_version = %s THEN vector_send(v.embedding) END "
            "FROM videos w JOIN mediarec_video v ON v.id = w.video_id",
            [user_id, limit, config.half_life_days, *weights, config.taste_history + _SPARE_VECTORS, version or ""],
            binary=True,
        )
        rows = cursor.fetchall()
    events = [r for r in rows if r[1] is not None]
    with_vector = [r for r in rows if r[4] is not None]
    vectors = _vector_matrix([r[4] for r in with_vector])
    return History(
        np.array([r[0] for r in events], dtype=np.int64),
        np.array([r[1] for r in events], dtype=str),
        np.array([r[2] for r in events], dtype=np.float32),
        {r[0]: r[3] for r in rows if r[1] is None},
        np.array([r[0] for r in with_vector], dtype=np.int64),
        vectors,
    )


# An event's age in days as float8 (EXTRACT gives numeric, whose power() overflows
# instead of reaching zero), and its decay 0.5 ** (age / half-life) with the age
# clamped to [0, 1000 half-lives]: a row dated 1930 or 9999 (loaded by COPY; ingest
# refuses such dates) weighs ~0 or as if new, instead of raising underflow/overflow.
AGE_DAYS_SQL = "(EXTRACT(EPOCH FROM now() - {column}) / 86400.0)::float8"
MAX_HALF_LIVES = 1000


def decay_sql(age_days: str) -> str:
    """The SQL of an event's decay; takes the half-life in days as one ``%s`` parameter."""
    return f"power(0.5::float8, LEAST(GREATEST({age_days}, 0) / %s, {MAX_HALF_LIVES}))"


def _kind_weights_sql(config: RecommenderConfig, *, positive_only: bool = True) -> tuple[str, list]:
    """A ``VALUES`` list of (kind, weight) and its parameters."""
    kinds = [(k, float(w)) for k, w in config.kind_weights.items() if w > 0 or not positive_only]
    if not kinds:
        return "(NULL::text, 0::float8)", []
    values = ", ".join(["(%s::text, %s::float8)"] * len(kinds))
    return values, [x for pair in kinds for x in pair]


def trending(config: RecommenderConfig, *, limit: int = 500) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Published videos by summed positive confidence over the trending window:
    ids, scores and the number of users behind each. Same confidence as ``weights.py``."""
    values, params = _kind_weights_sql(config)
    sql = f"""
        SELECT video_id, SUM(1 + %s * ln(1 + w / %s)) AS score, COUNT(*) AS users FROM (
            SELECT i.user_id, i.video_id,
                   SUM(k.weight * {decay_sql(AGE_DAYS_SQL.format(column="i.created_at"))}) AS w
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
