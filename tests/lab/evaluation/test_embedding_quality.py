"""The embedding-quality metrics on vectors whose answer is known, and ``evaluate --embeddings`` end to end."""

from __future__ import annotations

import json
from io import StringIO

import numpy as np
import pytest
from django.core.management import call_command

from lab.evaluation.embedding_quality import ORACLE_VIEW, neighbour_agreement, plain_description, recall_at_k


def test_neighbour_agreement_is_one_at_random_and_high_when_vectors_encode_the_attribute():
    rng = np.random.default_rng(0)
    colours = ["red", "green", "blue", "yellow"] * 25
    attributes = [{"color": c, "shape": s} for c, s in zip(colours, rng.choice(["disc", "star"], 100), strict=True)]
    by_colour = np.stack([np.eye(4)[["red", "green", "blue", "yellow"].index(c)] for c in colours])
    vectors = by_colour + 0.01 * rng.normal(size=(100, 4))
    agreement = neighbour_agreement(vectors, attributes, keys=("color", "shape"), k=10)
    assert agreement["color"] == pytest.approx(1 / (24 / 99), rel=1e-6)  # every neighbour shares the colour
    assert 0.7 < agreement["shape"] < 1.3  # shape is not in the vectors
    noise = neighbour_agreement(rng.normal(size=(100, 8)), attributes, keys=("color",), k=10)
    assert 0.6 < noise["color"] < 1.4


def test_recall_counts_the_rank_of_each_querys_own_target():
    targets = np.eye(5)
    queries = targets[[0, 1, 2, 4, 3]]  # the last two point at each other's target
    assert recall_at_k(queries, targets, ks=(1, 5)) == {1: 0.6, 5: 1.0}


def test_plain_descriptions_name_what_is_seen():
    assert (
        plain_description({"color": "red", "shape": "star", "n_objects": 3, "motion": "left"})
        == "red stars moving left"
    )
    assert (
        plain_description({"color": "blue", "shape": "ring", "n_objects": 1, "motion": "still"})
        == "blue ring standing still"
    )


@pytest.mark.slow
def test_evaluate_embeddings_reports_every_view_beside_the_oracle_and_the_generated_words(tmp_path, tiny_checkpoint):
    out = StringIO()
    plot = tmp_path / "quality.png"
    call_command(
        "evaluate", "--embeddings", "--seed", "5", "--world-videos", "30", "--checkpoint", str(tiny_checkpoint),
        "--json", "--plot", str(plot), stdout=out,
    )  # fmt: skip
    report = json.loads(out.getvalue())
    assert report["n_test"] == 6 and report["n_train"] == 24
    assert set(report["agreement"]) == {
        "video only (pixels)", "text only (stored text)", "fused (video + stored text)", ORACLE_VIEW,
    }  # fmt: skip
    for row in report["agreement"].values():
        assert set(row) == {"color", "shape", "motion", "background"} and all(np.isfinite(list(row.values())))
    assert {"title -> video (pixels)", "plain description -> video (pixels)"} <= set(report["recall"])
    assert plot.stat().st_size > 10_000
    rows = report["generation"]["rows"]
    assert set(rows) == {"VideoBERT words head (pixels only)", "most frequent training tags (same for all)"}
    for row in rows.values():
        assert 0 <= row["precision"] <= 1 and 0 <= row["recall"] <= 1 and 0 <= row["caption_recall"] <= 1
