"""The served learned ranker: the refit fits and activates it beside its CF model,
the feed is ordered by it, and with none (too little history, a lost or corrupt
file, a ranker of another CF model) the blend serves without an error."""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from django.test import Client

from mediarec.api import api_token_for
from mediarec.caching import caches_clear
from mediarec.models import CFModelVersion, Interaction, RankerVersion
from mediarec.recommender import ranker as rk
from mediarec.recommender.ranked import RankedRecommender
from mediarec.services.cf_models import cf_refit
from mediarec.serving import feeds
from mediarec.serving.cf_model import active_cf_model
from mediarec.serving.feeds import recommendations_for_user
from mediarec.serving.ranker_model import RankerModel, active_ranker_model
from tests.mediarec.recommender.harness import Served
from tests.mediarec.recommender.toy import CONFIG, toy_world

pytestmark = pytest.mark.django_db
# The toy world has 30 users: let a ranker be fitted on them, and keep MMR out of the order.
RANKED = replace(CONFIG, ranker_min_users=5, ranker_min_child=5, mmr_lambda=1.0)


@pytest.fixture
def served():
    harness = Served()
    harness.world = toy_world()
    harness.world.config = RANKED
    harness.fit(harness.world)
    return harness


def feed(user, config=RANKED, limit=10):
    return recommendations_for_user(user=user, limit=limit, config=config)


def blend_feed(user, limit=10):
    """The feed with the ranker switched off."""
    active = RankerVersion.objects.filter(is_active=True)
    pk = active.get().pk
    active.update(is_active=False)
    caches_clear()
    try:
        return feed(user, limit=limit)
    finally:
        RankerVersion.objects.filter(pk=pk).update(is_active=True)
        caches_clear()


def ids(recs) -> list[int]:
    return [r.video.pk for r in recs]


def test_refit_fits_and_activates_a_ranker_of_the_new_cf_model(served):
    cf = CFModelVersion.objects.get(is_active=True)
    ranker = RankerVersion.objects.get(is_active=True)
    assert ranker.cf_model == cf and Path(ranker.path).is_file()
    assert ranker.training["users"] >= RANKED.ranker_min_users and ranker.training["positives"] > 0
    liked = {i for _, i, k in served.world.events if k != "dislike"}
    cold = sorted(served.video_ids[i] for i in range(served.world.n_items) if i not in liked)
    assert served.video_ids[served.world.cold_item] in cold
    model = active_ranker_model(RANKED, cf_name=cf.name)
    assert model.cold_ids.tolist() == cold  # nobody's positive: the untouched video and the only-disliked ones
    assert ranker.n_cold_items == len(cold) and model.cold_factors.shape == (len(cold), RANKED.factors)
    second = cf_refit(config=RANKED)
    assert RankerVersion.objects.get(is_active=True).cf_model == second
    caches_clear()
    assert active_ranker_model(RANKED, cf_name=second.name).cf_name == second.name
    assert active_ranker_model(RANKED, cf_name=cf.name) is None  # never beside another CF model's factors


LEVELS = 30  # grades of the anti-popularity ranker: its scores are a step function of that many steps


def anti_popularity_ranker() -> rk.Ranker:
    """A ranker taught that the less popular a candidate, the better: the opposite of the blend."""
    rng = np.random.default_rng(0)
    groups = np.full(300, 30)
    x = np.full((groups.sum(), len(rk.feature_names())), np.nan, np.float32)  # it reads one feature only
    share = rk.feature_names().index("item_popularity_share")
    x[:, share] = rng.uniform(0, 3, size=len(x))
    y = np.floor(LEVELS * (1 - x[:, share] / 3))  # the least popular grade LEVELS - 1, the most 0
    return rk.Ranker(replace(RANKED, ranker_min_child=5, ranker_label_grades=LEVELS)).fit(x, y, groups)


def test_the_served_feed_is_ordered_by_the_ranker(served):
    user = served.users[0]
    path = Path(RankerVersion.objects.get(is_active=True).path)
    model = RankerModel.load("toy", path, RANKED)
    model.ranker = anti_popularity_ranker()
    model.save(path)
    caches_clear()

    ranked, blended = feed(user), blend_feed(user)
    cf = active_cf_model(RANKED)
    share = {int(v): p / model.popularity_mean for v, p in zip(cf.item_ids, cf.recommender.popularity, strict=True)}
    ranked_share = np.array([share.get(v, 0.0) for v in ids(ranked)])
    blended_share = np.array([share.get(v, 0.0) for v in ids(blended)])
    step = 3 / LEVELS  # items within one grade may tie and follow their ids
    assert np.all(np.diff(ranked_share) >= -step), ranked_share  # least popular first, as the ranker says
    assert not np.all(np.diff(blended_share) >= -step), blended_share  # which the blend does not do
    assert [r.score for r in ranked] == sorted((r.score for r in ranked), reverse=True)
    assert all(r.explanation and r.sources for r in ranked)
    assert {s for r in ranked for s in r.sources} <= {"cf", "content", "trending", "fresh"}


