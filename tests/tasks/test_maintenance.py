"""The beat's CF refit task, run in this process."""

from __future__ import annotations

from pathlib import Path

import pytest

from mediarec.models import CFModelVersion, RankerVersion
from tasks.maintenance import refit_cf
from tests.mediarec.recommender.harness import Served
from tests.mediarec.recommender.toy import toy_world

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
        assert result["ranker"] is None  # no embeddings, three users: the blend serves
    finally:
        Path(version.path).unlink(missing_ok=True)


def test_refit_cf_fits_and_activates_the_ranker_beside_the_cf_model(settings, tmp_path):
    settings.MEDIAREC_DATA_DIR = tmp_path
    settings.MEDIAREC_RECOMMENDER = {"factors": 8, "iterations": 8, "num_threads": 1, "ranker_min_users": 5}
    Served().fit(toy_world())  # the toy catalog and its 30 users (its own refit fits no ranker: 50 users needed)
    assert not RankerVersion.objects.filter(is_active=True).exists()
    result = refit_cf.apply().get()
    ranker = RankerVersion.objects.get(is_active=True)
    assert result["ranker"] == ranker.name and ranker.cf_model.name == result["name"]
    assert Path(ranker.path).is_file() and ranker.training["users"] >= 5
