"""The filesystem broker (used when no broker URL is set) keeps all of its
state under the data dir, whatever directory a process starts in."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from django.conf import settings

pytestmark = pytest.mark.slow  # trains, or starts processes or a browser

SEND = (
    "from tasks.celery import app; app.send_task('tasks.ops.ping', args=['x'], queue='default'); "
    "print(type(app.connection_for_write().transport).__module__)"
)


def test_the_filesystem_broker_keeps_its_exchange_bindings_under_the_data_dir(tmp_path):
    data_dir, cwd = tmp_path / "data", tmp_path / "elsewhere"
    cwd.mkdir()
    env = os.environ | {
        "CELERY_BROKER_URL": "filesystem://",
        "MEDIAREC_DATA_DIR": str(data_dir),
        "DATABASE_URL": "postgres://nobody@127.0.0.1:1/unused",  # never connected to
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "PYTHONPATH": str(settings.BASE_DIR),
    }
    sent = subprocess.run(
        [sys.executable, "-c", f"import django; django.setup(); {SEND}"],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
    )
    assert sent.returncode == 0, sent.stderr
    assert sent.stdout.split()[-1] == "tasks.broker"  # the atomic transport below, not kombu's own
    assert (data_dir / "broker" / "control" / "default.exchange").is_file()
    assert len(list((data_dir / "broker" / "in").glob("*.default.msg"))) == 1
    assert not list(cwd.iterdir())  # nothing written where the process started


def test_a_reader_never_finds_a_message_half_written(tmp_path):
    """kombu's own channel creates the file before it fills it; a reader polling the folder then read nothing."""
    import json
    import threading

    from kombu import Connection

    folder = tmp_path / "in"
    folder.mkdir()
    options = {"data_folder_in": str(folder), "data_folder_out": str(folder), "control_folder": str(tmp_path)}
    seen, bad, done = [], [], threading.Event()

    def read():
        while not done.is_set():
            for name in os.listdir(folder):
                if name.partition(".")[2] != "q.msg":  # what kombu's reader matches
                    continue
                try:
                    text = (folder / name).read_text()
                except FileNotFoundError:
                    continue
                seen.append(name)
                try:
                    json.loads(text)
                except ValueError:
                    bad.append(name)

    reader = threading.Thread(target=read)
    reader.start()
    with Connection("filesystem://", transport="tasks.broker:Transport", transport_options=options) as conn:
        channel = conn.default_channel
        for i in range(300):
            channel._put("q", {"body": "x" * 20_000, "n": i})
    done.set()
    reader.join()
    assert len(os.listdir(folder)) == 300 and not [n for n in os.listdir(folder) if n.endswith(".partial")]
    assert seen and bad == []
