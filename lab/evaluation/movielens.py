"""Datasets in MovieLens-100k format, and the two protocols run on them.

Files read from the folder given as ``evaluate --movielens PATH``:

    u.data   user<TAB>item<TAB>rating<TAB>timestamp          one rating a line
    u.item   id|title|release date|video release date|IMDb URL|19 genre flags   (latin-1)
    u.genre  name|index   (optional; the standard 19 names are used without it)

These items have no video: an item's text is its title, year and genres, and
its content vector is that text through the engine's text tower.

Protocols (both seeded, default seed 42):

* ``standard``: each item's ratings are shuffled and round(25 %) of them
  (half up, never all of an item's ratings) are held out; every held-out rating
  is relevant, whatever its value. Items a user rated in training are removed
  from that user's candidates.
* ``item-cold-start``: 20 % of the items are held out entirely; all their
  ratings are the relevant set, and the models fit on the other items' ratings.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from lab.evaluation.protocol import Protocol
from mediarec.recommender.config import RecommenderConfig
from mediarec.recommender.weights import build_user_items, latest_times

GENRES = (
    "unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime", "Documentary", "Drama",
    "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance", "Sci-Fi", "Thriller", "War", "Western",
)  # fmt: skip
TITLE_YEAR = re.compile(r"\s*\((\d{4})\)\s*$")


class MovieLensFormatError(ValueError):
    """The folder is missing a file, or a line does not follow the format."""


@dataclass
class MovieLens:
    """Ratings as 0-based indices into ``user_ids`` / ``item_ids`` (raw ids, sorted)."""

    user_ids: np.ndarray  # (U,) raw user ids
    item_ids: np.ndarray  # (I,) raw item ids: every id in u.item, plus any only in u.data
    users: np.ndarray  # (R,) user index of each rating
    items: np.ndarray  # (R,) item index
    ratings: np.ndarray  # (R,) float32
    timestamps: np.ndarray  # (R,) int64 seconds
    item_texts: list[str]  # (I,) title, year and genres

    @property
    def n_users(self) -> int:
        return len(self.user_ids)

    @property
    def n_items(self) -> int:
        return len(self.item_ids)


def item_text(title: str, release_date: str, genres: list[str]) -> str:
    """``"Toy Story (1995)", "01-Jan-1995", [...]`` → ``"Toy Story (1995). Animation, Children's, Comedy."``"""
    match = TITLE_YEAR.search(title)
    year = match.group(1) if match else release_date.strip()[-4:]
    name = TITLE_YEAR.sub("", title).strip()
    head = f"{name} ({year})" if year.isdigit() else name
    return f"{head}. {', '.join(genres)}." if genres else f"{head}."


def _genre_names(folder: Path) -> list[str]:
    path = folder / "u.genre"
    if not path.exists():
        return list(GENRES)
    pairs = [line.split("|") for line in path.read_text(encoding="latin-1").splitlines() if line.strip()]
    return [name for name, _ in sorted(pairs, key=lambda p: int(p[1]))]


def read_movielens(folder: str | Path) -> MovieLens:
    folder = Path(folder)
    for name in ("u.data", "u.item"):
        if not (folder / name).is_file():
            raise MovieLensFormatError(f"{folder / name} is missing; --movielens takes a folder with u.data and u.item")
    try:
        table = np.loadtxt(folder / "u.data", delimiter="\t", dtype=np.int64, ndmin=2)
    except ValueError as exc:
        raise MovieLensFormatError(
            f"{folder / 'u.data'}: expected 'user<TAB>item<TAB>rating<TAB>timestamp' ({exc})"
        ) from exc
    if table.shape[1] != 4 or len(table) == 0:
        raise MovieLensFormatError(f"{folder / 'u.data'}: expected 4 tab-separated columns and at least one rating")

    genre_names = _genre_names(folder)
    texts_by_id: dict[int, str] = {}
    for n, line in enumerate((folder / "u.item").read_text(encoding="latin-1").splitlines(), 1):
        if not line.strip():
            continue
        fields = line.split("|")
        if len(fields) < 5 + len(genre_names) or not fields[0].isdigit():
            raise MovieLensFormatError(
                f"{folder / 'u.item'} line {n}: expected id|title|date|video date|url|{len(genre_names)} genre flags"
            )
        flags = fields[5 : 5 + len(genre_names)]
        genres = [g for g, f in zip(genre_names, flags, strict=True) if f.strip() == "1"]
        texts_by_id[int(fields[0])] = item_text(fields[1], fields[2], genres)

    user_ids, users = np.unique(table[:, 0], return_inverse=True)
    item_ids = np.union1d(np.array(sorted(texts_by_id), dtype=np.int64), table[:, 1])
    items = np.searchsorted(item_ids, table[:, 1])
    return MovieLens(
        user_ids=user_ids,
        item_ids=item_ids,
        users=users.astype(np.int64),
        items=items.astype(np.int64),
        ratings=table[:, 2].astype(np.float32),
        timestamps=table[:, 3],
        item_texts=[texts_by_id.get(int(i), f"Item {int(i)}.") for i in item_ids],
    )


def _matrix(data: MovieLens, mask: np.ndarray, config: RecommenderConfig) -> sp.csr_matrix:
    """Ratings under ``mask`` as a confidence matrix: a rating r weighs r (no time decay)."""
    return build_user_items(
        data.users[mask], data.items[mask], data.ratings[mask], shape=(data.n_users, data.n_items), config=config
    )


def _times(data: MovieLens, mask: np.ndarray) -> sp.csr_matrix:
    return latest_times(data.users[mask], data.items[mask], data.timestamps[mask], shape=(data.n_users, data.n_items))


def _binary(data: MovieLens, mask: np.ndarray) -> sp.csr_matrix:
    ones = np.ones(int(mask.sum()), dtype=np.float32)
    matrix = sp.csr_matrix((ones, (data.users[mask], data.items[mask])), shape=(data.n_users, data.n_items))
    matrix.data[:] = 1.0  # a user who rated an item twice still counts it once
    return matrix


def stratified_holdout(items: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """(R,) bool: per item, a random round-half-up ``fraction`` of its rows (never all of them)."""
    rng = np.random.default_rng(seed)
    order = np.lexsort((rng.random(len(items)), items))  # grouped by item, shuffled inside each item
    counts = np.bincount(items)
    n_test = np.minimum(np.floor(counts * fraction + 0.5), counts - 1).astype(np.int64)
    group_start = np.concatenate([[0], np.cumsum(counts)[:-1]])
    rank = np.arange(len(items)) - group_start[items[order]]
    test = np.zeros(len(items), dtype=bool)
    test[order] = rank < n_test[items[order]]
    return test


def standard_protocol(
    data: MovieLens,
    embeddings: np.ndarray | None,
    *,
    seed: int = 42,
    test_fraction: float = 0.25,
    config: RecommenderConfig,
) -> Protocol:
    test = stratified_holdout(data.items, test_fraction, seed)
    return Protocol(
        dataset="movielens",
        name="standard",
        train=_matrix(data, ~test, config),
        train_times=_times(data, ~test),
        holdout="random",
        relevant=_binary(data, test),
        item_embeddings=embeddings,
        description=f"random {1 - test_fraction:.0%}/{test_fraction:.0%} split stratified by item, seed {seed}",
        info={"seed": seed},
    )


def item_cold_start_protocol(
    data: MovieLens,
    embeddings: np.ndarray | None,
    *,
    seed: int = 42,
    cold_fraction: float = 0.2,
    config: RecommenderConfig,
) -> Protocol:
    rng = np.random.default_rng(seed)
    n_cold = int(np.floor(data.n_items * cold_fraction + 0.5))
    cold = np.zeros(data.n_items, dtype=bool)
    cold[rng.permutation(data.n_items)[:n_cold]] = True
    test = cold[data.items]
    return Protocol(
        dataset="movielens",
        name="item-cold-start",
        train=_matrix(data, ~test, config),
        train_times=_times(data, ~test),
        holdout="cold",
        relevant=_binary(data, test),
        item_embeddings=embeddings,
        description=f"{cold_fraction:.0%} of items held out entirely, seed {seed}",
        info={"seed": seed, "held_out_items": n_cold},
    )
