"""Load a synthetic ``World`` into the database, through the project's models
and bulk paths, and find it again for evaluation.

    world_load
      |- viewers          bulk_create, usernames viewer0000.. (index = world user index)
      |- videos, rendered render_catalog (process pool) -> video_create, one by one: probed, thumbnailed, queued
      |  videos, metadata binary COPY with stand-in embeddings, status "ready" (``--no-render``)
      |- interactions     binary COPY
      |- ANALYZE          so the serving queries are planned for the loaded tables
      '- state file       <MEDIAREC_DATA_DIR>/world-<database>.json: the config, so the world regenerates

Re-running with the same config into a database that holds that world (its
videos, its viewers, at least its interactions: later activity is fine)
changes nothing (idempotent). A database that holds any other world
data is refused with :class:`WorldConflict` unless ``replace=True``, which
deletes the old world first.
"""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.core.files import File
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone
from psycopg.types.json import Jsonb

from lab.models import VideoTruth
from lab.synthetic import KINDS, STANDIN_VERSION, World, WorldConfig, username_for
from lab.synthetic.render import render_catalog
from lab.synthetic.standin import PROJECTION_SEED
from mediarec.conf import app_settings
from mediarec.errors import MediarecError, UnknownObject
from mediarec.models import Interaction, ModelKind, ModelVersion, Video, VideoStatus
from mediarec.selectors import model_version_active
from mediarec.services.cf_models import cf_deactivate
from mediarec.services.videos import normalize_tags, video_create

logger = logging.getLogger(__name__)
USERNAME_PATTERN = r"^viewer[0-9]+$"
WORLD_VIDEOS = Q(truth__isnull=False)
PG_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)


class WorldConflict(MediarecError):
    """The database already holds a different synthetic world (or part of one)."""


@dataclass
class WorldLoadResult:
    config: WorldConfig
    render: bool
    skipped: bool = False  # the same world was already loaded
    counts: dict[str, int] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)  # seconds per phase


@dataclass
class LoadedWorld:
    """A loaded world with its database ids: ``video_ids[i]`` is the pk of world video i."""

    world: World
    video_ids: np.ndarray  # (n_videos,) int64, 0 where missing
    user_ids: np.ndarray  # (n_users,) int64, 0 where missing
    start: datetime  # database time of world time 0

    def datetime_of(self, seconds: float) -> datetime:
        return self.start + timedelta(seconds=float(seconds))


# --- state --------------------------------------------------------------------
def world_state_path() -> Path:
    return app_settings.DATA_DIR / f"world-{connection.settings_dict['NAME']}.json"


def _read_state() -> dict | None:
    path = world_state_path()
    return json.loads(path.read_text()) if path.exists() else None


def _viewers():
    User = get_user_model()
    return User.objects.filter(**{f"{User.USERNAME_FIELD}__regex": USERNAME_PATTERN})


def _existing_counts() -> dict[str, int]:
    viewers = _viewers()
    return {
        "videos": Video.objects.filter(WORLD_VIDEOS).count(),
        "users": viewers.count(),
        "interactions": Interaction.objects.filter(user__in=viewers).count(),
    }


