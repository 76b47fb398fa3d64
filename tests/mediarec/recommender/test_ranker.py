"""The learned ranker, the content → CF cold map and EASE, each on a toy problem
whose right answer is known."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import scipy.sparse as sp

from mediarec.recommender import ranker as rk
from mediarec.recommender.cf import ColdALSRecommender
from mediarec.recommender.cold_map import ColdMap, fit_cold_map
from mediarec.recommender.config import RecommenderConfig
from mediarec.recommender.content import normalize_rows
from mediarec.recommender.ease import EASERecommender, ease_weights
from mediarec.recommender.ranked import RankedRecommender, propensity_weights
from mediarec.recommender.split import holdout_latest
from tests.mediarec.recommender.toy import toy_world

CONFIG = RecommenderConfig(num_threads=1, seed=3, ranker_trees=60, ranker_min_child=10)


def candidates(rng, n: int, informative: str) -> tuple[rk.Candidates, np.ndarray]:
    """n candidates where only ``informative``'s score predicts the label; the others are noise."""
    label = rng.random(n) < 0.1
    scores = {s: rng.normal(size=n).astype(np.float32) for s in ("als", "cowatch", "content")}
    scores[informative] = scores[informative] + 3.0 * label
    ranks = {s: np.argsort(np.argsort(-v)).astype(np.float32) for s, v in scores.items()}
    nan = np.full(n, np.nan, np.float32)
    c = rk.Candidates(
        items=np.arange(n), scores=scores, ranks=ranks, item_user_share=rng.random(n), item_popularity_share=rng.random(n),
        recent_content=nan, recent_cf=nan, n_user=10.0,
    )  # fmt: skip
    return c, label


def test_ranker_learns_to_prefer_the_source_that_predicts_the_held_out_items(tmp_path):
    rng = np.random.default_rng(0)
    queries = [candidates(rng, 60, "cowatch") for _ in range(150)]
    x = np.vstack([rk.features(c) for c, _ in queries])
    y = np.concatenate([label for _, label in queries]).astype(np.float32)
    ranker = rk.Ranker(CONFIG).fit(x, y, np.array([60] * len(queries)))

    c, label = candidates(np.random.default_rng(1), 200, "cowatch")
    fx = rk.features(c)
    top = np.argsort(-ranker.score(fx))[:10]
    assert label[top].mean() >= 0.8  # base rate 0.1
    parts = ranker.contributions(fx[top])
    assert all(parts["cowatch"][j] == max(parts[s][j] for s in rk.SOURCES) for j in range(len(top)))
    # save / load keeps the scores
    np.savez(tmp_path / "r.npz", **ranker.state())
    with np.load(tmp_path / "r.npz", allow_pickle=False) as data:
        loaded = rk.Ranker.from_state({k: data[k] for k in data.files}, CONFIG)
    np.testing.assert_allclose(loaded.score(fx), ranker.score(fx), rtol=1e-6)


def test_the_gate_hands_a_segment_to_the_source_that_orders_its_validation_users_best(tmp_path):
    """Labels follow content for users with short histories and co-watch for the rest: the
    gate gives the short-history segment to content, and the choice survives save / load."""
    rng = np.random.default_rng(0)
    queries = []
    for q in range(300):
        short = q % 2 == 0
        c, label = candidates(rng, 60, "content" if short else "cowatch")
        c.n_user = 3.0 if short else 40.0
        queries.append((c, label))
    x = np.vstack([rk.features(c) for c, _ in queries])
    y = np.concatenate([label for _, label in queries]).astype(np.float32)
    # Too few trees to learn the split by history size: one source orders each segment better.
    config = replace(CONFIG, ranker_gate=True, ranker_trees=1, ranker_leaves=2)
    ranker = rk.Ranker(config).fit(x, y, np.array([60] * len(queries)))
    assert ranker.gate_choice[0] == "content_z"
    c, _ = candidates(np.random.default_rng(1), 50, "content")
    c.n_user = 2.0
    fx = rk.features(c)
    content_z = fx[:, rk.feature_names().index("content_z")]
    np.testing.assert_array_equal(np.argsort(-ranker.score(fx)), np.argsort(-content_z))
    np.savez(tmp_path / "r.npz", **ranker.state())
    with np.load(tmp_path / "r.npz", allow_pickle=False) as data:
        loaded = rk.Ranker.from_state({k: data[k] for k in data.files}, CONFIG)
    assert loaded.gate_choice == ranker.gate_choice
    np.testing.assert_allclose(loaded.score(fx), ranker.score(fx), rtol=1e-6)


