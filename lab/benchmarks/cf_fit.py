"""CF fit time from the database, as a ratio to a bare ``implicit`` fit on the same matrix.

    cf_refit()  = read events from Postgres + build the confidence matrix + ALS fit + save + register
    bare        = implicit AlternatingLeastSquares(same parameters).fit(same matrix)

The ratio is the whole cost of fitting through the project over the cost of
the fit alone; the read and build phases are timed on their own too. The
refitted model stays active for the serving benchmark that follows; the
factor files are removed by the next run's ``reset_database``.
"""

from __future__ import annotations

import time

import numpy as np
from implicit.cpu.als import AlternatingLeastSquares
from threadpoolctl import threadpool_limits

from mediarec.conf import recommender_config
from mediarec.recommender.weights import build_user_items, event_weights
from mediarec.selectors import interaction_events
from mediarec.services.cf_models import cf_refit


def _rounded(values: list[float]) -> list[float]:
    return [round(v, 2) for v in values]


def bench_cf_fit(*, repeats: int = 1, log=print) -> dict:
    config = recommender_config()
    project, bare, read, build = [], [], [], []
    for _ in range(repeats):
        started = time.perf_counter()
        version = cf_refit(config=config)
        project.append(time.perf_counter() - started)
        log(
            f"cf_refit: {version.n_interactions} interactions, {version.n_users} users, {version.n_items} items in {project[-1]:.1f} s"
        )

        started = time.perf_counter()
        events = interaction_events()
        read.append(time.perf_counter() - started)
        started = time.perf_counter()
        user_ids, user_idx = np.unique(events.user_ids, return_inverse=True)
        item_ids, item_idx = np.unique(events.video_ids, return_inverse=True)
        weights = event_weights(events.kinds, events.age_days, config)
        matrix = build_user_items(user_idx, item_idx, weights, shape=(len(user_ids), len(item_ids)), config=config)
        build.append(time.perf_counter() - started)

        model = AlternatingLeastSquares(
            factors=config.factors,
            regularization=config.regularization,
            alpha=1.0,
            iterations=config.iterations,
            random_state=config.seed,
            num_threads=config.num_threads,
        )
        started = time.perf_counter()
        with threadpool_limits(1, "blas"):
            model.fit(matrix, show_progress=False)
        bare.append(time.perf_counter() - started)
        log(
            f"bare implicit fit on the same {matrix.shape[0]}x{matrix.shape[1]} matrix ({matrix.nnz} nonzeros): {bare[-1]:.1f} s"
        )
    best = {"project": min(project), "bare": min(bare), "read": min(read), "build": min(build)}
    return {
        "interactions": int(version.n_interactions),
        "matrix": [int(matrix.shape[0]), int(matrix.shape[1])],
        "nonzeros": int(matrix.nnz),
        "factors": config.factors,
        "iterations": config.iterations,
        "cf_refit_s": round(best["project"], 2),
        "read_from_db_s": round(best["read"], 2),
        "build_matrix_s": round(best["build"], 2),
        "bare_implicit_fit_s": round(best["bare"], 2),
        "ratio": round(best["project"] / best["bare"], 2),
        "repeats": repeats,
        "runs": {
            "cf_refit_s": _rounded(project),
            "read_s": _rounded(read),
            "build_s": _rounded(build),
            "bare_s": _rounded(bare),
        },
    }
