"""The API's rate limits, counted in the site's cache (``MEDIAREC_CACHE_URL``).

Every throttle here fails open: when the cache cannot be reached a request
goes through unthrottled and a line is logged (at most once a minute per
process), because refusing every request would let a lost cache take the
whole API down. The rates are ``MEDIAREC_API_*_RATE`` settings (``conf.py``).

Client addresses come from ``REMOTE_ADDR``, or from ``X-Forwarded-For`` as
far as ``NINJA_NUM_PROXIES`` trusted proxies allow (the reference site reads it
from ``DJANGO_NUM_PROXIES``, default 0): a client cannot pick its own address.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time

from ninja.throttling import AnonRateThrottle, AuthRateThrottle, SimpleRateThrottle

log = logging.getLogger(__name__)

CACHE_LOST_LOG_EVERY_S = 60.0
_last_logged = 0.0
_log_lock = threading.Lock()


def _log_cache_lost(request, exc: Exception) -> None:
    global _last_logged
    with _log_lock:
        now = time.monotonic()
        if now - _last_logged < CACHE_LOST_LOG_EVERY_S:
            return
        _last_logged = now
    log.error(
        "throttle cache unreachable; letting %s %s through unthrottled (logged at most every %.0f s): %s: %s",
        request.method,
        request.path,
        CACHE_LOST_LOG_EVERY_S,
        exc.__class__.__name__,
        exc,
    )


class FailOpen:
    """Mixin for a ninja ``SimpleRateThrottle``: a cache error lets the request through."""

    def allow_request(self, request) -> bool:
        try:
            return super().allow_request(request)
        except Exception as exc:  # each cache backend raises its own connection errors
            _log_cache_lost(request, exc)
            return True


class AnonThrottle(FailOpen, AnonRateThrottle):
    """Anonymous requests, per client address."""


class AuthThrottle(FailOpen, AuthRateThrottle):
    """Authenticated requests, per user (anonymous ones per client address)."""


class _TokenThrottle(FailOpen, SimpleRateThrottle):
    """``POST /api/token`` only: password guessing is slowed per username and per client."""

    def ident(self, request) -> str | None:
        raise NotImplementedError

    def get_cache_key(self, request) -> str | None:
        ident = self.ident(request)
        if ident is None:
            return None
        return self.cache_format % {"scope": self.scope, "ident": hashlib.sha256(ident.encode()).hexdigest()}


class TokenUsernameThrottle(_TokenThrottle):
    """Attempts per username (``MEDIAREC_API_TOKEN_THROTTLE_RATE``), whoever sends them."""

    scope = "token-username"

    def ident(self, request) -> str | None:
        try:
            username = json.loads(request.body).get("username")
        except (ValueError, AttributeError):  # not JSON, or not an object: the schema refuses it
            return None
        return username.strip().lower() if isinstance(username, str) else None


class TokenClientThrottle(_TokenThrottle):
    """Attempts per client address (``MEDIAREC_API_TOKEN_CLIENT_THROTTLE_RATE``), whatever the username."""

    scope = "token-client"

    def ident(self, request) -> str | None:
        return self.get_ident(request)
