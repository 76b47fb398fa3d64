"""The beat's CF refit task, run in this process."""

from __future__ import annotations

from pathlib import Path

import pytest

from mediarec.models import CFModelVersion
from tasks.maintenance import refit_cf

pytestmark = pytest.mark.django_db


def test_refit_cf_skips_an_empty_site_and_fits_when_there_are_interactions(
    interaction_factory, user_factory, video_factory
):
    assert "no interactions" in refit_cf.apply().get()["skipped"]

    videos = video_factory.create_batch(3)
    for user in user_factory.create_batch(3):
        for video in videos[:2]:
            interaction_factory(user=user, video=video, kind="like")
    result = refit_cf.apply().get()
    version = CFModelVersion.objects.get(is_active=True)
    try:
        assert result["name"] == version.name and result["n_interactions"] == 6
    finally:
        Path(version.path).unlink(missing_ok=True)
