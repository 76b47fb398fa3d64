"""mediarec's system checks name what a host site is missing."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError


def test_a_site_without_django_contrib_postgres_is_told_before_migrating(settings):
    call_command("check")  # the project's own settings pass
    settings.INSTALLED_APPS = [app for app in settings.INSTALLED_APPS if app != "django.contrib.postgres"]
    with pytest.raises(SystemCheckError, match=r"mediarec\.E001.*django\.contrib\.postgres"):
        call_command("check")
