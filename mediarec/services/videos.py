"""Catalog writes: create a video from an upload, edit it, publish it, and
queue it for embedding. Every upload path (admin, API, seed_world) goes
through :func:`video_create`."""

from __future__ import annotations

import logging
import secrets
import shutil
import tempfile
from collections.abc import Iterable
from pathlib import Path

from django.core.files import File
from django.core.files.base import ContentFile
from django.db import transaction
from django.utils import timezone

from mediarec.conf import app_settings
from mediarec.errors import BROKER_UNAVAILABLE, BROKER_UNAVAILABLE_MESSAGE, InvalidUpload
from mediarec.models import Video, VideoStatus
from mediarec.services.media_probe import ProbeResult, probe_video_file

log = logging.getLogger(__name__)

EMBED_TASK = "tasks.embedding.embed_videos"
TEXT_FIELDS = ("title", "description", "tags", "transcript")
TITLE_MAX = Video._meta.get_field("title").max_length


def normalize_tags(tags: str | Iterable[str]) -> str:
    items = tags.split(",") if isinstance(tags, str) else list(tags)
    seen: dict[str, None] = {}
    for tag in items:
        tag = tag.strip().lower()
        if tag:
            seen.setdefault(tag, None)
    return ",".join(seen)


def _local_copy(upload: File) -> tuple[Path, bool]:
    """A path PyAV can open: the upload's own temp file, or a copy of it."""
    path = getattr(upload, "temporary_file_path", None)
    if path is not None:
        return Path(path()), False
    suffix = Path(upload.name or "upload").suffix
    with tempfile.NamedTemporaryFile(suffix=suffix, delete=False) as tmp:
        upload.seek(0)
        shutil.copyfileobj(upload, tmp)
    upload.seek(0)
    return Path(tmp.name), True


def video_create(
    *,
    upload: File,
    title: str,
    description: str = "",
    tags: str | Iterable[str] = "",
    transcript: str = "",
    published: bool = True,
    uploader=None,
    channel: str = "",
) -> Video:
    """Probe ``upload``; store it with its thumbnail and queue it for embedding.

    Raises :class:`~mediarec.errors.InvalidUpload` and stores nothing when the
    file has no decodable video stream or is over a configured limit, or a
    text field holds a NUL character (PostgreSQL text cannot).
    """
    texts = {"title": title, "description": description, "tags": tags, "transcript": transcript, "channel": channel}
    for field, text in texts.items():
        text = normalize_tags(text) if field == "tags" else text
        if "\x00" in text:
            raise InvalidUpload(f"the {field} contains a NUL character.")
        limit = Video._meta.get_field(field).max_length
        if limit is not None and len(text.strip()) > limit:
            raise InvalidUpload(f"the {field} is {len(text.strip()):,} characters long; the limit is {limit:,}.")
    video = Video(
        # Without a title, the client's file name, cut to fit the column and rid of NULs.
        title=title.strip() or Path(upload.name or "untitled").stem.replace("\x00", "")[:TITLE_MAX] or "untitled",
        title_is_file_name=not title.strip(),
        description=description,
        tags=normalize_tags(tags),
        transcript=transcript,
        published=published,
        uploader=uploader,
        channel=channel,
    )
    _store_upload(video, upload)
    try:
        with transaction.atomic():
            video.save()
            videos_queue_embedding(video_ids=[video.pk])
    except BaseException:
        # Nothing of a failed upload stays behind, files included. (The queueing
        # runs after commit and never raises here: see videos_queue_embedding.)
        for stored in (video.file, video.thumbnail):
            if stored:
                stored.storage.delete(stored.name)
        raise
    video.refresh_from_db()
    return video


def upload_probe(*, upload: File) -> ProbeResult:
    """Probe an upload with PyAV; raises :class:`~mediarec.errors.InvalidUpload`."""
    path, is_copy = _local_copy(upload)
    try:
        return probe_video_file(path, original_name=Path(upload.name or "upload").name)
    finally:
        if is_copy:
            path.unlink(missing_ok=True)


def _store_upload(video: Video, upload: File) -> None:
    """Probe ``upload`` and write it and its thumbnail to storage (no DB write)."""
    probe = upload_probe(upload=upload)
    video.duration_s = probe.duration_s
    video.fps = probe.fps
    video.width = probe.width
    video.height = probe.height
    video.size_bytes = probe.size_bytes
    video.codec = probe.codec
    upload.seek(0)
    # A random name with the container's extension: nothing of the client's name reaches storage.
    video.file.save(f"{secrets.token_hex(12)}{probe.extension}", upload, save=False)
    video.thumbnail.save(f"{Path(video.file.name).stem}.jpg", ContentFile(probe.thumbnail_jpeg), save=False)


