"""A small MovieLens-format folder, written here, through the reader, the two
protocols and the whole ``evaluate --movielens PATH --json`` command."""

from __future__ import annotations

import json
from io import StringIO
from pathlib import Path

import numpy as np
import pytest
from django.core.management import CommandError, call_command

from lab.evaluation.movielens import item_text, read_movielens, stratified_holdout
from lab.evaluation.runner import MODELS

COMEDIES = ["Laugh Riot", "Funny Business", "The Jokers", "Comic Relief", "Silly Season"]
HORRORS = ["Night Terror", "The Haunting Hour", "Blood Moon", "Zombie Town", "Scream House"]
GENRES = ["unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime", "Documentary", "Drama"]
GENRES += ["Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance", "Sci-Fi", "Thriller", "War", "Western"]


def write_movielens(folder: Path) -> Path:
    """10 movies (ids 1-5 comedies, 6-10 horror) and 8 users: users 1-4 rate every
    comedy, users 5-8 every horror movie, so each movie has exactly 4 ratings."""
    folder.mkdir()
    items = []
    for i, title in enumerate(COMEDIES + HORRORS, 1):
        flags = ["0"] * 19
        flags[GENRES.index("Comedy" if i <= 5 else "Horror")] = "1"
        year = 1990 + i
        items.append(
            "|".join([str(i), f"{title} ({year})", f"01-Jan-{year}", "", f"http://example.invalid/{i}", *flags])
        )
    # latin-1, like the real file: one title carries a non-ASCII character
    items[2] = items[2].replace("The Jokers", "The Jokers à Paris")
    (folder / "u.item").write_bytes(("\n".join(items) + "\n").encode("latin-1"))
    lines = []
    for user in range(1, 9):
        for item in range(1, 6) if user <= 4 else range(6, 11):
            lines.append(f"{user}\t{item}\t{1 + (user + item) % 5}\t{880000000 + 1000 * user + item}")
    (folder / "u.data").write_text("\n".join(lines) + "\n")
    return folder


@pytest.fixture(scope="module")
def movielens_dir(tmp_path_factory) -> Path:
    return write_movielens(tmp_path_factory.mktemp("ml") / "ml-tiny")


def test_reader(movielens_dir):
    data = read_movielens(movielens_dir)
    assert (data.n_users, data.n_items, len(data.ratings)) == (8, 10, 40)
    assert data.item_texts[0] == "Laugh Riot (1991). Comedy."
    assert data.item_texts[2] == "The Jokers à Paris (1993). Comedy."
    assert data.item_texts[9] == "Scream House (2000). Horror."
    assert data.ratings[:3].tolist() == [3.0, 4.0, 5.0]  # user 1 rates items 1, 2, 3


def test_item_text_takes_the_year_from_the_date_when_the_title_has_none():
    assert item_text("Heat", "15-Dec-1995", ["Action", "Crime"]) == "Heat (1995). Action, Crime."


def test_stratified_holdout_takes_a_quarter_of_every_item():
    items = np.repeat(np.arange(5), [1, 2, 4, 8, 10])
    test = stratified_holdout(items, 0.25, seed=42)
    # round-half-up of 25 %, never all of an item's rows
    assert np.bincount(items[test], minlength=5).tolist() == [0, 1, 1, 2, 3]
    assert (stratified_holdout(items, 0.25, seed=42) == test).all()
    assert not (stratified_holdout(items, 0.25, seed=7) == test).all()


def test_missing_file_is_a_clear_error(tmp_path):
    (tmp_path / "u.data").write_text("1\t1\t5\t0\n")
    with pytest.raises(CommandError, match=r"u\.item is missing"):
        call_command("evaluate", "--movielens", str(tmp_path), "--json", stdout=StringIO(), stderr=StringIO())


def test_evaluate_command_json(movielens_dir, tmp_path):
    out = StringIO()
    plot = tmp_path / "metrics.png"
    call_command("evaluate", "--movielens", str(movielens_dir), "--k", "2,4", "--json", "--plot", str(plot), stdout=out)
    results = json.loads(out.getvalue())
    assert results["ks"] == [2, 4]
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    by_name = {r["protocol"]: r for r in results["results"]}
    assert set(by_name) == {"standard", "item-cold-start"}

    standard = by_name["standard"]["summary"]
    # every movie has 4 ratings: exactly 1 of each is held out
    assert (standard["train_interactions"], standard["relevant_pairs"]) == (30, 10)
    cold = by_name["item-cold-start"]["summary"]
    # 20 % of 10 movies held out entirely, with their 4 ratings each
    assert (cold["held_out_items"], cold["relevant_pairs"], cold["train_interactions"]) == (2, 8, 32)
    assert cold["cold_items"] == 2

    for result in results["results"]:
        assert set(result["models"]) == set(MODELS)
        for model in result["models"].values():
            for k in ("2", "4"):
                values = model["metrics"][k]
                for metric in ("precision", "recall", "ndcg", "map", "coverage"):
                    assert 0.0 <= values[metric] <= 1.0

    cold_models = by_name["item-cold-start"]["models"]
    # Popularity cannot reach a movie nobody rated in training: every user still has
    # 4+ unseen rated movies (the other genre) ahead of the cold ones.
    assert cold_models["popularity"]["metrics"]["4"]["cold_recall"] == 0.0
    # Content finds the held-out movies of the user's genre by their text alone.
    assert cold_models["content"]["metrics"]["4"]["cold_recall"] == 1.0
    assert cold_models["hybrid"]["metrics"]["4"]["cold_recall"] > 0.0
