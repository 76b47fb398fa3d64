"""The JSON API under ``/api/`` (django-ninja). OpenAPI schema at
``/api/openapi.json``, interactive docs at ``/api/docs``.

Auth: the Django session (browser; CSRF applies to writes) or a bearer token
from ``POST /api/token``. Tokens are signed, expire after ``TOKEN_MAX_AGE_S``
and stop working when the user's password changes, so no token table is
needed. Endpoints only parse input and call services and selectors.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
from datetime import datetime
from typing import Annotated

from django.contrib.auth import authenticate, get_user_model
from django.core import signing
from django.urls import reverse
from django.utils.crypto import constant_time_compare, salted_hmac
from ninja import File, Form, NinjaAPI, Query, Schema, Status
from ninja.errors import HttpError
from ninja.files import UploadedFile
from ninja.security import HttpBearer, SessionAuth
from pydantic import BaseModel, Field, StrictFloat, StrictInt

from mediarec.conf import app_settings
from mediarec.errors import (
    DATABASE_RETRY_AFTER_S,
    DATABASE_UNAVAILABLE,
    DATABASE_UNAVAILABLE_MESSAGE,
    MediarecError,
    ModelNotActive,
    UnknownObject,
    UploadTooLarge,
)
from mediarec.models import Video
from mediarec.selectors import user_active_by_pk, video_list_visible
from mediarec.services.interactions import MAX_EVENT_VALUE, InteractionEvent, interactions_ingest
from mediarec.services.videos import video_create
from mediarec.serving.feeds import MAX_WINDOW, recommendations_for_user, videos_search, videos_similar
from mediarec.throttling import AnonThrottle, AuthThrottle, TokenClientThrottle, TokenUsernameThrottle

log = logging.getLogger(__name__)

TOKEN_SALT = "mediarec.api.token"
TOKEN_MAX_AGE_S = 30 * 24 * 3600
MAX_LIMIT = 100


def _password_fingerprint(user) -> str:
    return salted_hmac(TOKEN_SALT, user.password).hexdigest()[:16]


def api_token_for(user) -> str:
    return signing.dumps({"u": user.pk, "p": _password_fingerprint(user)}, salt=TOKEN_SALT)


def user_for_api_token(token: str):
    try:
        payload = signing.loads(token, salt=TOKEN_SALT, max_age=TOKEN_MAX_AGE_S)
    except signing.BadSignature:
        return None
    pk = payload.get("u")
    user = user_active_by_pk(pk) if pk is not None else None
    if user is None or not constant_time_compare(payload.get("p", ""), _password_fingerprint(user)):
        return None
    return user


class BearerToken(HttpBearer):
    def authenticate(self, request, token):
        user = user_for_api_token(token)
        if user is not None:
            request.user = user
        return user


api = NinjaAPI(
    title="mediarec",
    version="1",
    description="Personalized video recommendations, similar videos, search, interaction ingest and uploads.",
    urls_namespace="api",
    auth=[BearerToken(), SessionAuth()],
    throttle=[AnonThrottle(app_settings.API_THROTTLE_RATE), AuthThrottle(app_settings.API_THROTTLE_RATE)],
)


@api.exception_handler(UnknownObject)
def _unknown(request, exc):
    return api.create_response(request, {"detail": str(exc)}, status=404)


@api.exception_handler(UploadTooLarge)
def _too_large(request, exc):
    return api.create_response(request, {"detail": str(exc)}, status=413)


@api.exception_handler(ModelNotActive)
def _not_active(request, exc):
    return api.create_response(request, {"detail": str(exc)}, status=409)


def _database_unavailable(request, exc):
    log.error("database unavailable for %s %s: %s", request.method, request.path, exc)
    response = api.create_response(request, {"detail": DATABASE_UNAVAILABLE_MESSAGE}, status=503)
    response["Retry-After"] = str(DATABASE_RETRY_AFTER_S)
    return response


for _error in DATABASE_UNAVAILABLE:
    api.add_exception_handler(_error, _database_unavailable)


@api.exception_handler(MediarecError)
def _invalid(request, exc):  # InvalidUpload, InvalidInteraction and any other domain error
    return api.create_response(request, {"detail": str(exc)}, status=400)


# --- schemas ----------------------------------------------------------------
# Response-only models are plain pydantic models: ninja's ``Schema`` reads every
# field through a Django-aware getter, which for a 20-item feed cost more than
# building the feed itself.
class VideoOut(BaseModel):
    id: int
    title: str
    title_generated: bool = Field(description="True: ``title`` is the generated caption (no title was given)")
    tags: list[str]
    channel: str
    duration_s: float | None
    thumbnail_url: str | None
    url: str

    @staticmethod
    def of(video: Video) -> dict:
        # A plain dict: ninja validates the response once; a model instance here would double that.
        return {
            "id": video.pk,
            "title": video.shown_title,
            "title_generated": video.title_generated,
            "tags": video.tag_list,
            "channel": video.channel,
            "duration_s": video.duration_s,
            "thumbnail_url": video.thumbnail.url if video.thumbnail else None,
            "url": reverse("mediarec:video-detail", args=[video.pk]),
        }


class SuggestedTagOut(BaseModel):
    tag: str
    score: float


class VideoStatusOut(VideoOut):
    suggested_tags: list[SuggestedTagOut] = Field(description="Generated from the pixels, best first")
    caption: str = Field(description="Generated from the pixels")
    generated_version: str = Field(description="The model version that generated them")
    has_own_text: bool = Field(description="False: every word of it is generated")
    status: str
    error_message: str
    published: bool
    embedding_version: str
    file_url: str | None
    created_at: datetime


class RecommendationOut(BaseModel):
    video: VideoOut
    score: float
    sources: list[str]
    explanation: str
    because_video_id: int | None


class FeedOut(BaseModel):
    user_id: int
    offset: int
    limit: int
    items: list[RecommendationOut]
    next_cursor: str | None


class SimilarOut(BaseModel):
    video_id: int
    items: list[RecommendationOut]


class SearchOut(BaseModel):
    query: str
    mode: str
    items: list[VideoOut]


class InteractionIn(Schema):
    # Strict types: ``true`` is not video 1 and ``"5"`` is not a number.
    video_id: StrictInt
    kind: str = Field(max_length=32)
    value: StrictFloat = Field(0.0, ge=-MAX_EVENT_VALUE, le=MAX_EVENT_VALUE, allow_inf_nan=False)
    user_id: StrictInt | None = Field(None, description="Defaults to the caller; only staff may post for others.")
    client_event_id: str | None = Field(None, max_length=128, description="Makes a resend idempotent.")
    created_at: datetime | None = None


class InteractionBatchIn(Schema):
    events: list[InteractionIn] = Field(min_length=1, max_length=app_settings.API_MAX_BATCH)


class IngestOut(Schema):
    created: int
    duplicates: int


class TokenIn(Schema):
    username: str = Field(max_length=150)
    password: str = Field(max_length=1024)


class TokenOut(Schema):
    token: str
    user_id: int


class ErrorOut(Schema):
    detail: str


def _recommendation(rec) -> dict:
    return {
        "video": VideoOut.of(rec.video),
        "score": round(rec.score, 6),
        "sources": list(rec.sources),
        "explanation": rec.explanation,
        "because_video_id": rec.because_id,
    }


def _encode_cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"o": offset}).encode()).decode()


def _decode_cursor(cursor: str) -> int:
    try:
        offset = json.loads(base64.urlsafe_b64decode(cursor.encode()))["o"]
    except (binascii.Error, ValueError, KeyError, TypeError) as exc:
        raise HttpError(400, "invalid cursor; pass back the next_cursor of a previous page.") from exc
    if not isinstance(offset, int) or offset < 0:
        raise HttpError(400, "invalid cursor; pass back the next_cursor of a previous page.")
    return offset


def _check_self_or_staff(request, user_id: int) -> None:
    if user_id != request.auth.pk and not request.auth.is_staff:
        raise HttpError(403, "you may only act as yourself.")


# --- endpoints --------------------------------------------------------------
TOKEN_THROTTLES = [
    TokenUsernameThrottle(app_settings.API_TOKEN_THROTTLE_RATE),
    TokenClientThrottle(app_settings.API_TOKEN_CLIENT_THROTTLE_RATE),
]


@api.post(
    "/token", auth=None, throttle=TOKEN_THROTTLES, response={200: TokenOut, 400: ErrorOut, 401: ErrorOut}, tags=["auth"]
)
def token_create(request, body: TokenIn):
    """Exchange a username and password for a bearer token (attempts are throttled per username and per client)."""
    if "\x00" in body.username or "\x00" in body.password:
        raise HttpError(400, "the username or password contains a NUL character.")
    user = authenticate(request, username=body.username, password=body.password)
    if user is None:
        return Status(401, {"detail": "wrong username or password."})
    return Status(200, {"token": api_token_for(user), "user_id": user.pk})


@api.get("/users/{user_id}/recommendations", response={200: FeedOut, 403: ErrorOut, 404: ErrorOut}, tags=["feed"])
def user_recommendations(
    request,
    user_id: int,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 20,
    offset: Annotated[int, Query(ge=0, le=MAX_WINDOW - 1)] = 0,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
):
    """A user's personalized feed, one page at a time (``offset`` or the ``next_cursor`` of the last page)."""
    _check_self_or_staff(request, user_id)
    user = request.auth if user_id == request.auth.pk else get_user_model().objects.filter(pk=user_id).first()
    if user is None:
        raise UnknownObject(f"unknown user id {user_id}.")
    if cursor is not None:
        offset = _decode_cursor(cursor)
    limit = min(limit, MAX_WINDOW - offset)
    if limit < 1:
        raise HttpError(400, f"the feed ends at {MAX_WINDOW} items.")
    items = recommendations_for_user(user=user, limit=limit, offset=offset)
    more = len(items) == limit and offset + limit < MAX_WINDOW
    return {
        "user_id": user_id,
        "offset": offset,
        "limit": limit,
        "items": [_recommendation(r) for r in items],
        "next_cursor": _encode_cursor(offset + limit) if more else None,
    }


