"""The WSGI entry point limits BLAS to one thread per web worker."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from django.conf import settings

pytestmark = pytest.mark.slow  # trains, or starts processes or a browser

PROBE = """
import json
import reference_site.wsgi
import mediarec.serving.feeds  # numpy, scipy and implicit, as a worker loads them
from threadpoolctl import threadpool_info
print(json.dumps([(p["internal_api"], p["num_threads"]) for p in threadpool_info() if p["user_api"] == "blas"]))
"""


def test_web_workers_run_one_blas_thread_unless_told_otherwise():
    env = {k: v for k, v in os.environ.items() if not k.endswith("_NUM_THREADS")}
    env["DJANGO_SETTINGS_MODULE"] = "tests.settings"

    def blas_threads(extra: dict) -> list:
        out = subprocess.run(
            [sys.executable, "-c", PROBE], env=env | extra, cwd=settings.BASE_DIR, capture_output=True, text=True
        )
        assert out.returncode == 0, out.stderr
        return json.loads(out.stdout.strip().splitlines()[-1])

    default = blas_threads({})
    assert default and all(n == 1 for _, n in default), default
    assert all(n == 2 for _, n in blas_threads({"OPENBLAS_NUM_THREADS": "2"}) if _ == "openblas")
