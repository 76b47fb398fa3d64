"""The HTML pages when the database connection is lost: a plain 503 page, then recovery."""

from __future__ import annotations

import pytest

from mediarec.models import ModelKind, ModelVersion, Video
from tests.connections import drop_connection, served_get


@pytest.mark.django_db(transaction=True)
def test_a_lost_database_connection_shows_a_503_page_and_the_next_request_reconnects(client):
    ModelVersion.objects.create(name="v1", kind=ModelKind.STANDIN, embedding_dim=256, is_active=True)
    url = f"/videos/{Video.objects.create(title='Only clip').pk}/"  # reads the video on every request
    assert served_get(client, url, {}).status_code == 200
    drop_connection()
    lost = served_get(client, url, {})
    assert lost.status_code == 503
    assert lost["Retry-After"] == "5"
    assert "Temporarily unavailable" in lost.content.decode()
    assert "Traceback" not in lost.content.decode()
    assert served_get(client, url, {}).status_code == 200
