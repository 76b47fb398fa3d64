"""Interaction writes: one event or a batch, idempotent by client event id."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from django.db import transaction
from django.utils import timezone

from mediarec.conf import app_settings
from mediarec.errors import InvalidInteraction, UnknownObject
from mediarec.models import Interaction, Video
from mediarec.selectors import video_list_visible

# An event's ``created_at`` must fall in [EARLIEST_EVENT, now + MAX_CLOCK_SKEW]: older
# dates are typos or epoch zeros, later ones a client clock gone wrong, and both
# would dominate the time decay of every feed they reach. A date without a zone is UTC.
EARLIEST_EVENT = datetime(2000, 1, 1, tzinfo=UTC)
MAX_CLOCK_SKEW = timedelta(days=1)
# ``value`` (a watch fraction, seconds, a rating) must be finite and at most this in size.
MAX_EVENT_VALUE = 1e6


@dataclass(frozen=True)
class InteractionEvent:
    user_id: int
    video_id: int
    kind: str
    value: float = 0.0
    created_at: datetime | None = None
    client_event_id: str | None = None


@dataclass(frozen=True)
class IngestResult:
    created: int
    duplicates: int


def _with_aware_date(event: InteractionEvent) -> InteractionEvent:
    if event.created_at is None or timezone.is_aware(event.created_at):
        return event
    return replace(event, created_at=event.created_at.replace(tzinfo=UTC))


def _validate(events: list[InteractionEvent], *, actor) -> None:
    kinds = app_settings.INTERACTION_WEIGHTS
    latest = timezone.now() + MAX_CLOCK_SKEW
    for i, event in enumerate(events):
        if event.kind not in kinds:
            raise InvalidInteraction(f"event {i}: unknown kind {event.kind!r}; expected one of {sorted(kinds)}.")
        if (
            not (isinstance(event.value, int | float) and math.isfinite(event.value))
            or abs(event.value) > MAX_EVENT_VALUE
        ):
            raise InvalidInteraction(
                f"event {i}: value {event.value!r} is out of range; it must be a finite number within ±{MAX_EVENT_VALUE:g}."
            )
        if event.client_event_id is not None and "\x00" in event.client_event_id:
            raise InvalidInteraction(f"event {i}: client_event_id contains a NUL character.")
        if event.created_at is not None and not EARLIEST_EVENT <= event.created_at <= latest:
            raise InvalidInteraction(
                f"event {i}: created_at {event.created_at.isoformat()} is out of range; "
                f"it must lie between {EARLIEST_EVENT.date().isoformat()} and one day from now."
            )
        if actor is not None and not actor.is_staff and event.user_id != actor.pk:
            raise InvalidInteraction(f"event {i}: you may only record interactions as yourself.")
    video_ids = {e.video_id for e in events}
    # An unpublished video the actor may not see answers exactly as an unknown id,
    # so ingest cannot be used to find out which ids exist.
    videos = Video.objects.all() if actor is None else video_list_visible(user=actor)
    found = set(videos.filter(pk__in=video_ids).values_list("pk", flat=True))
    missing = sorted(video_ids - found)
    if missing:
        raise UnknownObject(f"unknown video id(s): {', '.join(map(str, missing[:10]))}.")
    from django.contrib.auth import get_user_model

    user_ids = {e.user_id for e in events}
    found_users = set(get_user_model().objects.filter(pk__in=user_ids).values_list("pk", flat=True))
    missing_users = sorted(user_ids - found_users)
    if missing_users:
        raise UnknownObject(f"unknown user id(s): {', '.join(map(str, missing_users[:10]))}.")


@transaction.atomic
def interactions_ingest(*, events: Iterable[InteractionEvent], actor=None) -> IngestResult:
    """Validate all events, then store those not seen before.

    ``actor`` is who sends them (None: the site itself, e.g. an import): they
    may only name videos they may see and, unless staff, only themselves.

    The whole batch is refused (nothing stored) if any event is invalid.
    Events whose ``(user, client_event_id)`` already exists are counted as
    duplicates and skipped, so a client may safely resend a batch.
    """
    events = [_with_aware_date(e) for e in events]
    if len(events) > app_settings.API_MAX_BATCH:
        raise InvalidInteraction(f"a batch holds at most {app_settings.API_MAX_BATCH} events; got {len(events)}.")
    _validate(events, actor=actor)
    now = timezone.now()
    keyed = [(e.user_id, e.client_event_id) for e in events if e.client_event_id is not None]
    existing = set()
    if keyed:
        existing = set(
            Interaction.objects.filter(
                user_id__in={u for u, _ in keyed}, client_event_id__in={c for _, c in keyed}
            ).values_list("user_id", "client_event_id")
        )
    rows = []
    for event in events:
        key = (event.user_id, event.client_event_id)
        if event.client_event_id is not None:
            if key in existing:
                continue
            existing.add(key)
        rows.append(
            Interaction(
                user_id=event.user_id,
                video_id=event.video_id,
                kind=event.kind,
                value=event.value,
                created_at=event.created_at or now,
                client_event_id=event.client_event_id,
            )
        )
    # ignore_conflicts covers a concurrent request that stored the same event.
    Interaction.objects.bulk_create(rows, ignore_conflicts=True, batch_size=1000)
    return IngestResult(created=len(rows), duplicates=len(events) - len(rows))


def interaction_record(
    *,
    user,
    video_id: int,
    kind: str,
    value: float = 0.0,
    client_event_id: str | None = None,
    actor=None,
) -> IngestResult:
    """Record one interaction by ``user`` (the page views and API use this)."""
    event = InteractionEvent(
        user_id=user.pk, video_id=video_id, kind=kind, value=value, client_event_id=client_event_id
    )
    return interactions_ingest(events=[event], actor=actor or user)


def interaction_record_view(*, user, video_id: int) -> IngestResult:
    """Record that ``user`` opened a video's page, once per ``MEDIAREC_VIEW_DEDUP_WINDOW_S``:
    a reload or a back-and-forth is not a second view."""
    since = timezone.now() - timedelta(seconds=app_settings.VIEW_DEDUP_WINDOW_S)
    if Interaction.objects.filter(user=user, video_id=video_id, kind="view", created_at__gte=since).exists():
        return IngestResult(created=0, duplicates=1)
    return interaction_record(user=user, video_id=video_id, kind="view")
