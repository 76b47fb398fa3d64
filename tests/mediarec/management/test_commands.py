"""The management commands of the embedding pipeline: train, activate, re-embed."""

from __future__ import annotations

import os
import shutil
from io import StringIO

import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command

from mediarec.conf import app_settings
from mediarec.models import ModelVersion, VideoStatus
from mediarec.services.model_versions import model_version_checkpoint
from mediarec.services.videos import video_create
from tests.videos import write_video

pytestmark = pytest.mark.django_db


def run(*args, **kwargs) -> str:
    out = StringIO()
    call_command(*args, stdout=out, **kwargs)
    return out.getvalue()


def test_train_videobert_trains_on_the_catalog_and_registers_a_version(tmp_path, video_factory):
    for i, colour in enumerate([(220, 30, 30), (30, 60, 230)]):
        clip = write_video(tmp_path / f"c{i}.mp4", color=colour)
        video_create(upload=SimpleUploadedFile(clip.name, clip.read_bytes()), title=f"Clip {i}", tags="demo")
    name = f"test-{os.environ['MEDIAREC_TEST_RUN_ID']}-cmd"
    try:
        out = run("train_videobert", steps=1, name=name, device="cpu", activate=True)
        version = ModelVersion.objects.get(name=name)
        assert f"registered {name}" in out and version.is_active
        assert version.checkpoint_path == f"models/{name}/checkpoint.pt"
        assert model_version_checkpoint(version) == app_settings.DATA_DIR / "models" / name / "checkpoint.pt"
        assert model_version_checkpoint(version).is_file()
        assert version.metrics["videos"] == 2 and version.metrics["engine_version"].startswith("tiny-s1-")
        assert version.embedding_dim == 256

        with pytest.raises(CommandError, match="already exists"):
            run("train_videobert", steps=1, name=name, device="cpu")
        assert f"* {name}" in run("activate_model")

        stale = video_factory(
            status=VideoStatus.READY, embedding=np.eye(1, 256, dtype=np.float32)[0], embedding_version="older"
        )
        # the stale one, and the two still waiting for a first vector (no worker runs here)
        assert "queued 3 video(s)" in run("reembed_stale")
        stale.refresh_from_db()
        assert stale.status == VideoStatus.READY  # keeps serving until re-embedded
    finally:
        shutil.rmtree(app_settings.DATA_DIR / "models" / name, ignore_errors=True)


def test_activate_model_refuses_an_unknown_name():
    with pytest.raises(CommandError, match="no model version named 'nope'"):
        run("activate_model", "nope")