def test_a_monotone_ranker_never_scores_an_item_lower_for_a_higher_source_score():
    """Labels sit in a middle band of the ALS score, which an unconstrained booster learns as a bump;
    with ``ranker_monotone`` the score can only rise with ``als_z`` and fall with ``als_rank``."""
    rng = np.random.default_rng(0)
    queries = []
    for _ in range(150):
        c, _ = candidates(rng, 60, "als")
        label = np.abs(c.scores["als"] - 0.5) < 0.4
        queries.append((c, label))
    x = np.vstack([rk.features(c) for c, _ in queries])
    y = np.concatenate([label for _, label in queries]).astype(np.float32)
    groups = np.array([60] * len(queries))
    names = rk.feature_names()
    z, rank = names.index("als_z"), names.index("als_rank")
    sweep = np.repeat(x[:1], 50, axis=0)
    sweep[:, z] = np.linspace(-3, 3, 50)
    sweep[:, rank] = np.linspace(59, 0, 50)  # a higher score is nominated earlier

    free = rk.Ranker(CONFIG).fit(x, y, groups).score(sweep)
    assert (np.diff(free) < -1e-6).any()  # the bump: this test can fail
    monotone = rk.Ranker(replace(CONFIG, ranker_monotone=True)).fit(x, y, groups).score(sweep)
    assert (np.diff(monotone) >= -1e-6).all()


def test_propensity_weights_favour_rare_items_up_to_the_cap():
    counts = np.array([400, 100, 4, 1, 0])
    assert np.all(propensity_weights(counts, CONFIG) == 1.0)  # power 0: labels as observed
    weights = propensity_weights(counts, replace(CONFIG, ranker_propensity_power=1.0, ranker_propensity_cap=50.0))
    np.testing.assert_allclose(weights[:2], [1.0, 4.0])
    assert weights[2] == weights[3] == weights[4]  # capped (an item nobody has counts as one user)
    assert 50.0 / 2**0.125 <= weights[2] <= 50.0 * 2**0.125  # within the quarter-octave step


def test_cold_map_scores_an_untouched_item_by_its_content():
    world = toy_world()
    model = ColdALSRecommender(world.config).fit(world.matrix(), item_embeddings=world.embeddings)
    cold = world.cold_item
    assert model.item_counts[cold] == 0
    mapped = model.scoring_factors[cold]
    topic2 = np.flatnonzero((world.topic == 2) & (model.item_counts > 0))
    others = np.flatnonzero((world.topic != 2) & (model.item_counts > 0))
    unit = normalize_rows(model.model.item_factors)
    cos = unit @ (mapped / np.linalg.norm(mapped))
    assert cos[topic2].mean() > cos[others].mean() + 0.3  # it lands among its topic's factors
    fan = int(np.flatnonzero(world.user_topic == 2)[0])
    assert cold in model.recommend(fan, world.matrix()[fan], N=10)[0]


def test_cold_map_recovers_a_linear_map():
    rng = np.random.default_rng(0)
    content, true_map = rng.normal(size=(200, 8)), rng.normal(size=(8, 4))
    factors = content @ true_map + 0.01 * rng.normal(size=(200, 4))
    cmap = fit_cold_map(content, factors, np.full(200, 5), lambdas=(1e-3, 1.0, 100.0), min_users=3)
    assert cmap.lam < 100.0
    np.testing.assert_allclose(cmap.predict(content[:5]), factors[:5], atol=0.1)


