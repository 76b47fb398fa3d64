"""Shared fixtures: factories, real video files, and a real Celery worker
process on the real Redis broker against this run's test database."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis

from tests.factories import InteractionFactory, UserFactory, VideoFactory
from tests.videos import write_video

# shared fixtures: the embedding pipeline (checkpoints, versions, GPU-queue workers), the engine (captioned videos)
pytest_plugins = ["tests.pipeline", "tests.engine.captioned"]

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def user_factory():
    return UserFactory


@pytest.fixture
def video_factory():
    return VideoFactory


@pytest.fixture
def interaction_factory():
    return InteractionFactory


@pytest.fixture
def mp4_file(tmp_path) -> Path:
    """A valid 1-second H.264 mp4 written with PyAV."""
    return write_video(tmp_path / "clip.mp4")


def require_redis(url: str) -> None:
    try:
        redis.Redis.from_url(url, socket_connect_timeout=3).ping()
    except redis.RedisError as exc:
        pytest.fail(f"Redis at {url} is required for this test and is unreachable: {exc}")


def start_worker(queues: str = "default,gpu", concurrency: int = 1, extra_env: dict | None = None):
    """Start ``celery -A tasks worker`` as a subprocess bound to this run's test DB."""
    from django.conf import settings

    env = os.environ.copy()
    env["DJANGO_SETTINGS_MODULE"] = "tests.settings"
    env["MEDIAREC_DB_NAME"] = settings.DATABASES["default"]["NAME"]
    env.update(extra_env or {})
    log_path = Path(os.environ["MEDIAREC_MEDIA_ROOT"]).parent / f"worker-{os.getpid()}-{time.time():.0f}.log"
    argv = [sys.executable, "-m", "celery", "-A", "tasks", "worker", "-Q", queues, "-c", str(concurrency)]
    argv += ["--pool", "prefork", "-l", "INFO", "--without-gossip", "--without-mingle", "--without-heartbeat"]
    with open(log_path, "wb") as log:  # the child keeps its own copy of the descriptor
        proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    proc.log_path = log_path
    return proc


def stop_worker(proc, sig: int = 15, timeout: float = 20) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, sig)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)
            proc.wait(5)


@pytest.fixture
def celery_worker(transactional_db, settings):
    """A real worker process on Redis; yields the process (``.log_path`` has its log)."""
    require_redis(settings.CELERY_BROKER_URL)
    proc = start_worker()
    wait_for_worker(proc)
    yield proc
    stop_worker(proc)


def wait_for_worker(proc, timeout: float = 60) -> None:
    """Return once the worker answers a ping; fail with its log if it does not."""
    from tasks.celery import app

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"worker exited with {proc.returncode}: {Path(proc.log_path).read_text()[-3000:]}")
        if app.control.ping(timeout=1.0):
            return
    stop_worker(proc, 9)
    pytest.fail(f"worker did not come up: {Path(proc.log_path).read_text()[-3000:]}")
