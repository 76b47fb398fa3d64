"""Without DJANGO_SECRET_KEY the site signs with a random key made once per data
dir and shared by all of its processes; the source holds no key."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from mediarec.secret_key import secret_key_for

ROOT = Path(__file__).resolve().parents[2]
SETTINGS_KEY = "import django.conf as c, os; os.environ['DJANGO_SETTINGS_MODULE']='reference_site.settings'; print(c.settings.SECRET_KEY)"


def _site_key(data_dir: Path) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "MEDIAREC_"))}
    # a DATABASE_URL is only parsed by the settings: no embedded server starts for this check
    env |= {"MEDIAREC_DATA_DIR": str(data_dir), "DATABASE_URL": "postgres://nobody@127.0.0.1:9/none"}
    return subprocess.run(
        [sys.executable, "-c", SETTINGS_KEY], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    ).stdout.strip()


def test_a_key_is_made_once_per_data_dir_private_and_shared_by_processes(tmp_path):
    data_dir = tmp_path / "site"
    code = f"from pathlib import Path; from mediarec.secret_key import secret_key_for; print(secret_key_for(Path({str(data_dir)!r})))"
    procs = [
        subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, stdout=subprocess.PIPE, text=True) for _ in range(4)
    ]
    keys = {p.communicate(timeout=60)[0].strip() for p in procs}
    assert len(keys) == 1 and len(keys.pop()) >= 50, "processes racing at first start agree on one key"
    assert (data_dir / "secret_key").stat().st_mode & 0o777 == 0o600
    assert not list(data_dir.glob(".secret_key.*")), "no partial file is left"
    assert secret_key_for(data_dir) == (data_dir / "secret_key").read_text()


def test_the_site_signs_with_its_data_dirs_key_unless_one_is_set(tmp_path):
    first, second = _site_key(tmp_path / "a"), _site_key(tmp_path / "b")
    assert first == (tmp_path / "a" / "secret_key").read_text() and first == _site_key(tmp_path / "a")
    assert first != second, "two sites never share a key by default"
    assert "mediarec-dev-only-insecure-key" not in (ROOT / "reference_site" / "settings.py").read_text()
