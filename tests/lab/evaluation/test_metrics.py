"""Exact metric values on a toy case worked out by hand (see the comments)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.sparse as sp

from lab.evaluation.metrics import score_topk

# 3 users, 6 items. -1 pads user 1's short list.
RECS = np.array([[0, 1, 2], [3, 4, -1], [5, 0, 1]])
#   user 0: relevant {0, 2}    hits 1 0 1
#   user 1: relevant {4}       hits 0 1 0
#   user 2: relevant {1, 3, 5} hits 1 0 1
RELEVANT = sp.csr_matrix((np.ones(6), ([0, 0, 1, 2, 2, 2], [0, 2, 4, 1, 3, 5])), shape=(3, 6))
# 3 training users; items 2 and 4 were never seen in training (cold).
COUNTS = np.array([3, 1, 0, 1, 0, 3])
D2, D3 = 1 / math.log2(3), 1 / math.log2(4)  # rank discounts 1/log2(j+1) for j = 2, 3


@pytest.fixture(scope="module")
def scores():
    return score_topk(RECS, RELEVANT, [1, 2, 3], item_user_counts=COUNTS, n_train_users=3, cold_items=COUNTS == 0)


def test_precision(scores):
    assert scores[1]["precision"] == pytest.approx((1 + 0 + 1) / 3)
    assert scores[2]["precision"] == pytest.approx((1 / 2 + 1 / 2 + 1 / 2) / 3)
    # a short list still divides by K: user 1 has 1 hit in 2 items, over K = 3
    assert scores[3]["precision"] == pytest.approx((2 / 3 + 1 / 3 + 2 / 3) / 3)


def test_recall(scores):
    assert scores[1]["recall"] == pytest.approx((1 / 2 + 0 + 1 / 3) / 3)
    assert scores[3]["recall"] == pytest.approx((2 / 2 + 1 / 1 + 2 / 3) / 3)


def test_ndcg_binary_gain(scores):
    user0 = (1 + D3) / (1 + D2)  # ideal: 2 relevant items at ranks 1, 2
    user1 = D2 / 1  # ideal: 1 relevant item at rank 1
    user2 = (1 + D3) / (1 + D2 + D3)  # ideal: 3 relevant items fill ranks 1-3
    assert scores[3]["ndcg"] == pytest.approx((user0 + user1 + user2) / 3)
    assert scores[3]["ndcg"] == pytest.approx(0.7515228772512)


def test_map_divides_by_number_of_relevant(scores):
    user0 = (1 / 1 + 2 / 3) / 2
    user1 = (1 / 2) / 1
    user2 = (1 / 1 + 2 / 3) / 3  # 3 relevant items, not min(|R|, K) hits
    assert scores[3]["map"] == pytest.approx((user0 + user1 + user2) / 3)
    assert scores[3]["map"] == pytest.approx(17 / 27)
    assert scores[1]["map"] == pytest.approx((1 / 2 + 0 + 1 / 3) / 3)


def test_coverage(scores):
    assert scores[1]["coverage"] == pytest.approx(3 / 6)  # items 0, 3, 5
    assert scores[2]["coverage"] == pytest.approx(5 / 6)  # + 1, 4
    assert scores[3]["coverage"] == pytest.approx(6 / 6)


def test_novelty_is_mean_self_information(scores):
    # p(i) = (c_i + 1) / (3 + 1): c = 3 → 0 bits, c = 1 → 1 bit, c = 0 → 2 bits
    # K = 3 slots: user 0 → 0, 1, 2; user 1 → 1, 2 (one slot empty); user 2 → 0, 0, 1
    assert scores[3]["novelty"] == pytest.approx(7 / 8)
    assert scores[1]["novelty"] == pytest.approx((0 + 1 + 0) / 3)


def test_cold_start_recall(scores):
    # users 0 and 1 each have one cold relevant item (2 and 4); user 2 has none
    assert scores[1]["cold_recall"] == 0.0
    assert scores[2]["cold_recall"] == pytest.approx((0 + 1) / 2)  # user 1 finds item 4 at rank 2
    assert scores[3]["cold_recall"] == pytest.approx((1 + 1) / 2)


def test_users_without_relevant_items_are_not_scored():
    recs = np.vstack([RECS, [[0, 1, 2]]])
    relevant = sp.vstack([RELEVANT, sp.csr_matrix((1, 6))]).tocsr()
    with_empty = score_topk(recs, relevant, [3], item_user_counts=COUNTS, n_train_users=3)
    without = score_topk(RECS, RELEVANT, [3], item_user_counts=COUNTS, n_train_users=3)
    assert with_empty[3]["precision"] == without[3]["precision"]
    assert with_empty[3]["cold_recall"] is None  # no cold mask given: no cold items


def test_lists_shorter_than_k_are_refused():
    with pytest.raises(ValueError, match="K up to 5"):
        score_topk(RECS, RELEVANT, [5], item_user_counts=COUNTS, n_train_users=3)
