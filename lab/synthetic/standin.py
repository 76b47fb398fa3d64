"""Stand-in video embeddings computed from the ground-truth attributes, so the
recommenders can be run and measured without a trained VideoBERT.

    codes (V, F) --one-hot x sqrt(factor weight)--> (V, N_FEATURES)
        --fixed orthonormal map--> (V, dim) + small per-video jitter --L2--> (V, dim)

The orthonormal map keeps inner products, so the cosine of two stand-in
embeddings grows with the weighted number of attributes the videos share.
They are stored under their own model version, ``STANDIN_VERSION``.
"""

from __future__ import annotations

import numpy as np

from lab.synthetic.catalog import N_FEATURES, CatalogArrays, factor_weight_vector

STANDIN_VERSION = "standin-attr-v1"
PROJECTION_SEED = 20261127  # fixed: part of the version, never change it under the same name
JITTER = 0.15


def projection(dim: int) -> np.ndarray:
    """(N_FEATURES, dim) rows of a random orthonormal matrix (needs dim >= N_FEATURES)."""
    if dim < N_FEATURES:
        raise ValueError(f"stand-in embeddings need at least {N_FEATURES} dimensions; got {dim}.")
    q, _ = np.linalg.qr(np.random.default_rng(PROJECTION_SEED).standard_normal((dim, dim)))
    return q[:N_FEATURES].astype(np.float32)


def standin_embeddings(catalog: CatalogArrays, *, dim: int, seed: int) -> np.ndarray:
    """(V, dim) float32, unit L2 norm, deterministic in (attributes, dim, seed)."""
    features = catalog.onehot * np.sqrt(factor_weight_vector())[None, :]
    features /= np.linalg.norm(features, axis=1, keepdims=True)
    vectors = features @ projection(dim)
    vectors += JITTER / np.sqrt(dim) * np.random.default_rng([PROJECTION_SEED, seed]).standard_normal(vectors.shape)
    return (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)
