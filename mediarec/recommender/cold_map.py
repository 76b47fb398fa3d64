"""Cold items enter CF: a ridge map from an item's content vector to the CF
item-factor space, so an upload nobody has touched is scored by the same
CF model (u · v̂_i) as every other item. Fitted in closed form at every CF
refit, on the items with enough history for their factors to mean something.

    warm items: content X (n, D), ALS factors Y (n, F)
      ↓ centre both; SVD X = U S Vᵀ
      ↓ λ by exact leave-one-out error over ``config.cold_map_lambdas``
    W = V diag(s / (s² + λ)) Uᵀ Y          (D, F)
    v̂_i = (x_i − x̄) W + ȳ                 (F,) for any item with a content vector
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mediarec.recommender.base import FitError


@dataclass
class ColdMap:
    weights: np.ndarray  # (D, F)
    x_mean: np.ndarray  # (D,)
    y_mean: np.ndarray  # (F,)
    lam: float
    loo_error: float  # mean squared leave-one-out error per factor at ``lam``

    def predict(self, content: np.ndarray) -> np.ndarray:
        """(n, F) factors for content vectors (n, D); a zero vector (no embedding) maps to zeros."""
        content = np.asarray(content, dtype=np.float32)
        out = (content - self.x_mean) @ self.weights + self.y_mean
        out[~np.any(content != 0, axis=1)] = 0.0
        return out.astype(np.float32)

    def state(self) -> dict[str, np.ndarray]:
        return {"weights": self.weights, "x_mean": self.x_mean, "y_mean": self.y_mean,
                "lam": np.array(self.lam), "loo_error": np.array(self.loo_error)}  # fmt: skip

    @classmethod
    def from_state(cls, state: dict[str, np.ndarray]) -> ColdMap:
        return cls(state["weights"], state["x_mean"], state["y_mean"], float(state["lam"]), float(state["loo_error"]))


def fit_cold_map(
    content: np.ndarray, factors: np.ndarray, item_counts: np.ndarray, *, lambdas: tuple[float, ...], min_users: int
) -> ColdMap:
    """The map from ``content`` (I, D) to ``factors`` (I, F), taught by items with
    ``item_counts`` ≥ ``min_users`` and a content vector."""
    has_content = np.any(content != 0, axis=1)
    teach = (np.asarray(item_counts) >= min_users) & has_content
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
    return ColdMap(weights.astype(np.float32), x_mean.astype(np.float32), y_mean.astype(np.float32), lam, error)
