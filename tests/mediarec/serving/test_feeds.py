"""The database path: pgvector candidates under filters, persisted CF
versions, explanations, similar videos, search and paging."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
from django.db import connection, transaction
from django.test import Client
from django.utils import timezone

from mediarec.caching import caches_clear
from mediarec.models import CFModelVersion, Interaction, ModelKind, ModelVersion, Video
from mediarec.recommender.config import RecommenderConfig
from mediarec.recommender.content import strongest_history, taste_vector
from mediarec.selectors import model_version_active_cached
from mediarec.services.cf_models import cf_partial_fit_users, cf_refit
from mediarec.serving import feeds as serving
from mediarec.serving import queries
from mediarec.serving.cf_model import active_cf_model
from mediarec.serving.feeds import recommendations_for_user, videos_search, videos_similar
from mediarec.serving.queries import ann_sql, id_array, nearest_videos
from tests.factories import UserFactory, VideoFactory
from tests.mediarec.recommender.harness import Served
from tests.mediarec.recommender.toy import CONFIG, toy_world

pytestmark = pytest.mark.django_db
DIM = 256


def unit(rng, n=1):
    v = rng.normal(size=(n, DIM)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


@pytest.fixture
def served():
    harness = Served()
    harness.fit(toy_world())
    return harness


def test_iterative_scan_fills_the_limit_under_filters():
    rng = np.random.default_rng(0)
    ModelVersion.objects.create(name="v1", kind=ModelKind.STANDIN, embedding_dim=DIM, is_active=True)
    query = unit(rng)[0]
    near = query + 0.05 * unit(rng, 150)  # 150 videos around the query
    videos = Video.objects.bulk_create(
        Video(title=f"v{i}", embedding=v / np.linalg.norm(v), embedding_version="v1") for i, v in enumerate(near)
    )
    by_distance = sorted(videos, key=lambda v: -float(np.dot(v.embedding, query)))
    exclude = [v.pk for v in by_distance[:60]]  # the 60 nearest are filtered out
    narrow = RecommenderConfig(ef_search=40)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")  # make the tiny table use the HNSW index,
        cursor.execute("SET LOCAL enable_sort = off")  # not a scan of the version's rows and a sort
        ids, sims = nearest_videos(query, version="v1", exclude=exclude, limit=50, config=narrow)
        assert len(ids) == 50  # without the iterative scan a filtered pass of ef_search=40 returns fewer
        assert not set(ids.tolist()) & set(exclude)
        assert list(sims) == sorted(sims, reverse=True)
        cursor.execute("SET LOCAL hnsw.iterative_scan = off")
        vector = "[" + ",".join(map(str, query)) + "]"
        cursor.execute(ann_sql("id"), {"version": "v1", "exclude": id_array(exclude), "query": vector, "limit": 50})
        assert len(cursor.fetchall()) < 50  # the served query without it comes up short: it scans the index


def test_only_published_videos_of_the_active_version_are_candidates():
    rng = np.random.default_rng(1)
    ModelVersion.objects.create(name="new", kind=ModelKind.STANDIN, embedding_dim=DIM, is_active=True)
    base = unit(rng)[0]
    liked = Video.objects.create(title="liked", embedding=base, embedding_version="new")
    ok = Video.objects.create(title="ok", embedding=base, embedding_version="new")
    hidden = Video.objects.create(title="hidden", embedding=base, embedding_version="new", published=False)
    stale = Video.objects.create(title="stale", embedding=base, embedding_version="old")
    user = UserFactory()
    Interaction.objects.create(user=user, video=liked, kind="like")
    shown = {r.video.pk for r in recommendations_for_user(user=user, limit=10)}
    assert ok.pk in shown
    assert not shown & {hidden.pk, stale.pk, liked.pk}


def test_refit_persists_a_new_active_version_and_partial_fit_adds_users(served, tmp_path):
    first = CFModelVersion.objects.get(is_active=True)
    assert Path(first.path).is_file() and Path(first.path).parent == tmp_path / "cf"
    second = cf_refit(config=CONFIG)
    assert CFModelVersion.objects.filter(is_active=True).get() == second
    assert second.n_users == 30 and second.n_interactions == len(served.world.events)
    newcomer = UserFactory()
    Interaction.objects.bulk_create(
        Interaction(user=newcomer, video_id=served.video_ids[i], kind="like") for i in range(3)
    )
    assert cf_partial_fit_users(user_ids=[newcomer.pk], config=CONFIG) == 1
    model = active_cf_model(CONFIG)
    row = int(np.searchsorted(model.user_ids, newcomer.pk))
    assert model.user_ids[row] == newcomer.pk
    assert np.abs(model.recommender.model.user_factors[row]).sum() > 0
    assert CFModelVersion.objects.get(pk=second.pk).n_users == 31


def test_every_item_says_why_and_content_names_a_watched_video(served):
    user = served.users[2]
    watched = set(Interaction.objects.filter(user=user).values_list("video__title", flat=True))
    recs = recommendations_for_user(user=user, limit=10, config=served.config)
    assert all(r.sources and r.explanation for r in recs)
    named = [r for r in recs if r.because_title]
    assert named, [r.explanation for r in recs]
    for r in named:
        assert r.because_title in watched
        assert r.because_title in r.explanation


def test_pages_do_not_overlap(served):
    user = served.users[0]
    first = [r.video.pk for r in recommendations_for_user(user=user, limit=5, offset=0, config=served.config)]
    second = [r.video.pk for r in recommendations_for_user(user=user, limit=5, offset=5, config=served.config)]
    assert len(first) == len(second) == 5
    assert not set(first) & set(second)


def test_a_fresh_upload_enters_a_new_users_feed(served):
    rng = np.random.default_rng(3)
    fresh = Video.objects.create(
        title="just uploaded", embedding=unit(rng)[0], embedding_version="toy-standin", created_at=timezone.now()
    )
    Video.objects.filter(pk=fresh.pk).update(created_at=timezone.now() - timedelta(hours=1))
    caches_clear()
    recs = recommendations_for_user(user=UserFactory(), limit=20, config=served.config)
    mine = [r for r in recs if r.video.pk == fresh.pk]
    assert mine and "fresh" in mine[0].sources


def test_similar_videos_blend_content_and_cowatch(served):
    world = served.world
    video = Video.objects.get(pk=served.video_ids[0])
    similar = videos_similar(video=video, limit=8, config=served.config)
    assert len(similar) == 8 and video.pk not in {r.video.pk for r in similar}
    topics = [world.topic[served.index[r.video.pk]] for r in similar]
    assert sum(t == world.topic[0] for t in topics) >= 6
    assert any("cowatch" in r.sources for r in similar) and any("content" in r.sources for r in similar)


def test_keyword_search_without_a_videobert_model(served, caplog):
    results = videos_search(query="topic1")
    assert results.mode == "keyword"
    assert results.videos and all("topic1" in v.tags for v in results.videos)
    ModelVersion.objects.update(is_active=False)
    ModelVersion.objects.create(
        name="vb-missing",
        kind=ModelKind.VIDEOBERT,
        checkpoint_path="/nonexistent.pt",
        embedding_dim=DIM,
        is_active=True,
    )
    caches_clear()
    results = videos_search(query="topic 2 video")
    assert results.mode == "keyword" and results.videos
    assert "keyword search" in caplog.text


def test_a_generated_caption_finds_only_a_video_nobody_wrote_about():
    """The caption stands in for the words of an untitled video; a video with its own text is found by
    that text, not by the model's guess (here a wrong one) at what it shows."""
    untitled = VideoFactory(title="upload_0001", title_is_file_name=True, description="", tags="",
                            caption="blue circle up", published=True)  # fmt: skip
    guessed = VideoFactory(title="a yellow square moving left", description="", tags="square",
                           caption="yellow circle left", published=True)  # fmt: skip
    for query in ("circle", "circ"):  # full-text, then the substring fallback
        found = [v.pk for v in videos_search(query=query).videos]
        assert found == [untitled.pk], query
    assert [v.pk for v in videos_search(query="square").videos] == [guessed.pk]


