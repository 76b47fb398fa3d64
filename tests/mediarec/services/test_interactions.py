"""Interaction ingest refuses what no real client sends: dates outside
[2000-01-01, now + 1 day], values that are not finite or beyond the documented
range, and videos the user may not see; nothing of a refused batch is stored."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from mediarec.errors import InvalidInteraction, UnknownObject
from mediarec.models import Interaction
from mediarec.services.interactions import InteractionEvent, interactions_ingest
from tests.factories import UserFactory, VideoFactory

pytestmark = pytest.mark.django_db


def event(user, video, **fields) -> InteractionEvent:
    return InteractionEvent(user_id=user.pk, video_id=video.pk, kind=fields.pop("kind", "view"), **fields)


@pytest.mark.parametrize(
    "created_at",
    [
        datetime(1930, 5, 1, tzinfo=UTC),
        datetime(1999, 12, 31, 23, 59, tzinfo=UTC),
        datetime(9999, 12, 31, tzinfo=UTC),
        timezone.now() + timedelta(days=2),
    ],
)
def test_dates_out_of_range_are_refused_and_nothing_is_stored(created_at):
    user, video = UserFactory(), VideoFactory()
    good = event(user, video)
    with pytest.raises(
        InvalidInteraction, match=r"event 1: created_at .* out of range; it must lie between 2000-01-01"
    ):
        interactions_ingest(events=[good, event(user, video, created_at=created_at)], actor=user)
    assert Interaction.objects.count() == 0


def test_dates_in_range_are_stored_and_a_naive_date_is_utc():
    user, video = UserFactory(), VideoFactory()
    dates = [datetime(2000, 1, 1, tzinfo=UTC), timezone.now() + timedelta(hours=23), datetime(2021, 6, 1, 12)]
    result = interactions_ingest(events=[event(user, video, created_at=d) for d in dates], actor=user)
    assert result.created == 3
    stored = sorted(Interaction.objects.values_list("created_at", flat=True))
    assert stored[1] == datetime(2021, 6, 1, 12, tzinfo=UTC)


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -float("inf"), 1e308, -1e6 - 1])
def test_values_that_are_not_finite_or_out_of_range_are_refused(value):
    user, video = UserFactory(), VideoFactory()
    with pytest.raises(InvalidInteraction, match="must be a finite number within ±1e"):
        interactions_ingest(events=[event(user, video, value=value)], actor=user)
    assert Interaction.objects.count() == 0


def test_an_unpublished_video_answers_as_an_unknown_id_unless_the_actor_may_see_it():
    uploader, other, staff = UserFactory(), UserFactory(), UserFactory(is_staff=True)
    draft = VideoFactory(published=False, uploader=uploader)
    for missing in (draft.pk, 999_999):
        with pytest.raises(UnknownObject, match=f"unknown video id\\(s\\): {missing}\\."):
            interactions_ingest(events=[event(other, VideoFactory.build(pk=missing))], actor=other)
    assert interactions_ingest(events=[event(uploader, draft)], actor=uploader).created == 1
    assert interactions_ingest(events=[event(other, draft)], actor=staff).created == 1
    assert Interaction.objects.count() == 2
