"""The reference site's settings under a production environment: the one
documented in docs/OPERATIONS.md ("Security") passes ``check --deploy`` with no
warning at all, and the defaults still run plain HTTP for development."""

from __future__ import annotations

import os
import subprocess
import sys

from django.conf import settings

# docs/OPERATIONS.md, "Security": the environment a deployment behind a TLS proxy sets.
PRODUCTION_ENV = {
    "DJANGO_SECRET_KEY": "k7#Qz!v9Lp2@wX4$mN8^rT1&bY6*cH3(eJ5)gU0-fA+dS7=hK2~jW9;pV4",  # 50+ random characters
    "DJANGO_DEBUG": "false",
    "DJANGO_ALLOWED_HOSTS": "videos.example.org",
    "DJANGO_CSRF_TRUSTED_ORIGINS": "https://videos.example.org",
    "DJANGO_SECURE_PROXY_SSL_HEADER": "HTTP_X_FORWARDED_PROTO=https",
    "DJANGO_SECURE_SSL_REDIRECT": "true",
    "DJANGO_SECURE_HSTS_SECONDS": "31536000",
    "DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS": "true",
    "DJANGO_SECURE_HSTS_PRELOAD": "true",
    "DJANGO_NUM_PROXIES": "1",
    # check --deploy needs no database or broker: unreachable addresses prove it.
    "DATABASE_URL": "postgres://mediarec:unused@127.0.0.1:9/mediarec",
    "CELERY_BROKER_URL": "redis://127.0.0.1:9/0",
    "MEDIAREC_CACHE_URL": "redis://127.0.0.1:9/1",
}


def _run(args: list[str], env: dict, tmp_path) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "MEDIAREC_", "CELERY_", "DATABASE_"))}
    base |= {"DJANGO_SETTINGS_MODULE": "reference_site.settings", "MEDIAREC_DATA_DIR": str(tmp_path)}
    return subprocess.run(
        [sys.executable, *args], env=base | env, cwd=settings.BASE_DIR, capture_output=True, text=True, timeout=120
    )


def test_the_documented_production_environment_passes_check_deploy_without_warnings(tmp_path):
    out = _run(["manage.py", "check", "--deploy", "--fail-level", "WARNING"], PRODUCTION_ENV, tmp_path)
    report = out.stdout + out.stderr
    for check in ("W004", "W008", "W012", "W016"):
        assert check not in report
    assert out.returncode == 0, report
    assert "System check identified no issues" in report


PROBE = (
    "import django, json; django.setup(); from django.conf import settings as s; "
    "print(json.dumps([s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, s.SECURE_SSL_REDIRECT, "
    "s.SECURE_HSTS_SECONDS, s.SECURE_PROXY_SSL_HEADER, s.NINJA_NUM_PROXIES]))"
)


def test_https_settings_come_from_the_environment_and_default_to_plain_http(tmp_path):
    import json

    default = _run(["-c", PROBE], {"DATABASE_URL": PRODUCTION_ENV["DATABASE_URL"]}, tmp_path)
    assert json.loads(default.stdout.splitlines()[-1]) == [False, False, False, 0, None, 0], default.stderr
    behind_proxy = {
        "DATABASE_URL": PRODUCTION_ENV["DATABASE_URL"],
        "DJANGO_SECURE_PROXY_SSL_HEADER": "HTTP_X_FORWARDED_PROTO",
    }
    production = _run(["-c", PROBE], behind_proxy, tmp_path)
    assert json.loads(production.stdout.splitlines()[-1]) == [
        True,
        True,
        False,
        0,
        ["HTTP_X_FORWARDED_PROTO", "https"],
        0,
    ], production.stderr