def test_the_taste_reads_only_the_strongest_history_and_matches_a_full_read():
    """The history query sends embeddings only for the ``taste_history`` strongest
    videos (plus a few spare); the taste must equal one built from every embedding."""
    rng = np.random.default_rng(11)
    ModelVersion.objects.create(name="v1", kind=ModelKind.STANDIN, embedding_dim=DIM, is_active=True)
    videos = Video.objects.bulk_create(
        Video(title=f"Clip {i}", embedding=v, embedding_version="v1") for i, v in enumerate(unit(rng, 40))
    )
    user = UserFactory()
    kinds = ["view", "complete", "like", "share", "dislike"]
    now = timezone.now()
    Interaction.objects.bulk_create(
        Interaction(
            user=user, video=video, kind=kinds[i % 5], created_at=now - timedelta(days=float(rng.uniform(0, 60)))
        )
        for i, video in enumerate(videos)
    )
    config = RecommenderConfig(taste_history=6)
    version = model_version_active_cached()
    history = serving._history(user.pk, version, config)
    assert len(history.video_ids) == 40
    assert history.has_vector.sum() <= config.taste_history + queries._SPARE_VECTORS < 40

    cols, confidences = strongest_history(history.row, config.taste_history)
    assert (confidences < 0).any()  # a dislike is among the strongest
    by_id = {v.pk: np.asarray(v.embedding, np.float32) for v in videos}
    expected = taste_vector(np.stack([by_id[int(i)] for i in history.video_ids[cols]]), confidences, config)
    taste = serving._taste(history, config)
    np.testing.assert_allclose(taste.vector, expected, atol=1e-6)
    assert set(taste.liked_ids.tolist()) == set(history.video_ids[cols][confidences > 0].tolist())


