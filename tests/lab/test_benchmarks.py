"""The benchmark suite's own parts on a tiny world, against this run's test
database: the figures come back complete (their values are not asserted:
speeds go in docs/BENCHMARKS.md)."""

from __future__ import annotations

import pytest
from django.conf import settings as django_settings

from lab.benchmarks.cf_fit import bench_cf_fit
from lab.benchmarks.ingest import bench_http_ingest
from lab.benchmarks.seed import bench_seed_world
from mediarec.models import CFModelVersion, Interaction

pytestmark = pytest.mark.slow  # trains, or starts processes or a browser


@pytest.mark.django_db(transaction=True)
def test_seed_cf_and_http_ingest_figures(settings, tmp_path, monkeypatch):
    settings.MEDIAREC_DATA_DIR = tmp_path  # CF factor files and the gunicorn log
    # gunicorn (a child process) must open this run's test database
    monkeypatch.setenv("DJANGO_SETTINGS_MODULE", "tests.settings")
    monkeypatch.setenv("MEDIAREC_DB_NAME", django_settings.DATABASES["default"]["NAME"])

    seed = bench_seed_world(videos=60, users=40, days=5, seed=3, log=lambda _: None)
    assert seed["interactions"] == Interaction.objects.count() > 0
    assert seed["interactions_per_s_copy"] > 0

    cf = bench_cf_fit(log=lambda _: None)
    assert cf["interactions"] == seed["interactions"]
    assert cf["nonzeros"] <= cf["interactions"] and cf["ratio"] > 0
    assert CFModelVersion.objects.filter(is_active=True).count() == 1  # left for the serving benchmark

    ingest = bench_http_ingest(events=450, batch=200, clients=2, workers=1, log=lambda _: None)
    assert ingest["events"] == 450  # 3 batches of 200, 200, 50
    assert Interaction.objects.count() == seed["interactions"] + 450 + 200  # + the warm-up batch
    assert (tmp_path / "bench-gunicorn.log").exists()
