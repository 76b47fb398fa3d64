"""Interactions/s through the batch API over real HTTP: the site under gunicorn
(2 workers) in its own process, posted to by ``requests`` clients in threads,
each sending batches of up to ``MEDIAREC_API_MAX_BATCH`` events as a staff token."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import requests
from django.conf import settings
from django.contrib.auth import get_user_model

from mediarec.models import Video
from mediarec.services.accounts import account_ensure

ROOT = Path(__file__).resolve().parents[2]
KINDS = ("view", "complete", "like", "share", "dislike")
BENCH_USER = ("bench-ingest", "bench-ingest-password")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_gunicorn(port: int, workers: int) -> subprocess.Popen:
    log = open(settings.MEDIAREC_DATA_DIR / "bench-gunicorn.log", "ab")  # noqa: SIM115 (the child keeps it)
    argv = [sys.executable, "-m", "gunicorn", "reference_site.wsgi:application", "--bind", f"127.0.0.1:{port}"]
    argv += ["--workers", str(workers), "--log-level", "warning"]
    # The workers run one BLAS thread each, as every deployment does (reference_site/wsgi.py).
    return subprocess.Popen(
        argv, cwd=ROOT, env=os.environ.copy(), stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )


def wait_until_up(base: str, proc: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(
                f"gunicorn exited with {proc.returncode}; see {settings.MEDIAREC_DATA_DIR / 'bench-gunicorn.log'}"
            )
        try:
            if requests.get(f"{base}/api/openapi.json", timeout=10).status_code == 200:
                return
        except requests.RequestException:  # not listening yet, or still importing
            pass
        time.sleep(0.3)
    raise RuntimeError(f"gunicorn did not answer at {base} within {timeout:.0f} s")


def make_batches(n_events: int, batch: int, *, seed: int) -> list[list[dict]]:
    """Random events over existing users and videos, each with a fresh client event id."""
    rng = np.random.default_rng(seed)
    user_ids = np.array(get_user_model().objects.values_list("pk", flat=True))
    video_ids = np.array(Video.objects.values_list("pk", flat=True))
    users = rng.choice(user_ids, n_events)
    videos = rng.choice(video_ids, n_events)
    kinds = rng.choice(len(KINDS), n_events, p=[0.6, 0.28, 0.08, 0.01, 0.03])
    run = f"{time.time_ns():x}"
    events = [
        {"user_id": int(u), "video_id": int(v), "kind": KINDS[k], "client_event_id": f"bench-{run}-{i}"}
        for i, (u, v, k) in enumerate(zip(users, videos, kinds, strict=True))
    ]
    return [events[i : i + batch] for i in range(0, n_events, batch)]


def bench_http_ingest(*, events: int, batch: int, clients: int, workers: int = 2, seed: int = 0, log=print) -> dict:
    account_ensure(username=BENCH_USER[0], password=BENCH_USER[1], staff=True)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc = start_gunicorn(port, workers)
    try:
        wait_until_up(base, proc)
        token = requests.post(
            f"{base}/api/token", json=dict(zip(("username", "password"), BENCH_USER, strict=True)), timeout=30
        )
        token.raise_for_status()
        headers = {"Authorization": f"Bearer {token.json()['token']}"}
        warmup, *batches = make_batches(events + batch, batch, seed=seed)
        sessions = [requests.Session() for _ in range(clients)]

        def post(i_and_batch) -> int:
            i, body = i_and_batch
            response = sessions[i % clients].post(
                f"{base}/api/interactions/batch", json={"events": body}, headers=headers, timeout=120
            )
            if response.status_code != 201:
                raise RuntimeError(f"batch {i}: HTTP {response.status_code}: {response.text[:300]}")
            return response.json()["created"]

        post((0, warmup))  # first request: imports, connections
        latencies = []

        def timed(i_and_batch) -> int:
            started = time.perf_counter()
            created = post(i_and_batch)
            latencies.append(time.perf_counter() - started)
            return created

        started = time.perf_counter()
        with ThreadPoolExecutor(clients) as pool:
            created = sum(pool.map(timed, enumerate(batches)))
        wall = time.perf_counter() - started
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
    log(
        f"HTTP batch ingest: {created} events in {len(batches)} requests of {batch} over {wall:.1f} s with {clients} clients"
    )
    return {
        "events": created,
        "batch": batch,
        "clients": clients,
        "gunicorn_workers": workers,
        "wall_s": round(wall, 2),
        "interactions_per_s": round(created / wall),
        "batch_latency_p50_ms": round(1000 * float(np.percentile(latencies, 50)), 1),
        "batch_latency_p95_ms": round(1000 * float(np.percentile(latencies, 95)), 1),
    }