# --- the whole load -------------------------------------------------------------
def world_load(
    *,
    config: WorldConfig,
    render: bool,
    workers: int | None = None,
    replace: bool = False,
    password: str | None = None,
    log: Callable[[str], None] = logger.info,
) -> WorldLoadResult:
    """Generate ``config``'s world and load it (see the module docstring)."""
    result = WorldLoadResult(config=config, render=render)
    existing = _existing_counts()
    if existing["videos"] or existing["users"]:
        state = _read_state()
        if (
            state is not None
            and state["config"] == config.to_dict()
            and state["render"] == render
            and (existing["videos"], existing["users"]) == (state["counts"]["videos"], state["counts"]["users"])
            and existing["interactions"] >= state["counts"]["interactions"]  # later activity is welcome
        ):
            result.skipped, result.counts = True, existing
            return result
        if not replace:
            held = f"seed {state['config']['seed']}" if state else "no state file"
            raise WorldConflict(
                f"the database already holds synthetic-world data ({existing['videos']} videos, "
                f"{existing['users']} viewers, {existing['interactions']} interactions; {held}) that is not this "
                "world. Refusing to mix worlds: pass --replace to delete it and load this one."
            )
    started = time.perf_counter()
    world = World.generate(config)
    result.timings["generate"] = time.perf_counter() - started
    log(
        f"generated world seed={config.seed}: {len(world.videos)} videos, {len(world.users)} users, "
        f"{len(world.interactions)} interactions over {config.days} days in {result.timings['generate']:.1f} s"
    )
    # World time 0 is `days` days before the current hour, so the period ends now.
    start = timezone.now().replace(minute=0, second=0, microsecond=0) - timedelta(days=config.days)

    rendered_files: list[str] = []
    try:
        # One transaction: a failed load changes nothing (its rendered files are removed too).
        with transaction.atomic():
            if existing["videos"] or existing["users"]:  # replacing (refused above otherwise)
                started = time.perf_counter()
                deleted = world_delete()
                result.timings["delete"] = time.perf_counter() - started
                log(f"deleted the previous world: {deleted['videos']} videos, {deleted['users']} viewers")
            _load_parts(
                world, result, start=start, render=render, workers=workers, password=password, log=log,
                stored_files=rendered_files,
            )  # fmt: skip
            started = time.perf_counter()  # the commit follows
        result.timings["commit"] = time.perf_counter() - started
        log(f"committed in {result.timings['commit']:.1f} s")
    except BaseException:
        _delete_files(rendered_files)
        raise
    started = time.perf_counter()
    _analyze([get_user_model(), Video, VideoTruth, Interaction])
    result.timings["analyze"] = time.perf_counter() - started
    log(f"analyzed the loaded tables in {result.timings['analyze']:.1f} s")

    result.counts = _existing_counts()
    world_state_path().parent.mkdir(parents=True, exist_ok=True)
    world_state_path().write_text(
        json.dumps(
            {
                "config": config.to_dict(),
                "render": render,
                "start": start.isoformat(),
                "database": connection.settings_dict["NAME"],
                "standin_version": None if render else STANDIN_VERSION,
                "loaded_at": timezone.now().isoformat(),
                "counts": result.counts,
            },
            indent=2,
        )
    )
    return result


def _analyze(models) -> None:
    """Refresh the planner's statistics after a bulk load. Until autovacuum gets
    to it, PostgreSQL plans the serving queries for the empty tables it last
    saw: on a 100k-video world a feed then took 150 ms instead of 5 ms."""
    with connection.cursor() as cursor:
        for model in models:
            cursor.execute(f'ANALYZE "{model._meta.db_table}"')


def _load_parts(
    world: World, result: WorldLoadResult, *, start, render, workers, password, log, stored_files: list[str]
) -> None:
    started = time.perf_counter()
    user_ids = world_users_create(world=world, password=password)
    result.timings["users"] = time.perf_counter() - started
    log(f"created {len(user_ids)} viewers in {result.timings['users']:.1f} s")

    if render:
        started = time.perf_counter()
        video_ids, store_seconds = world_videos_create_rendered(world=world, start=start, workers=workers)
        stored_files += _stored_files(Video.objects.filter(pk__in=video_ids.tolist()))
        wall = time.perf_counter() - started
        result.timings["render"] = wall
        log(
            f"rendered and uploaded {len(video_ids)} videos in {wall:.1f} s: {len(video_ids) / wall:.2f} videos/s "
            f"with {workers or 'all'} render workers ({store_seconds:.1f} s of it in video_create)"
        )
    else:
        started = time.perf_counter()
        model_version = standin_model_version_register(dim=app_settings.EMBEDDING_DIM)
        video_ids = world_videos_create_metadata(world=world, start=start, model_version=model_version)
        result.timings["videos"] = time.perf_counter() - started
        log(
            f"copied {len(video_ids)} videos with stand-in embeddings ({model_version.name}"
            f"{', the active version' if model_version.is_active else ', not active: another version is'}) "
            f"in {result.timings['videos']:.1f} s: {len(video_ids) / result.timings['videos']:.0f} videos/s"
        )

    started = time.perf_counter()
    n = world_interactions_copy(world=world, user_ids=user_ids, video_ids=video_ids, start=start)
    result.timings["interactions"] = time.perf_counter() - started
    log(
        f"copied {n} interactions in {result.timings['interactions']:.1f} s: "
        f"{n / max(result.timings['interactions'], 1e-9):,.0f} interactions/s"
    )


