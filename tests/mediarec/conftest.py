import pytest

from mediarec.caching import caches_clear


@pytest.fixture(autouse=True)
def _own_data_dir(settings, tmp_path):
    """CF factor files go to a temporary data dir, never the site's."""
    settings.MEDIAREC_DATA_DIR = tmp_path


@pytest.fixture(autouse=True)
def _fresh_serving_caches():
    """Serving caches the active versions and trending per process; start each test clean."""
    caches_clear()
    yield
    caches_clear()
