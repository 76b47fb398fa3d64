"""The embedded Postgres: several processes share it, it stops when the last
one exits, and the next start finds the data again."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import psutil
import pytest

pytestmark = pytest.mark.slow  # trains, or starts processes or a browser

ROOT = Path(__file__).resolve().parents[3]  # the repository (tests/mediarec/database/ is three below)

SCRIPT = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    import psycopg
    from mediarec.database.embedded import embedded_database_settings

    db = embedded_database_settings(Path(sys.argv[1]), "probe")
    with psycopg.connect(dbname=db["NAME"], user=db["USER"], host=db["HOST"], port=db["PORT"], autocommit=True) as c:
        c.execute("CREATE EXTENSION IF NOT EXISTS vector")
        c.execute("CREATE TABLE IF NOT EXISTS t (v vector(3))")
        if sys.argv[2] == "write":
            c.execute("INSERT INTO t VALUES ('[1,2,3]')")
        print("rows", c.execute("SELECT count(*) FROM t").fetchone()[0])
    """
)


def run(data_dir: Path, action: str) -> str:
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(data_dir), action], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout.strip()


def start_holder(data_dir: Path) -> subprocess.Popen:
    """A process that writes a row, then keeps its handle on the server for 30 s."""
    return subprocess.Popen(
        [sys.executable, "-c", SCRIPT + "\nimport time; time.sleep(30)", str(data_dir), "write"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )


def postgres_running_for(data_dir: Path) -> bool:
    for proc in psutil.process_iter(attrs=("name", "cmdline")):
        cmdline = " ".join(proc.info["cmdline"] or [])
        if proc.info["name"] == "postgres" and str(data_dir / "pgdata") in cmdline:
            return True
    return False


def test_server_stops_with_last_process_and_keeps_data(tmp_path):
    data_dir = tmp_path / "data"
    assert run(data_dir, "write") == "rows 1"
    assert not postgres_running_for(data_dir), "server should stop when its last process exits"
    assert run(data_dir, "read") == "rows 1"
    assert run(data_dir, "write") == "rows 2"
    assert not postgres_running_for(data_dir)


def test_server_is_shared_between_processes(tmp_path):
    data_dir = tmp_path / "data"
    holder = start_holder(data_dir)
    try:
        assert holder.stdout.readline().strip() == "rows 1"
        # A second process attaches to the running server and sees the row.
        assert run(data_dir, "read") == "rows 1"
        assert postgres_running_for(data_dir), "the first process still holds the server"
    finally:
        holder.send_signal(signal.SIGINT)
        holder.wait(30)
    assert not postgres_running_for(data_dir)


def test_a_killed_process_does_not_keep_the_server_alive(tmp_path):
    data_dir = tmp_path / "data"
    victim = start_holder(data_dir)
    assert victim.stdout.readline().strip() == "rows 1"
    victim.kill()
    victim.wait(10)
    assert postgres_running_for(data_dir)
    # The next process forgets the dead one, and stops the server on exit.
    assert run(data_dir, "read") == "rows 1"
    assert not postgres_running_for(data_dir)


def test_a_holder_stopped_with_sigterm_stops_the_server(tmp_path):
    data_dir = tmp_path / "data"
    holder = start_holder(data_dir)
    assert holder.stdout.readline().strip() == "rows 1"
    assert postgres_running_for(data_dir)
    holder.send_signal(signal.SIGTERM)
    assert holder.wait(30) == 128 + signal.SIGTERM  # a normal exit, through atexit
    assert not postgres_running_for(data_dir), "the last holder's SIGTERM must stop the server"
    assert run(data_dir, "read") == "rows 1"  # and the data survive


def test_runserver_stopped_with_sigterm_stops_the_server(tmp_path):
    import os
    import socket
    import time

    data_dir = tmp_path / "data"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "DJANGO_SETTINGS_MODULE"}}
    env |= {"MEDIAREC_DATA_DIR": str(data_dir), "DJANGO_SETTINGS_MODULE": "reference_site.settings"}
    server = subprocess.Popen(
        [sys.executable, "manage.py", "runserver", "--noreload", f"127.0.0.1:{port}"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 90
        while True:  # serving: it holds the server
            assert server.poll() is None and time.monotonic() < deadline, "runserver did not come up"
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.5)
        assert postgres_running_for(data_dir)
        server.send_signal(signal.SIGTERM)
        server.wait(30)
    finally:
        if server.poll() is None:
            server.kill()
    assert not postgres_running_for(data_dir)