def _stored_files(videos) -> list[str]:
    return [name for pair in videos.values_list("file", "thumbnail") for name in pair if name]


def _delete_files(names: list[str]) -> None:
    storage = Video._meta.get_field("file").storage
    for name in names:
        storage.delete(name)


# --- parts ----------------------------------------------------------------------
@transaction.atomic
def world_users_create(*, world: World, password: str | None = None) -> np.ndarray:
    """One account per world user; returns pks by world user index.

    Every viewer gets the same password hash (hashed once) or an unusable one.
    """
    User = get_user_model()
    encoded = make_password(password)  # None -> an unusable password
    users = [User(**{User.USERNAME_FIELD: username_for(u.index), "password": encoded}) for u in world.users]
    created = User.objects.bulk_create(users, batch_size=2000)
    return np.array([u.pk for u in created], dtype=np.int64)


def _world_attributes(world: World, index: int) -> dict:
    spec = world.videos[index]
    return {
        **spec.attributes,
        "world_index": index,
        "world_seed": world.config.seed,
        "created_day": round(spec.created_day, 4),
        "appeal": round(spec.appeal, 4),
        "render_seed": spec.render_seed,
    }


class _RenderedFile(File):
    """A file already on disk: ``video_create`` probes it in place and the
    storage moves it into place, without a copy."""

    def temporary_file_path(self) -> str:
        return self.file.name


@transaction.atomic
def world_videos_create_rendered(
    *, world: World, start: datetime, workers: int | None = None
) -> tuple[np.ndarray, float]:
    """Render every video and upload it through ``video_create`` (probe, store,
    thumbnail, queue for embedding). Returns pks by world index and the seconds
    spent in ``video_create``."""
    ids = np.zeros(len(world.videos), dtype=np.int64)
    store_seconds = 0.0
    out_dir = Path(tempfile.mkdtemp(prefix="world-render-"))
    try:
        for done in render_catalog(world.videos, out_dir, seed=world.config.seed, workers=workers):
            spec = done.spec
            started = time.perf_counter()
            with open(done.path, "rb") as fh:
                video = video_create(
                    upload=_RenderedFile(fh, name=done.path.name),
                    title=spec.title,
                    description=spec.description,
                    tags=spec.tags,
                    channel=spec.channel,
                )
                VideoTruth.objects.create(
                    video=video, world_index=spec.index, attributes=_world_attributes(world, spec.index)
                )
            store_seconds += time.perf_counter() - started
            ids[spec.index] = video.pk
            done.path.unlink(missing_ok=True)  # storage usually moved it into place already
    except BaseException:
        # The rows roll back with this transaction; the stored files must go too.
        _delete_files(_stored_files(Video.objects.filter(pk__in=ids[ids > 0].tolist())))
        raise
    finally:
        shutil.rmtree(out_dir, ignore_errors=True)
    # Upload times as the world has them (video_create stamps "now").
    with transaction.atomic():
        videos = list(Video.objects.filter(pk__in=ids.tolist()).only("pk"))
        index = {int(pk): i for i, pk in enumerate(ids.tolist())}
        for video in videos:
            video.created_at = start + timedelta(days=world.videos[index[video.pk]].created_day)
        Video.objects.bulk_update(videos, ["created_at"], batch_size=1000)
    return ids, store_seconds


@transaction.atomic
def standin_model_version_register(*, dim: int) -> ModelVersion:
    """The stand-in embedding version; activated only if no version is active."""
    version, _ = ModelVersion.objects.get_or_create(
        name=STANDIN_VERSION,
        defaults={
            "kind": ModelKind.STANDIN,
            "embedding_dim": dim,
            "metrics": {"source": "synthetic-world attributes", "projection_seed": PROJECTION_SEED},
        },
    )
    if version.embedding_dim != dim:
        raise WorldConflict(f"{STANDIN_VERSION} is registered with dim {version.embedding_dim}, not {dim}.")
    if model_version_active() is None:
        version.is_active, version.activated_at = True, timezone.now()
        version.save(update_fields=["is_active", "activated_at"])
    return version


