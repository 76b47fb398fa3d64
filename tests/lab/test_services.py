"""``manage.py seed_world`` on the test database: rendered videos go through
the upload service, metadata worlds get stand-in embeddings, interactions land
with their world times, and re-runs are idempotent or refused."""

from __future__ import annotations

import io
import json
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.db import connection

from lab.services import world_loaded, world_state_path
from lab.synthetic import KINDS, STANDIN_VERSION, World, WorldConfig
from mediarec.models import CFModelVersion, Interaction, ModelVersion, Video, VideoStatus


@pytest.fixture(autouse=True)
def data_dir(settings, tmp_path):
    settings.MEDIAREC_DATA_DIR = tmp_path / "data"
    return settings.MEDIAREC_DATA_DIR


def seed(*args: str) -> str:
    out = io.StringIO()
    call_command("seed_world", *args, stdout=out)
    return out.getvalue()


def kind_counts(events: np.ndarray) -> dict[str, int]:
    return {KINDS[k]: int(n) for k, n in enumerate(np.bincount(events["kind"], minlength=len(KINDS))) if n}


def db_kind_counts() -> dict[str, int]:
    counts: dict[str, int] = {}
    for kind in Interaction.objects.values_list("kind", flat=True):
        counts[kind] = counts.get(kind, 0) + 1
    return counts