def video_replace_file(*, video: Video, upload: File) -> Video:
    """Swap a video's file for a new, probed one and re-queue it."""
    old = [(f.storage, f.name) for f in (video.file, video.thumbnail) if f]
    _store_upload(video, upload)
    with transaction.atomic():
        video.save()
        videos_queue_embedding(video_ids=[video.pk])
    for storage, name in old:
        storage.delete(name)
    video.refresh_from_db()
    return video


@transaction.atomic
def video_update(*, video: Video, **fields) -> Video:
    """Edit catalog fields; a changed text re-queues the video for embedding."""
    if "tags" in fields:
        fields["tags"] = normalize_tags(fields["tags"])
    text_changed = any(name in TEXT_FIELDS and getattr(video, name) != value for name, value in fields.items())
    if "title" in fields and fields["title"] != video.title:
        fields["title_is_file_name"] = False  # someone wrote it
    for name, value in fields.items():
        setattr(video, name, value)
    video.save()
    if text_changed:
        videos_queue_embedding(video_ids=[video.pk])
    return video


ACCEPTED_TAGS = 5  # suggested tags an admin's "accept" adds, best first


@transaction.atomic
def videos_accept_suggested_tags(*, video_ids: Iterable[int], top: int = ACCEPTED_TAGS) -> int:
    """Add each video's best ``top`` suggested tags to its own tags (a changed text re-queues it).
    Returns how many videos gained a tag."""
    changed = 0
    for video in Video.objects.filter(pk__in=list(video_ids)).select_for_update().order_by("pk"):
        tags = normalize_tags([*video.tag_list, *video.suggested_tag_list[:top]])
        if tags != video.tags:
            video_update(video=video, tags=tags)
            changed += 1
    return changed


@transaction.atomic
def videos_set_published(*, video_ids: Iterable[int], published: bool) -> int:
    return Video.objects.filter(pk__in=list(video_ids)).update(published=published, updated_at=timezone.now())


@transaction.atomic
def videos_queue_embedding(*, video_ids: Iterable[int], keep_serving: bool = False, reset_attempts: bool = True) -> int:
    """Mark videos ``queued`` and send them to the ``gpu`` queue after commit,
    in messages of ``MEDIAREC_EMBED_BATCH_SIZE`` ids.

    With ``keep_serving`` (a model upgrade) a ``ready`` video stays ready with
    its current vector until the worker writes the new one. ``reset_attempts``
    starts a fresh attempt count for new content; the stuck-work sweep keeps
    the count, so a video that keeps killing workers ends ``failed``. The
    embedding task is idempotent, so queueing a video twice is harmless.
    A broker that cannot be reached is logged and leaves the videos ``queued``
    with ``BROKER_UNAVAILABLE_MESSAGE``; the beat's stuck-work sweep sends them.
    """
    from tasks.celery import app

    ids = list(Video.objects.filter(pk__in=list(video_ids)).values_list("pk", flat=True))
    if not ids:
        return 0
    to_queue = Video.objects.filter(pk__in=ids)
    if keep_serving:
        to_queue = to_queue.exclude(status=VideoStatus.READY)
    fields = {"status": VideoStatus.QUEUED, "status_changed_at": timezone.now(), "error_message": ""}
    if reset_attempts:
        fields["attempts"] = 0
    to_queue.update(**fields)
    size = app_settings.EMBED_BATCH_SIZE
    chunks = [ids[i : i + size] for i in range(0, len(ids), size)]

    def send() -> None:
        # The rows are committed as queued: a lost broker must not fail the caller.
        # The stuck-work sweep (embeddings_requeue_stuck) sends them once it is back.
        try:
            with app.producer_or_acquire() as producer:
                for chunk in chunks:
                    app.send_task(EMBED_TASK, args=[chunk], queue="gpu", producer=producer)
        except BROKER_UNAVAILABLE as exc:
            log.error("task broker unreachable; video(s) %s stay queued for the beat sweep: %s", ids, exc)
            Video.objects.filter(pk__in=ids, status=VideoStatus.QUEUED).update(error_message=BROKER_UNAVAILABLE_MESSAGE)

    # Robust: whatever else goes wrong in sending is logged by Django, never raised into
    # a caller whose rows are already committed (such as video_create's cleanup).
    transaction.on_commit(send, robust=True)
    return len(ids)
