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


def _token(client, username, password="wrong", **extra):
    return client.post(
        "/api/token", {"username": username, "password": password}, content_type="application/json", **extra
    )


def test_token_attempts_are_throttled_per_username_and_per_client(client, monkeypatch):
    from mediarec.api import TOKEN_THROTTLES

    cache.clear()
    per_username, per_client = TOKEN_THROTTLES
    monkeypatch.setattr(per_username, "num_requests", 3)
    monkeypatch.setattr(per_client, "num_requests", 5)
    alice, bob = UserFactory(), UserFactory()
    guesses = [_token(client, alice.username).status_code for _ in range(4)]
    assert guesses == [401, 401, 401, 429]
    # Even the right password waits: the counter is the username's, not the password's.
    assert _token(client, alice.username, "pw").status_code == 429
    # The same username from another client is still throttled; X-Forwarded-For is not trusted by default.
    assert _token(client, alice.username, "pw", REMOTE_ADDR="10.0.0.9").status_code == 429
    # Another username from the first client: its own budget, until the client's runs out (5 attempts).
    assert _token(client, bob.username, "pw").status_code == 429  # the client's 6th attempt
    assert _token(client, bob.username, "pw", REMOTE_ADDR="10.0.0.7").status_code == 200
    spoofed = _token(client, "carol", HTTP_X_FORWARDED_FOR="10.0.0.8")
    assert spoofed.status_code == 429  # the header does not buy the client a fresh budget
    assert spoofed["Retry-After"]