def test_cold_map_neighbours_reach_what_a_linear_map_cannot():
    # Items sit in 4 tight content clusters on a circle; each cluster's factors are arbitrary, so
    # no linear map from content fits them, but the nearest teaching items' factors do.
    rng = np.random.default_rng(0)
    cluster = rng.integers(0, 4, size=400)
    angle = cluster * np.pi / 2
    content = np.stack([np.cos(angle), np.sin(angle), np.zeros(400)], 1) + 0.05 * rng.normal(size=(400, 3))
    centres = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 0.0]])  # cluster → factors, not linear
    factors = centres[cluster] + 0.01 * rng.normal(size=(400, 2))
    counts = np.full(400, 5)
    ridge = fit_cold_map(content, factors, counts, lambdas=(1e-3,), min_users=3)
    mixed = fit_cold_map(content, factors, counts, lambdas=(1e-3,), min_users=3, knn_k=10, knn_power=5.0,
                         knn_mix=1.0, knn_items=100)  # fmt: skip
    new = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [-1.0, 0.0, 0.0], [0.0, -1.0, 0.0], [0.0, 0.0, 0.0]])
    truth = np.vstack([centres, [0.0, 0.0]])
    assert np.abs(ridge.predict(new)[:4] - truth[:4]).min() > 0.2  # off by 0.2+ on every cluster
    np.testing.assert_allclose(mixed.predict(new), truth, atol=0.05)  # the zero vector (no embedding) maps to 0
    assert len(mixed.neighbour_content) == 100
    again = ColdMap.from_state(mixed.state())
    np.testing.assert_array_equal(again.predict(new), mixed.predict(new))
    assert ColdMap.from_state(ridge.state()).knn_mix == 0.0  # a ridge-only map (and one saved before) stays so


def test_ease_on_a_toy_dataset():
    # items 0-2 are always watched together, 3-5 too: a user with 0 and 1 gets 2 first
    rows = [[1, 1, 1, 0, 0, 0]] * 8 + [[0, 0, 0, 1, 1, 1]] * 8
    x = sp.csr_matrix(np.array(rows, dtype=np.float32))
    b = ease_weights(x, 1.0)
    assert np.allclose(np.diag(b), 0.0)
    model = EASERecommender(RecommenderConfig(), lam=1.0).fit(x)
    ids, _ = model.recommend(0, sp.csr_matrix(np.array([[1, 1, 0, 0, 0, 0]], np.float32)), N=2)
    assert ids[0] == 2
    chosen = EASERecommender(RecommenderConfig(ease_lambdas=(1.0, 10.0))).fit(x)
    assert chosen.lam in (1.0, 10.0) and chosen.validation


def test_time_ordered_holdout_takes_each_users_latest_pairs():
    x = sp.csr_matrix(np.ones((2, 5), np.float32))
    times = sp.csr_matrix(np.array([[1, 2, 3, 4, 5], [5, 4, 3, 2, 1]], np.float64))
    earlier, later = holdout_latest(x, times, fraction=0.4)
    assert later[0].indices.tolist() == [3, 4] and later[1].indices.tolist() == [0, 1]
    assert earlier.nnz == 6


def test_holdout_folds_are_disjoint_and_a_time_fold_fits_on_its_past():
    x = sp.csr_matrix(np.ones((1, 10), np.float32))
    times = sp.csr_matrix(np.arange(1, 11, dtype=np.float64)[None, :])
    earlier, later = holdout_latest(x, times, fraction=0.2, fold=1)
    assert later.indices.tolist() == [6, 7] and earlier.indices.tolist() == [0, 1, 2, 3, 4, 5]
    random_folds = [holdout_latest(x, None, fraction=0.2, seed=4, fold=k) for k in range(5)]
    held = np.concatenate([later.indices for _, later in random_folds])
    assert sorted(held.tolist()) == list(range(10))  # every pair is a label exactly once
    assert all(e.nnz == 8 for e, _ in random_folds)


def test_ranker_folds_give_each_user_a_query_per_fold():
    world = toy_world()
    config = replace(world.config, ranker_min_users=5, ranker_min_child=5, ranker_trees=30, ranker_folds=3)
    model = RankedRecommender(config, validation="random").fit(world.matrix(), item_embeddings=world.embeddings)
    assert model.ranker is not None
    assert model.training["queries"] > 2 * model.training["users"]


def test_ranker_max_users_bounds_the_queries_of_all_folds_together():
    world = toy_world()
    config = replace(world.config, ranker_min_users=5, ranker_min_child=5, ranker_trees=30, ranker_folds=3)
    free = RankedRecommender(config, validation="random").fit(world.matrix(), item_embeddings=world.embeddings)
    cap = free.training["queries"] // 2
    capped = RankedRecommender(replace(config, ranker_max_users=cap), validation="random")
    capped.fit(world.matrix(), item_embeddings=world.embeddings)
    assert capped.training["queries"] <= cap < free.training["queries"]


