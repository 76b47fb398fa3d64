"""The engine's quality on the world renderer: trained as the demo trains it, do held-out videos embedded from
pixels alone land near videos that look alike, and near their own titles?

This is `evaluate --embeddings` on the demo's world (seed 7, 300 videos, 60 held out), with the demo's
training (``DEMO_TRAINING``). The floors sit about 25 % under what docs/EVALUATION.md records, so a change that
makes the model blind again fails here; issue #13's targets (colour 4x, shape 2.5x, motion 2x, title R@1 0.30)
are above them and not reached yet.
"""

from __future__ import annotations

import pytest

from lab.evaluation.embedding_quality import run
from lab.evaluation.engine_vectors import DEMO_TRAINING

# renders 300 videos and trains the demo's 300 steps: 2-4 minutes on a 2-core box, and boxes differ by 2x, so
# the module's fixture gets more than the suite's 600 s (one run under load went past it)
pytestmark = [pytest.mark.slow, pytest.mark.timeout(1500)]


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    return run(7, {**DEMO_TRAINING, "num_workers": 2}, n_videos=300, cache=tmp_path_factory.mktemp("renders"))


def test_pixels_alone_group_videos_by_colour(report):
    print("\n" + report.table())
    pixels = report.agreement["video only (pixels)"]
    assert pixels["color"] >= 2.5  # random is 1.0
    assert pixels["color"] > report.agreement["text only (stored text)"]["color"] * 0.75


def test_titles_find_their_videos_from_pixels(report):
    title = report.recall["title -> video (pixels)"]
    stored = report.recall["stored text -> video (pixels)"]
    chance_at_10 = 10 / report.n_test
    assert title[10] >= 2.5 * chance_at_10
    assert stored[10] >= 0.65 and stored[1] >= 8 / report.n_test