@pytest.mark.django_db
def test_rendered_world_goes_through_the_upload_service(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        output = seed(
            "--videos", "6", "--users", "20", "--days", "5", "--seed", "3", "--max-duration", "2", "--workers", "2"
        )
    world = World.generate(WorldConfig(n_videos=6, n_users=20, days=5, seed=3, max_duration_s=2))
    assert "videos/s" in output and "interactions/s" in output and "re-run policy" in output

    videos = {v.truth.world_index: v for v in Video.objects.select_related("truth")}
    assert sorted(videos) == list(range(6))
    state = json.loads(world_state_path().read_text())
    start = datetime.fromisoformat(state["start"])
    for spec in world.videos:
        video = videos[spec.index]
        assert video.status == VideoStatus.QUEUED
        assert Path(video.file.path).is_file() and Path(video.thumbnail.path).read_bytes()[:2] == b"\xff\xd8"
        assert (video.width, video.height) == spec.size
        assert video.codec == spec.codec
        assert video.duration_s == pytest.approx(spec.duration_s, abs=0.2)
        assert video.title == spec.title and video.channel == spec.channel
        assert video.truth.attributes["color"] == spec.attributes["color"] and video.truth.attributes["world_seed"] == 3
        assert video.created_at == pytest.approx(start + timedelta(days=spec.created_day), abs=timedelta(seconds=1))
    assert len(callbacks) == 6  # one embedding message per upload, sent when the load committed

    usernames = sorted(get_user_model().objects.values_list("username", flat=True))
    assert usernames == [f"viewer{i:04d}" for i in range(20)]
    assert Interaction.objects.count() == len(world.interactions)
    assert db_kind_counts() == kind_counts(world.interactions)

    loaded = world_loaded()
    assert np.all(loaded.video_ids > 0) and np.all(loaded.user_ids > 0)
    event = world.interactions[len(world.interactions) // 2]
    stored = Interaction.objects.filter(
        user_id=loaded.user_ids[event["user"]], video_id=loaded.video_ids[event["video"]], kind=KINDS[event["kind"]]
    ).get()
    assert stored.created_at == pytest.approx(loaded.datetime_of(event["time"]), abs=timedelta(milliseconds=1))


@pytest.mark.django_db
def test_metadata_world_gets_standin_embeddings():
    seed("--videos", "50", "--users", "30", "--days", "10", "--seed", "4", "--no-render")
    world = World.generate(WorldConfig(n_videos=50, n_users=30, days=10, seed=4))
    version = ModelVersion.objects.get(name=STANDIN_VERSION)
    assert version.kind == "standin" and version.is_active
    expected = world.standin_embeddings(version.embedding_dim)
    assert Video.objects.count() == 50
    for video in Video.objects.all():
        assert video.status == VideoStatus.READY and video.embedding_version == STANDIN_VERSION
        assert not video.file and video.fps == world.videos[video.truth.attributes["world_index"]].fps
        assert np.allclose(video.embedding, expected[video.truth.attributes["world_index"]], atol=1e-6)
    assert db_kind_counts() == kind_counts(world.interactions)
    # The load refreshed the planner's statistics: never-analyzed tables read reltuples = -1.
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT relname, reltuples FROM pg_class WHERE relname IN ('mediarec_video', 'mediarec_interaction')"
        )
        estimates = dict(cursor.fetchall())
    assert estimates == {"mediarec_video": 50, "mediarec_interaction": len(world.interactions)}


@pytest.mark.django_db
def test_standin_is_not_activated_over_another_version():
    ModelVersion.objects.create(name="videobert-test", embedding_dim=256, is_active=True)
    output = seed("--videos", "10", "--users", "5", "--days", "3", "--seed", "1", "--no-render")
    assert "not active" in output
    assert not ModelVersion.objects.get(name=STANDIN_VERSION).is_active
    assert ModelVersion.objects.get(is_active=True).name == "videobert-test"


@pytest.mark.django_db
def test_rerun_is_idempotent_another_world_is_refused_unless_replaced():
    args = ["--videos", "30", "--users", "15", "--days", "5", "--no-render"]
    seed(*args, "--seed", "1")
    counts = (Video.objects.count(), get_user_model().objects.count(), Interaction.objects.count())

    output = seed(*args, "--seed", "1")
    assert "already loaded" in output and "nothing changed" in output
    assert (Video.objects.count(), get_user_model().objects.count(), Interaction.objects.count()) == counts
    # viewers using the site afterwards do not make the world "another world"
    Interaction.objects.create(user=get_user_model().objects.first(), video=Video.objects.first(), kind="like")
    assert "nothing changed" in seed(*args, "--seed", "1")

    with pytest.raises(CommandError, match="--replace"):
        seed(*args, "--seed", "2")
    with pytest.raises(CommandError, match="--replace"):
        seed(*args[:-1], "--seed", "1")  # the same seed, rendered this time, is another world too

    fitted_on_the_old_world = CFModelVersion.objects.create(name="als-old", path="unused", is_active=True)
    seed(*args, "--seed", "2", "--replace")
    fitted_on_the_old_world.refresh_from_db()
    assert not fitted_on_the_old_world.is_active  # serving does not use a model of deleted data
    world = World.generate(WorldConfig(n_videos=30, n_users=15, days=5, seed=2))
    assert set(Video.objects.values_list("title", flat=True)) == {v.title for v in world.videos}
    assert Interaction.objects.count() == len(world.interactions)
    assert json.loads(world_state_path().read_text())["config"]["seed"] == 2


@pytest.mark.django_db
def test_foreign_world_data_is_refused():
    get_user_model().objects.create(username="viewer0003")
    with pytest.raises(CommandError, match="Refusing to mix worlds"):
        seed("--videos", "5", "--users", "5", "--days", "2", "--no-render")
    assert Video.objects.count() == 0


def table_shape(table: str) -> tuple[set, set]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexdef FROM pg_indexes WHERE tablename = %s", [table])
        indexes = {row[0] for row in cursor.fetchall()}
        cursor.execute(
            "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = %s::regclass AND contype = 'f'",
            [table],
        )
        return indexes, {row[0] for row in cursor.fetchall()}


@pytest.mark.django_db
def test_bulk_load_rebuilds_every_index_and_foreign_key():
    before = table_shape(Interaction._meta.db_table), table_shape(Video._meta.db_table)
    seed("--videos", "300", "--users", "200", "--days", "30", "--seed", "5", "--no-render")
    assert Interaction.objects.count() > 10_000  # large enough to take the drop-and-rebuild path
    assert (table_shape(Interaction._meta.db_table), table_shape(Video._meta.db_table)) == before
    assert Video.objects.filter(status=VideoStatus.READY).count() == 300
