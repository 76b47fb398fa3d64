"""System checks: what a host site must install for mediarec to work."""

from __future__ import annotations

from django.apps import apps
from django.core.checks import Error, register


@register()
def postgres_app_installed(app_configs=None, **kwargs) -> list[Error]:
    """The video index is an HNSW index over a half-precision cast with an
    operator class; without ``django.contrib.postgres`` Django writes it as
    invalid SQL and ``migrate`` fails with a syntax error."""
    if apps.is_installed("django.contrib.postgres"):
        return []
    return [
        Error(
            "mediarec needs 'django.contrib.postgres' in INSTALLED_APPS.",
            hint="Add it before 'mediarec'; the video embedding index is built with its operator classes.",
            id="mediarec.E001",
        )
    ]
