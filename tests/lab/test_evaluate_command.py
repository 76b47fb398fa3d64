"""``evaluate --set``: each override is cast to its field's type, booleans by their word."""

from __future__ import annotations

import pytest
from django.core.management.base import CommandError

from lab.management.commands.evaluate import with_overrides
from mediarec.recommender.config import RecommenderConfig


def test_set_casts_to_the_field_type_and_reads_booleans_by_their_word():
    config = with_overrides(
        RecommenderConfig(), ["ranker_propensity_power=0.5", "ranker_gate=true", "ranker_popularity_features=0"]
    )
    assert config.ranker_propensity_power == 0.5
    assert config.ranker_gate is True and config.ranker_popularity_features is False
    with pytest.raises(CommandError):
        with_overrides(RecommenderConfig(), ["ranker_gate=maybe"])
