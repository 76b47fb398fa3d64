"""The embedding pipeline: claim videos, embed them in batches with the active
VideoBERT model, write the vectors with the tags and caption the model
generates from the pixels; and the sweeps that keep it moving.

    message (video ids) ─► claim: queued → embedding   (FOR UPDATE SKIP LOCKED)
                             │  fill the batch with other queued videos
                             │  for up to MEDIAREC_EMBED_BATCH_WINDOW_S
                             ▼
                           Generator.embed_and_generate   (decoding in worker processes; a video
                             │                            without text is embedded with its generated words)
                             ▼
                           write: ready + vector + suggested tags + caption + version | failed + reason

A ``ready`` video whose vector is from another model version ("stale") is
re-embedded without leaving ``ready``: it keeps serving its old vector (which
queries of the active version ignore) until the new one is written.

Errors. A video the engine cannot decode fails at once with its reason and is
never retried. Anything else (the database gone, CUDA out of memory, a model
file missing) gives the claims back and raises ``TransientEmbeddingError``; the
task retries with backoff, and a video claimed ``MEDIAREC_EMBED_MAX_ATTEMPTS``
times fails with the last reason.

Idempotency. Each claim stamps ``status_changed_at``; a write only lands if the
stamp is still the one its claim wrote, so a redelivered message, a retry, or a
requeue after an edit never writes an outdated vector, and a video that is
already ``ready`` on the active version is left alone.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import close_old_connections, connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from mediarec.conf import app_settings
from mediarec.errors import BROKER_UNAVAILABLE_MESSAGE, DATABASE_UNAVAILABLE, TransientEmbeddingError
from mediarec.models import ModelKind, Video, VideoStatus
from mediarec.selectors import model_version_active

logger = logging.getLogger(__name__)

POLL_S = 0.25  # how often the batch window looks for more queued videos


@dataclass(frozen=True)
class Claim:
    """A video this batch may write, and what must still hold when it does."""

    pk: int
    stamp: datetime  # status_changed_at when claimed; any requeue changes it
    status: str  # status expected at write time: embedding, or ready for a stale re-embed
    version: str  # embedding_version when claimed
    path: str | None
    text: str


@dataclass
class BatchResult:
    version: str | None = None
    ready: list[int] = field(default_factory=list)
    failed: dict[int, str] = field(default_factory=dict)
    skipped: list[int] = field(default_factory=list)  # already done, claimed elsewhere, or requeued meanwhile
    claim_s: float = 0.0  # claiming, including the batch window
    embed_s: float = 0.0  # decode + model (the engine overlaps them)
    write_s: float = 0.0

    def as_dict(self) -> dict:
        return {
            "version": self.version,
            "ready": self.ready,
            "failed": {str(k): v for k, v in self.failed.items()},
            "skipped": self.skipped,
            "claim_s": round(self.claim_s, 3),
            "embed_s": round(self.embed_s, 3),
            "write_s": round(self.write_s, 3),
        }


def embedding_run_batch(*, video_ids: list[int], reclaim: bool = False, window_s: float | None = None) -> BatchResult:
    """Embed the claimable videos among ``video_ids`` (plus other queued ones, up
    to a batch) with the active model and write the results.

    ``reclaim`` is set on a retry or a redelivered message: videos this message
    left in ``embedding`` are taken again. Raises ``TransientEmbeddingError``
    when the batch should be retried.
    """
    from mediarec.services.model_versions import model_version_embedder, model_version_generator

    result = BatchResult()
    claims: list[Claim] = []
    started = time.monotonic()
    try:
        version = model_version_active()
        if version is None or version.kind != ModelKind.VIDEOBERT:
            # Nothing to embed with; the videos stay queued and activating a
            # VideoBERT version sends them again.
            logger.warning("no active VideoBERT model version: %d video(s) stay queued", len(video_ids))
            result.skipped = list(video_ids)
            return result
        result.version = version.name
        claims += _claim(ids=video_ids, reclaim=reclaim, active=version.name)
        result.skipped = sorted(set(video_ids) - {c.pk for c in claims})
        if claims:
            _fill_batch(claims, active=version.name, started=started, window_s=window_s)
    except DATABASE_UNAVAILABLE as exc:
        reason = f"database unavailable while claiming: {exc}"
        _give_back(claims, reason)
        raise TransientEmbeddingError(reason) from exc
    result.claim_s = time.monotonic() - started
    if not claims:
        return result

    started = time.monotonic()
    try:
        records = [{"path": c.path, "text": c.text} for c in claims]
        sizes = {"batch_size": app_settings.EMBED_BATCH_SIZE, "num_workers": app_settings.EMBED_DECODE_WORKERS}
        generator = model_version_generator(version=version)
        if generator is None:  # a checkpoint without a tag vocabulary: vectors only
            vectors, errors = model_version_embedder(version=version).embed_videos(records, **sizes)
            generations = [None] * len(claims)
        else:
            vectors, generations, errors = generator.embed_and_generate(records, **sizes)
    except Exception as exc:  # GPU memory, a model file, a crashed decoder: not the videos' fault
        reason = f"{type(exc).__name__}: {exc}"
        _give_back(claims, reason)
        raise TransientEmbeddingError(reason) from exc
    result.embed_s = time.monotonic() - started

    started = time.monotonic()
    try:
        _write(claims, vectors, generations, errors, version.name, result)
    except DATABASE_UNAVAILABLE as exc:
        reason = f"database unavailable while writing: {exc}"
        _give_back(claims, reason)
        raise TransientEmbeddingError(reason) from exc
    result.write_s = time.monotonic() - started
    logger.info(
        "embedded %d video(s) with %s: %d ready, %d failed, %d skipped",
        len(claims),
        version.name,
        len(result.ready),
        len(result.failed),
        len(result.skipped),
    )
    return result


def _claim(
    *,
    ids: list[int] | None,
    reclaim: bool,
    active: str,
    limit: int | None = None,
    exclude: frozenset[int] = frozenset(),
) -> list[Claim]:
    """Lock and take videos: ``queued`` (and ``embedding`` ones whose claim was
    abandoned) move to ``embedding``; stale ``ready`` ones are taken as they are.
    ``ids=None`` takes the oldest queued videos instead (filling a batch), except
    ``exclude`` (already in the batch: requeued meanwhile, they go in the next one)."""
    now = timezone.now()
    # No live task can hold a claim older than the hard time limit.
    abandoned = Q(
        status=VideoStatus.EMBEDDING, status_changed_at__lt=now - timedelta(seconds=settings.CELERY_TASK_TIME_LIMIT)
    )
    claimable = Q(status=VideoStatus.QUEUED) | abandoned
    if ids is None:
        rows = Video.objects.filter(claimable).exclude(pk__in=exclude).order_by("status_changed_at", "pk")
    else:
        if reclaim:
            claimable |= Q(status=VideoStatus.EMBEDDING)
        claimable |= Q(status=VideoStatus.READY) & ~Q(embedding_version=active)
        rows = Video.objects.filter(claimable, pk__in=ids).order_by("pk")
    rows = rows.select_for_update(skip_locked=True).only(
        "pk", "status", "status_changed_at", "attempts", "error_message", "embedding_version", "file", "title",
        "title_is_file_name", "description", "tags", "transcript",
    )  # fmt: skip
    max_attempts = app_settings.EMBED_MAX_ATTEMPTS
    claims = []
    with transaction.atomic():
        for video in rows[:limit] if limit is not None else rows:
            if video.status == VideoStatus.READY:
                claims.append(_claim_of(video, video.status_changed_at, VideoStatus.READY))
            elif video.attempts >= max_attempts:
                Video.objects.filter(pk=video.pk).update(
                    status=VideoStatus.FAILED,
                    status_changed_at=now,
                    updated_at=now,
                    error_message=f"gave up after {video.attempts} attempts: {video.error_message or 'unknown error'}",
                )
            else:
                claims.append(_claim_of(video, now, VideoStatus.EMBEDDING))
        taken = [c.pk for c in claims if c.status == VideoStatus.EMBEDDING]
        Video.objects.filter(pk__in=taken).update(
            status=VideoStatus.EMBEDDING, status_changed_at=now, attempts=F("attempts") + 1
        )
    return claims


def _claim_of(video: Video, stamp: datetime, status: str) -> Claim:
    return Claim(
        pk=video.pk,
        stamp=stamp,
        status=status,
        version=video.embedding_version,
        path=video.file.path if video.file else None,
        text=video.text,
    )


def _fill_batch(claims: list[Claim], *, active: str, started: float, window_s: float | None) -> None:
    """Add queued videos to ``claims`` until the batch is full or the window closes."""
    size = app_settings.EMBED_BATCH_SIZE
    window = app_settings.EMBED_BATCH_WINDOW_S if window_s is None else window_s
    while len(claims) < size:
        taken = frozenset(c.pk for c in claims)
        claims += _claim(ids=None, reclaim=False, active=active, limit=size - len(taken), exclude=taken)
        left = started + window - time.monotonic()
        if len(claims) >= size or left <= 0:
            break
        time.sleep(min(POLL_S, left))


def _generated_fields(generation, version: str) -> dict:
    """The suggested tags and caption of a video, or none (no video, or no vocabulary) under ``version``."""
    if generation is None:
        return {"suggested_tags": [], "caption": "", "generated_version": ""}
    tags = [{"tag": tag, "score": score} for tag, score in generation.tags]
    return {"suggested_tags": tags, "caption": generation.caption[:300], "generated_version": version}


def _write(claims: list[Claim], vectors, generations, errors: dict[int, str], version: str, result) -> None:
    now = timezone.now()
    with transaction.atomic():
        for i, claim in enumerate(claims):
            still_ours = Video.objects.filter(pk=claim.pk, status=claim.status, status_changed_at=claim.stamp)
            if claim.status == VideoStatus.READY:
                still_ours = still_ours.filter(embedding_version=claim.version)
            if i in errors:
                fields = {"status": VideoStatus.FAILED, "status_changed_at": now, "error_message": str(errors[i])}
            else:
                fields = {"embedding": vectors[i], "embedding_version": version, "embedded_at": now}
                fields |= _generated_fields(generations[i], version)
                if claim.status != VideoStatus.READY:
                    fields |= {"status": VideoStatus.READY, "status_changed_at": now, "error_message": ""}
            if not still_ours.update(updated_at=now, **fields):
                result.skipped.append(claim.pk)
            elif i in errors:
                result.failed[claim.pk] = str(errors[i])
            else:
                result.ready.append(claim.pk)


def _give_back(claims: list[Claim], reason: str) -> None:
    """Put claimed videos back to ``queued`` (best effort: with the database
    gone they stay ``embedding`` and the retry takes them again)."""
    logger.warning("embedding batch failed, will retry: %s", reason)
    now = timezone.now()
    try:
        if not connection.in_atomic_block:
            close_old_connections()  # drop a connection the failure broke
        with transaction.atomic():
            for claim in claims:
                if claim.status == VideoStatus.EMBEDDING:
                    Video.objects.filter(pk=claim.pk, status=claim.status, status_changed_at=claim.stamp).update(
                        status=VideoStatus.QUEUED, status_changed_at=now, error_message=f"retrying after: {reason}"
                    )
    except DATABASE_UNAVAILABLE:
        logger.warning("could not give back %d claim(s); the retry takes them again", len(claims))


def gpu_queue_backlog() -> int:
    """Messages waiting on the ``gpu`` queue (declaring it, as a worker would)."""
    from tasks.celery import app

    with app.connection_for_read() as conn:
        return app.amqp.queues["gpu"].bind(conn.default_channel).queue_declare().message_count


def embeddings_queue_stale(*, only_when_idle: bool) -> int:
    """Send every ``ready`` video whose vector is not from the active version to
    be re-embedded; they keep serving until their new vector is written.

    After an activation (``only_when_idle=False``) videos still waiting for a
    first vector are sent too. The periodic sweep (``only_when_idle=True``)
    sends nothing while the ``gpu`` queue still has messages, so a re-embedding
    in progress is not sent twice.
    """
    from mediarec.services.videos import videos_queue_embedding

    version = model_version_active()
    if version is None or version.kind != ModelKind.VIDEOBERT:
        return 0
    if only_when_idle and gpu_queue_backlog():
        return 0
    todo = Q(status=VideoStatus.READY) & ~Q(embedding_version=version.name)
    if not only_when_idle:
        todo |= Q(status__in=[VideoStatus.UPLOADED, VideoStatus.QUEUED])
    ids = Video.objects.filter(todo).order_by("pk").values_list("pk", flat=True)
    return videos_queue_embedding(video_ids=ids, keep_serving=True)


def embeddings_requeue_stuck() -> int:
    """Send again videos whose embedding stopped: ``embedding`` for longer than
    ``MEDIAREC_EMBED_STUCK_AFTER_S`` (a worker died and its message was lost),
    and, while the ``gpu`` queue is empty, ``queued`` ones as old (a lost message);
    and at once the ``queued`` ones whose message never left (the broker was down).
    Attempts are kept, so a video that keeps killing workers ends ``failed``."""
    from mediarec.services.videos import videos_queue_embedding

    before = timezone.now() - timedelta(seconds=app_settings.EMBED_STUCK_AFTER_S)
    stuck = Q(status=VideoStatus.EMBEDDING)
    if not gpu_queue_backlog():
        stuck |= Q(status=VideoStatus.QUEUED)
    unsent = Q(status=VideoStatus.QUEUED, error_message=BROKER_UNAVAILABLE_MESSAGE)
    ids = Video.objects.filter((stuck & Q(status_changed_at__lt=before)) | unsent).values_list("pk", flat=True)
    return videos_queue_embedding(video_ids=ids, reset_attempts=False)
