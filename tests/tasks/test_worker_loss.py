"""A worker killed with SIGKILL in the middle of a batch loses no video: with
``acks_late`` the message stays unacknowledged, Redis hands it out again after
the visibility timeout, and the restarted worker finishes every video."""

from __future__ import annotations

import signal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction

from mediarec.models import Video, VideoStatus
from mediarec.services.videos import video_create
from tests.conftest import stop_worker
from tests.pipeline import purge_queues, run_worker, wait_until
from tests.videos import write_video

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

# A short visibility timeout so the redelivery comes within the test; the time
# limit stays below it, as settings require. The batch window leaves time to
# kill the worker while it holds the claims.
SHORT_VISIBILITY_ENV = {
    "CELERY_VISIBILITY_TIMEOUT": "24",
    "CELERY_TASK_TIME_LIMIT": "18",
    "CELERY_TASK_SOFT_TIME_LIMIT": "16",
    "MEDIAREC_EMBED_BATCH_WINDOW_S": "2",
    "MEDIAREC_EMBED_DECODE_WORKERS": "1",
}


def test_a_worker_killed_mid_batch_loses_no_video(register_version, tmp_path):
    register_version()
    purge_queues()
    first = run_worker(SHORT_VISIBILITY_ENV)
    try:
        with transaction.atomic():
            videos = [
                video_create(
                    upload=SimpleUploadedFile(f"v{i}.mp4", write_video(tmp_path / f"v{i}.mp4").read_bytes()),
                    title=f"Video {i}",
                )
                for i in range(3)
            ]
        ids = [v.pk for v in videos]

        def all_claimed() -> bool:
            return set(Video.objects.filter(pk__in=ids).values_list("status", flat=True)) == {VideoStatus.EMBEDDING}

        wait_until(all_claimed, timeout=60, what="one batch to claim all three videos", worker=first)
        stop_worker(first, signal.SIGKILL)
        assert all_claimed()  # killed mid-batch: nothing was written
    finally:
        stop_worker(first, signal.SIGKILL)

    second = run_worker(SHORT_VISIBILITY_ENV)
    try:

        def all_ready() -> bool:
            return set(Video.objects.filter(pk__in=ids).values_list("status", flat=True)) == {VideoStatus.READY}

        wait_until(all_ready, timeout=120, what="every video to end ready", worker=second)
    finally:
        stop_worker(second)
        purge_queues()
    # each claimed again after the restart (a slow first batch may add a retry)
    assert all(v.attempts >= 2 and v.embedding is not None for v in Video.objects.filter(pk__in=ids))
