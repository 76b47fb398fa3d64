"""``./run demo``: the whole platform on the embedded default.

Prepares the database and demo accounts, runs the setup steps, then serves
the site with gunicorn beside a background Celery worker (and beat) until
Ctrl-C, which stops every process it started.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from lab.evaluation.engine_vectors import DEMO_TRAINING
from mediarec.models import ModelKind, Video, VideoStatus
from mediarec.selectors import cf_model_version_active, model_version_active
from mediarec.services.accounts import account_ensure
from mediarec.services.cf_models import cf_refit

DEMO_ACCOUNTS = [("admin", "admin", True), ("viewer", "viewer", False)]


class Command(BaseCommand):
    help = "Run the mediarec demo: database, demo data, worker and web server."

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--no-serve", action="store_true", help="set everything up, then exit")
        parser.add_argument("--videos", type=int, default=300, help="rendered videos in the seeded world")
        parser.add_argument("--users", type=int, default=500, help="simulated viewers in the seeded world")
        parser.add_argument("--train-steps", type=int, default=DEMO_TRAINING["steps"], help="VideoBERT training steps")
        parser.add_argument("--refit", action="store_true", help="refit CF even if a model exists")

    def handle(self, *args, **opts):
        self.opts = opts
        started = time.monotonic()
        call_command("migrate", interactive=False, verbosity=0)
        for username, password, staff in DEMO_ACCOUNTS:
            account_ensure(username=username, password=password, staff=staff)
        processes = self.start_background()
        try:
            self.prepare(processes)
            self.stdout.write(self.style.SUCCESS(f"ready in {time.monotonic() - started:.0f} s"))
            if opts["no_serve"]:
                return
            processes.append(self.start_web(opts["host"], opts["port"]))
            self.print_banner(opts["host"], opts["port"])
            self.wait(processes)
        finally:
            self.stop(processes)

    def prepare(self, processes) -> None:
        """Seed, train, embed (through the background worker) and fit CF.

        Each step is skipped when its result already exists, so a second run
        starts in seconds.
        """
        if not Video.objects.exists():
            self.step("seeding a synthetic world (rendered videos and a simulated audience)")
            call_command(
                "seed_world", videos=self.opts["videos"], users=self.opts["users"], days=30, seed=7, password="viewer"
            )
        active = model_version_active()
        if active is None or active.kind != ModelKind.VIDEOBERT:
            self.step("training a small VideoBERT on the catalog (CPU)")
            call_command(
                "train_videobert",
                preset=DEMO_TRAINING["preset"],
                steps=self.opts["train_steps"],
                seed=DEMO_TRAINING["seed"],
                device="cpu",
                activate=True,
            )
        self.step("embedding the catalog in the background worker")
        self.wait_for_embeddings(processes)
        if cf_model_version_active() is None or self.opts["refit"]:
            self.step("fitting collaborative filtering (implicit ALS)")
            version = cf_refit()
            self.stdout.write(f"  {version.name}: {version.n_users} users x {version.n_items} videos")

    def step(self, text: str) -> None:
        self.stdout.write(self.style.MIGRATE_HEADING(f"==> {text}"))

    def wait_for_embeddings(self, processes) -> None:
        active = model_version_active()
        todo = Video.objects.exclude(file="")
        total = todo.count()
        with tqdm(total=total, desc="embedded", unit="video") as bar:
            while True:
                done = todo.filter(embedding_version=active.name).count()
                failed = todo.filter(status=VideoStatus.FAILED).count()
                bar.n = done + failed
                bar.set_postfix(failed=failed)
                bar.refresh()
                if done + failed >= total:
                    return
                self.check_alive(processes)
                time.sleep(1.0)

    def start_background(self) -> list[subprocess.Popen]:
        log_dir = settings.MEDIAREC_DATA_DIR / "logs"
        log_dir.mkdir(parents=True, exist_ok=True)
        worker = [sys.executable, "-m", "celery", "-A", "tasks", "worker", "-Q", "gpu,default", "-c", "1"]
        beat_schedule = str(settings.MEDIAREC_DATA_DIR / "celerybeat-schedule")
        beat = [sys.executable, "-m", "celery", "-A", "tasks", "beat", "-s", beat_schedule]
        return [self.spawn(worker, log_dir / "worker.log"), self.spawn(beat, log_dir / "beat.log")]

    def start_web(self, host: str, port: int) -> subprocess.Popen:
        call_command("collectstatic", interactive=False, verbosity=0)
        web = [
            sys.executable,
            "-m",
            "gunicorn",
            "reference_site.wsgi:application",
            "--bind",
            f"{host}:{port}",
            "--workers",
            "2",
            "--access-logfile",
            "-",
        ]
        return self.spawn(web, settings.MEDIAREC_DATA_DIR / "logs" / "web.log")

    def spawn(self, argv: list[str], log_path) -> subprocess.Popen:
        with open(log_path, "ab") as log:  # the child keeps its own copy of the descriptor
            proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        proc.log_path = log_path
        return proc

    def print_banner(self, host: str, port: int) -> None:
        base = f"http://{host}:{port}"
        self.stdout.write(
            "\n".join(
                [
                    "",
                    f"  Feed:   {base}/            log in as viewer0001 / viewer (a simulated viewer with a history;",
                    "                              any viewerNNNN works) or viewer / viewer (a new user)",
                    f"  Admin:  {base}/admin/      (admin / admin)",
                    f"  API:    {base}/api/docs",
                    f"  Logs:   {settings.MEDIAREC_DATA_DIR / 'logs'}",
                    "  Ctrl-C stops everything.",
                    "",
                ]
            )
        )

    def check_alive(self, processes) -> None:
        """Raise if a background process (worker, beat, web) has exited."""
        for proc in processes:
            if proc.poll() is not None:
                name = " ".join(map(str, proc.args[2:6]))
                raise CommandError(f"{name} exited with {proc.returncode}; see {proc.log_path}")

    def wait(self, processes) -> None:
        stop = {"now": False}

        def on_signal(signum, frame):
            stop["now"] = True

        signal.signal(signal.SIGINT, on_signal)
        signal.signal(signal.SIGTERM, on_signal)
        while not stop["now"]:
            try:
                self.check_alive(processes)
            except CommandError as exc:
                self.stderr.write(str(exc))
                return
            time.sleep(0.5)

    def stop(self, processes) -> None:
        for proc in processes:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + 20
        for proc in processes:
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
        self.stdout.write("stopped worker, beat and web server")
