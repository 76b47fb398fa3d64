"""The JSON API: schema, auth, every kind of bad input (a clear 4xx and no
change), batch ingest of 1,000 with idempotency, uploads and throttling."""

from __future__ import annotations

import json

import numpy as np
import pytest
from django.core.cache import cache
from django.test import Client

from mediarec.api import api
from mediarec.caching import caches_clear
from mediarec.database.postgres import base as postgres_base
from mediarec.models import Interaction, ModelKind, ModelVersion, Video
from tests.connections import drop_connection, served_get
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db
DIM = 256


@pytest.fixture(autouse=True)
def _clean(settings, tmp_path):
    settings.MEDIAREC_DATA_DIR = tmp_path
    caches_clear()
    cache.clear()  # throttling counters


@pytest.fixture
def catalog():
    rng = np.random.default_rng(0)
    ModelVersion.objects.create(name="v1", kind=ModelKind.STANDIN, embedding_dim=DIM, is_active=True)
    vectors = rng.normal(size=(30, DIM)).astype(np.float32)
    return Video.objects.bulk_create(
        Video(title=f"Clip {i}", tags=f"t{i % 3}", embedding=v / np.linalg.norm(v), embedding_version="v1")
        for i, v in enumerate(vectors)
    )


def token_for(client: Client, user) -> dict:
    response = client.post("/api/token", {"username": user.username, "password": "pw"}, content_type="application/json")
    assert response.status_code == 200, response.content
    return {"Authorization": f"Bearer {response.json()['token']}"}


def post_json(client, url, data, **kwargs):
    return client.post(url, json.dumps(data), content_type="application/json", **kwargs)


def test_openapi_schema_and_docs_are_served(client):
    schema = client.get("/api/openapi.json").json()
    assert schema["info"]["title"] == "mediarec"
    for path in (
        "/api/users/{user_id}/recommendations",
        "/api/videos/{video_id}/similar",
        "/api/search",
        "/api/interactions",
        "/api/interactions/batch",
        "/api/videos",
        "/api/videos/{video_id}",
    ):
        assert path in schema["paths"], path
    assert client.get("/api/docs").status_code == 200


def test_token_auth_and_permissions(client, catalog):
    alice, bob = UserFactory(), UserFactory()
    staff = UserFactory(is_staff=True)
    assert (
        client.post(
            "/api/token", {"username": alice.username, "password": "nope"}, content_type="application/json"
        ).status_code
        == 401
    )
    assert client.get(f"/api/users/{alice.pk}/recommendations").status_code == 401
    assert (
        client.get(f"/api/users/{alice.pk}/recommendations", headers={"Authorization": "Bearer forged"}).status_code
        == 401
    )
    headers = token_for(client, alice)
    response = client.get(f"/api/users/{alice.pk}/recommendations?limit=5", headers=headers)
    assert response.status_code == 200 and len(response.json()["items"]) == 5
    assert client.get(f"/api/users/{bob.pk}/recommendations", headers=headers).status_code == 403
    staff_headers = token_for(client, staff)
    assert client.get(f"/api/users/{bob.pk}/recommendations", headers=staff_headers).status_code == 200
    # A changed password revokes old tokens.
    alice.set_password("new")
    alice.save()
    assert client.get(f"/api/users/{alice.pk}/recommendations", headers=headers).status_code == 401


def test_recommendation_paging_and_limits(client, catalog):
    user = UserFactory(is_staff=True)
    headers = token_for(client, user)
    Interaction.objects.create(user=user, video=catalog[0], kind="like")
    url = f"/api/users/{user.pk}/recommendations"
    first = client.get(f"{url}?limit=5", headers=headers).json()
    assert all(item["sources"] and item["explanation"] for item in first["items"])
    second = client.get(f"{url}?limit=5&cursor={first['next_cursor']}", headers=headers).json()
    assert second["offset"] == 5
    assert not {i["video"]["id"] for i in first["items"]} & {i["video"]["id"] for i in second["items"]}
    for query, status in [
        ("limit=0", 422),
        ("limit=101", 422),
        ("limit=abc", 422),
        ("offset=-1", 422),
        ("cursor=%%%", 400),
    ]:
        response = client.get(f"{url}?{query}", headers=headers)
        assert response.status_code == status, (query, response.content)
        assert response.json()["detail"]
    response = client.get("/api/users/999999/recommendations", headers=headers)
    assert response.status_code == 404 and "999999" in response.json()["detail"]


