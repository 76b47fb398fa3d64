"""Test settings: the site settings, with everything a test run writes kept
apart per run (own test database, media folder and Redis key prefix), so
several runs can share the embedded Postgres and Redis at once. A worker
subprocess started by the tests inherits the same environment."""

import os
import tempfile

RUN_ID = os.environ.setdefault("MEDIAREC_TEST_RUN_ID", str(os.getpid()))
os.environ.setdefault("CELERY_BROKER_URL", "redis://127.0.0.1:6379/0")
os.environ.setdefault("CELERY_BROKER_KEYPREFIX", f"mediarec-test-{RUN_ID}:")
os.environ.setdefault("MEDIAREC_TEST_DB_NAME", f"test_mediarec_{RUN_ID}")
os.environ.setdefault("MEDIAREC_MEDIA_ROOT", os.path.join(tempfile.gettempdir(), f"mediarec-test-media-{RUN_ID}"))

from reference_site.settings import *  # noqa: E402, F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
