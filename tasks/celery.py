"""The Celery app, configured from Django settings (every ``CELERY_*`` key)."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "reference_site.settings")

app = Celery("mediarec")
app.config_from_object("django.conf:settings", namespace="CELERY")
