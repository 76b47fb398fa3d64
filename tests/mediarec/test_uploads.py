"""Oversized uploads are refused with 413 before the body is written anywhere:
from Content-Length at the door, or by the upload handler while the file
streams in; the message's numbers agree with each other."""

from __future__ import annotations

import re

import pytest
from django.core.cache import cache
from django.http import multipartparser

from mediarec.models import Video
from mediarec.uploads import FORM_OVERHEAD_BYTES
from tests.factories import UserFactory
from tests.videos import write_video

pytestmark = pytest.mark.django_db


@pytest.fixture
def uploader_client(client):
    cache.clear()
    client.force_login(UserFactory())
    client.raise_request_exception = False
    return client


@pytest.fixture
def parses(monkeypatch):
    """Counts multipart parses: a refused upload must never reach one."""
    calls = []
    original = multipartparser.MultiPartParser.parse

    def counting(self):
        calls.append(self)
        return original(self)

    monkeypatch.setattr(multipartparser.MultiPartParser, "parse", counting)
    return calls


def _numbers(detail: str) -> list[float]:
    """The sizes a message gives, in bytes: [upload bytes, upload MiB, limit bytes, limit MiB]."""
    return [float(x.replace(",", "")) for x in re.findall(r"([\d,]+(?:\.\d)?) (?:bytes|MiB)", detail)]


def test_a_body_longer_than_any_upload_is_refused_from_its_length_before_parsing(
    uploader_client, settings, tmp_path, parses
):
    settings.MEDIAREC_MAX_UPLOAD_BYTES = 1000
    payload = tmp_path / "big.bin"
    payload.write_bytes(b"\0" * (1000 + FORM_OVERHEAD_BYTES + 1))
    with open(payload, "rb") as fh:
        response = uploader_client.post("/api/videos", {"file": fh, "title": "big"})
    assert response.status_code == 413, response.content
    detail = response.json()["detail"]
    upload_bytes, upload_mib, limit_bytes, limit_mib = _numbers(detail)
    assert upload_bytes > limit_bytes and upload_mib > limit_mib  # no "536.9 MB; the limit is 537 MB"
    assert limit_bytes == 1000 and "the limit is 1,000 bytes (0.0 MiB)" in detail
    assert parses == []  # nothing read the body, so nothing was written
    assert Video.objects.count() == 0


def test_a_file_over_the_limit_inside_an_allowed_body_is_stopped_while_it_streams(
    uploader_client, settings, tmp_path, parses
):
    clip = write_video(tmp_path / "clip.mp4", frames=48, size=(160, 120))
    settings.MEDIAREC_MAX_UPLOAD_BYTES = clip.stat().st_size // 2  # the body passes the door, the file does not
    settings.FILE_UPLOAD_TEMP_DIR = str(tmp_path / "spool")
    settings.FILE_UPLOAD_MAX_MEMORY_SIZE = 0  # any file that got through would be spooled to disk
    (tmp_path / "spool").mkdir()
    with open(clip, "rb") as fh:
        response = uploader_client.post("/api/videos", {"file": fh, "title": "clip"})
    assert response.status_code == 413, response.content
    assert response.json()["detail"].startswith("the upload is over ")
    assert len(parses) == 1
    assert list((tmp_path / "spool").iterdir()) == []
    assert Video.objects.count() == 0


def test_a_file_within_the_limit_is_accepted(uploader_client, settings, tmp_path):
    clip = write_video(tmp_path / "clip.mp4")
    settings.MEDIAREC_MAX_UPLOAD_BYTES = clip.stat().st_size
    with open(clip, "rb") as fh:
        assert uploader_client.post("/api/videos", {"file": fh, "title": "clip"}).status_code == 201
