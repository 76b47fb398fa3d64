"""Ingest rate of ``seed_world --no-render``: its loader, ``world_load``, run
in-process so each phase (generate, users, videos, interactions COPY) is timed."""

from __future__ import annotations

from lab.services import world_load
from lab.synthetic import WorldConfig


def bench_seed_world(*, videos: int, users: int, days: int, seed: int, log=print) -> dict:
    config = WorldConfig(n_videos=videos, n_users=users, days=days, seed=seed)
    result = world_load(config=config, render=False, replace=True, log=log)
    t = result.timings
    n = result.counts["interactions"]
    load_s = sum(v for k, v in t.items() if k != "generate")
    return {
        "videos": result.counts["videos"],
        "users": result.counts["users"],
        "interactions": n,
        "generate_s": round(t["generate"], 2),
        "users_s": round(t["users"], 2),
        "videos_s": round(t["videos"], 2),
        "interactions_s": round(t["interactions"], 2),
        "interactions_per_s_copy": round(n / t["interactions"]),
        "interactions_per_s_load": round(n / load_s),
    }