def _visible_video(request, video_id: int) -> Video:
    """Published videos for everyone; unpublished ones for their uploader and staff."""
    user = getattr(request, "auth", None) or request.user
    video = video_list_visible(user=user).filter(pk=video_id).first()
    if video is None:
        raise UnknownObject(f"unknown video id {video_id}.")
    return video


@api.get("/videos/{video_id}/similar", auth=None, response={200: SimilarOut, 404: ErrorOut}, tags=["feed"])
def video_similar(request, video_id: int, limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 12):
    """Videos like this one: content neighbours blended with co-watch."""
    video = _visible_video(request, video_id)
    return {"video_id": video.pk, "items": [_recommendation(r) for r in videos_similar(video=video, limit=limit)]}


@api.get("/search", auth=None, response=SearchOut, tags=["feed"])
def search(
    request,
    q: Annotated[str, Query(min_length=1, max_length=200)],
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 20,
):
    """Semantic search with the active model's text tower; keyword search when none is active."""
    results = videos_search(query=q, limit=limit)
    return {"query": q, "mode": results.mode, "items": [VideoOut.of(v) for v in results.videos]}


def _events(request, items: list[InteractionIn]) -> list[InteractionEvent]:
    events = []
    for item in items:
        user_id = item.user_id if item.user_id is not None else request.auth.pk
        _check_self_or_staff(request, user_id)
        events.append(
            InteractionEvent(
                user_id=user_id,
                video_id=item.video_id,
                kind=item.kind,
                value=item.value,
                created_at=item.created_at,
                client_event_id=item.client_event_id,
            )
        )
    return events


