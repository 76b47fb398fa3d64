"""The world regenerates exactly from its seed; ground truth, holdouts and
stand-in embeddings behave as docs/WORLD.md says."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from lab.synthetic import World, WorldConfig
from lab.synthetic.audience import LIKE, VIEW
from lab.synthetic.catalog import FACTOR_NAMES

CONFIG = WorldConfig(n_videos=400, n_users=300, days=20, seed=11)
ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def world() -> World:
    return World.generate(CONFIG)


def test_same_seed_same_world(world):
    again = World.generate(CONFIG)
    assert again.interactions.tobytes() == world.interactions.tobytes()
    assert [(v.title, v.description, v.tags, v.attributes, v.render_seed) for v in again.videos] == [
        (v.title, v.description, v.tags, v.attributes, v.render_seed) for v in world.videos
    ]
    assert np.array_equal(again.audience.theta, world.audience.theta)
    assert np.array_equal(again.standin_embeddings(64), world.standin_embeddings(64))


def test_another_seed_another_world(world):
    other = World.generate(WorldConfig(n_videos=400, n_users=300, days=20, seed=12))
    assert [v.title for v in other.videos] != [v.title for v in world.videos]
    assert len(other.interactions) != len(world.interactions) or (
        other.interactions.tobytes() != world.interactions.tobytes()
    )


def test_interactions_are_well_formed(world):
    events = world.interactions
    assert len(events) > 1000
    assert np.all(np.diff(events["time"]) >= 0)
    assert events["time"].min() >= 0 and events["time"].max() < (CONFIG.days + 1) * 86400
    assert set(np.unique(events["kind"])) == set(range(len(World.KINDS)))
    views = events[events["kind"] == VIEW]
    pairs = views["user"].astype(np.int64) * CONFIG.n_videos + views["video"]
    assert len(np.unique(pairs)) == len(pairs), "a user views a video at most once"
    # every other event follows a view of the same pair, never before it
    first_view = dict(zip(pairs.tolist(), views["time"].tolist(), strict=True))
    others = events[events["kind"] != VIEW]
    for u, v, t in zip(others["user"][:2000], others["video"][:2000], others["time"][:2000], strict=True):
        assert first_view[int(u) * CONFIG.n_videos + int(v)] <= t
    # nobody watches a video before it is uploaded, or before they sign up
    created = world.catalog.created_day[views["video"]] * 86400
    assert np.all(views["time"] > created)
    assert np.all(views["time"] >= world.audience.signup_day[views["user"]] * 86400 - 1e-6)
    assert np.all((views["value"] > 0) & (views["value"] <= 1))


def test_relevance_is_queryable_and_consistent(world):
    matrix = world.relevance_matrix(np.array([3, 7]))
    assert matrix.shape == (2, CONFIG.n_videos)
    assert world.relevance(7, 42) == pytest.approx(float(matrix[1, 42]), abs=1e-6)
    top = world.relevant_items(3, k=10)
    assert len(top) == 10 and np.all(np.diff(matrix[0, top]) <= 0)
    above = world.relevant_items(3, threshold=0.4)
    assert np.all(matrix[0, above] >= 0.4) and np.sum(matrix[0] >= 0.4) == len(above)
    # a user's tastes are anchored to channels: their channels' videos are more relevant
    user = world.users[3]
    in_channel = np.isin([v.channel for v in world.videos], user.channels)
    assert matrix[0, in_channel].mean() > matrix[0, ~in_channel].mean() + 0.1


def _mean_relevance(world: World, events: np.ndarray) -> float:
    return float(
        np.mean([world.relevance(int(u), int(v)) for u, v in zip(events["user"], events["video"], strict=True)])
    )


def test_behaviour_follows_relevance(world):
    """Users view what suits them more than chance, and like it more than they view it."""
    events = world.interactions
    views, likes = events[events["kind"] == VIEW][:800], events[events["kind"] == LIKE][:800]
    random_mean = world.relevance_matrix(np.random.default_rng(0).integers(0, CONFIG.n_users, 50)).mean()
    assert random_mean + 0.05 < _mean_relevance(world, views) < _mean_relevance(world, likes)


def test_temporal_holdout(world):
    split = world.holdout_temporal(0.2)
    assert len(split.train) + len(split.test) == len(world.interactions)
    assert split.train["time"].max() < split.cutoff_time <= split.test["time"].min()
    assert len(split.test) == pytest.approx(0.2 * len(world.interactions), rel=0.02)


def test_new_uploads_holdout_has_no_training_interactions(world):
    split = world.holdout_new_uploads(0.1)
    assert len(split.test_videos) == 40
    assert not np.isin(split.train["video"], split.test_videos).any()
    assert np.isin(split.test["video"], split.test_videos).all()
    assert len(split.test) > 0
    newest = np.sort(world.catalog.created_day)[-40:]
    assert set(world.catalog.created_day[split.test_videos]) == set(newest)


def test_new_users_holdout(world):
    split = world.holdout_new_users(0.1)
    assert len(split.test_users) == 30
    assert not np.isin(split.train["user"], split.test_users).any()
    assert world.audience.signup_day[split.test_users].min() >= np.sort(world.audience.signup_day)[-30]
    assert len(split.test) > 0


def test_standin_embeddings_follow_attributes(world):
    vectors = world.standin_embeddings(256)
    assert vectors.shape == (CONFIG.n_videos, 256) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    codes = world.catalog.codes
    shared = (codes[:, None, :] == codes[None, :, :]).sum(-1)[:100, :100]  # attributes two videos share
    cosine = (vectors[:100] @ vectors[:100].T)[~np.eye(100, dtype=bool)]
    shared = shared[~np.eye(100, dtype=bool)]
    assert np.corrcoef(shared, cosine)[0, 1] > 0.8
    with pytest.raises(ValueError, match="at least"):
        world.standin_embeddings(16)


def test_attributes_and_render_settings_span_the_documented_ranges():
    world = World.generate(WorldConfig(n_videos=3000, n_users=1, days=1, seed=3))
    durations = np.array([v.duration_s for v in world.videos])
    assert durations.min() >= 1.0 and durations.max() <= 60.0 and np.median(durations) < 8
    assert (durations >= 30).sum() > 0
    sizes = {v.size for v in world.videos}
    assert (160, 120) in sizes and (640, 360) in sizes
    codecs = [v.codec for v in world.videos]
    assert 0.75 < codecs.count("h264") / len(codecs) < 0.95 and "vp9" in codecs
    for f, name in enumerate(FACTOR_NAMES):
        assert len(np.unique(world.catalog.codes[:, f])) > 1, name
    # channels are content clusters: a channel's videos share attributes more than the catalog does
    codes = world.catalog.codes
    speedway = np.flatnonzero(np.array([v.channel for v in world.videos]) == "speedway")[:200]
    assert _agreement(codes[speedway]) > _agreement(codes[:200]) + 0.1


def _agreement(codes: np.ndarray) -> float:
    """Mean share of factors on which two videos agree."""
    return float((codes[:, None, :] == codes[None, :, :]).mean())


def test_the_world_package_does_not_import_django():
    code = "import sys, lab.synthetic, lab.synthetic.render; assert 'django' not in sys.modules, 'django imported'"
    subprocess.run([sys.executable, "-c", code], check=True, env={"PYTHONPATH": str(ROOT)})
