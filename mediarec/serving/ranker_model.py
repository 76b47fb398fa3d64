"""The active learned ranker as the serving path reads it: the LightGBM model of
the active ``RankerVersion`` with the cold map it was fitted beside, loaded once
per process and reloaded when the version or its file changes
(``mediarec.services.cf_models`` writes them at every CF refit).

A ranker serves only next to the CF model it was fitted with (its features read
that model's factors, and its co-watch neighbours index that model's columns). A missing, unreadable or mismatched file is logged once
and the feed falls back to the fixed blend; it never fails a request.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np

from mediarec.recommender.cold_map import ColdMap
from mediarec.recommender.config import RecommenderConfig
from mediarec.recommender.content import normalize_rows
from mediarec.recommender.item_knn import ItemKNN
from mediarec.recommender.ranker import Ranker
from mediarec.selectors import ranker_version_active_cached
from mediarec.serving.loaded import LoadedFile

log = logging.getLogger(__name__)


@dataclass
class RankerModel:
    """A fitted ranker and what its features need beyond the CF model."""

    name: str
    cf_name: str  # the CF model whose factors the features read
    ranker: Ranker
    cold_map: ColdMap  # content → CF factors, for an upload the CF fit never saw
    cold_ids: np.ndarray  # (K,) sorted: published videos nobody had engaged with at fit time
    cold_factors: np.ndarray  # (K, F) their mapped factors (cold_map.predict of their embeddings)
    n_active_users: int  # users with a positive entry in the fit
    popularity_mean: float  # mean popularity over the fit's items, cold ones included
    training: dict = field(default_factory=dict)  # what the ranker was taught on (kept in its RankerVersion)
    cowatch: ItemKNN | None = None  # item-item neighbours over the CF model's columns; None: a file saved without

    @cached_property
    def unit_cold_factors(self) -> np.ndarray:
        return normalize_rows(self.cold_factors)

    def save(self, path: Path) -> None:
        tmp = path.with_suffix(".tmp.npz")
        np.savez(
            tmp,
            cf_name=np.array(self.cf_name),
            cold_ids=self.cold_ids,
            cold_factors=self.cold_factors,
            n_active_users=np.array(self.n_active_users),
            popularity_mean=np.array(self.popularity_mean),
            **{f"ranker.{k}": v for k, v in self.ranker.state().items()},
            **{f"cold_map.{k}": v for k, v in self.cold_map.state().items()},
            **({} if self.cowatch is None else {f"cowatch.{k}": v for k, v in self.cowatch.state().items()}),
        )
        os.replace(tmp, path)  # readers never see a half-written file

    @classmethod
    def load(cls, name: str, path: Path, config: RecommenderConfig) -> RankerModel:
        with np.load(path, allow_pickle=False) as data:
            state = {k: data[k] for k in data.files}

        def part(prefix: str) -> dict[str, np.ndarray]:
            return {k.removeprefix(prefix): v for k, v in state.items() if k.startswith(prefix)}

        return cls(
            name=name,
            cf_name=str(state["cf_name"]),
            ranker=Ranker.from_state(part("ranker."), config),
            cold_map=ColdMap.from_state(part("cold_map.")),
            cold_ids=state["cold_ids"].astype(np.int64),
            cold_factors=state["cold_factors"].astype(np.float32),
            n_active_users=int(state["n_active_users"]),
            popularity_mean=float(state["popularity_mean"]),
            cowatch=ItemKNN.from_state(part("cowatch.")) if "cowatch.indptr" in state else None,
        )


_loaded: LoadedFile[RankerModel | None] = LoadedFile()  # None: the file is unreadable


def active_ranker_model(config: RecommenderConfig, *, cf_name: str) -> RankerModel | None:
    """The active ranker fitted with CF model ``cf_name``, or None (the blend serves)."""
    version = ranker_version_active_cached()
    if version is None:
        return None
    name, path = version.name, version.path

    def load() -> RankerModel | None:
        try:
            return RankerModel.load(name, Path(path), config)
        except Exception:  # a corrupt or foreign file must not break a feed; remembered until it changes
            log.exception("active ranker %s at %s is unreadable; serving the blend", name, path)
            return None

    try:
        model = _loaded.get(name, path, load)
    except OSError:
        log.error("active ranker %s has no file at %s; serving the blend", name, path)
        return None
    return model if model is not None and model.cf_name == cf_name else None
