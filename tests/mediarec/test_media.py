"""Uploaded media: stored under a random name with the container's extension,
served with a video media type and nosniff, and only to those who may see the
video (published: everyone; unpublished: its uploader and staff)."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from mediarec.services.videos import video_create
from tests.factories import UserFactory
from tests.videos import write_video

pytestmark = pytest.mark.django_db
SCRIPT = b"<html><body><script>document.title='pwned'</script></body></html>"


def html_polyglot(tmp_path: Path) -> SimpleUploadedFile:
    """A valid MP4 with an HTML page appended, named like a page."""
    data = write_video(tmp_path / "clip.mp4", frames=12).read_bytes() + SCRIPT
    return SimpleUploadedFile("p.html", data, content_type="text/html")


def test_the_stored_name_and_extension_come_from_the_container(tmp_path):
    video = video_create(upload=html_polyglot(tmp_path), title="polyglot")
    name = Path(video.file.name).name
    assert name.endswith(".mp4") and Path(name).stem != "p" and ".html" not in video.file.name
    webm = video_create(
        upload=SimpleUploadedFile("clip.mp4", write_video(tmp_path / "v.webm", codec="libvpx-vp9").read_bytes()),
        title="vp9",
    )
    assert webm.file.name.endswith(".webm")
    assert Path(video.file.name).stem != Path(webm.file.name).stem


def test_media_are_served_as_video_with_nosniff(tmp_path):
    video = video_create(upload=html_polyglot(tmp_path), title="polyglot")
    response = Client().get(video.file.url)
    assert response.status_code == 200
    assert response["Content-Type"] == "video/mp4" and response["X-Content-Type-Options"] == "nosniff"
    assert b"".join(response.streaming_content).endswith(SCRIPT), "the bytes are the upload's, but never a page"
    thumb = Client().get(video.thumbnail.url)
    assert thumb.status_code == 200 and thumb["Content-Type"] == "image/jpeg"


def test_unpublished_media_reach_only_their_uploader_and_staff(tmp_path):
    uploader, other, staff = UserFactory(), UserFactory(), UserFactory(is_staff=True)
    video = video_create(upload=html_polyglot(tmp_path), title="draft", published=False, uploader=uploader)
    for url in (video.file.url, video.thumbnail.url):
        assert Client().get(url).status_code == 404
        for user, allowed in ((other, False), (uploader, True), (staff, True)):
            client = Client()
            client.force_login(user)
            response = client.get(url)
            assert response.status_code == (200 if allowed else 404), (user, url)
            if allowed:
                assert response["Cache-Control"] == "private, no-store"


def test_paths_that_are_no_videos_media_are_not_served(tmp_path, settings):
    video_create(upload=html_polyglot(tmp_path), title="polyglot")
    (Path(settings.MEDIA_ROOT) / "notes.html").write_bytes(SCRIPT)
    for path in ("notes.html", "../reference_site/settings.py", "videos/"):
        assert Client().get(f"/media/{path}").status_code == 404


def test_with_accel_redirect_the_web_server_sends_the_bytes(tmp_path, settings):
    settings.MEDIAREC_MEDIA_ACCEL_REDIRECT = "/protected-media/"
    video = video_create(upload=html_polyglot(tmp_path), title="polyglot")
    response = Client().get(video.file.url)
    assert response.status_code == 200 and response.content == b""
    assert response["X-Accel-Redirect"] == f"/protected-media/{video.file.name}"
    assert response["Content-Type"] == "video/mp4" and response["X-Content-Type-Options"] == "nosniff"
