"""The recommender contract: every recommender, in memory or served from the
database, passes the same suite on the toy world (``world.py``).

The cold-start clauses apply to the recommenders that read content; a pure
CF or popularity model cannot know a video nobody has touched, which is
exactly what the blend adds."""

from __future__ import annotations

from functools import partial

import numpy as np
import pytest

from mediarec.recommender.cf import ALSRecommender, BPRRecommender, ColdALSRecommender
from mediarec.recommender.content import ContentRecommender
from mediarec.recommender.ease import EASERecommender
from mediarec.recommender.hybrid import HybridRecommender
from mediarec.recommender.popularity import PopularityRecommender
from mediarec.recommender.ranked import RankedRecommender
from mediarec.recommender.weights import positive_part
from tests.mediarec.recommender.harness import InMemory, Served
from tests.mediarec.recommender.toy import N_USERS, toy_world

HARNESSES = [
    pytest.param(partial(InMemory, cls), id=cls.__name__)
    for cls in (
        PopularityRecommender,
        ALSRecommender,
        ColdALSRecommender,
        BPRRecommender,
        EASERecommender,
        ContentRecommender,
        HybridRecommender,
        RankedRecommender,
    )
] + [pytest.param(Served, id="served", marks=pytest.mark.django_db)]
CONTENT_HARNESSES = [
    p for p in HARNESSES if p.id in {"ContentRecommender", "HybridRecommender", "RankedRecommender", "served"}
]


@pytest.fixture(scope="module")
def world():
    return toy_world()


@pytest.fixture
def fitted(request, world):
    harness = request.param()
    harness.fit(world)
    return harness


@pytest.mark.parametrize("fitted", HARNESSES, indirect=True)
def test_n_is_respected(fitted):
    for n in (1, 5, 12):
        for user in (0, 1, 2):
            recs = fitted.recommend(user, n)
            assert len(recs) == n
            assert len(set(recs)) == n


@pytest.mark.parametrize("fitted", HARNESSES, indirect=True)
def test_no_seen_or_disliked_items(fitted, world):
    for user in range(0, N_USERS, 4):
        recs = set(fitted.recommend(user, 15))
        assert world.disliked(user)  # the toy world gives every user a dislike
        assert not recs & world.history(user), f"user {user} was shown what they already saw"


@pytest.mark.parametrize("fitted", HARNESSES, indirect=True)
def test_deterministic_for_a_seed(fitted, world):
    before = [fitted.recommend(user, 10) for user in range(6)]
    fitted.fit(world, seed=7)  # a fresh fit with the same seed
    after = [fitted.recommend(user, 10) for user in range(6)]
    assert before == after


@pytest.mark.parametrize("fitted", CONTENT_HARNESSES, indirect=True)
def test_cold_start_video_reaches_a_matching_user(fitted, world):
    assert fitted.reaches_cold_items
    fans = [u for u in range(N_USERS) if world.user_topic[u] == world.topic[world.cold_item]]
    reached = [u for u in fans if world.cold_item in fitted.recommend(u, 10)]
    assert len(reached) >= len(fans) * 0.8, f"cold video reached {len(reached)}/{len(fans)} matching users"
    others = [u for u in range(N_USERS) if world.user_topic[u] != world.topic[world.cold_item]]
    assert not any(world.cold_item in fitted.recommend(u, 5) for u in others)


@pytest.mark.parametrize("fitted", HARNESSES, indirect=True)
def test_new_user_gets_trending(fitted, world):
    popularity = np.asarray(positive_part(world.matrix()).sum(axis=0)).ravel()
    order = np.lexsort((np.arange(world.n_items), -popularity))
    recs = fitted.recommend_new([], 8)
    assert len(recs) == 8
    assert recs[0] == order[0]
    assert set(recs) <= set(order[:16].tolist())


@pytest.mark.parametrize("fitted", CONTENT_HARNESSES, indirect=True)
def test_new_user_first_signal_brings_content(fitted, world):
    first_like = int(np.flatnonzero(world.topic == 1)[-1])  # an unpopular topic-1 video
    recs = fitted.recommend_new([first_like], 10)
    assert first_like not in recs
    assert sum(world.topic[i] == 1 for i in recs) >= 5, [int(world.topic[i]) for i in recs]