@pytest.mark.parametrize("year", [1930, 1, 9999])
def test_rows_with_absurd_dates_do_not_break_feeds_or_trending(year):
    # Ingest refuses such dates (services/interactions.py); rows loaded around it
    # (COPY, an old import) must still not break the feed, its page or trending.
    rng = np.random.default_rng(3)
    ModelVersion.objects.create(name="v1", kind=ModelKind.STANDIN, embedding_dim=DIM, is_active=True)
    videos = Video.objects.bulk_create(
        Video(title=f"v{i}", embedding=v, embedding_version="v1") for i, v in enumerate(unit(rng, 6))
    )
    user = UserFactory()
    when = timezone.now().replace(year=year)
    Interaction.objects.create(user=user, video=videos[0], kind="like", created_at=when)
    Interaction.objects.create(user=UserFactory(), video=videos[1], kind="like", created_at=when)
    Interaction.objects.create(user=user, video=videos[2], kind="view")
    assert recommendations_for_user(user=user, limit=5)
    _, scores, _ = queries.trending(CONFIG)
    assert np.isfinite(scores).all()
    client = Client()
    client.force_login(user)
    assert client.get("/").status_code == 200
    assert client.get(f"/api/users/{user.pk}/recommendations").status_code == 200


def test_an_explanation_quotes_the_generated_caption_of_an_untitled_video(video_factory):
    viewer = UserFactory()
    untitled = video_factory(title="IMG_0042", title_is_file_name=True, description="", tags="", caption="red ball")
    titled = video_factory(title="Jazz night", caption="blue square")
    for video in (untitled, titled):
        Interaction.objects.create(user=viewer, video=video, kind="like")
    history = queries.user_history(viewer.pk, version=None, config=RecommenderConfig())
    assert history.titles == {untitled.pk: "red ball (generated)", titled.pk: "Jazz night"}
    page = Client()
    page.force_login(viewer)
    html = page.get(f"/videos/{titled.pk}/", {"reason": "content", "because": untitled.pk}).content.decode()
    assert "red ball (generated)" in html and "IMG_0042" not in html
