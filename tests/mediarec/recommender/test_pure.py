"""``mediarec.recommender`` is pure numpy: importing every part of it loads no Django."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
PARTS = (
    "base", "blend", "cf", "cold_map", "config", "content", "ease", "hybrid", "popularity", "ranked", "ranker",
    "split", "weights",
)  # fmt: skip


def test_the_recommender_package_does_not_import_django():
    imports = "; ".join(f"import mediarec.recommender.{part}" for part in PARTS)
    code = f"import sys; {imports}; assert 'django' not in sys.modules, 'django imported'"
    subprocess.run([sys.executable, "-c", code], check=True, env={"PYTHONPATH": str(ROOT)})
