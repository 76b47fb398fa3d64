"""The Celery wiring end to end: a real worker process on the real Redis
broker runs a task that reads the real database."""

import pytest

from tasks.ops import ping


@pytest.mark.slow
def test_ping_through_real_worker(celery_worker, settings, video_factory):
    assert settings.CELERY_BROKER_URL.startswith("redis://")
    video_factory.create_batch(2)
    result = ping.apply_async(args=["hello"], queue="default")
    # No result backend is configured, so read the effect via the worker log
    # instead: the task returns the catalog size it saw in the database.
    import time
    from pathlib import Path

    deadline = time.monotonic() + 30
    log = ""
    while time.monotonic() < deadline:
        log = Path(celery_worker.log_path).read_text()
        if result.id in log and "succeeded" in log:
            break
        time.sleep(0.2)
    assert f"Task tasks.ops.ping[{result.id}] succeeded" in log, log[-3000:]
    assert "'token': 'hello'" in log and "'videos': 2" in log
    assert "'pgvector': '0.8" in log


def test_task_settings_are_safe(settings):
    assert settings.CELERY_TASK_ACKS_LATE is True
    assert settings.CELERY_WORKER_PREFETCH_MULTIPLIER == 1
    assert settings.CELERY_TASK_TIME_LIMIT > settings.CELERY_TASK_SOFT_TIME_LIMIT
    assert settings.CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"] > settings.CELERY_TASK_TIME_LIMIT
    assert {q.name for q in settings.CELERY_TASK_QUEUES} == {"default", "gpu"}
