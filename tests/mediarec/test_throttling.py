"""The API's throttles: they count in the site's cache, and a lost cache lets
requests through (with a log line) instead of failing every one of them."""

from __future__ import annotations

import logging
import socket

import pytest
from django.core.cache import cache

from mediarec import throttling
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def _closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"redis://127.0.0.1:{s.getsockname()[1]}/0"  # nothing listens once the socket closes


@pytest.fixture
def cache_lost(settings, monkeypatch):
    """The site's cache is a Redis that cannot be reached."""
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": _closed_port_url(),
            "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5},
        }
    }
    monkeypatch.setattr(throttling, "_last_logged", 0.0)
    yield


def test_a_lost_cache_lets_api_requests_through_and_logs_it(client, cache_lost, caplog):
    user = UserFactory()
    client.raise_request_exception = False
    with caplog.at_level(logging.ERROR, logger="mediarec.throttling"):
        anonymous = client.get("/api/search?q=clip")
        client.force_login(user)
        authenticated = client.get(f"/api/users/{user.pk}/recommendations?limit=2")
        again = client.get("/api/search?q=clip")
    assert [anonymous.status_code, authenticated.status_code, again.status_code] == [200, 200, 200]
    lost = [r for r in caplog.records if "throttle cache unreachable" in r.getMessage()]
    assert len(lost) == 1  # once a minute per process, not once per request
    assert "GET /api/search" in lost[0].getMessage()


def test_with_the_cache_back_the_throttle_counts_again(client, monkeypatch):
    cache.clear()
    from mediarec.api import api

    for throttle in api.throttle:
        monkeypatch.setattr(throttle, "num_requests", 2)
    statuses = [client.get("/api/search?q=clip").status_code for _ in range(3)]
    assert statuses == [200, 200, 429]