def test_cold_validation_teaches_the_ranker_to_put_untouched_items_first():
    """With ``validation="cold"`` (a test that asks only for untouched items) the labels are
    only the pairs of items made cold, so the untouched items outrank every item with two or
    more interactions (one with a single interaction looks cold to the folds, and may sit among
    them); the default validation also labels warm pairs and keeps warm items on top."""
    world = toy_world()
    config = replace(world.config, ranker_min_users=5, ranker_min_child=5, ranker_trees=60, mmr_lambda=1.0)
    matrix = world.matrix()
    user = int(np.flatnonzero(world.user_topic == 2)[0])
    untouched = set(np.flatnonzero(np.diff(matrix.tocsc().indptr) == 0).tolist())  # the cold item and any nobody chose
    assert world.cold_item in untouched
    cold = RankedRecommender(config, validation="cold").fit(matrix, item_embeddings=world.embeddings)
    assert cold.training["positives"] > 0
    counts = np.diff(matrix.tocsc().indptr)
    top = [r.item for r in cold.recommend_ranked(user, matrix[user], 10)]
    first_warm = next(n for n, item in enumerate(top) if counts[item] >= 2)
    assert top[0] == world.cold_item
    assert untouched <= set(top[:first_warm])
    warm = RankedRecommender(config, validation="random").fit(matrix, item_embeddings=world.embeddings)
    assert warm.recommend_ranked(user, matrix[user], 3)[0].item not in untouched


def test_ranked_hybrid_fits_a_ranker_and_explains_every_item(tmp_path):
    world = toy_world()
    config = replace(world.config, ranker_min_users=5, ranker_min_child=5, ranker_trees=30)
    matrix = world.matrix()
    model = RankedRecommender(config).fit(matrix, item_embeddings=world.embeddings)
    assert model.ranker is not None
    ranked = model.recommend_ranked(0, matrix[0], 8)
    assert len(ranked) == 8 and all(r.reason in {"cf", "content", "trending", "fresh"} for r in ranked)
    assert all(r.sources for r in ranked)
    model.save(tmp_path / "m.npz")
    loaded = RankedRecommender.load(tmp_path / "m.npz", config)
    assert [r.item for r in loaded.recommend_ranked(0, matrix[0], 8)] == [r.item for r in ranked]


@pytest.mark.filterwarnings("ignore::implicit.utils.ParameterWarning")  # the reference fit below
def test_the_served_ranker_takes_its_cowatch_scores_from_the_sparse_item_knn(tmp_path):
    """``cowatch=False`` (the served ranker) has no EASE but a co-watch source all the same: each
    item's ``cowatch_neighbours`` cosine neighbours, kept sparse and saved with the ranker."""
    from implicit.nearest_neighbours import CosineRecommender

    world = toy_world()
    config = RecommenderConfig(factors=8, iterations=10, ranker_min_users=10, cowatch_neighbours=5)
    matrix = world.matrix()
    model = RankedRecommender(config, validation="random", cowatch=False).fit(matrix, item_embeddings=world.embeddings)
    assert model.sources.ease is None
    s = model.sources.item_knn.similarity
    assert s.shape == (matrix.shape[1],) * 2 and np.diff(s.indptr).max() == 5 and not s.diagonal().any()
    positive = sp.csr_matrix(matrix > 0, dtype=np.float32)
    reference = CosineRecommender(K=6)
    reference.fit(positive, show_progress=False)
    ref = reference.similarity.tolil()
    ref.setdiag(0.0)
    row = matrix[3]
    expected = np.asarray((positive[3] @ ref.tocsr()).todense()).ravel()
    scores = model.sources.raw_scores(row)["cowatch"]
    np.testing.assert_allclose(scores, expected, rtol=1e-5, atol=1e-6)
    assert (scores > 0).sum() > 5
    cands = model.sources.candidates(row, row.indices, np.empty(0, np.int64))
    assert np.isfinite(cands.ranks["cowatch"]).sum() > 0
    model.save(tmp_path / "m.npz")
    loaded = RankedRecommender.load(tmp_path / "m.npz", config)
    np.testing.assert_array_equal(loaded.sources.raw_scores(row)["cowatch"], scores)
