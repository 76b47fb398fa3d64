"""``World``: a catalog, an audience and their interactions, regenerated
exactly from a ``WorldConfig`` (seed and sizes). Nothing here touches Django;
``lab.services`` loads a world into the database.

    WorldConfig --SeedSequence(seed)--> catalog rng, audience rng, simulation rng
        catalog.sample_catalog  -> videos (VideoSpec) + CatalogArrays
        audience.sample_audience -> users (UserSpec) + AudienceArrays
        audience.simulate        -> interactions (INTERACTION_DTYPE, sorted by time)
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from functools import cached_property

import numpy as np

from lab.synthetic import audience as aud
from lab.synthetic import holdout
from lab.synthetic.catalog import CatalogArrays, VideoSpec, sample_catalog
from lab.synthetic.standin import standin_embeddings


@dataclass(frozen=True)
class WorldConfig:
    n_videos: int = 300
    n_users: int = 500
    days: int = 30
    seed: int = 0
    views_per_user_day: float = 2.0  # mean planned views per user and day
    activity_exponent: float = 2.2  # power-law exponent of views per user
    max_duration_s: float = 60.0  # cap on video durations (lower it for quick rendered demos and tests)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class World:
    config: WorldConfig
    videos: list[VideoSpec]
    users: list[aud.UserSpec]
    interactions: np.ndarray  # INTERACTION_DTYPE: user, video, kind (index into KINDS), value, time (s)
    catalog: CatalogArrays
    audience: aud.AudienceArrays

    KINDS = aud.KINDS

    @classmethod
    def generate(cls, config: WorldConfig) -> World:
        if config.n_videos < 1 or config.n_users < 1 or config.days < 1:
            raise ValueError("a world needs at least one video, one user and one day.")
        catalog_seq, audience_seq, sim_seq = np.random.SeedSequence(config.seed).spawn(3)
        videos, catalog = sample_catalog(
            config.n_videos,
            days=config.days,
            rng=np.random.default_rng(catalog_seq),
            seed=config.seed,
            max_duration_s=config.max_duration_s,
        )
        users, audience = aud.sample_audience(
            config.n_users,
            days=config.days,
            n_videos=config.n_videos,
            views_per_user_day=config.views_per_user_day,
            activity_exponent=config.activity_exponent,
            rng=np.random.default_rng(audience_seq),
        )
        interactions = aud.simulate(catalog, audience, days=config.days, rng=np.random.default_rng(sim_seq))
        return cls(config, videos, users, interactions, catalog, audience)

    # --- ground truth ---------------------------------------------------------
    def relevance(self, user: int, video: int) -> float:
        """How well ``video`` matches ``user``'s tastes (no popularity, no noise)."""
        return float(self.relevance_matrix(np.array([user]), np.array([video]))[0, 0])

    def relevance_matrix(self, users: np.ndarray, videos: np.ndarray | None = None) -> np.ndarray:
        """(len(users), len(videos)) float32 ground-truth relevance; all videos by default."""
        codes = self.catalog.codes if videos is None else self.catalog.codes[np.asarray(videos)]
        theta = self.audience.theta[np.asarray(users)]  # (n, K, N_FEATURES)
        return aud.component_scores(theta, codes).max(axis=1).astype(np.float32)  # (n, K, V) -> (n, V)

    def relevant_items(self, user: int, k: int | None = None, threshold: float | None = None) -> np.ndarray:
        """Video indices by decreasing relevance: the top ``k``, or all above ``threshold``."""
        if (k is None) == (threshold is None):
            raise ValueError("pass exactly one of k or threshold.")
        scores = self.relevance_matrix(np.array([user]))[0]
        order = np.argsort(-scores, kind="stable")
        return order[:k] if k is not None else order[scores[order] >= threshold]

    def standin_embeddings(self, dim: int) -> np.ndarray:
        return standin_embeddings(self.catalog, dim=dim, seed=self.config.seed)

    # --- holdouts -------------------------------------------------------------
    def holdout_temporal(self, frac: float = 0.2) -> holdout.Split:
        return holdout.temporal(self.interactions, frac)

    def holdout_new_uploads(self, frac: float = 0.1) -> holdout.Split:
        return holdout.new_uploads(self.interactions, self.catalog.created_day, frac)

    def holdout_new_users(self, frac: float = 0.1) -> holdout.Split:
        return holdout.new_users(self.interactions, self.audience.signup_day, frac)

    # --- statistics (see docs/WORLD.md) ---------------------------------------
    @cached_property
    def views(self) -> np.ndarray:
        return self.interactions[self.interactions["kind"] == aud.VIEW]

    def statistics(self) -> dict[str, float]:
        views = self.views
        per_user = np.bincount(views["user"], minlength=len(self.users))
        per_video = np.bincount(views["video"], minlength=len(self.videos))
        kinds = np.bincount(self.interactions["kind"], minlength=len(aud.KINDS))
        n_views = max(1, kinds[aud.VIEW])
        return {
            "interactions": float(len(self.interactions)),
            "views": float(kinds[aud.VIEW]),
            "events_per_view": float(len(self.interactions) / n_views),
            "activity_exponent": aud.power_law_exponent(per_user, x_min=ACTIVITY_FIT_X_MIN),
            "views_per_user_median": float(np.median(per_user)),
            "views_gini": aud.gini(per_video),
            "top10_view_share": aud.top_share(per_video, 0.10),
            "complete_rate": float(kinds[aud.COMPLETE] / n_views),
            "like_rate": float(kinds[aud.LIKE] / n_views),
            "share_rate": float(kinds[aud.SHARE] / n_views),
            "dislike_rate": float(kinds[aud.DISLIKE] / n_views),
        }


ACTIVITY_FIT_X_MIN = 20  # the power-law fit uses users with at least this many views
