"""Model versions: train on the catalog, register a checkpoint, activate one,
and load the active one once per process.

A version is a row in ``ModelVersion`` plus its files under
``<MEDIAREC_DATA_DIR>/models/<name>/``. ``checkpoint_path`` is stored relative
to the data dir, so machines that mount the data dir elsewhere still find it.
Exactly one version is active; activating another re-embeds the catalog in the
background while the old vectors keep serving (see ``mediarec.services.embedding``).
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import tempfile
import threading
from pathlib import Path

from django.db import transaction
from django.utils import timezone

from mediarec.conf import app_settings
from mediarec.errors import InvalidCheckpoint, MediarecError
from mediarec.models import ModelKind, ModelVersion, Video

log = logging.getLogger(__name__)

REEMBED_TASK = "tasks.maintenance.reembed_stale"
CHECKPOINT_FILE = "checkpoint.pt"
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


def model_version_checkpoint(version: ModelVersion) -> Path:
    path = Path(version.checkpoint_path)
    return path if path.is_absolute() else app_settings.DATA_DIR / path


def model_version_register(
    *,
    checkpoint: Path,
    name: str = "",
    metrics: dict | None = None,
    activate: bool = False,
    texts: list[str] | None = None,
) -> ModelVersion:
    """Copy ``checkpoint`` under the data dir and record it as a new version.

    The copy carries the tag vocabulary the model suggests tags from: the
    checkpoint's own, or else one learned from ``texts`` (the training texts;
    by default the catalog's). Raises ``InvalidCheckpoint`` for an unreadable
    file, a name in use, or an embedding dimension other than the pgvector column's.
    """
    from videobert_engine import EngineError
    from videobert_engine.checkpoint import read_checkpoint
    from videobert_engine.embed import Embedder
    from videobert_engine.generate import attach_vocabulary

    try:
        embedder = Embedder.from_checkpoint(checkpoint, device="cpu")
    except EngineError as exc:
        raise InvalidCheckpoint(str(exc)) from exc
    if embedder.embedding_dim != app_settings.EMBEDDING_DIM:
        raise InvalidCheckpoint(
            f"the checkpoint makes {embedder.embedding_dim}-d embeddings; the database stores {app_settings.EMBEDDING_DIM}-d"
        )
    name = _free_name(name or f"videobert-{timezone.now():%Y%m%d-%H%M%S}")

    folder = app_settings.DATA_DIR / "models" / name
    folder.mkdir(parents=True, exist_ok=True)
    partial = folder / f".{CHECKPOINT_FILE}.partial"
    shutil.copyfile(checkpoint, partial)
    if "generation" not in read_checkpoint(partial):
        attach_vocabulary(partial, texts if texts is not None else catalog_texts())
    partial.replace(folder / CHECKPOINT_FILE)
    try:
        with transaction.atomic():
            version = ModelVersion.objects.create(
                name=name,
                kind=ModelKind.VIDEOBERT,
                checkpoint_path=str(Path("models") / name / CHECKPOINT_FILE),
                embedding_dim=embedder.embedding_dim,
                metrics={"engine_version": embedder.version, **(metrics or {})},
            )
            if activate:
                model_version_activate(version=version)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return version


TEXT_ONLY = ("title", "title_is_file_name", "description", "tags", "transcript")


def catalog_texts() -> list[str]:
    """The text of every video that has text of its own (what ``model_version_train`` trains on)."""
    videos = Video.objects.only(*TEXT_ONLY).order_by("pk")
    return [t for t in (v.text for v in videos.iterator()) if t]


def _free_name(name: str) -> str:
    if not NAME_RE.match(name):
        raise InvalidCheckpoint(f"{name!r} is not a valid version name (letters, digits, '.', '_', '-')")
    if ModelVersion.objects.filter(name=name).exists():
        raise InvalidCheckpoint(f"a model version named {name!r} already exists")
    return name


@transaction.atomic
def model_version_activate(*, version: ModelVersion) -> ModelVersion:
    """Make ``version`` the one active version and, after commit, start
    re-embedding every video whose vector is from another version."""
    from tasks.celery import app

    ModelVersion.objects.select_for_update().filter(is_active=True).exclude(pk=version.pk).update(is_active=False)
    version.is_active = True
    version.activated_at = timezone.now()
    version.save(update_fields=["is_active", "activated_at"])
    transaction.on_commit(lambda: app.send_task(REEMBED_TASK, queue="default"))
    return version


def model_version_train(
    *,
    preset: str = "tiny",
    steps: int = 200,
    seed: int = 0,
    name: str = "",
    activate: bool = False,
    device: str | None = None,
    progress: bool = True,
) -> ModelVersion:
    """Train VideoBERT on the current catalog (videos with a file and text) and
    register the checkpoint as a new version (active only if asked)."""
    from videobert_engine.train import TrainConfig, train

    if name:
        _free_name(name)  # before, not after, a long training
    videos = Video.objects.exclude(file="").only("file", *TEXT_ONLY).order_by("pk")
    records = [{"path": v.file.path, "text": v.text} for v in videos.iterator() if v.text]
    if len(records) < 2:
        raise MediarecError(f"training needs at least 2 videos with a file and text; the catalog has {len(records)}")
    with tempfile.TemporaryDirectory(prefix="mediarec-train-") as tmp:
        config = TrainConfig(
            preset=preset,
            steps=steps,
            seed=seed,
            device=device,
            num_workers=app_settings.EMBED_DECODE_WORKERS,
            progress=progress,
            out_path=str(Path(tmp) / CHECKPOINT_FILE),
        )
        checkpoint = train(records, config)
        metrics = {"preset": preset, "steps": steps, "seed": seed, "videos": len(records)}
        texts = [r["text"] for r in records]
        return model_version_register(
            checkpoint=Path(checkpoint), name=name, metrics=metrics, activate=activate, texts=texts
        )


_lock = threading.Lock()
_loaded: dict[tuple[int, str], object] = {}


def model_version_embedder(*, version: ModelVersion):
    """The ``Embedder`` of ``version``, loaded once per process.

    Loading is lazy: a prefork pool child loads (and initialises CUDA) on its
    first task, never the parent before the fork. The cache is keyed by process
    id, so a forked child never uses weights it inherited, and holds one version
    at a time, so activating a new version frees the old one's memory.
    """
    from videobert_engine.embed import Embedder

    key = (os.getpid(), version.name)
    with _lock:
        if key not in _loaded:
            for old in [k for k in _loaded if k[:2] != key]:
                del _loaded[old]
            _loaded[key] = Embedder.from_checkpoint(
                model_version_checkpoint(version),
                device=app_settings.EMBED_DEVICE or None,
                expect_version=version.metrics.get("engine_version"),  # the file was not swapped under the name
            )
        return _loaded[key]


def model_version_generator(*, version: ModelVersion):
    """The ``Generator`` of ``version`` (sharing its embedder's weights), loaded once
    per process; None for a checkpoint without a tag vocabulary (registered before
    generation existed): its videos get vectors and no suggestions."""
    from videobert_engine import CheckpointError
    from videobert_engine.generate import Generator

    embedder = model_version_embedder(version=version)
    key = (os.getpid(), version.name, "generator")
    with _lock:
        if key not in _loaded:
            try:
                _loaded[key] = Generator.for_embedder(embedder, model_version_checkpoint(version))
            except CheckpointError as exc:
                log.warning("model %s generates no tags: %s", version.name, exc)
                _loaded[key] = None
        return _loaded[key]
