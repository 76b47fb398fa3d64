"""The API's rate limits, counted in the site's cache (``MEDIAREC_CACHE_URL``).

Every throttle here fails open: when the cache cannot be reached a request
goes through unthrottled and a line is logged (at most once a minute per
process), because refusing every request would let a lost cache take the
whole API down. The rates are ``MEDIAREC_API_*_RATE`` settings (``conf.py``).
"""

from __future__ import annotations

import logging
import threading
import time

from ninja.throttling import AnonRateThrottle, AuthRateThrottle

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
