"""``Protocol.validation`` and ``evaluate --tune``'s search: every choice is made on data
carved from the training matrix, and the test split is read only for the report."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from lab.evaluation.protocol import Protocol
from lab.evaluation.tuning import tune
from tests.mediarec.recommender.toy import N_USERS, toy_world


def toy_protocol(holdout: str, relevant: sp.csr_matrix | None = None) -> Protocol:
    world = toy_world()
    train = world.matrix()
    rng = np.random.default_rng(1)
    times = train.copy()
    times.data = rng.uniform(1.0, 100.0, train.nnz).astype(np.float32)
    if relevant is None:  # the unseen items of each user's topic
        own = world.topic[None, :] == world.user_topic[:, None]
        relevant = sp.csr_matrix(own & (train.toarray() == 0), dtype=np.float32)
    return Protocol(
        dataset="toy",
        name="test",
        train=train,
        relevant=relevant,
        item_embeddings=world.embeddings,
        train_times=times,
        holdout=holdout,
    )


def pairs(matrix: sp.csr_matrix) -> set[tuple[int, int]]:
    coo = sp.coo_matrix(matrix)
    return set(zip(coo.row[coo.data != 0].tolist(), coo.col[coo.data != 0].tolist(), strict=True))


@pytest.mark.parametrize("holdout", ["time", "random", "cold"])
def test_validation_is_carved_from_training_and_holds_no_test_pair(holdout):
    protocol = toy_protocol(holdout)
    validation = protocol.validation(fraction=0.2, seed=3)
    train, labels = pairs(validation.train), pairs(validation.relevant)
    assert labels and train | labels <= pairs(protocol.train)
    assert not labels & train
    assert not labels & pairs(protocol.relevant)
    assert validation.key == "toy/test (validation)" and validation.holdout == holdout
    assert pairs(validation.train_times) <= train
    if holdout == "cold":  # every labelled item lost every training pair
        labelled = {i for _, i in labels}
        assert not labelled & {i for _, i in train}
        assert len(labelled) == round(0.2 * len({i for _, i in pairs(protocol.train.maximum(0))}))
    else:
        assert len(labels) >= N_USERS  # at least one pair of every user


@pytest.mark.parametrize("holdout", ["time", "cold"])
def test_validation_makes_the_items_untouched_in_training_unavailable(holdout):
    """An item with no training pair can have no label one level down: recommending it there only
    loses, so validation lists never reach it (the catalog's new uploads of a test)."""
    protocol = toy_protocol(holdout)
    untouched = protocol.cold_items
    assert untouched.any()
    validation = protocol.validation(fraction=0.2, seed=3)
    assert (validation.unavailable[untouched]).all()
    assert not validation.cold_items[untouched].any()
    assert validation.cold_items.any() == (holdout == "cold" or bool(untouched.any()))


def test_validation_by_time_holds_out_each_users_latest_pairs():
    """Past the items made cold (the toy catalog has an untouched one, so as large a share of
    items lose every pair), each user's labels are later than every positive pair kept."""
    protocol = toy_protocol("time")
    validation = protocol.validation(fraction=0.2, seed=3)
    times = protocol.train_times.toarray()
    still_warm = np.diff(validation.train.tocsc().indptr) > 0
    for user in range(N_USERS):
        row = validation.train[user]
        held = [i for i in validation.relevant[user].indices if still_warm[i]]
        kept = row.indices[row.data > 0]
        assert held and times[user, held].min() > times[user, kept].max()


def test_tuning_never_reads_the_test_split():
    """The same search on two protocols that differ only in their test relevance makes the same
    trials with the same scores and the same choice; only the report's test figures differ."""
    space = {"user_history_k": [2.0, 50.0], "fresh_weight": [0.0, 0.3]}
    real = toy_protocol("random")
    shuffled = np.random.default_rng(0).permutation(real.relevant.toarray().ravel()).reshape(real.relevant.shape)
    noise = toy_protocol("random", relevant=sp.csr_matrix(shuffled))
    config = toy_world().config
    a = tune([real], base=config, space=space, rounds=1)
    b = tune([noise], base=config, space=space, rounds=1)
    assert [t["score"] for t in a["trials"]] == [t["score"] for t in b["trials"]]
    assert a["best"] == b["best"] and a["score"] == b["score"]
    assert a["validation"] == ["toy/test (validation)"]
    assert a["test"]["best"]["toy/test"] != b["test"]["best"]["toy/test"]