def test_similar_and_search(client, catalog):
    response = client.get(f"/api/videos/{catalog[0].pk}/similar?limit=4")
    assert response.status_code == 200 and len(response.json()["items"]) == 4
    assert client.get("/api/videos/999999/similar").status_code == 404
    response = client.get("/api/search?q=Clip 7")
    assert response.status_code == 200
    assert response.json()["mode"] == "keyword" and response.json()["items"][0]["title"] == "Clip 7"
    assert client.get("/api/search").status_code == 422
    assert client.get("/api/search?q=").status_code == 422


def test_single_interaction_and_bad_input_change_nothing(client, catalog):
    alice, bob = UserFactory(), UserFactory()
    headers = token_for(client, alice)
    ok = {"video_id": catalog[0].pk, "kind": "like", "client_event_id": "e-1"}
    response = post_json(client, "/api/interactions", ok, headers=headers)
    assert response.status_code == 201 and response.json() == {"created": 1, "duplicates": 0}
    assert post_json(client, "/api/interactions", ok, headers=headers).json() == {"created": 0, "duplicates": 1}
    bad = [
        ({"video_id": 999999, "kind": "like"}, 404),
        ({"video_id": catalog[0].pk, "kind": "poke"}, 400),
        ({"video_id": "first", "kind": "like"}, 422),
        ({"kind": "like"}, 422),
        ({"video_id": catalog[0].pk, "kind": "like", "user_id": bob.pk}, 403),
    ]
    for body, status in bad:
        response = post_json(client, "/api/interactions", body, headers=headers)
        assert response.status_code == status, (body, response.content)
        assert response.json()["detail"]
    response = client.post("/api/interactions", "{not json", content_type="application/json", headers=headers)
    assert response.status_code == 400 and "parse" in response.json()["detail"]
    assert Interaction.objects.count() == 1
    staff_headers = token_for(client, UserFactory(is_staff=True))
    body = {"video_id": catalog[1].pk, "kind": "view", "user_id": bob.pk}
    assert post_json(client, "/api/interactions", body, headers=staff_headers).status_code == 201
    assert Interaction.objects.filter(user=bob).count() == 1


def test_batch_of_1000_is_idempotent_and_all_or_nothing(client, catalog):
    user = UserFactory()
    headers = token_for(client, user)
    kinds = ["view", "complete", "like", "share", "dislike"]
    events = [{"video_id": catalog[i % 30].pk, "kind": kinds[i % 5], "client_event_id": f"b-{i}"} for i in range(1000)]
    response = post_json(client, "/api/interactions/batch", {"events": events}, headers=headers)
    assert response.status_code == 201 and response.json() == {"created": 1000, "duplicates": 0}
    response = post_json(
        client,
        "/api/interactions/batch",
        {"events": [*events[:10], {**events[0], "client_event_id": "new"}]},
        headers=headers,
    )
    assert response.json() == {"created": 1, "duplicates": 10}
    assert Interaction.objects.count() == 1001
    too_many = [*events, {"video_id": catalog[0].pk, "kind": "view"}]
    assert post_json(client, "/api/interactions/batch", {"events": too_many}, headers=headers).status_code == 422
    one_bad = [
        {"video_id": catalog[0].pk, "kind": "view", "client_event_id": "x"},
        {"video_id": 999999, "kind": "view"},
    ]
    response = post_json(client, "/api/interactions/batch", {"events": one_bad}, headers=headers)
    assert response.status_code == 404 and "999999" in response.json()["detail"]
    assert post_json(client, "/api/interactions/batch", {"events": []}, headers=headers).status_code == 422
    assert Interaction.objects.count() == 1001


