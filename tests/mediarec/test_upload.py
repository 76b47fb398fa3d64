"""Every upload goes through one probing service: good files are stored,
thumbnailed and queued; anything without a decodable video stream is refused
with a readable reason and leaves nothing behind."""

from __future__ import annotations

import logging
import socket
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from mediarec.errors import BROKER_UNAVAILABLE_MESSAGE, InvalidUpload
from mediarec.models import Video, VideoStatus
from mediarec.services.videos import video_create, video_update
from tests.videos import write_audio_only, write_audio_with_cover, write_video

pytestmark = pytest.mark.django_db


def as_upload(path: Path, name: str | None = None) -> SimpleUploadedFile:
    return SimpleUploadedFile(name or path.name, path.read_bytes(), content_type="video/mp4")


def stored_files(settings) -> list[Path]:
    root = Path(settings.MEDIA_ROOT)
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


def test_valid_upload_is_probed_thumbnailed_and_queued(mp4_file, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        video = video_create(upload=as_upload(mp4_file), title="Red square", tags="Red, square,red")
    assert video.status == VideoStatus.QUEUED
    assert (video.width, video.height) == (64, 48)
    assert video.fps == pytest.approx(12.0)
    assert video.duration_s == pytest.approx(1.0, abs=0.15)
    assert video.size_bytes == mp4_file.stat().st_size
    assert video.codec == "h264"
    assert video.tags == "red,square"
    assert Path(video.file.path).read_bytes() == mp4_file.read_bytes()
    assert Path(video.thumbnail.path).read_bytes()[:2] == b"\xff\xd8"  # JPEG
    assert len(callbacks) == 1  # the embedding task is sent only after commit


@pytest.mark.parametrize("codec,suffix", [("libvpx-vp9", "webm"), ("mpeg4", "mp4")])
def test_other_codecs_are_accepted(tmp_path, codec, suffix):
    path = write_video(tmp_path / f"clip.{suffix}", codec=codec)
    video = video_create(upload=as_upload(path), title="")
    assert video.title == "clip"
    assert video.width == 64


def _zero_byte(tmp_path):
    return (tmp_path / "empty.mp4", b"")


def _text(tmp_path):
    return (tmp_path / "notes.mp4", b"this is a text file, not a video\n" * 20)


def _truncated(tmp_path):
    good = write_video(tmp_path / "good.mp4", frames=30).read_bytes()
    return (tmp_path / "truncated.mp4", good[: len(good) // 3])


def _audio_only(tmp_path):
    path = write_audio_only(tmp_path / "voice.mp4")
    return (path, path.read_bytes())


@pytest.mark.parametrize(
    "make,reason",
    [
        (_zero_byte, "empty"),
        (_text, "not a readable video"),
        (_truncated, "readable"),
        (_audio_only, "no video stream"),
    ],
)
def test_bad_files_are_refused_and_nothing_is_stored(tmp_path, settings, make, reason):
    path, content = make(tmp_path)
    before = stored_files(settings)
    with pytest.raises(InvalidUpload, match=reason):
        video_create(upload=SimpleUploadedFile(path.name, content), title="bad")
    assert Video.objects.count() == 0
    assert stored_files(settings) == before


def test_truncated_file_with_intact_header_is_refused(tmp_path):
    # moov atom first (faststart-like) is not what PyAV writes, so cut the tail
    # of the data instead: the header survives, the frames do not.
    good = write_video(tmp_path / "good.mp4", frames=60, size=(160, 120)).read_bytes()
    with pytest.raises(InvalidUpload):
        video_create(upload=SimpleUploadedFile("cut.mp4", good[:200]), title="cut")
    assert Video.objects.count() == 0


@pytest.mark.parametrize(
    "setting,value,match",
    [
        ("MEDIAREC_MAX_UPLOAD_BYTES", 100, "limit is"),
        ("MEDIAREC_MAX_DURATION_S", 0.5, "lasts"),
        ("MEDIAREC_MAX_WIDTH", 32, "64x48"),
    ],
)
def test_limits_are_enforced(mp4_file, settings, setting, value, match):
    setattr(settings, setting, value)
    with pytest.raises(InvalidUpload, match=match):
        video_create(upload=as_upload(mp4_file), title="too big")
    assert Video.objects.count() == 0


def test_text_edit_requeues(mp4_file, django_capture_on_commit_callbacks):
    video = video_create(upload=as_upload(mp4_file), title="a")
    Video.objects.filter(pk=video.pk).update(status=VideoStatus.FAILED, error_message="x")
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        video_update(video=Video.objects.get(pk=video.pk), published=False)
    assert callbacks == []
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        video_update(video=Video.objects.get(pk=video.pk), title="b")
    assert len(callbacks) == 1
    assert Video.objects.get(pk=video.pk).status == VideoStatus.QUEUED


def test_vector_extension_and_status_constraint():
    from django.db import IntegrityError, connection, transaction

    with connection.cursor() as cursor:
        cursor.execute("SELECT extversion FROM pg_extension WHERE extname='vector'")
        assert cursor.fetchone()[0].startswith("0.8")
    with pytest.raises(IntegrityError), transaction.atomic():
        Video.objects.create(title="x", status="bogus")
    with pytest.raises(IntegrityError), transaction.atomic():
        Video.objects.create(title="x", status=VideoStatus.READY)  # ready needs an embedding


@pytest.mark.parametrize("field", ["title", "description", "tags"])
def test_a_nul_in_a_text_field_is_refused_before_anything_is_stored(mp4_file, settings, field):
    before = stored_files(settings)
    fields = {"title": "ok", field: "bad\x00text"}
    with pytest.raises(InvalidUpload, match=f"the {field} contains a NUL character"):
        video_create(upload=as_upload(mp4_file), **fields)
    assert Video.objects.count() == 0
    assert stored_files(settings) == before


def _point_broker_at(app, url: str) -> None:
    """Send the app's next messages to ``url`` (its pools are dropped, so it connects anew)."""
    app.conf.broker_url = app.conf.broker_write_url = url
    app._pool = None
    app.amqp._producer_pool = None


@pytest.fixture
def broker_down(settings):
    """The Celery app pointed at a closed port on this machine for the test, then back at the real Redis."""
    from tasks.celery import app
    from tests.conftest import require_redis

    require_redis(settings.CELERY_BROKER_URL)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = f"redis://127.0.0.1:{s.getsockname()[1]}/0"  # nothing listens once the socket closes
    _point_broker_at(app, closed)
    yield app
    _point_broker_at(app, settings.CELERY_BROKER_URL)


def _gpu_queue(app, conn):
    return app.amqp.queues["gpu"].bind(conn.default_channel)


@pytest.mark.django_db(transaction=True)
def test_an_upload_with_the_broker_down_is_stored_queued_and_the_sweep_sends_it(
    broker_down, client, mp4_file, caplog, settings
):
    from tasks.maintenance import requeue_stuck_embeddings
    from tests.factories import UserFactory

    client.force_login(UserFactory())
    with caplog.at_level(logging.ERROR, logger="mediarec.services.videos"), open(mp4_file, "rb") as fh:
        response = client.post("/api/videos", {"file": fh, "title": "Red square"})
    assert response.status_code == 201, response.content
    assert response.json()["status"] == "queued"
    video = Video.objects.get()
    assert video.status == VideoStatus.QUEUED and video.error_message == BROKER_UNAVAILABLE_MESSAGE
    assert Path(video.file.path).read_bytes() == mp4_file.read_bytes()  # the committed row keeps its files
    assert Path(video.thumbnail.path).exists()
    assert "task broker unreachable" in caplog.text and str(video.pk) in caplog.text

    # The broker is back: the beat's sweep sends the video at once, without waiting for it to look stuck.
    _point_broker_at(broker_down, settings.CELERY_BROKER_URL)
    with broker_down.connection_for_write() as conn:
        _gpu_queue(broker_down, conn).purge()
    try:
        assert requeue_stuck_embeddings.apply().get() == 1
        with broker_down.connection_for_write() as conn:
            message = _gpu_queue(broker_down, conn).get(no_ack=True)
        assert message is not None and message.headers["task"] == "tasks.embedding.embed_videos"
        assert message.decode()[0] == [[video.pk]]
    finally:
        with broker_down.connection_for_write() as conn:
            _gpu_queue(broker_down, conn).purge()
    video.refresh_from_db()
    assert video.status == VideoStatus.QUEUED and video.error_message == ""


def test_a_file_cut_short_behind_an_index_at_the_front_is_refused(tmp_path):
    # "faststart": the moov index comes first, so the header still claims the full 10 s.
    good = write_video(tmp_path / "fast.mp4", frames=120, options={"movflags": "faststart"}).read_bytes()
    assert good.find(b"moov") < good.find(b"mdat")
    assert video_create(upload=SimpleUploadedFile("whole.mp4", good), title="whole").duration_s == pytest.approx(
        10, abs=0.2
    )
    with pytest.raises(InvalidUpload, match=r"is truncated: its data ends at \d+\.\d s of the 10\.0 s it declares"):
        video_create(upload=SimpleUploadedFile("half.mp4", good[: len(good) // 2]), title="half")
    assert Video.objects.count() == 1


def test_audio_with_cover_art_is_not_a_video(tmp_path):
    path = write_audio_with_cover(tmp_path / "song.m4a")
    with pytest.raises(InvalidUpload, match="audio with a still picture"):
        video_create(upload=as_upload(path), title="song")
    assert Video.objects.count() == 0


def test_a_webm_without_a_duration_header_is_measured(tmp_path):
    path = write_video(tmp_path / "live.webm", codec="libvpx-vp9", frames=24, fps=12, options={"live": "1"})
    import av

    with av.open(str(path)) as container:
        assert container.duration is None and container.streams.video[0].duration is None
    video = video_create(upload=as_upload(path), title="live")
    assert video.duration_s == pytest.approx(2.0, abs=0.15)


@pytest.mark.parametrize("size", [(1, 1), (16, 48), (64, 16)])
def test_frames_below_the_minimum_size_are_refused(tmp_path, size):
    path = write_video(tmp_path / "tiny.mp4", size=size, codec="mpeg4" if size == (1, 1) else "libx264")
    with pytest.raises(InvalidUpload, match=f"is {size[0]}x{size[1]}; the minimum is 32x32"):
        video_create(upload=as_upload(path), title="tiny")
    assert Video.objects.count() == 0


@pytest.mark.parametrize("field,limit", [("title", 300), ("tags", 1000), ("channel", 64)])
def test_a_text_field_over_its_column_is_refused_before_anything_is_stored(mp4_file, settings, field, limit):
    before = stored_files(settings)
    fields = {"title": "ok", field: "x" * (limit + 1)}
    with pytest.raises(InvalidUpload, match=f"the {field} is {limit + 1:,} characters long; the limit is {limit:,}"):
        video_create(upload=as_upload(mp4_file), **fields)
    assert Video.objects.count() == 0
    assert stored_files(settings) == before


def test_without_a_title_a_long_or_odd_file_name_still_makes_a_valid_title(mp4_file):
    video = video_create(upload=as_upload(mp4_file, name="a\x00" + "b" * 400 + ".mp4"), title="")
    assert video.title.startswith("abbb") and len(video.title) <= 300
