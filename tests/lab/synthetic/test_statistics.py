"""The simulated statistics match docs/WORLD.md: the test reads the table
between the ``statistics`` markers and checks each row against the reference
world, so the documentation and the simulation cannot drift apart."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from lab.synthetic import World, WorldConfig
from lab.synthetic.audience import VIEW

DOC = Path(__file__).resolve().parents[3] / "docs" / "WORLD.md"
REFERENCE = WorldConfig(n_videos=2000, n_users=2000, days=30, seed=0)


def documented() -> dict[str, tuple[float, float]]:
    text = DOC.read_text()
    table = text.split("<!-- statistics:begin -->")[1].split("<!-- statistics:end -->")[0]
    rows = re.findall(r"^\| `(\w+)` \| ([\d.]+) \| ([\d.]+) \|", table, flags=re.MULTILINE)
    return {name: (float(value), float(tolerance)) for name, value, tolerance in rows}


@pytest.fixture(scope="module")
def world() -> World:
    return World.generate(REFERENCE)


def test_the_doc_states_the_required_statistics():
    assert {"activity_exponent", "views_gini", "top10_view_share", "like_rate"} <= set(documented())
    assert (
        f"WorldConfig(n_videos={REFERENCE.n_videos}, n_users={REFERENCE.n_users}, days={REFERENCE.days}, seed={REFERENCE.seed})"
        in DOC.read_text()
    )


@pytest.mark.parametrize("name", sorted(documented()))
def test_simulation_matches_the_doc(world, name):
    value, tolerance = documented()[name]
    assert world.statistics()[name] == pytest.approx(value, abs=tolerance)


def test_activity_is_a_long_tailed_power_law(world):
    views = world.interactions[world.interactions["kind"] == VIEW]
    per_user = np.bincount(views["user"], minlength=len(world.users))
    assert per_user.max() > 15 * np.median(per_user)
    # the fitted exponent recovers the generating one
    assert world.statistics()["activity_exponent"] == pytest.approx(REFERENCE.activity_exponent, abs=0.1)
    # log-log survival function is close to a straight line over the tail
    x = np.sort(per_user[per_user >= 20])[::-1]
    survival = np.arange(1, len(x) + 1) / len(x)
    slope = np.polyfit(np.log(x), np.log(survival), 1)[0]
    assert slope == pytest.approx(-(REFERENCE.activity_exponent - 1), abs=0.25)
