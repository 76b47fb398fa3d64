"""Serving benchmark on the loaded world (e.g. ``seed_world --videos 100000
--users 10000 --no-render``): p50/p95/p99 of one in-process recommendation
call, then requests/s of the HTTP endpoint under gunicorn, driven by locust
(headless) from a second process.

    python manage.py bench_serving --calls 500 --http-seconds 30 --workers 2 --locust-users 40

Fits and activates a CF model first when none is active. Serving runs on CPU
and Postgres; ``--device`` is accepted for a uniform benchmark interface.
The in-process calls run with one BLAS thread, as the gunicorn workers do.
The HTTP part then drives a reference endpoint (``GET /api/videos/<id>``:
authentication and one row) with the same server and load tool, and prints
the feed's requests/s as a ratio of it, which holds up better than either
figure on a noisy machine.
Every figure is printed with the load average: on a shared machine it says
how much of the CPU the benchmark really had.
"""

from __future__ import annotations

import csv
import json
import os
import platform
import random
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from threadpoolctl import threadpool_limits

from mediarec.models import Interaction, Video
from mediarec.selectors import cf_model_version_active, model_version_active
from mediarec.services.cf_models import cf_refit
from mediarec.serving.feeds import recommendations_for_user

LOCUSTFILE = Path(__file__).with_name("locustfile.py")


