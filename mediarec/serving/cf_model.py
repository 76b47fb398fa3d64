"""The active CF model as the serving path reads it: the factors of the active
``CFModelVersion``, loaded once per process and reloaded when the version or
its file changes (``mediarec.services.cf_models`` writes them)."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np

from mediarec.recommender.cf import ALSRecommender
from mediarec.recommender.config import RecommenderConfig
from mediarec.recommender.content import normalize_rows
from mediarec.selectors import cf_model_version_active_cached
from mediarec.serving.loaded import LoadedFile

log = logging.getLogger(__name__)
TRENDING_SIZE = 1000


@dataclass
class CFModel:
    """A fitted ALS model with the database ids of its rows and columns."""

    name: str
    recommender: ALSRecommender
    user_ids: np.ndarray  # (U,) sorted
    item_ids: np.ndarray  # (I,) sorted video ids

    @cached_property
    def unit_item_factors(self) -> np.ndarray:
        """(I, F) item factors scaled to unit length, for co-watch explanations."""
        return normalize_rows(self.recommender.item_factors)

    @cached_property
    def untouched_cols(self) -> np.ndarray:
        """Columns of the items with no positive entry at fit time (only dislikes): cold to the ranker."""
        return np.flatnonzero(self.recommender.item_counts == 0)

    @cached_property
    def trending(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The most popular items at fit time: video ids, popularity, users behind each."""
        popularity = self.recommender.popularity
        top = np.lexsort((self.item_ids, -popularity))[:TRENDING_SIZE]
        return self.item_ids[top], popularity[top], self.recommender.item_counts[top]

    def item_index(self, video_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Column of each video id, and a mask of the ids the model knows."""
        video_ids = np.asarray(video_ids, dtype=np.int64)
        pos = np.searchsorted(self.item_ids, video_ids)
        pos = np.minimum(pos, max(len(self.item_ids) - 1, 0))
        known = self.item_ids[pos] == video_ids if len(self.item_ids) else np.zeros(len(video_ids), bool)
        return pos, known

    def save(self, path: Path) -> None:
        tmp = path.with_suffix(".tmp.npz")
        self.recommender.save(tmp, user_ids=self.user_ids, item_ids=self.item_ids)
        os.replace(tmp, path)  # readers never see a half-written file

    @classmethod
    def load(cls, name: str, path: Path, config: RecommenderConfig) -> CFModel:
        recommender = ALSRecommender.load(path, config)
        with np.load(path) as data:
            return cls(name, recommender, data["user_ids"], data["item_ids"])


_loaded: LoadedFile[CFModel] = LoadedFile()


def active_cf_model(config: RecommenderConfig) -> CFModel | None:
    """The active CF model, loaded once per process and reloaded when it changes."""
    version = cf_model_version_active_cached()
    if version is None:
        return None
    name, path = version.name, version.path
    try:
        return _loaded.get(name, path, lambda: CFModel.load(name, Path(path), config))
    except FileNotFoundError:
        log.error("active CF model %s has no factor file at %s", name, path)
        return None
