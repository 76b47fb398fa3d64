"""The suite's own database: ``mediarec_bench`` on the same server as the site
(the embedded Postgres, or the server of ``DATABASE_URL``), emptied before a
run, so the figures never depend on, or disturb, the demo's data."""

from __future__ import annotations

import os
from urllib.parse import urlsplit, urlunsplit

BENCH_DB = "mediarec_bench"


def use_database(name: str = BENCH_DB) -> None:
    """Point this process, and every process it starts, at database ``name``,
    then set Django up. Call before anything imports the settings."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "reference_site.settings")
    url = os.environ.get("DATABASE_URL")
    if url:
        os.environ["DATABASE_URL"] = urlunsplit(urlsplit(url)._replace(path=f"/{name}"))
    else:
        os.environ["MEDIAREC_DB_NAME"] = name
    import django

    django.setup()


def reset_database() -> None:
    """Migrate, then empty every table and forget any CF factor files of this database."""
    from pathlib import Path

    from django.core.management import call_command

    from mediarec.models import CFModelVersion

    call_command("migrate", interactive=False, verbosity=0)
    for path in CFModelVersion.objects.values_list("path", flat=True):
        Path(path).unlink(missing_ok=True)
    call_command("flush", interactive=False, verbosity=0)