@api.post("/interactions", response={201: IngestOut, 400: ErrorOut, 403: ErrorOut, 404: ErrorOut}, tags=["ingest"])
def interaction_create(request, body: InteractionIn):
    """Record one interaction (idempotent by ``client_event_id``)."""
    result = interactions_ingest(events=_events(request, [body]), actor=request.auth)
    return Status(201, {"created": result.created, "duplicates": result.duplicates})


@api.post(
    "/interactions/batch", response={201: IngestOut, 400: ErrorOut, 403: ErrorOut, 404: ErrorOut}, tags=["ingest"]
)
def interaction_batch(request, body: InteractionBatchIn):
    """Record up to ``MEDIAREC_API_MAX_BATCH`` interactions at once; all or nothing,
    events already stored (same user and ``client_event_id``) are skipped."""
    result = interactions_ingest(events=_events(request, body.events), actor=request.auth)
    return Status(201, {"created": result.created, "duplicates": result.duplicates})


@api.post("/videos", response={201: VideoStatusOut, 400: ErrorOut}, tags=["videos"])
def video_upload(
    request,
    file: File[UploadedFile],
    title: Form[str] = "",
    description: Form[str] = "",
    tags: Form[str] = "",
    published: Form[bool] = True,
):
    """Upload a video file; it is probed, stored and queued for embedding."""
    video = video_create(
        upload=file, title=title, description=description, tags=tags, published=published, uploader=request.auth
    )
    return Status(201, _status(video))


@api.get("/videos/{video_id}", response={200: VideoStatusOut, 404: ErrorOut}, tags=["videos"])
def video_status(request, video_id: int):
    """A video and where it is in the pipeline (uploaded, queued, embedding, ready, failed)."""
    return _status(_visible_video(request, video_id))


def _status(video: Video) -> VideoStatusOut:
    return VideoStatusOut(
        **VideoOut.of(video),
        suggested_tags=video.suggested_tags,
        caption=video.caption,
        generated_version=video.generated_version,
        has_own_text=video.has_own_text,
        status=video.status,
        error_message=video.error_message,
        published=video.published,
        embedding_version=video.embedding_version,
        file_url=video.file.url if video.file else None,
        created_at=video.created_at,
    )