def _raw_cursor(cursor):
    """The psycopg cursor under Django's wrapper, able to dump numpy vectors."""
    from pgvector.psycopg.vector import register_vector_info
    from psycopg.types import TypeInfo

    raw = cursor.cursor
    register_vector_info(raw, TypeInfo.fetch(raw.connection, "vector"))
    return raw


_COPY_TYPES = {
    "integer": "int4",
    "bigint": "int8",
    "smallint": "int2",
    "double precision": "float8",
    "boolean": "bool",
    "jsonb": "jsonb",
    "timestamp with time zone": "timestamptz",
    "text": "text",
    "varchar": "text",
    "vector": "vector",
}


def _copy(cursor, model, columns: list[str], rows, *, wire_types: dict[str, str] | None = None) -> None:
    """Binary COPY of ``rows`` (tuples in ``columns`` order) into ``model``'s table.

    ``wire_types`` sends a column as another type with the same binary form.
    """
    fields = [model._meta.get_field(name) for name in columns]
    types = [_COPY_TYPES[f.db_type(connection).split("(")[0].strip()] for f in fields]
    types = [(wire_types or {}).get(name, kind) for name, kind in zip(columns, types, strict=True)]
    names = ", ".join(f'"{f.column}"' for f in fields)
    with cursor.copy(f'COPY "{model._meta.db_table}" ({names}) FROM STDIN (FORMAT BINARY)') as copy:
        copy.set_types(types)
        for row in rows:
            copy.write_row(row)


@contextmanager
def _indexes_deferred(cursor, model, new_rows: int):
    """Bulk-load practice: when the load at least doubles the table, drop its
    non-unique indexes and foreign keys, and rebuild them from their exact
    definitions afterwards (one pass each instead of a row-by-row update; the
    foreign keys are then validated by one query instead of a trigger per row).
    Run inside a transaction; the table stays locked until it commits."""
    table = model._meta.db_table
    cursor.execute(f'SELECT count(*) FROM "{table}"')
    if new_rows < max(10_000, cursor.fetchone()[0]):
        yield
        return
    cursor.execute(
        "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema() AND tablename = %s "
        "AND indexdef NOT LIKE 'CREATE UNIQUE%%'",
        [table],
    )
    indexes = cursor.fetchall()
    cursor.execute(
        "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = %s::regclass AND contype = 'f'",
        [table],
    )
    foreign_keys = cursor.fetchall()
    # Check pending deferred foreign keys now (ALTER TABLE refuses while any are queued).
    cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    cursor.execute("SET CONSTRAINTS ALL DEFERRED")
    for name, _ in foreign_keys:
        cursor.execute(f'ALTER TABLE "{table}" DROP CONSTRAINT "{name}"')
    for name, _ in indexes:
        cursor.execute(f'DROP INDEX "{name}"')
    yield
    cursor.execute("SET LOCAL maintenance_work_mem = '1GB'")  # HNSW builds fast only in memory
    for _, definition in indexes:
        cursor.execute(definition)
    for name, definition in foreign_keys:
        cursor.execute(f'ALTER TABLE "{table}" ADD CONSTRAINT "{name}" {definition}')


def _allocate_ids(cursor, table: str, n: int) -> np.ndarray:
    cursor.execute(f"SELECT nextval(pg_get_serial_sequence('{table}', 'id')) FROM generate_series(1, %s)", [n])
    return np.array([row[0] for row in cursor.fetchall()], dtype=np.int64)


