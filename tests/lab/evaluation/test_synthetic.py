"""A tiny synthetic world through ``evaluate``: the three holdouts, scored
against the world's ground truth."""

from __future__ import annotations

import json
from io import StringIO

import numpy as np
import pytest
from django.core.management import call_command

from lab.evaluation.runner import MODELS
from lab.evaluation.synthetic import new_users_protocol, relevant_matrix
from lab.synthetic import World, WorldConfig
from lab.synthetic.catalog import CHANNELS
from mediarec.recommender.config import RecommenderConfig

WORLD = ["--world-videos", "120", "--world-users", "150", "--world-days", "10", "--seed", "3", "--k", "5,10"]
ARGS = [*WORLD, "--content-vectors", "oracle"]  # the protocols' mechanics, on the stand-in vectors


@pytest.fixture(scope="module")
def world() -> World:
    return World.generate(WorldConfig(n_videos=120, n_users=150, days=10, seed=3))


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    out = StringIO()
    plot = tmp_path_factory.mktemp("plot") / "world.png"
    call_command("evaluate", *ARGS, "--json", "--plot", str(plot), stdout=out)
    return json.loads(out.getvalue())


def test_relevant_items_are_the_ground_truth_top(world):
    history = world.holdout_temporal().train
    train = np.zeros((150, 120), dtype=bool)
    train[history["user"], history["video"]] = True
    from scipy import sparse

    users = np.array([0, 7, 42])
    candidates = np.ones(120, dtype=bool)
    candidates[:10] = False
    relevant = relevant_matrix(world, users, candidates, sparse.csr_matrix(train.astype(np.float32)), 0.05).toarray()
    for u in users:
        scores = world.relevance_matrix(np.array([u]))[0]
        top = scores >= np.quantile(scores, 0.95)  # the user's top 5 % of the catalog
        assert top.sum() == 6
        expected = top & candidates & ~train[u]
        assert (relevant[u] != 0).tolist() == expected.tolist()
    assert not relevant[np.setdiff1d(np.arange(150), users)].any()


def test_new_users_are_left_out_of_the_fit_and_recommended_from_their_first_events(world):
    protocol = new_users_protocol(world, world.standin_embeddings(64), config=RecommenderConfig(), top_fraction=0.05)
    new = world.holdout_new_users().test_users
    assert protocol.train[new].nnz == 0
    history_sizes = np.diff(protocol.history[new].indptr)
    assert history_sizes.min() >= 1 and history_sizes.max() <= 5
    old = np.setdiff1d(np.arange(150), new)
    assert (protocol.history[old] != protocol.train[old]).nnz == 0


def test_world_evaluation_runs_every_model_on_every_holdout(results):
    assert [r["protocol"] for r in results["results"]] == ["temporal", "new-uploads", "new-users"]
    for result in results["results"]:
        assert set(result["models"]) == set(MODELS)
        assert result["summary"]["eval_users"] > 0

    uploads = results["results"][1]["models"]
    for name, model in uploads.items():
        m = model["metrics"]["10"]
        # every relevant item of this protocol is a new upload, so recall is cold-start recall
        assert m["recall"] == pytest.approx(m["cold_recall"]), name
    assert uploads["popularity"]["metrics"]["10"]["recall"] == 0.0
    assert uploads["content"]["metrics"]["10"]["recall"] > 0.0
    assert uploads["hybrid"]["metrics"]["10"]["recall"] > 0.0


def test_same_seed_same_metrics(results, tmp_path):
    out = StringIO()
    call_command(
        "evaluate",
        *ARGS,
        "--models",
        "popularity,content,hybrid",
        "--json",
        "--plot",
        str(tmp_path / "again.png"),
        stdout=out,
    )
    again = json.loads(out.getvalue())
    for first, second in zip(results["results"], again["results"], strict=True):
        for name in ("popularity", "content", "hybrid"):
            assert first["models"][name]["metrics"] == second["models"][name]["metrics"]


@pytest.mark.slow
def test_table_output_with_the_engines_vectors_beside_the_oracle(tmp_path, tiny_checkpoint):
    """By default the world is rendered and its videos embedded by the engine (here a given
    checkpoint instead of a demo training run); the stand-in rows come as "world-oracle"."""
    out = StringIO()
    call_command(
        "evaluate", *WORLD, "--models", "popularity,content", "--checkpoint", str(tiny_checkpoint),
        "--plot", str(tmp_path / "p.png"), stdout=out, stderr=StringIO(),
    )  # fmt: skip
    text = out.getvalue()
    assert "world/new-uploads" in text and "nDCG@10" in text
    assert "content" in text.split("world/temporal", 1)[1]
    assert "world-oracle/new-uploads" in text
    engine, oracle = (text.split(f"{name}/new-uploads", 1)[1].split("\n\n", 1)[0] for name in ("world", "world-oracle"))
    assert engine != oracle, "the engine's vectors, not the stand-in's, score the product rows"


def test_world_exported_in_movielens_format_reads_back(world, tmp_path):
    from lab.evaluation.movielens import read_movielens
    from lab.evaluation.synthetic import export_movielens

    counts = export_movielens(world, tmp_path / "ml")
    data = read_movielens(tmp_path / "ml")
    pairs = np.unique(world.interactions["user"].astype(np.int64) * 120 + world.interactions["video"])
    assert counts["ratings"] == len(data.ratings) == len(pairs)  # one rating per (user, video)
    assert data.n_items == 120
    assert set(np.unique(data.ratings).tolist()) <= {1.0, 3.0, 4.0, 5.0}
    first = world.videos[0]
    channel = next(c.name for c in CHANNELS if c.slug == first.channel)
    assert data.item_texts[0].startswith(first.title) and data.item_texts[0].endswith(f"{channel}.")


def test_config_overrides_are_checked():
    from django.core.management import CommandError

    with pytest.raises(CommandError, match="scalar RecommenderConfig field"):
        call_command("evaluate", "--set", "no_such_field=1", stdout=StringIO())
    with pytest.raises(CommandError, match="could not convert"):
        call_command("evaluate", "--set", "mmr_lambda=high", stdout=StringIO())
