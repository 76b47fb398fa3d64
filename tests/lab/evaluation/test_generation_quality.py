"""The generation-quality metrics on tags whose answer is known."""

from __future__ import annotations

import pytest

from lab.evaluation.generation_quality import attribute_words, most_frequent, score

RED_BALLS = {"shape": "circle", "color": "red", "count": "few", "texture": "striped", "background": "grid",
             "backdrop": "grey", "motion": "left", "speed": "fast", "rotation": "none", "zoom": "none", "pan": "none",
             "lighting": "steady", "noise": "clean", "n_objects": 3}  # fmt: skip


def test_attribute_words_are_the_worlds_words_for_each_value():
    words = attribute_words(RED_BALLS)
    assert {"red", "crimson", "scarlet"} == words["color"]
    assert {"circle", "disc", "ball", "circles", "balls"} <= words["shape"]
    assert {"left", "drifting", "moving", "sliding", "heading"} == words["motion"]
    assert {"quickly", "rapidly", "speed"} <= words["speed"] and words["count"] == {"three"}
    assert {"grey", "gray", "slate"} == words["backdrop"] and "grid" in words["background"]
    assert "camera" not in set().union(*words.values())  # no zoom, no pan: nothing names the camera
    assert {"rotation", "zoom", "pan", "lighting", "noise"}.isdisjoint(words)  # values the text never names


def test_precision_and_recall_count_what_is_named():
    perfect = score([["crimson", "balls", "drifting", "grey", "three"]], ["crimson balls drifting"], [RED_BALLS])
    assert (perfect.precision, perfect.recall, perfect.caption_recall, perfect.caption_words) == (1.0, 1.0, 1.0, 3)
    # two right (a colour, a motion word), three wrong; shape missed; the caption names only the colour
    mixed = score([["red", "blue", "square", "left", "speedway"]], ["red square"], [RED_BALLS])
    assert mixed.precision == pytest.approx(2 / 5) and mixed.recall == pytest.approx(2 / 3)
    assert mixed.caption_recall == pytest.approx(1 / 3)


def test_the_baseline_ranks_the_vocabulary_by_document_frequency():
    texts = ["red ball . red", "blue ball", "red box"]
    assert most_frequent(texts, ["box", "ball", "red", "blue"]) == ["ball", "red", "blue", "box"]
