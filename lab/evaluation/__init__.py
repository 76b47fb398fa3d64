"""Offline evaluation: fit the project's recommenders on a protocol's training
matrix and score their top-K lists. docs/EVALUATION.md has the definitions.

    movielens.py  MovieLens-100k format reader, standard + item-cold-start protocols
    world.py      the synthetic world's holdouts, scored against its ground truth
    protocol.py   Protocol: train / relevant / history matrices (+ item embeddings)
    embeddings.py item text -> vectors through the engine's text tower
    metrics.py    Precision / Recall / nDCG / MAP@K, coverage, novelty, cold-start recall
    runner.py     every model on every protocol, side by side
    report.py     text tables and the PNG plot against K
    tuning.py     coordinate-descent tuning of the hybrid on the world

``manage.py evaluate`` is the command.
"""
