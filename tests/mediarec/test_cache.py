"""The cache that holds the API throttle's counters: per process by default,
shared by every process through Redis with ``MEDIAREC_CACHE_URL``."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid

import pytest
from django.conf import settings

pytestmark = pytest.mark.slow  # trains, or starts processes or a browser

PROBE = """
import sys, django
django.setup()
from django.core.cache import caches
cache = caches["default"]
action, key = sys.argv[1], sys.argv[2]
if action == "set":
    cache.set(key, "seen", 60)
print(type(cache).__name__, cache.get(key))
"""


def _in_a_new_process(action: str, key: str, extra_env: dict) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEDIAREC_CACHE_")}
    env |= {"DJANGO_SETTINGS_MODULE": "tests.settings"} | extra_env
    out = subprocess.run(
        [sys.executable, "-c", PROBE, action, key], env=env, cwd=settings.BASE_DIR, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    return out.stdout.strip().splitlines()[-1]


def test_web_processes_share_the_throttle_cache_only_when_told_to():
    key = f"throttle-probe-{uuid.uuid4().hex}"
    assert _in_a_new_process("set", key, {}) == "LocMemCache seen"
    assert _in_a_new_process("get", key, {}) == "LocMemCache None"  # another process, another cache

    shared = {"MEDIAREC_CACHE_URL": "redis://127.0.0.1:6379/0", "MEDIAREC_CACHE_KEY_PREFIX": f"mediarec-test-{key}"}
    assert _in_a_new_process("set", key, shared) == "RedisCache seen"
    assert _in_a_new_process("get", key, shared) == "RedisCache seen"  # set by the other process