def test_session_auth_needs_csrf_for_writes(catalog):
    user = UserFactory()
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    assert client.get(f"/api/users/{user.pk}/recommendations").status_code == 200
    body = {"video_id": catalog[0].pk, "kind": "like"}
    assert post_json(client, "/api/interactions", body).status_code == 403
    client.get("/login/")  # sets the CSRF cookie
    token = client.cookies["csrftoken"].value
    assert post_json(client, "/api/interactions", body, headers={"X-CSRFToken": token}).status_code == 201


def test_upload_and_status(client, mp4_file, tmp_path):
    user = UserFactory()
    headers = token_for(client, user)
    with open(mp4_file, "rb") as fh:
        response = client.post(
            "/api/videos", {"file": fh, "title": "Red square", "tags": "red, square"}, headers=headers
        )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["status"] == "queued" and body["tags"] == ["red", "square"]
    status = client.get(f"/api/videos/{body['id']}", headers=headers).json()
    assert status["id"] == body["id"] and status["file_url"]
    assert status["suggested_tags"] == [] and status["caption"] == "" and status["has_own_text"]
    assert status["title"] == "Red square" and not status["title_generated"]
    junk = tmp_path / "notes.mp4"
    junk.write_bytes(b"this is a text file, not a video\n" * 20)
    with open(junk, "rb") as fh:
        response = client.post("/api/videos", {"file": fh, "title": "junk"}, headers=headers)
    assert response.status_code == 400 and "notes.mp4" in response.json()["detail"]
    assert client.post("/api/videos", {"title": "no file"}, headers=headers).status_code == 422
    assert Video.objects.count() == 1
    hidden = Video.objects.create(title="draft", published=False, uploader=UserFactory())
    assert client.get(f"/api/videos/{hidden.pk}", headers=headers).status_code == 404


def test_status_has_the_generated_words(client, mp4_file):
    headers = token_for(client, UserFactory())
    with open(mp4_file, "rb") as fh:
        body = client.post("/api/videos", {"file": fh}, headers=headers).json()  # no title, no text
    assert body["title"] == "clip" and not body["has_own_text"] and not body["title_generated"]
    tags = [{"tag": "crimson", "score": 0.25}, {"tag": "ball", "score": 0.125}]
    Video.objects.filter(pk=body["id"]).update(suggested_tags=tags, caption="crimson ball", generated_version="v1")
    status = client.get(f"/api/videos/{body['id']}", headers=headers).json()
    assert status["suggested_tags"] == tags and status["caption"] == "crimson ball"
    assert status["generated_version"] == "v1" and not status["has_own_text"]
    assert status["title"] == "crimson ball" and status["title_generated"]  # the caption stands in for "clip"


def test_throttling_answers_429(client, catalog, monkeypatch):
    user = UserFactory()
    headers = token_for(client, user)
    for throttle in api.throttle:
        monkeypatch.setattr(throttle, "num_requests", 3)
    url = f"/api/users/{user.pk}/recommendations?limit=2"
    statuses = [client.get(url, headers=headers).status_code for _ in range(5)]
    assert statuses[:3] == [200, 200, 200] and statuses[3:] == [429, 429]


@pytest.mark.django_db(transaction=True)
def test_a_lost_database_connection_answers_503_and_the_next_request_reconnects(client, catalog):
    user = UserFactory()
    headers = token_for(client, user)
    url = f"/api/users/{user.pk}/recommendations?limit=5"
    assert served_get(client, url, headers).status_code == 200  # the connection has just proven itself
    drop_connection()
    lost = served_get(client, url, headers)  # no health check right after a good request: it finds out
    assert lost.status_code == 503, lost.content
    assert lost.json() == {"detail": "the database is unavailable; retry shortly."}
    assert lost["Retry-After"] == "5"
    assert served_get(client, url, headers).status_code == 200  # checked after the error, reopened


@pytest.mark.django_db(transaction=True)
def test_an_idle_connection_is_checked_before_a_request_uses_it(client, catalog, monkeypatch):
    user = UserFactory()
    headers = token_for(client, user)
    url = f"/api/users/{user.pk}/recommendations?limit=5"
    assert served_get(client, url, headers).status_code == 200
    monkeypatch.setattr(postgres_base, "RECENTLY_PROVEN_S", 0.0)  # as if it had sat idle
    drop_connection()
    assert served_get(client, url, headers).status_code == 200


