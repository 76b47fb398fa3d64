"""A scripted sweep of hostile input at every API endpoint and page: NULs,
huge numbers, wrong types, bad dates, unicode digits, bad tokens and oversized
fields, in every path, query, JSON and form field. Each answer is a 4xx (or a
plain success); never a 500, and nothing half-stored."""

from __future__ import annotations

import json

import numpy as np
import pytest
from django.core.cache import cache
from django.test import Client

from mediarec.api import TOKEN_THROTTLES, api
from mediarec.models import Interaction, ModelKind, ModelVersion, Video
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

# Strings: NULs, unicode digits, huge and odd numbers, dates out of range, markup, oversized.
HOSTILE_STRINGS = [
    "\x00",
    "a\x00b",
    "²",
    "٣",
    "１２",
    "9" * 40,
    "-1",
    "1e308",
    "NaN",
    "Infinity",
    "0x10",
    "1930-01-01T00:00:00Z",
    "9999-12-31T23:59:59Z",
    "0000-00-00",
    "<script>alert(1)</script>",
    "' OR 1=1 --",
    "%00",
    "x" * 100_000,
]
# Already percent-encoded for a URL: bytes that are not UTF-8 (a stray byte, a surrogate, an overlong NUL).
RAW_URL_VALUES = ["%FF", "%ED%A0%80", "%C0%80", "%"]
# JSON values: the strings, and wrong types and numbers JSON can carry.
HOSTILE_JSON = [
    *HOSTILE_STRINGS,
    "\ud800",  # a lone surrogate: valid JSON, not encodable as UTF-8
    None,
    True,
    False,
    [],
    {},
    [1, 2],
    {"$gt": ""},
    0,
    -1,
    10**40,
    -(10**40),
    1e308,
    -1e308,
    float("nan"),
    float("inf"),
    1.5,
]
BAD_TOKENS = ["", "\x00", "forged", "a.b.c", "x" * 10_000, "Bearer", "eyJ1IjoxfQ:abc:def", "²"]


@pytest.fixture
def world(monkeypatch):
    cache.clear()
    for throttle in [*api.throttle, *TOKEN_THROTTLES]:
        monkeypatch.setattr(throttle, "num_requests", 10**9)
    ModelVersion.objects.create(name="v1", kind=ModelKind.STANDIN, embedding_dim=256, is_active=True)
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(4, 256)).astype(np.float32)
    videos = [
        Video.objects.create(title=f"Clip {i}", embedding=v / np.linalg.norm(v), embedding_version="v1")
        for i, v in enumerate(vectors)
    ]
    user = UserFactory()
    Interaction.objects.create(user=user, video=videos[0], kind="like")
    client = Client(raise_request_exception=False)
    token = client.post("/api/token", {"username": user.username, "password": "pw"}, "application/json")
    headers = {"Authorization": f"Bearer {token.json()['token']}"}
    return {"client": client, "user": user, "video": videos[0], "headers": headers}


def _quote(value) -> str:
    from urllib.parse import quote

    return quote(str(value), safe="")


def _check(answers: list[tuple[str, int]]) -> None:
    server_errors = [(what, status) for what, status in answers if status >= 500]
    assert not server_errors, server_errors[:10]


def _jsonable(value):
    return json.dumps(value, allow_nan=True) if not isinstance(value, str) else json.dumps(value)


INTERACTION = {"video_id": None, "kind": "view", "value": 1.0, "client_event_id": "e", "created_at": None}


@pytest.mark.parametrize("field", ["video_id", "kind", "value", "user_id", "client_event_id", "created_at"])
def test_interaction_fields(world, field):
    client, headers = world["client"], world["headers"]
    before = Interaction.objects.count()
    answers = []
    for value in HOSTILE_JSON:
        event = {**INTERACTION, "video_id": world["video"].pk, "created_at": "2024-01-01T00:00:00Z"}
        event[field] = value
        body = "{" + ", ".join(f'"{k}": {_jsonable(v)}' for k, v in event.items()) + "}"
        for url, payload in [
            ("/api/interactions", body),
            ("/api/interactions/batch", '{"events": [' + body + "]}"),
        ]:
            response = client.post(url, payload, content_type="application/json", headers=headers)
            answers.append((f"{url} {field}={value!r:.40}", response.status_code))
    _check(answers)
    stored = Interaction.objects.count() - before
    assert stored <= sum(1 for _, s in answers if s == 201)


@pytest.mark.parametrize("body", ['{"events": ' + _jsonable(v) + "}" for v in HOSTILE_JSON[:25]])
def test_batch_bodies(world, body):
    response = world["client"].post(
        "/api/interactions/batch", body, content_type="application/json", headers=world["headers"]
    )
    assert response.status_code < 500, response.content[:300]


