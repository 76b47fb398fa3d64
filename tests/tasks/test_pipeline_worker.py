"""The embedding pipeline through a real worker process on the real Redis
broker, against this run's test database."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection, transaction
from django.urls import reverse

from mediarec.models import ModelVersion, Video, VideoStatus
from mediarec.services.videos import video_create
from tests.pipeline import wait_until
from tests.videos import write_video

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def as_upload(path: Path) -> SimpleUploadedFile:
    return SimpleUploadedFile(path.name, path.read_bytes(), content_type="video/mp4")


def statuses(ids) -> dict[int, str]:
    return dict(Video.objects.filter(pk__in=ids).values_list("pk", "status"))


def test_admin_upload_ends_ready_with_a_vector_of_the_active_version(
    gpu_worker, register_version, user_factory, client, tmp_path
):
    version = register_version()
    client.force_login(user_factory(username="boss", is_staff=True, is_superuser=True))
    clip = write_video(tmp_path / "sunset.mp4", color=(240, 120, 20))
    response = client.post(
        reverse("admin:mediarec_video_add"),
        {"title": "Sunset", "description": "An orange sky", "tags": "sky", "transcript": "", "published": "on", "file": as_upload(clip)},
    )  # fmt: skip
    assert response.status_code == 302, response.content[:2000]
    video = Video.objects.get(title="Sunset")

    wait_until(lambda: statuses([video.pk])[video.pk] == VideoStatus.READY, timeout=60, what="ready", worker=gpu_worker)
    video.refresh_from_db()
    vector = np.array(video.embedding)
    assert vector.shape == (version.embedding_dim,) == (256,)
    assert np.linalg.norm(vector) == pytest.approx(1.0, abs=1e-4)
    assert video.embedding_version == version.name
    assert video.embedded_at is not None and video.attempts == 1 and video.error_message == ""


def test_a_poison_file_fails_with_its_reason_and_never_blocks_the_queue(gpu_worker, register_version, tmp_path):
    register_version()
    with transaction.atomic():  # one commit: the three messages arrive together and share a batch
        good = [
            video_create(upload=as_upload(write_video(tmp_path / f"g{i}.mp4")), title=f"Good {i}") for i in range(2)
        ]
        poison = video_create(upload=as_upload(write_video(tmp_path / "p.mp4")), title="Poison")
        Path(poison.file.path).write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"\xde\xad" * 500)  # corrupted on disk
    ids = [v.pk for v in [*good, poison]]
    done = {VideoStatus.READY, VideoStatus.FAILED}
    wait_until(lambda: set(statuses(ids).values()) <= done, timeout=60, what="the batch to finish", worker=gpu_worker)

    poison.refresh_from_db()
    assert poison.status == VideoStatus.FAILED
    assert "not a readable video" in poison.error_message
    assert poison.attempts == 1  # failed at once, not retried
    assert all(s == VideoStatus.READY for pk, s in statuses([v.pk for v in good]).items())

    # the queue keeps moving after it
    later = video_create(upload=as_upload(write_video(tmp_path / "later.mp4")), title="Later")
    wait_until(lambda: statuses([later.pk])[later.pk] == VideoStatus.READY, timeout=60, what="ready", worker=gpu_worker)
    poison.refresh_from_db()
    assert poison.status == VideoStatus.FAILED and poison.attempts == 1


def test_the_database_going_away_mid_task_leads_to_a_retry_not_a_lost_video(gpu_worker, register_version, tmp_path):
    register_version()
    video = video_create(upload=as_upload(write_video(tmp_path / "clip.mp4")), title="Clip")
    # The worker claimed it and is now filling its batch (a 1.5 s window).
    wait_until(lambda: statuses([video.pk])[video.pk] == VideoStatus.EMBEDDING, timeout=60, what="claim")
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        assert cursor.fetchone()[0] >= 1  # the worker's connection

    wait_until(lambda: statuses([video.pk])[video.pk] == VideoStatus.READY, timeout=60, what="ready", worker=gpu_worker)
    video.refresh_from_db()
    assert video.attempts == 2  # claimed, lost its database, given back, claimed again by the retry
    assert "Retry in" in Path(gpu_worker.log_path).read_text()


def test_activating_a_version_re_embeds_the_catalog_while_it_keeps_serving(
    gpu_worker, register_version, other_checkpoint, user_factory, client, tmp_path
):
    first = register_version()
    videos = [video_create(upload=as_upload(write_video(tmp_path / f"v{i}.mp4")), title=f"Video {i}") for i in range(3)]
    ids = [v.pk for v in videos]
    wait_until(lambda: set(statuses(ids).values()) == {VideoStatus.READY}, timeout=60, what="ready", worker=gpu_worker)
    before = {v.pk: np.array(v.embedding) for v in Video.objects.filter(pk__in=ids)}

    second = register_version(other_checkpoint, activate=False)
    client.force_login(user_factory(username="boss", is_staff=True, is_superuser=True))
    response = client.post(
        reverse("admin:mediarec_modelversion_changelist"), {"action": "activate", "_selected_action": [second.pk]}
    )
    assert response.status_code == 302
    assert ModelVersion.objects.get(is_active=True) == second

    seen: set[str] = set()

    def all_on_second() -> bool:
        rows = list(Video.objects.filter(pk__in=ids).values_list("status", "embedding_version"))
        seen.update(status for status, _ in rows)
        return all(v == second.name for _, v in rows)

    wait_until(all_on_second, timeout=90, what="re-embedding", worker=gpu_worker)
    assert seen == {VideoStatus.READY}  # never taken out of service
    for video in Video.objects.filter(pk__in=ids):
        assert video.attempts == 1
        assert not np.allclose(np.array(video.embedding), before[video.pk], atol=1e-3)
    assert first.name != second.name


def test_an_untitled_upload_gets_tags_and_a_caption_and_is_found_by_them(
    gpu_worker, register_version, world, trained, client
):
    """No title, no text: the worker suggests tags and a caption from the pixels, embeds the video with
    them, and a search for a word of its caption finds it first among videos described otherwise. A model
    switch generates them again under the new version."""
    from mediarec.services.model_versions import model_version_activate
    from mediarec.serving.feeds import videos_search

    train_texts = [r["text"] for r in world.train]
    version = register_version(trained, texts=train_texts)
    clip = world.held_out[0]
    untitled = video_create(upload=as_upload(Path(clip["path"])), title="")
    assert untitled.title_is_file_name and not untitled.has_own_text
    wait_until(lambda: statuses([untitled.pk])[untitled.pk] == VideoStatus.READY, timeout=120, what="ready",
               worker=gpu_worker)  # fmt: skip
    untitled.refresh_from_db()
    assert untitled.generated_version == version.name and untitled.caption
    scores = [t["score"] for t in untitled.suggested_tags]
    # at most 10; fewer where the rest are alternatives of better tags (another colour, shape or direction)
    assert 1 <= len(scores) <= 10 and scores == sorted(scores, reverse=True) and all(0 < s <= 1 for s in scores)
    caption = untitled.caption.split()
    assert set(caption) <= set(untitled.suggested_tag_list)

    # videos whose own text shares no word with the caption
    others = [r for r in world.held_out[1:] if not set(r["attrs"]) & set(caption)][:3]
    assert len(others) == 3
    written = [video_create(upload=as_upload(Path(r["path"])), title=r["text"]) for r in others]
    ids = [v.pk for v in written]
    wait_until(lambda: set(statuses(ids).values()) == {VideoStatus.READY}, timeout=120, what="ready",
               worker=gpu_worker)  # fmt: skip
    assert all(not v.caption or v.title != v.caption for v in Video.objects.filter(pk__in=ids))
    for word in caption:
        found = videos_search(query=word, limit=4)
        assert found.mode == "semantic" and found.videos[0].pk == untitled.pk, (word, caption, others)
    item = client.get("/api/search", {"q": caption[0]}).json()["items"][0]
    assert item["id"] == untitled.pk and item["title"] == untitled.caption and item["title_generated"]

    second = register_version(trained, activate=False, texts=train_texts)  # the same weights, another name
    model_version_activate(version=second)
    wait_until(
        lambda: Video.objects.filter(pk=untitled.pk, generated_version=second.name).exists(),
        timeout=120,
        what="generated again under the new version",
        worker=gpu_worker,
    )
