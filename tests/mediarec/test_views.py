"""The pages' own input handling: a NUL in a search, a "because" that is not
a plain number, repeat views of one video; a clear answer, never a 500."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from mediarec.models import Interaction, Video
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def viewer_client():
    client = Client(raise_request_exception=False)
    client.force_login(UserFactory())
    return client


def test_a_nul_in_the_search_query_answers_400_with_a_message(viewer_client):
    Video.objects.create(title="Jazz night")
    response = viewer_client.get("/search/?q=jazz%00night")
    assert response.status_code == 400
    page = response.content.decode()
    assert "contains a NUL character" in page
    assert "\x00" not in page
    assert viewer_client.get("/search/?q=jazz").status_code == 200


@pytest.mark.parametrize("because", ["%C2%B2", "%D9%A3", "1%00", "99999999999999999999999", "-1", "", "abc"])
def test_a_because_that_is_not_a_plain_id_is_ignored(viewer_client, because):
    video = Video.objects.create(title="Clip")
    response = viewer_client.get(f"/videos/{video.pk}/?reason=cf&because={because}")
    assert response.status_code == 200


def test_a_because_names_a_video_the_user_watched(viewer_client):
    seen, video = Video.objects.create(title="Seen before"), Video.objects.create(title="Clip")
    user = viewer_client.session["_auth_user_id"]
    Interaction.objects.create(user_id=user, video=seen, kind="like")
    response = viewer_client.get(f"/videos/{video.pk}/?reason=content&because={seen.pk}")
    assert "Seen before" in response.content.decode()


def test_a_repeat_view_within_the_window_is_recorded_once(viewer_client, settings):
    settings.MEDIAREC_VIEW_DEDUP_WINDOW_S = 30 * 60
    video, other = Video.objects.create(title="Clip"), Video.objects.create(title="Other")
    for _ in range(3):
        assert viewer_client.get(f"/videos/{video.pk}/").status_code == 200
    assert viewer_client.get(f"/videos/{other.pk}/").status_code == 200
    views = Interaction.objects.filter(kind="view")
    assert sorted(views.values_list("video_id", flat=True)) == sorted([video.pk, other.pk])
    # Past the window, the next page load is a new view.
    views.filter(video=video).update(created_at=timezone.now() - timedelta(minutes=31))
    viewer_client.get(f"/videos/{video.pk}/")
    assert views.filter(video=video).count() == 2