@transaction.atomic
def world_videos_create_metadata(*, world: World, start: datetime, model_version: ModelVersion) -> np.ndarray:
    """Copy every video's metadata with its stand-in embedding, status "ready"; returns pks."""
    embeddings = world.standin_embeddings(model_version.embedding_dim)
    now = timezone.now()
    columns = ["id", "title", "description", "tags", "transcript", "file", "thumbnail", "duration_s", "fps", "width",
               "height", "codec", "published", "channel", "status", "status_changed_at", "error_message",
               "attempts", "embedding", "embedding_version", "embedded_at", "created_at", "updated_at",
               "title_is_file_name", "suggested_tags", "caption", "generated_version"]  # fmt: skip
    with connection.cursor() as cursor:
        ids = _allocate_ids(cursor, Video._meta.db_table, len(world.videos))
        rows = (
            (
                pk,
                spec.title,
                spec.description,
                normalize_tags(spec.tags),
                "",
                "",
                "",
                spec.duration_s,
                float(spec.fps),
                spec.size[0],
                spec.size[1],
                spec.codec,
                True,
                spec.channel,
                VideoStatus.READY.value,
                now,
                "",
                0,
                vector,
                model_version.name,
                now,
                start + timedelta(days=spec.created_day),
                now,
                False,
                Jsonb([]),  # stand-in vectors generate no words
                "",
                "",
            )
            for spec, pk, vector in zip(world.videos, ids.tolist(), embeddings, strict=True)
        )
        with _indexes_deferred(cursor, Video, len(ids)):
            _copy(_raw_cursor(cursor), Video, columns, rows)
        truths = ((pk, i, Jsonb(_world_attributes(world, i))) for i, pk in enumerate(ids.tolist()))
        _copy(cursor.cursor, VideoTruth, ["video", "world_index", "attributes"], truths)
    return ids


@transaction.atomic
def world_interactions_copy(*, world: World, user_ids: np.ndarray, video_ids: np.ndarray, start: datetime) -> int:
    """Copy every interaction with its world time; returns how many."""
    events = world.interactions
    # A binary timestamptz is int8 microseconds since 2000-01-01 UTC: sending the
    # times as int8 skips building a million datetime objects (3-4x faster).
    offset = (start - PG_EPOCH) // timedelta(microseconds=1)
    created = (np.round(events["time"] * 1e6).astype(np.int64) + offset).tolist()
    users = user_ids[events["user"]].tolist()
    videos = video_ids[events["video"]].tolist()
    kinds = np.asarray(KINDS, dtype=object)[events["kind"]].tolist()
    values = events["value"].astype(np.float64).tolist()
    rows = zip(users, videos, kinds, values, created, strict=True)
    with connection.cursor() as cursor, _indexes_deferred(cursor, Interaction, len(events)):
        columns = ["user", "video", "kind", "value", "created_at"]
        _copy(cursor.cursor, Interaction, columns, rows, wire_types={"created_at": "int8"})
    return len(events)


@transaction.atomic
def world_delete() -> dict[str, int]:
    """Delete every world video (with its files), viewer and their interactions,
    and retire the active CF model: it was fitted on them, so until the next
    refit the site serves without CF rather than from a model of deleted data."""
    cf_deactivate()
    viewers = _viewers()
    videos = Video.objects.filter(WORLD_VIDEOS)
    files = _stored_files(videos)
    Interaction.objects.filter(Q(video__in=videos) | Q(user__in=viewers)).delete()
    _, per_model = videos.delete()
    n_users = viewers.count()
    viewers.delete()
    transaction.on_commit(lambda: _delete_files(files))
    return {"videos": per_model.get(Video._meta.label, 0), "users": n_users}


# --- reading it back ------------------------------------------------------------
def world_loaded() -> LoadedWorld:
    """The world this database holds, regenerated from its state file, with id maps."""
    state = _read_state()
    if state is None:
        raise UnknownObject(f"no synthetic world is loaded ({world_state_path()} does not exist).")
    world = World.generate(WorldConfig(**state["config"]))
    video_ids = np.zeros(len(world.videos), dtype=np.int64)
    for pk, index in VideoTruth.objects.values_list("video_id", "world_index"):
        video_ids[index] = pk
    user_ids = np.zeros(len(world.users), dtype=np.int64)
    for pk, name in _viewers().values_list("pk", get_user_model().USERNAME_FIELD):
        index = int(name.removeprefix("viewer"))
        if index < len(user_ids):
            user_ids[index] = pk
    return LoadedWorld(
        world=world, video_ids=video_ids, user_ids=user_ids, start=datetime.fromisoformat(state["start"])
    )
