"""Helpers for tests that lose the database connection the way a server restart does."""

from __future__ import annotations

from django.db import close_old_connections, connection, connections


def drop_connection() -> None:
    """Terminate this process's database session from a second connection, as a server restart would."""
    pid = connection.connection.info.backend_pid
    other = connections.create_connection("default")
    try:
        with other.cursor() as cursor:
            cursor.execute("SELECT pg_terminate_backend(%s)", [pid])
            assert cursor.fetchone()[0]
    finally:
        other.close()


def served_get(client, url, headers):
    """A GET with the connection upkeep a WSGI server's request signals do
    (Django's test client leaves it out to keep the test's connection)."""
    close_old_connections()
    try:
        return client.get(url, headers=headers)
    finally:
        close_old_connections()