def test_the_served_features_are_those_the_ranker_was_taught_on(served, monkeypatch):
    """The features the served path builds from the database equal what the in-memory
    ``Sources.candidates`` gives the ranker for the same user, on the same fit."""
    world = served.world
    touched = sorted({i for _, i, _ in world.events})  # the CF fit's columns: videos with any event
    matrix = world.matrix()[:, touched]
    memory = RankedRecommender(RANKED, item_age_days=np.full(len(touched), 30.0), cowatch=False)
    memory.fit(matrix, item_embeddings=world.embeddings[touched])
    seen = []
    rank = feeds.rank_candidates

    def record(cands, *args, **kwargs):  # the real ordering, with the candidates it was given kept
        seen.append(cands)
        return rank(cands, *args, **kwargs)

    monkeypatch.setattr(feeds, "rank_candidates", record)
    user = 4
    feed(served.users[user])
    (served_cands,) = seen
    row = matrix[user]
    mem = memory.sources.candidates(row, row.indices, np.empty(0, np.int64))
    mem_ids = np.array([served.video_ids[touched[i]] for i in mem.items])
    common, at_served, at_mem = np.intersect1d(served_cands.items, mem_ids, return_indices=True)
    assert len(common) >= 20
    for name in ("als", "cowatch", "content", "coldmap", "trending"):
        np.testing.assert_allclose(
            served_cands.scores[name][at_served], mem.scores[name][at_mem], rtol=1e-3, atol=1e-3, err_msg=name
        )
    for name in ("item_user_share", "item_popularity_share", "item_history"):
        np.testing.assert_allclose(
            getattr(served_cands, name)[at_served], getattr(mem, name)[at_mem], rtol=1e-4, err_msg=name
        )
    assert served_cands.n_user == mem.n_user
    cold = np.isfinite(mem.scores["coldmap"][at_mem])
    assert cold.any()  # an only-disliked video is cold to both, scored through the cold map
    nominated = {s for s in served_cands.ranks if np.isfinite(served_cands.ranks[s]).any()}
    assert {"als", "coldmap", "content", "cowatch", "trending"} <= nominated
    assert (mem.scores["cowatch"][at_mem] > 0).any()  # the item-kNN scores some candidates


def test_every_ranked_item_says_why_and_names_a_watched_video(served):
    user = served.users[2]
    watched = set(Interaction.objects.filter(user=user).values_list("video__title", flat=True))
    recs = feed(user)
    assert len(recs) == 10 and all(r.sources and r.explanation for r in recs)
    named = [r for r in recs if r.because_title]
    assert named, [r.explanation for r in recs]
    assert all(r.because_title in watched and r.because_title in r.explanation for r in named)
    assert not set(ids(recs)) & set(Interaction.objects.filter(user=user).values_list("video_id", flat=True))


def test_the_cold_video_reaches_a_ranked_feed(served):
    """The video nobody touched is a candidate through the cold map (its stored mapped factors)."""
    cold = served.video_ids[served.world.cold_item]
    fans = [u for u, t in enumerate(served.world.user_topic) if t == 2]
    assert any(cold in ids(feed(served.users[u], limit=20)) for u in fans)


def test_too_little_history_fits_no_ranker_and_the_blend_serves():
    harness = Served()
    harness.fit(toy_world())  # the default ranker_min_users (50) is more than the toy's 30 users
    assert CFModelVersion.objects.filter(is_active=True).exists()
    assert not RankerVersion.objects.exists()
    recs = feed(harness.users[0], config=CONFIG)
    assert len(recs) == 10 and all(r.explanation for r in recs)


@pytest.mark.parametrize("damage", ["lost", "corrupt"])
def test_a_lost_or_corrupt_ranker_file_falls_back_to_the_blend(served, damage, caplog):
    user = served.users[1]
    blended = ids(blend_feed(user))
    path = Path(RankerVersion.objects.get(is_active=True).path)
    if damage == "lost":
        path.unlink()
    else:
        path.write_bytes(b"not a ranker")
    caches_clear()
    with caplog.at_level(logging.ERROR, logger="mediarec.serving.ranker_model"):
        assert ids(feed(user)) == blended
    assert "serving the blend" in caplog.text
    assert active_ranker_model(RANKED, cf_name=active_cf_model(RANKED).name) is None


def test_a_corrupt_ranker_never_fails_the_feed_endpoint(served):
    path = Path(RankerVersion.objects.get(is_active=True).path)
    path.write_bytes(b"\x00" * 64)
    caches_clear()
    user = served.users[3]
    response = Client().get(
        f"/api/users/{user.pk}/recommendations?limit=5", headers={"Authorization": f"Bearer {api_token_for(user)}"}
    )
    assert response.status_code == 200 and len(response.json()["items"]) == 5


def test_ranked_pages_do_not_overlap(served):
    user = served.users[5]
    first = ids(recommendations_for_user(user=user, limit=5, offset=0, config=RANKED))
    second = ids(recommendations_for_user(user=user, limit=5, offset=5, config=RANKED))
    assert len(first) == len(second) == 5
    assert not set(first) & set(second)
    assert first + second == ids(feed(user, limit=10))  # no MMR here: a page is a slice of the longer list
