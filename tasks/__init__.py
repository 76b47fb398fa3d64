"""Celery app and thin tasks. ``celery -A tasks worker`` finds ``tasks.celery.app``."""

from tasks.celery import app

__all__ = ["app"]
