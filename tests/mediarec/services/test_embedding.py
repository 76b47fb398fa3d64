"""The embedding service in this process (no worker): idempotency, the claim
stamp that keeps an outdated vector out, the attempt cap, and the sweeps."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from datetime import timedelta

import numpy as np
import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.utils import timezone

from mediarec.conf import app_settings
from mediarec.models import Video, VideoStatus
from mediarec.services.embedding import embedding_run_batch, embeddings_queue_stale, embeddings_requeue_stuck
from mediarec.services.videos import video_create, video_update
from tests.pipeline import purge_queues
from tests.videos import write_video


def upload(tmp_path, title: str = "A red clip", **kwargs) -> Video:
    path = write_video(tmp_path / f"{title.replace(' ', '_')}.mp4", **kwargs)
    return video_create(upload=SimpleUploadedFile(path.name, path.read_bytes()), title=title, tags="demo")


@pytest.mark.django_db
def test_redelivered_message_re_embeds_without_duplicates(tmp_path, register_version):
    version = register_version()
    video = upload(tmp_path)
    first = embedding_run_batch(video_ids=[video.pk], window_s=0)
    assert first.ready == [video.pk] and first.version == version.name
    video.refresh_from_db()
    vector, embedded_at = np.array(video.embedding), video.embedded_at
    assert (video.status, video.attempts, video.embedding_version) == (VideoStatus.READY, 1, version.name)

    # The same message again, plain and as a redelivery: nothing to do, nothing changes.
    for reclaim in (False, True):
        again = embedding_run_batch(video_ids=[video.pk], reclaim=reclaim, window_s=0)
        assert again.ready == [] and again.skipped == [video.pk]
    video.refresh_from_db()
    assert (video.status, video.attempts, video.embedded_at) == (VideoStatus.READY, 1, embedded_at)

    # A worker claimed it and died; the redelivered message takes it again.
    Video.objects.filter(pk=video.pk).update(status=VideoStatus.EMBEDDING, status_changed_at=timezone.now())
    assert embedding_run_batch(video_ids=[video.pk], reclaim=False, window_s=0).skipped == [video.pk]
    assert embedding_run_batch(video_ids=[video.pk], reclaim=True, window_s=0).ready == [video.pk]
    video.refresh_from_db()
    assert (video.status, video.attempts, Video.objects.count()) == (VideoStatus.READY, 2, 1)
    np.testing.assert_allclose(np.array(video.embedding), vector, atol=1e-5)
    assert np.linalg.norm(vector) == pytest.approx(1.0, abs=1e-4)


@pytest.mark.django_db(transaction=True)
def test_an_edit_during_embedding_discards_the_outdated_vector(tmp_path, register_version):
    register_version()
    video = upload(tmp_path)
    results = []

    def run():
        try:
            results.append(embedding_run_batch(video_ids=[video.pk], window_s=2.0))
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    deadline = timezone.now() + timedelta(seconds=30)
    while Video.objects.get(pk=video.pk).status != VideoStatus.EMBEDDING:
        assert timezone.now() < deadline, "the batch never claimed the video"
    video_update(video=Video.objects.get(pk=video.pk), title="A new title")  # requeues it mid-batch
    thread.join(60)
    assert results and results[0].skipped == [video.pk] and results[0].ready == []
    video.refresh_from_db()
    assert video.status == VideoStatus.QUEUED and video.embedding is None

    assert embedding_run_batch(video_ids=[video.pk], window_s=0).ready == [video.pk]
    purge_queues()


@pytest.mark.django_db
def test_a_video_fails_with_its_reason_after_the_attempt_cap(tmp_path, register_version):
    register_version()
    video = upload(tmp_path)
    cap = app_settings.EMBED_MAX_ATTEMPTS
    Video.objects.filter(pk=video.pk).update(attempts=cap, error_message="retrying after: CUDA out of memory")
    result = embedding_run_batch(video_ids=[video.pk], window_s=0)
    assert result.ready == []
    video.refresh_from_db()
    assert video.status == VideoStatus.FAILED
    assert video.error_message == f"gave up after {cap} attempts: retrying after: CUDA out of memory"


@pytest.mark.django_db
def test_without_an_active_model_videos_stay_queued(tmp_path, register_version):
    register_version(activate=False)
    video = upload(tmp_path)
    result = embedding_run_batch(video_ids=[video.pk], window_s=0)
    assert result.version is None and result.skipped == [video.pk]
    video.refresh_from_db()
    assert (video.status, video.attempts) == (VideoStatus.QUEUED, 0)


@pytest.mark.django_db
def test_stuck_videos_are_sent_again_keeping_their_attempts(video_factory, django_capture_on_commit_callbacks):
    purge_queues()
    long_ago = timezone.now() - timedelta(seconds=app_settings.EMBED_STUCK_AFTER_S + 60)
    stuck = video_factory(status=VideoStatus.EMBEDDING, status_changed_at=long_ago, attempts=2)
    lost = video_factory(status=VideoStatus.QUEUED, status_changed_at=long_ago, attempts=1)
    busy = video_factory(status=VideoStatus.EMBEDDING, status_changed_at=timezone.now(), attempts=1)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        assert embeddings_requeue_stuck() == 2
    assert len(callbacks) == 1
    states = {v.pk: (v.status, v.attempts) for v in Video.objects.all()}
    assert states[stuck.pk] == (VideoStatus.QUEUED, 2)
    assert states[lost.pk] == (VideoStatus.QUEUED, 1)
    assert states[busy.pk] == (VideoStatus.EMBEDDING, 1)


@pytest.mark.django_db
def test_stale_sweep_keeps_videos_serving_and_waits_for_an_idle_queue(
    video_factory, register_version, django_capture_on_commit_callbacks
):
    from tasks.celery import app

    version = register_version()
    vector = np.eye(1, app_settings.EMBEDDING_DIM, dtype=np.float32)[0]
    stale = video_factory(status=VideoStatus.READY, embedding=vector, embedding_version="older")
    fresh = video_factory(status=VideoStatus.READY, embedding=vector, embedding_version=version.name)
    purge_queues()
    app.send_task("tasks.embedding.embed_videos", args=[[]], queue="gpu")  # a backlog
    assert embeddings_queue_stale(only_when_idle=True) == 0
    purge_queues()
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        assert embeddings_queue_stale(only_when_idle=True) == 1
    assert len(callbacks) == 1
    stale.refresh_from_db()
    fresh.refresh_from_db()
    assert stale.status == VideoStatus.READY and stale.embedding_version == "older"
    assert fresh.status == VideoStatus.READY


def test_visibility_timeout_exceeds_the_time_limit():
    visibility = settings.CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"]
    assert visibility > settings.CELERY_TASK_TIME_LIMIT > settings.CELERY_TASK_SOFT_TIME_LIMIT
    # and settings refuse an environment that gets it wrong
    env = {
        "CELERY_VISIBILITY_TIMEOUT": "60",
        "CELERY_TASK_TIME_LIMIT": "120",
        "DJANGO_SETTINGS_MODULE": "tests.settings",
    }
    proc = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        cwd=settings.BASE_DIR,
    )
    assert proc.returncode != 0
    assert "CELERY_VISIBILITY_TIMEOUT must be larger than CELERY_TASK_TIME_LIMIT" in proc.stderr


def test_beat_schedule_names_registered_tasks_on_the_right_queues():
    from tasks.celery import app

    app.loader.import_default_modules()
    names = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert names == {
        "tasks.maintenance.requeue_stuck_embeddings",
        "tasks.maintenance.sweep_stale_embeddings",
        "tasks.maintenance.refit_cf",
    }
    assert names <= set(app.tasks)
    assert {"tasks.embedding.embed_videos", "tasks.training.train_videobert", "tasks.maintenance.reembed_stale"} <= set(
        app.tasks
    )
    router = app.amqp.router
    assert router.route({}, "tasks.embedding.embed_videos")["queue"].name == "gpu"
    assert router.route({}, "tasks.training.train_videobert")["queue"].name == "gpu"
    assert router.route({}, "tasks.maintenance.refit_cf")["queue"].name == "default"


CATALOG = ["Red ball bouncing", "Blue box sliding", "Red box bouncing", "Green ball sliding", "Blue cone", "Green cone"]


@pytest.mark.django_db
def test_a_version_learns_its_tag_vocabulary_from_the_catalog_and_the_batch_stores_the_generated_words(
    tmp_path, register_version, video_factory, tiny_checkpoint
):
    from mediarec.services.model_versions import model_version_checkpoint
    from videobert_engine.checkpoint import read_checkpoint

    for title in CATALOG:
        video_factory(title=title, description="", tags="")
    version = register_version()  # the checkpoint has no vocabulary: the catalog's texts give one
    vocabulary = read_checkpoint(model_version_checkpoint(version))["generation"]["words"]
    assert vocabulary == ["ball", "blue", "bouncing", "box", "cone", "green", "red", "sliding"]
    assert "generation" not in read_checkpoint(tiny_checkpoint)  # the file given is left as it was

    path = write_video(tmp_path / "IMG_0042.mp4")
    untitled = video_create(upload=SimpleUploadedFile(path.name, path.read_bytes()), title="")
    assert untitled.title == "IMG_0042" and untitled.text == ""
    assert embedding_run_batch(video_ids=[untitled.pk], window_s=0).ready == [untitled.pk]
    untitled.refresh_from_db()
    assert untitled.generated_version == version.name
    assert untitled.suggested_tag_list and set(untitled.suggested_tag_list) <= set(vocabulary)
    assert untitled.caption and set(untitled.caption.split()) <= set(untitled.suggested_tag_list)
    assert untitled.title_generated and untitled.shown_title == untitled.caption


@pytest.mark.django_db
def test_a_version_without_a_vocabulary_embeds_and_suggests_nothing(tmp_path, register_version):
    version = register_version(texts=[])
    video = upload(tmp_path)
    assert embedding_run_batch(video_ids=[video.pk], window_s=0).ready == [video.pk]
    video.refresh_from_db()
    assert video.embedding_version == version.name and video.status == VideoStatus.READY
    assert (video.suggested_tags, video.caption, video.generated_version) == ([], "", "")
