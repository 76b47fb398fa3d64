"""``manage.py seed_world``: load a synthetic world (catalog, viewers and their
interactions) into the database. See docs/WORLD.md."""

from __future__ import annotations

import os

from django.core.management.base import BaseCommand, CommandError

from lab.services import WorldConflict, world_load, world_state_path
from lab.synthetic import WorldConfig

RERUN_POLICY = (
    "re-run policy: the same world again is a no-op (idempotent); any other world data in the database "
    "is refused unless --replace"
)


class Command(BaseCommand):
    help = (
        "Generate a synthetic world from a seed and load it: rendered videos (or metadata only), viewers, interactions."
    )

    def add_arguments(self, parser):
        parser.add_argument("--videos", type=int, default=300)
        parser.add_argument("--users", type=int, default=500)
        parser.add_argument("--days", type=int, default=30)
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument(
            "--no-render",
            action="store_true",
            help="metadata only, with stand-in embeddings from the attributes (status ready)",
        )
        parser.add_argument("--workers", type=int, default=os.cpu_count(), help="render processes")
        parser.add_argument(
            "--views-per-day",
            type=float,
            default=WorldConfig.views_per_user_day,
            help="mean planned views per user and day (10k users x 30 days x 2.0 is about 1M interactions)",
        )
        parser.add_argument(
            "--max-duration",
            type=float,
            default=WorldConfig.max_duration_s,
            help="cap on video durations in seconds (rendering time grows with it)",
        )
        parser.add_argument("--replace", action="store_true", help="delete a different world already loaded")
        parser.add_argument("--password", default=None, help="password of every viewer (default: unusable)")

    def handle(self, *args, **opts):
        config = WorldConfig(
            n_videos=opts["videos"],
            n_users=opts["users"],
            days=opts["days"],
            seed=opts["seed"],
            views_per_user_day=opts["views_per_day"],
            max_duration_s=opts["max_duration"],
        )
        self.stdout.write(RERUN_POLICY)
        try:
            result = world_load(
                config=config,
                render=not opts["no_render"],
                workers=opts["workers"],
                replace=opts["replace"],
                password=opts["password"],
                log=self.stdout.write,
            )
        except (WorldConflict, ValueError) as exc:
            raise CommandError(str(exc)) from exc
        counts = ", ".join(f"{v} {k}" for k, v in result.counts.items())
        if result.skipped:
            self.stdout.write(f"world seed={config.seed} is already loaded ({counts}); nothing changed.")
            return
        total = sum(result.timings.values())
        self.stdout.write(
            self.style.SUCCESS(
                f"loaded world seed={config.seed}: {counts} in {total:.1f} s; state in {world_state_path()}"
            )
        )
