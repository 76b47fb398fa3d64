"""The filesystem broker (used when no broker URL is set) keeps all of its
state under the data dir, whatever directory a process starts in."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from django.conf import settings

pytestmark = pytest.mark.slow  # trains, or starts processes or a browser

SEND = "from tasks.celery import app; app.send_task('tasks.ops.ping', args=['x'], queue='default')"


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
    assert (data_dir / "broker" / "control" / "default.exchange").is_file()
    assert len(list((data_dir / "broker" / "in").glob("*.default.msg"))) == 1
    assert not list(cwd.iterdir())  # nothing written where the process started