def test_event_dates_out_of_range_answer_400_with_the_reason(client, catalog):
    user = UserFactory()
    headers = token_for(client, user)
    for when in ("1930-01-01T00:00:00Z", "9999-12-31T00:00:00Z"):
        body = {"video_id": catalog[0].pk, "kind": "view", "created_at": when}
        response = post_json(client, "/api/interactions", body, headers=headers)
        assert response.status_code == 400, response.content
        assert "between 2000-01-01 and one day from now" in response.json()["detail"]
    assert Interaction.objects.count() == 0
    assert client.get(f"/api/users/{user.pk}/recommendations", headers=headers).status_code == 200


@pytest.mark.parametrize(
    "raw",
    [
        '{"video_id": %(id)s, "kind": "view", "value": NaN}',
        '{"video_id": %(id)s, "kind": "view", "value": Infinity}',
        '{"video_id": %(id)s, "kind": "view", "value": -Infinity}',
        '{"video_id": %(id)s, "kind": "view", "value": 1e308}',
        '{"video_id": %(id)s, "kind": "view", "value": 1000000.5}',
        '{"video_id": %(id)s, "kind": "view", "value": true}',
        '{"video_id": true, "kind": "view"}',
        '{"video_id": "%(id)s", "kind": "view"}',
        '{"video_id": %(id)s.0, "kind": "view"}',
        '{"video_id": %(id)s, "kind": "view", "user_id": true}',
    ],
)
def test_impossible_values_and_loose_ids_answer_422_and_store_nothing(client, catalog, raw):
    headers = token_for(client, UserFactory())
    body = raw % {"id": catalog[0].pk}
    response = client.post("/api/interactions", body, content_type="application/json", headers=headers)
    assert response.status_code == 422, response.content
    assert response.json()["detail"]
    assert Interaction.objects.count() == 0


def test_values_within_the_documented_range_are_stored(client, catalog):
    headers = token_for(client, UserFactory())
    for value in (1_000_000, -1e6, 0.5, 3):
        body = {"video_id": catalog[0].pk, "kind": "view", "value": value}
        assert post_json(client, "/api/interactions", body, headers=headers).status_code == 201
    assert sorted(Interaction.objects.values_list("value", flat=True)) == [-1e6, 0.5, 3.0, 1e6]


def test_nul_characters_answer_400_with_the_reason(client, catalog):
    client.raise_request_exception = False
    user = UserFactory()
    headers = token_for(client, user)
    response = client.get("/api/search?q=Clip%007")
    assert response.status_code == 400 and "NUL" in response.json()["detail"]
    body = {"video_id": catalog[0].pk, "kind": "view", "client_event_id": "e\x001"}
    response = post_json(client, "/api/interactions", body, headers=headers)
    assert response.status_code == 400 and "client_event_id contains a NUL" in response.json()["detail"]
    response = post_json(client, "/api/token", {"username": f"{user.username}\x00", "password": "pw"})
    assert response.status_code == 400 and "NUL" in response.json()["detail"]
    assert Interaction.objects.count() == 0


def test_an_interaction_on_an_unpublished_video_answers_the_same_404_as_an_unknown_id(client, catalog):
    uploader = UserFactory()
    draft = Video.objects.create(title="draft", published=False, uploader=uploader)
    headers = token_for(client, UserFactory())
    answers = [
        post_json(client, "/api/interactions", {"video_id": pk, "kind": "view"}, headers=headers)
        for pk in (draft.pk, 999_999)
    ]
    assert [r.status_code for r in answers] == [404, 404]
    assert answers[0].json()["detail"] == f"unknown video id(s): {draft.pk}."
    body = {"video_id": draft.pk, "kind": "view"}
    assert post_json(client, "/api/interactions", body, headers=token_for(client, uploader)).status_code == 201
    assert Interaction.objects.count() == 1
