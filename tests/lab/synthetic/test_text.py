"""Titles, descriptions and tags describe what the video shows: every phrase
about a factor names the video's own value, and nothing that is not drawn."""

from __future__ import annotations

import re

import pytest

from lab.synthetic import World, WorldConfig
from lab.synthetic.catalog import COLOR_WORDS, NUMBER_WORDS, SHAPE_WORDS, VOCABULARY, plural


@pytest.fixture(scope="module")
def world() -> World:
    return World.generate(WorldConfig(n_videos=600, n_users=1, days=5, seed=5))


def _mentions(text: str, phrase: str) -> bool:
    words = [re.escape(plural(phrase)), re.escape(phrase)]
    return re.search(rf"\b({'|'.join(words)})\b", text, flags=re.IGNORECASE) is not None


def _text(video) -> str:
    return " | ".join([video.title, video.description, ", ".join(video.tags)])


def test_every_phrase_names_the_declared_value(world):
    checked = 0
    for video in world.videos:
        text = _text(video)
        for factor, phrases in VOCABULARY.items():
            for value, options in phrases.items():
                if value == video.attributes[factor]:
                    continue
                for phrase in options:
                    assert not _mentions(text, phrase), (
                        f"{factor}={video.attributes[factor]} but text says {phrase!r}: {text}"
                    )
                    checked += 1
    assert checked > 10_000


def test_titles_name_colour_and_shape(world):
    for video in world.videos:
        a = video.attributes
        assert any(_mentions(video.title, w) for w in COLOR_WORDS[a["color"]]), video.title
        assert any(_mentions(video.title, w) for w in SHAPE_WORDS[a["shape"]]), video.title
        assert {a["color"], a["shape"], video.channel} <= set(video.tags)


def test_numbers_are_the_object_count(world):
    for video in world.videos:
        for n, word in NUMBER_WORDS.items():
            if _mentions(_text(video), word):
                assert n == video.attributes["n_objects"], _text(video)


def test_descriptions_vary_and_some_are_missing(world):
    descriptions = [v.description for v in world.videos]
    missing = sum(not d for d in descriptions) / len(descriptions)
    assert 0.05 < missing < 0.2
    assert len({d.split(" ")[0] for d in descriptions if d}) >= 5  # varied openings
    assert len({v.title.split(" ")[0] for v in world.videos}) >= 20
    # a description names what moves and how whenever the objects move
    for video in world.videos:
        if video.description and video.attributes["motion"] != "still":
            phrases = VOCABULARY["motion"][video.attributes["motion"]]
            assert any(_mentions(video.description, p) for p in phrases), video.description
