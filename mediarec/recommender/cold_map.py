"""Cold items enter CF: a map from an item's content vector to the CF
item-factor space, so an upload nobody has touched is scored by the same
CF model (u · v̂_i) as every other item. Fitted in closed form at every CF
refit, on the items with enough history for their factors to mean something.

    warm items: content X (n, D), ALS factors Y (n, F)
      ↓ centre both; SVD X = U S Vᵀ
      ↓ λ by exact leave-one-out error over ``config.cold_map_lambdas``
    W = V diag(s / (s² + λ)) Uᵀ Y                       (D, F)   the ridge part
    r_i = (x_i − x̄) W + ȳ
    k_i = Σ_j w_ij y_j / Σ_j w_ij,  w_ij = max(cos(x_i, x_j), 0)^p over the K most similar teaching items
    v̂_i = (1 − m) r_i + m k_i                           (F,) for any item with a content vector

The neighbour part keeps what a linear map averages away (a sequel sits where its
predecessor's factors are, not where its genre's are). K, p and m are fixed in
``RecommenderConfig``, chosen on validation items carved out of training data
(docs/EVALUATION.md, "The cold map's neighbour part"); ``cold_map_knn_mix`` = 0 is the
ridge map alone. The neighbours are the ``cold_map_knn_items`` most engaged teaching
items, so the map a site stores stays a few MB.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mediarec.recommender.base import FitError
from mediarec.recommender.content import normalize_rows

_CHUNK = 2048  # rows of content per similarity block: (2048, n) float32 stays under ~100 MB at n = 10k


@dataclass
class ColdMap:
    weights: np.ndarray  # (D, F)
    x_mean: np.ndarray  # (D,)
    y_mean: np.ndarray  # (F,)
    lam: float
    loo_error: float  # mean squared leave-one-out error per factor at ``lam``
    neighbour_content: np.ndarray | None = None  # (N, D) unit content of the teaching items the neighbours come from
    neighbour_factors: np.ndarray | None = None  # (N, F) their factors
    knn_k: int = 0
    knn_power: float = 1.0
    knn_mix: float = 0.0  # m: the neighbour part's share

    def predict(self, content: np.ndarray) -> np.ndarray:
        """(n, F) factors for content vectors (n, D); a zero vector (no embedding) maps to zeros."""
        content = np.asarray(content, dtype=np.float32)
        out = (content - self.x_mean) @ self.weights + self.y_mean
        if self.neighbour_content is not None:  # set only with knn_mix > 0 (fit_cold_map)
            out = (1.0 - self.knn_mix) * out + self.knn_mix * self._neighbours(content)
        out[~np.any(content != 0, axis=1)] = 0.0
        return out.astype(np.float32)

    def _neighbours(self, content: np.ndarray) -> np.ndarray:
        """(n, F) the similarity-weighted mean factors of each row's ``knn_k`` nearest teaching items."""
        unit = normalize_rows(content)
        k = min(self.knn_k, len(self.neighbour_content))
        out = np.empty((len(unit), self.neighbour_factors.shape[1]), np.float32)
        for start in range(0, len(unit), _CHUNK):
            sim = unit[start : start + _CHUNK] @ self.neighbour_content.T  # (c, N)
            top = np.argpartition(-sim, k - 1, axis=1)[:, :k] if k < sim.shape[1] else np.argsort(-sim, axis=1)
            w = np.maximum(np.take_along_axis(sim, top, axis=1), 0.0) ** self.knn_power  # (c, k)
            total = w.sum(axis=1, keepdims=True)
            mean = np.einsum("ck,ckf->cf", w, self.neighbour_factors[top]) / np.maximum(total, 1e-12)
            out[start : start + _CHUNK] = np.where(total > 0, mean, self.y_mean)
        return out

    def state(self) -> dict[str, np.ndarray]:
        state = {"weights": self.weights, "x_mean": self.x_mean, "y_mean": self.y_mean,
                 "lam": np.array(self.lam), "loo_error": np.array(self.loo_error)}  # fmt: skip
        if self.neighbour_content is not None:
            state |= {"neighbour_content": self.neighbour_content, "neighbour_factors": self.neighbour_factors,
                      "knn": np.array([self.knn_k, self.knn_power, self.knn_mix])}  # fmt: skip
        return state

    @classmethod
    def from_state(cls, state: dict[str, np.ndarray]) -> ColdMap:
        neighbours = {}
        if "knn" in state:  # absent from a map saved before the neighbour part: the ridge map alone
            k, power, mix = (float(v) for v in state["knn"])
            neighbours = {"neighbour_content": state["neighbour_content"], "neighbour_factors": state["neighbour_factors"],
                          "knn_k": int(k), "knn_power": power, "knn_mix": mix}  # fmt: skip
        ridge = (state["weights"], state["x_mean"], state["y_mean"], float(state["lam"]), float(state["loo_error"]))
        return cls(*ridge, **neighbours)


def fit_cold_map(
    content: np.ndarray,
    factors: np.ndarray,
    item_counts: np.ndarray,
    *,
    lambdas: tuple[float, ...],
    min_users: int,
    knn_k: int = 0,
    knn_power: float = 1.0,
    knn_mix: float = 0.0,
    knn_items: int = 10_000,
) -> ColdMap:
    """The map from ``content`` (I, D) to ``factors`` (I, F), taught by items with
    ``item_counts`` ≥ ``min_users`` and a content vector; with ``knn_mix`` > 0 it blends in the
    mean factors of each item's ``knn_k`` nearest teaching items (the ``knn_items`` most engaged)."""
    counts = np.asarray(item_counts)
    has_content = np.any(content != 0, axis=1)
    teach = (counts >= min_users) & has_content
    if teach.sum() < 2:
        raise FitError(f"the cold map needs at least 2 items with {min_users}+ users and a content vector")
    x = np.asarray(content[teach], dtype=np.float64)
    y = np.asarray(factors[teach], dtype=np.float64)
    x_mean, y_mean = x.mean(axis=0), y.mean(axis=0)
    x, y = x - x_mean, y - y_mean
    u, s, vt = np.linalg.svd(x, full_matrices=False)  # (n, r), (r,), (r, D)
    uty = u.T @ y  # (r, F)
    best = None
    for lam in lambdas:
        shrink = s**2 / (s**2 + lam)  # (r,)
        fitted = u @ (shrink[:, None] * uty)
        hat = (u**2) @ shrink + 1.0 / len(x)  # diagonal of the hat matrix, intercept included
        loo = ((y - fitted) / (1.0 - hat)[:, None]) ** 2
        error = float(loo.mean())
        if best is None or error < best[1]:
            best = (lam, error)
    lam, error = best
    weights = vt.T @ ((s / (s**2 + lam))[:, None] * uty)  # (D, F)
    neighbours = {}
    if knn_mix > 0 and knn_k > 0:
        rows = np.flatnonzero(teach)
        rows = rows[np.argsort(-counts[rows], kind="stable")[:knn_items]]  # the most engaged teach best
        neighbours = {"neighbour_content": normalize_rows(np.asarray(content[rows], dtype=np.float32)),
                      "neighbour_factors": np.asarray(factors[rows], dtype=np.float32),
                      "knn_k": int(knn_k), "knn_power": float(knn_power), "knn_mix": float(knn_mix)}  # fmt: skip
    ridge = (weights.astype(np.float32), x_mean.astype(np.float32), y_mean.astype(np.float32), lam, error)
    return ColdMap(*ridge, **neighbours)
