"""Train/test splits of a world's interactions, for offline evaluation.

- temporal: everything after a time cutoff is test (the last ``frac`` of events);
- new uploads: the newest ``frac`` of the catalog is held out entirely, so those
  videos have no interaction at all in train (content-only cold start);
- new users: the users who signed up last are held out entirely (user cold start).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Split:
    name: str
    train: np.ndarray  # interactions (INTERACTION_DTYPE), sorted by time
    test: np.ndarray
    test_users: np.ndarray  # world user indices that have test interactions
    test_videos: np.ndarray  # world video indices that have test interactions
    cutoff_time: float | None = None  # temporal split: seconds since the period began


def _split(name: str, interactions: np.ndarray, is_test: np.ndarray, cutoff: float | None = None) -> Split:
    test = interactions[is_test]
    return Split(
        name=name,
        train=interactions[~is_test],
        test=test,
        test_users=np.unique(test["user"]),
        test_videos=np.unique(test["video"]),
        cutoff_time=cutoff,
    )


def temporal(interactions: np.ndarray, frac: float) -> Split:
    """Events at or after the (1 - frac) time quantile are test."""
    cutoff = float(np.quantile(interactions["time"], 1.0 - frac)) if len(interactions) else 0.0
    return _split("temporal", interactions, interactions["time"] >= cutoff, cutoff)


def new_uploads(interactions: np.ndarray, created_day: np.ndarray, frac: float) -> Split:
    """The newest ``frac`` of videos (by upload time) and every event on them are test."""
    k = round(frac * len(created_day))
    held = np.argsort(-created_day, kind="stable")[:k]
    split = _split("new_uploads", interactions, np.isin(interactions["video"], held))
    split.test_videos = np.sort(held)
    return split


def new_users(interactions: np.ndarray, signup_day: np.ndarray, frac: float) -> Split:
    """The ``frac`` of users who signed up last, and every event of theirs, are test."""
    k = round(frac * len(signup_day))
    held = np.argsort(-signup_day, kind="stable")[:k]
    split = _split("new_users", interactions, np.isin(interactions["user"], held))
    split.test_users = np.sort(held)
    return split