def _percentile(value: str) -> float:
    """locust writes "N/A" when a run completed no request (a warm-up on a saturated machine)."""
    return float("nan") if value == "N/A" else float(value)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServingBenchmark(BaseCommand):
    help = "Measure recommendation latency in-process and HTTP throughput under gunicorn."

    def add_arguments(self, parser):
        parser.add_argument("--calls", type=int, default=500, help="timed in-process calls")
        parser.add_argument("--sample-users", type=int, default=1000, help="distinct users drawn for the calls")
        parser.add_argument("--limit", type=int, default=20)
        parser.add_argument("--http-seconds", type=int, default=30, help="0 skips the HTTP part")
        parser.add_argument("--workers", type=int, default=2, help="gunicorn worker processes")
        parser.add_argument("--worker-class", default="sync", help="gunicorn worker class (sync, gthread)")
        parser.add_argument("--threads", type=int, default=1, help="threads per gunicorn worker (gthread)")
        parser.add_argument("--locust-users", type=int, default=40, help="concurrent locust users")
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument(
            "--device", default="cpu", help="accepted for a uniform interface; serving is CPU + Postgres"
        )

    def handle(self, *args, **opts):
        if model_version_active() is None:
            raise CommandError("no active embedding model; load a world first: seed_world --no-render ...")
        videos, interactions = Video.objects.count(), Interaction.objects.count()
        if cf_model_version_active() is None:
            self.stdout.write("fitting CF (no active CF model) ...")
            version = cf_refit()
            self.stdout.write(f"  {version.name}: {version.fit_seconds:.1f} s")
        rng = random.Random(opts["seed"])
        user_ids = list(Interaction.objects.order_by().values_list("user_id", flat=True).distinct())
        user_ids = rng.sample(user_ids, min(opts["sample_users"], len(user_ids)))
        users = list(get_user_model().objects.filter(pk__in=user_ids))
        self.stdout.write(
            f"world: {videos} videos, {len(users)} sampled users, {interactions} interactions; "
            f"machine: {os.cpu_count()} cores, {platform.processor() or platform.machine()}"
        )

        load_before = os.getloadavg()[0]
        with threadpool_limits(1, "blas"):  # as in the gunicorn workers (reference_site/wsgi.py)
            for user in users[:20]:  # warm-up: model load, caches, connection
                recommendations_for_user(user=user, limit=opts["limit"])
            latencies = []
            cpu_started = time.process_time()
            for i in range(opts["calls"]):
                user = users[i % len(users)]
                started = time.perf_counter()
                recommendations_for_user(user=user, limit=opts["limit"])
                latencies.append(time.perf_counter() - started)
            cpu_ms = (time.process_time() - cpu_started) / opts["calls"] * 1e3
        p50, p95, p99 = np.percentile(np.array(latencies) * 1e3, [50, 95, 99])
        self.stdout.write(
            f"in-process recommendations_for_user(limit={opts['limit']}), {opts['calls']} calls: "
            f"p50 {p50:.1f} ms  p95 {p95:.1f} ms  p99 {p99:.1f} ms  (this process: {cpu_ms:.1f} ms CPU per call; "
            f"load average {load_before:.1f} -> {os.getloadavg()[0]:.1f})"
        )
        figures = {
            "calls": opts["calls"],
            "p50_ms": round(p50, 1),
            "p95_ms": round(p95, 1),
            "p99_ms": round(p99, 1),
            "cpu_ms_per_call": round(cpu_ms, 1),
            "load_average": round(load_before, 1),
        }
        if opts["http_seconds"] > 0:
            figures["http"] = self._http(users, opts)
        self.stdout.write(json.dumps(figures))  # the last line: read by ``python -m lab.benchmarks``

    def _http(self, users, opts) -> dict:
        """Requests/s of the feed endpoint, then of a reference endpoint under the
        same server and load tool: ``GET /api/videos/<id>`` authenticates and reads
        one row, so it shows what the stack itself costs on this machine."""
        from mediarec.api import api_token_for

        port = _free_port()
        env = os.environ.copy()
        env.setdefault("DJANGO_SETTINGS_MODULE", "reference_site.settings")
        env["MEDIAREC_DB_NAME"] = settings.DATABASES["default"]["NAME"]
        root = Path(settings.BASE_DIR)
        video_ids = list(Video.objects.filter(published=True).order_by("?").values_list("pk", flat=True)[:5000])
        with tempfile.TemporaryDirectory() as tmp:
            users_path, videos_path = Path(tmp) / "users.json", Path(tmp) / "videos.json"
            users_path.write_text(json.dumps([[u.pk, api_token_for(u)] for u in users]))
            videos_path.write_text(json.dumps(video_ids))
            env |= {
                "MEDIAREC_BENCH_USERS": str(users_path),
                "MEDIAREC_BENCH_VIDEOS": str(videos_path),
                "MEDIAREC_BENCH_LIMIT": str(opts["limit"]),
            }
            gunicorn = [sys.executable, "-m", "gunicorn", "reference_site.wsgi:application", "-w", str(opts["workers"])]
            gunicorn += ["--worker-class", opts["worker_class"], "--threads", str(opts["threads"])]
            gunicorn += ["-b", f"127.0.0.1:{port}", "--log-level", "warning"]
            server = subprocess.Popen(gunicorn, cwd=root, env=env, start_new_session=True)
            try:
                self._wait_for(port, server)
                self._locust(Path(tmp), port, env, "feed", users=4, seconds=5)  # warm each worker: CF model, caches
                feed = self._locust(
                    Path(tmp), port, env, "feed", users=opts["locust_users"], seconds=opts["http_seconds"]
                )
                reference = self._locust(
                    Path(tmp), port, env, "status", users=opts["locust_users"], seconds=opts["http_seconds"]
                )
            finally:
                os.killpg(server.pid, 15)
                server.wait(30)
        setup = (
            f"gunicorn -w {opts['workers']} --worker-class {opts['worker_class']} --threads {opts['threads']}, "
            f"locust {opts['locust_users']} users for {opts['http_seconds']} s (separate process)"
        )
        paths = {"feed": f"/api/users/<id>/recommendations?limit={opts['limit']}", "reference": "/api/videos/<id>"}
        for name, run in (("feed", feed), ("reference", reference)):
            self.stdout.write(
                f"HTTP GET {paths[name]} ({name}) under {setup}: "
                f"{run['requests_per_s']:.0f} req/s, {run['failures']} failures of {run['requests']}, "
                f"p50 {run['p50_ms']:.0f} ms, p99 {run['p99_ms']:.0f} ms "
                f"(load average {run['load_average']:.1f} -> {run['load_average_after']:.1f})"
            )
        ratio = feed["requests_per_s"] / reference["requests_per_s"]
        self.stdout.write(f"feed / reference requests per second: {ratio:.2f}")
        return {
            **feed,
            "reference": reference,
            "feed_over_reference": round(ratio, 3),
            "workers": opts["workers"],
            "worker_class": opts["worker_class"],
            "threads": opts["threads"],
            "locust_users": opts["locust_users"],
        }

    def _locust(self, tmp: Path, port: int, env: dict, target: str, *, users: int, seconds: int) -> dict:
        """One headless locust run of ``locustfile.py`` against ``target``; its aggregated figures."""
        csv_prefix = tmp / f"run-{target}"
        load_before = os.getloadavg()[0]
        command = [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless", "-u", str(users)]
        command += ["-r", str(users), "-t", f"{seconds}s", "--host", f"http://127.0.0.1:{port}"]
        command += ["--csv", str(csv_prefix), "--only-summary"]
        subprocess.run(
            command,
            cwd=tmp,
            env={**env, "MEDIAREC_BENCH_TARGET": target},
            check=True,
            capture_output=True,
        )
        with open(f"{csv_prefix}_stats.csv") as fh:
            row = next(r for r in csv.DictReader(fh) if r["Name"] == "Aggregated")
        return {
            "requests_per_s": round(float(row["Requests/s"]), 1),
            "requests": int(row["Request Count"]),
            "failures": int(row["Failure Count"]),
            "p50_ms": _percentile(row["50%"]),
            "p99_ms": _percentile(row["99%"]),
            "load_average": round(load_before, 1),
            "load_average_after": round(os.getloadavg()[0], 1),
        }

    def _wait_for(self, port: int, server) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if server.poll() is not None:
                raise CommandError(f"gunicorn exited with {server.returncode}")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.3)
        raise CommandError("gunicorn did not start within 60 s")
