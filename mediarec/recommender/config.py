"""One typed config for every recommender part. It is pure: a site sets fields
with ``MEDIAREC_RECOMMENDER = {"factors": 128, ...}`` and per-kind weights with
``MEDIAREC_INTERACTION_WEIGHTS``, read by ``mediarec.conf.recommender_config``.
docs/RECOMMENDER.md explains each field."""

from __future__ import annotations

from dataclasses import dataclass, field

# How much each interaction kind says about taste; negative means dislike.
DEFAULT_KIND_WEIGHTS = {"view": 1.0, "complete": 3.0, "like": 5.0, "share": 6.0, "dislike": -5.0}


@dataclass(frozen=True)
class RecommenderConfig:
    kind_weights: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_KIND_WEIGHTS))
    half_life_days: float = 30.0  # an event's weight halves every half-life
    confidence_alpha: float = 2.0  # confidence = 1 + alpha * log1p(|w| / epsilon)
    confidence_epsilon: float = 1.0

    # Collaborative filtering (implicit). ALS values tuned on the synthetic
    # world and its MovieLens-format export (docs/EVALUATION.md, "Tuning").
    factors: int = 32
    regularization: float = 0.2
    iterations: int = 15
    # BPR collapses at ALS's regularization, so it keeps its own.
    bpr_factors: int = 64
    bpr_regularization: float = 0.05
    bpr_learning_rate: float = 0.05
    num_threads: int = 0  # 0 = all cores
    seed: int = 0

    # Content: taste vectors from the embeddings of engaged videos.
    taste_history: int = 50  # most recent positive events used
    dislike_push: float = 0.5  # how strongly disliked embeddings push the taste away

    # Popularity and fresh uploads.
    trending_window_days: float = 14.0
    fresh_days: float = 3.0

    # Blend (docs/RECOMMENDER.md, "The blend").
    user_history_k: float = 20.0  # h_u = n_u / (n_u + k_u)
    item_history_k: float = 10.0  # h_i = n_i / (n_i + k_i)
    popularity_weight: float = 0.2
    fresh_weight: float = 0.1
    candidates_per_source: int = 50
    mmr_lambda: float = 0.8  # 1.0 = no diversity re-ranking
    mmr_pool: int = 3  # MMR re-ranks the top (offset + limit) * mmr_pool

    # pgvector HNSW search.
    ef_search: int = 80  # raised to the query's LIMIT when that is larger
    max_scan_tuples: int = 20000

    # Similar videos: content vs. co-watch.
    cowatch_users: int = 200
    # The served ranker's co-watch source (item_knn.py): each item's strongest cosine neighbours.
    cowatch_neighbours: int = 100

    # EASE (ease.py): λ is chosen among these on validation data carved from training.
    ease_lambdas: tuple[float, ...] = (25.0, 50.0, 100.0, 200.0, 400.0, 800.0, 1600.0)
    # Content → CF factor map (cold_map.py): ridge λ chosen among these by leave-one-out.
    cold_map_lambdas: tuple[float, ...] = (0.01, 0.1, 1.0, 10.0, 100.0)
    cold_map_min_users: int = 3  # items with fewer positive users do not teach the map
    # Its neighbour part: the similarity^power-weighted mean factors of the K nearest teaching
    # items by content, mixed in at this share (0: the ridge map alone); chosen on validation
    # items carved out of training data (docs/EVALUATION.md, "The cold map's neighbour part").
    cold_map_knn_k: int = 30
    cold_map_knn_power: float = 5.0
    cold_map_knn_mix: float = 0.25
    cold_map_knn_items: int = 10_000  # the most engaged teaching items it draws from (bounds the stored map)

    # Learned ranker (ranker.py, ranked.py; docs/RECOMMENDER.md, "The learned ranker").
    ranker_candidates: int = 50  # per source
    ranker_min_users: int = 50  # fewer users with validation labels: no ranker, the blend serves
    ranker_max_users: int = 5000  # queries of all folds together; more users: a seeded sample (bounds a refit)
    ranker_validation_fraction: float = 0.2  # each user's latest positive pairs held out as labels
    # Validation folds the ranker learns from: disjoint slices of each user's pairs (with times,
    # windows further back), the sources fitted once per fold; more folds, more queries.
    ranker_folds: int = 5
    ranker_min_cold_fraction: float = 0.02  # items made cold in validation: the catalog's share, at least this
    ranker_label_grades: int = 3  # held-out pairs graded 1..this by their confidence (1 = binary labels)
    # Label gains × (most users ÷ the item's users)^power, capped: inverse propensity (0 = as observed).
    ranker_propensity_power: float = 0.0
    ranker_propensity_cap: float = 100.0
    ranker_popularity_features: bool = True  # False: the ranker never reads ranker.POPULARITY_FEATURES
    # Per segment of users by history size (edges), the booster or one source, whichever ordered
    # the segment's validation users better (ranker.Ranker, "gate"). False: the booster everywhere.
    ranker_gate: bool = False
    ranker_gate_edges: tuple[float, ...] = (5.0, 20.0)
    ranker_trees: int = 400  # at most; early stopping on validation users picks fewer
    ranker_learning_rate: float = 0.05
    ranker_leaves: int = 31
    ranker_min_child: int = 40
    # The booster's score may only rise with a source's score (and fall with its nomination rank), and with
    # the recent-item cosines (ranker.monotone_constraints); False: unconstrained.
    ranker_monotone: bool = False
