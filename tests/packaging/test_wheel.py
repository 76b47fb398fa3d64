"""The plugin installs as a wheel into a host project of its own.

The wheel is built from this checkout, installed into a fresh virtualenv, and
a minimal host project (its own settings and urls, ``django.contrib.postgres``
and ``mediarec`` installed, the embedded database under its own data dir) runs
``migrate``, uploads a generated video through the API and renders the feed
page. The new virtualenv takes its dependencies from the project's pinned one
(a ``.pth`` line), so nothing is downloaded; ``pip install --no-index`` still
checks that the wheel's declared requirements are met.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from tests.videos import write_video

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow

HOST_SETTINGS = """
from pathlib import Path
from mediarec.database.embedded import embedded_database_settings

DATA_DIR = Path({data_dir!r})
SECRET_KEY = "host-project-test-key-only-used-in-this-test"
DEBUG = False
ALLOWED_HOSTS = ["testserver"]
INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "mediarec",
]
MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]
ROOT_URLCONF = "host.urls"
TEMPLATES = [{{
    "BACKEND": "django.template.backends.django.DjangoTemplates",
    "APP_DIRS": True,
    "OPTIONS": {{"context_processors": [
        "django.template.context_processors.request",
        "django.contrib.auth.context_processors.auth",
        "django.contrib.messages.context_processors.messages",
    ]}},
}}]
DATABASES = {{"default": embedded_database_settings(DATA_DIR, "host")}}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
USE_TZ = True
STATIC_URL = "static/"
MEDIA_ROOT = DATA_DIR / "media"
MEDIA_URL = "media/"
MEDIAREC_DATA_DIR = DATA_DIR
CELERY_BROKER_URL = "redis://127.0.0.1:6379/0"
CELERY_BROKER_TRANSPORT_OPTIONS = {{"global_keyprefix": {prefix!r}}}
"""

HOST_URLS = """
from django.contrib import admin
from django.urls import include, path
from mediarec.api import api

urlpatterns = [path("admin/", admin.site.urls), path("api/", api.urls), path("", include("mediarec.urls"))]
"""


def run(argv: list[str], **kwargs) -> subprocess.CompletedProcess:
    result = subprocess.run(argv, capture_output=True, text=True, timeout=600, **kwargs)
    assert result.returncode == 0, f"{argv} exited {result.returncode}:\n{result.stdout}\n{result.stderr}"
    return result


def test_wheel_installs_into_a_host_project(tmp_path):
    dist = tmp_path / "dist"
    run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(dist), str(ROOT)])
    (wheel,) = dist.glob("mediarec-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {"mediarec/templates/mediarec/home.html", "mediarec/static/mediarec/site.css"} <= names
    assert "mediarec/migrations/0001_initial.py" in names and "tasks/celery.py" in names
    assert "videobert_engine/joint.py" in names
    assert not any(n.startswith(("lab/", "reference_site/", "tests/")) for n in names), "the lab stays out"

    venv = tmp_path / "venv"
    run([sys.executable, "-m", "venv", str(venv)])
    python = venv / "bin" / "python"
    site = run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]).stdout.strip()
    Path(site, "pinned-dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    run([str(python), "-m", "pip", "uninstall", "-y", "-q", "setuptools"])  # venv's own, older than the lock's
    run([str(python), "-m", "pip", "install", "--no-index", "-q", str(wheel)])

    host = tmp_path / "hostproject"
    (host / "host").mkdir(parents=True)
    (host / "host" / "__init__.py").write_text("")
    prefix = f"mediarec-wheel-test-{os.getpid()}:"
    (host / "host" / "settings.py").write_text(HOST_SETTINGS.format(data_dir=str(tmp_path / "data"), prefix=prefix))
    (host / "host" / "urls.py").write_text(HOST_URLS)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "MEDIAREC_", "CELERY_", "PYTHON"))}
    env["DJANGO_SETTINGS_MODULE"] = "host.settings"
    django_admin = [str(python), "-m", "django"]
    try:
        run([*django_admin, "check"], cwd=host, env=env)
        migrated = run([*django_admin, "migrate", "--noinput"], cwd=host, env=env)
        assert "Applying mediarec.0001_initial... OK" in migrated.stdout
        assert "mediarec_lab" not in migrated.stdout
        clip = write_video(tmp_path / "clip.mp4", frames=24)
        (host / "host_check.py").write_text((ROOT / "tests/packaging/host_check.py").read_text())
        seen = json.loads(run([str(python), "host_check.py", str(clip)], cwd=host, env=env).stdout.splitlines()[-1])
    finally:
        subprocess.run([str(python), "-c", "from pathlib import Path; from mediarec.database.embedded import stop_embedded_server; "
                        f"stop_embedded_server(Path({str(tmp_path / 'data')!r}))"], cwd=host, env=env, capture_output=True, timeout=120)  # fmt: skip

    assert seen["mediarec_file"].startswith(str(venv)), "the host imports the installed wheel, not this checkout"
    assert seen["upload_status"] == 201, seen["upload"]
    assert seen["upload"]["status"] == "queued" and seen["video_file_exists"]
    assert seen["home_status"] == 200 and seen["home_for_you"]
    assert seen["home_template"].startswith(str(venv)) and seen["home_template"].endswith("mediarec/home.html")
