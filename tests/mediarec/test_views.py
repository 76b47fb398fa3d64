"""The pages' own input handling: a NUL in a search, a "because" that is not
a plain number, repeat views of one video; a clear answer, never a 500."""

from __future__ import annotations

import pytest
from django.test import Client

from mediarec.models import Video
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
