"""Django's PostgreSQL backend, with connection health checks only where they
can catch something.

``CONN_HEALTH_CHECKS`` sends ``SELECT 1`` before the first query of every
request, one extra round trip per API call. A connection that finished a
request without a database error less than ``RECENTLY_PROVEN_S`` ago skips
that check; one that sat idle longer (when a restarted or failed-over server
has most likely dropped it) is still checked. If the server drops a
connection in that short window, the request that finds out gets a clear
error (a 503 from the API and the pages) and Django closes the connection when that
request ends, so the next request reconnects.
"""

from __future__ import annotations

import time

from django.core.signals import request_finished
from django.db import connections
from django.db.backends.postgresql import base

RECENTLY_PROVEN_S = 1.0


class DatabaseWrapper(base.DatabaseWrapper):
    proven_at: float | None = None  # monotonic time a request last ended on this connection without errors

    def close_if_health_check_failed(self):
        if (
            self.connection is not None
            and self.proven_at is not None
            and time.monotonic() - self.proven_at < RECENTLY_PROVEN_S
        ):
            self.health_check_done = True
            return
        super().close_if_health_check_failed()

    def close(self):
        self.proven_at = None
        super().close()


def _prove_connections(**kwargs) -> None:
    now = time.monotonic()
    for conn in connections.all(initialized_only=True):
        if isinstance(conn, DatabaseWrapper):
            works = conn.connection is not None and not conn.errors_occurred and not conn.connection.closed
            conn.proven_at = now if works else None


request_finished.connect(_prove_connections)
