"""Fixtures for the embedding pipeline: a tiny trained checkpoint (once per
session), registered model versions, GPU-queue workers with a chosen
environment, and polling helpers."""

from __future__ import annotations

import os
import shutil
import time
import uuid
from pathlib import Path

import pytest
import torch

from tests.conftest import require_redis, start_worker, stop_worker, wait_for_worker
from tests.videos import write_video

# A worker that batches for 1.5 s and retries quickly; tests that need other
# settings start their own.
FAST_RETRY_ENV = {
    "MEDIAREC_EMBED_BATCH_WINDOW_S": "1.5",
    "MEDIAREC_EMBED_RETRY_BACKOFF_S": "0.3",
    "MEDIAREC_EMBED_DECODE_WORKERS": "1",
}
COLOURS = [(220, 30, 30), (30, 200, 40), (40, 60, 230), (230, 220, 30)]


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory) -> Path:
    """A ``tiny`` preset checkpoint trained for two steps on four real clips."""
    from videobert_engine.train import TrainConfig, train

    folder = tmp_path_factory.mktemp("checkpoint")
    records = [
        {"path": str(write_video(folder / f"clip{i}.mp4", color=c)), "text": f"clip {i} with a moving white square"}
        for i, c in enumerate(COLOURS)
    ]
    config = TrainConfig(
        preset="tiny", steps=2, batch_size=4, seed=0, num_workers=0, progress=False, out_path=str(folder / "tiny.pt")
    )
    return train(records, config)


@pytest.fixture(scope="session")
def other_checkpoint(tiny_checkpoint, tmp_path_factory) -> Path:
    """The tiny model with perturbed weights: a second version whose vectors differ."""
    from videobert_engine.checkpoint import load_model, read_checkpoint, save_checkpoint

    model, tokenizer = load_model(read_checkpoint(tiny_checkpoint))
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.05 * torch.randn(p.shape, generator=generator))
    path = tmp_path_factory.mktemp("checkpoint") / "other.pt"
    save_checkpoint(path, model, tokenizer)
    return path


@pytest.fixture
def register_version(tiny_checkpoint):
    """``register_version(checkpoint=None, activate=True, texts=None)`` -> a ModelVersion with a
    name unique to this run; its files are removed afterwards."""
    from mediarec.conf import app_settings
    from mediarec.services.model_versions import model_version_register

    names = []

    def register(checkpoint: Path | None = None, *, activate: bool = True, texts: list[str] | None = None):
        name = f"test-{os.environ['MEDIAREC_TEST_RUN_ID']}-{uuid.uuid4().hex[:8]}"
        names.append(name)
        return model_version_register(
            checkpoint=checkpoint or tiny_checkpoint, name=name, activate=activate, texts=texts
        )

    yield register
    for name in names:
        shutil.rmtree(app_settings.DATA_DIR / "models" / name, ignore_errors=True)


def purge_queues() -> None:
    from tasks.celery import app

    app.control.purge()


def run_worker(env: dict[str, str]):
    """A worker on both queues with ``env`` added; returns once it answers pings."""
    from django.conf import settings

    require_redis(settings.CELERY_BROKER_URL)
    proc = start_worker(extra_env=env)
    wait_for_worker(proc, timeout=90)
    return proc


@pytest.fixture(scope="module")
def gpu_worker(django_db_setup, django_db_blocker):
    """One worker for a whole test module (``FAST_RETRY_ENV``)."""
    purge_queues()
    proc = run_worker(FAST_RETRY_ENV)
    yield proc
    stop_worker(proc)
    purge_queues()


def wait_until(predicate, *, timeout: float, what: str, worker=None):
    """Poll ``predicate`` until it returns something truthy; fail with the worker log."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    log = Path(worker.log_path).read_text()[-4000:] if worker is not None else ""
    pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}\n{log}")