@pytest.mark.parametrize(
    "template",
    [
        "/api/users/{v}/recommendations",
        "/api/users/{uid}/recommendations?limit={v}",
        "/api/users/{uid}/recommendations?offset={v}",
        "/api/users/{uid}/recommendations?cursor={v}",
        "/api/videos/{v}/similar",
        "/api/videos/{vid}/similar?limit={v}",
        "/api/search?q={v}",
        "/api/search?q=clip&limit={v}",
        "/api/videos/{v}",
    ],
)
def test_api_reads(world, template):
    client, headers = world["client"], world["headers"]
    answers = []
    for value in [*map(_quote, HOSTILE_STRINGS), *RAW_URL_VALUES]:
        url = template.format(v=value, uid=world["user"].pk, vid=world["video"].pk)
        answers.append((url[:80], client.get(url, headers=headers).status_code))
    _check(answers)


def test_bad_tokens_answer_401(world):
    client = world["client"]
    answers = []
    for token in BAD_TOKENS:
        for header in (f"Bearer {token}", token, f"Basic {token}"):
            try:
                response = client.get(
                    f"/api/users/{world['user'].pk}/recommendations", headers={"Authorization": header}
                )
            except UnicodeEncodeError:
                continue  # a header no HTTP client can send
            answers.append((header[:40], response.status_code))
            assert response.status_code in {401, 403}, (header[:40], response.status_code)
    _check(answers)


@pytest.mark.parametrize("field", ["username", "password"])
def test_token_fields(world, field):
    answers = []
    for value in HOSTILE_JSON:
        body = {"username": world["user"].username, "password": "pw", field: value}
        raw = "{" + ", ".join(f'"{k}": {_jsonable(v)}' for k, v in body.items()) + "}"
        response = world["client"].post("/api/token", raw, content_type="application/json")
        answers.append((f"{field}={value!r:.40}", response.status_code))
    _check(answers)
    malformed = ["", "{", "[]", "null", '"x"', "\x00", "{" * 10_000]
    _check(
        [
            (m[:20], world["client"].post("/api/token", m, content_type="application/json").status_code)
            for m in malformed
        ]
    )


@pytest.mark.parametrize("field", ["title", "description", "tags", "published"])
def test_upload_form_fields(world, field, mp4_file, settings):
    client, headers = world["client"], world["headers"]
    answers = []
    for value in HOSTILE_STRINGS:
        with open(mp4_file, "rb") as fh:
            fields = {"file": fh, "title": "ok", field: value}
            response = client.post("/api/videos", fields, headers=headers)
        answers.append((f"{field}={value!r:.40}", response.status_code))
    _check(answers)
    # Nothing half-stored: every stored video has both its files.
    for video in Video.objects.exclude(file=""):
        assert video.file.storage.exists(video.file.name) and video.thumbnail.storage.exists(video.thumbnail.name)


def test_upload_files_that_are_not_videos(world):
    client, headers = world["client"], world["headers"]
    from django.core.files.uploadedfile import SimpleUploadedFile

    answers = []
    for name, content in [
        ("a.mp4", b""),
        ("a.mp4", b"\x00" * 1000),
        ("\x00.mp4", b"\x00\x00\x00\x18ftypmp42"),
        ("../../etc/passwd", b"root:x:0:0"),
        ("x" * 5000 + ".mp4", b"not a video"),
        ("a.html", b"<script>alert(1)</script>"),
    ]:
        response = client.post("/api/videos", {"file": SimpleUploadedFile(name, content)}, headers=headers)
        answers.append((name[:30], response.status_code))
    _check(answers)
    assert all(status == 400 or status == 422 for _, status in answers), answers
    assert Video.objects.exclude(file="").count() == 0


@pytest.mark.parametrize(
    "template",
    [
        "/?q={v}",
        "/videos/{vid}/?reason={v}",
        "/videos/{vid}/?reason=cf&because={v}",
        "/videos/{vid}/?reason=content&because={v}",
        "/search/?q={v}",
        "/login/?next={v}",
        "/media/{v}",
        "/media/videos/{v}",
    ],
)
def test_pages(world, template):
    client = Client(raise_request_exception=False)
    client.force_login(world["user"])
    answers = []
    for value in [*map(_quote, HOSTILE_STRINGS), *RAW_URL_VALUES]:
        url = template.format(v=value, vid=world["video"].pk)
        answers.append((url[:80], client.get(url).status_code))
    _check(answers)


def test_page_forms(world):
    client = Client(raise_request_exception=False)
    answers = []
    for value in HOSTILE_STRINGS:
        answers.append(
            (f"login {value!r:.30}", client.post("/login/", {"username": value, "password": value}).status_code)
        )
    client.force_login(world["user"])
    for value in HOSTILE_STRINGS:
        response = client.post(f"/videos/{world['video'].pk}/react/", {"kind": value})
        answers.append((f"react {value!r:.30}", response.status_code))
    _check(answers)
