"""``python -m lab.benchmarks``: run the suite (see ``benchmarks/__init__.py``).

python -m lab.benchmarks                         everything, on a fresh 100k-video / 10k-user world
python -m lab.benchmarks --only embed --device cuda
python -m lab.benchmarks --only cf,ingest --reuse   keep the world already in the bench database
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from datetime import date
from pathlib import Path

from lab.benchmarks.database import BENCH_DB, reset_database, use_database

SECTIONS = ("seed", "cf", "serving", "ingest", "embed")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m lab.benchmarks", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--only", default=",".join(SECTIONS), help=f"comma-separated subset of {','.join(SECTIONS)}")
    p.add_argument("--db", default=BENCH_DB, help=f"database the suite owns and empties (default {BENCH_DB})")
    p.add_argument("--reuse", action="store_true", help="keep the world already loaded in the bench database")
    p.add_argument("--videos", type=int, default=100_000)
    p.add_argument("--users", type=int, default=10_000)
    p.add_argument("--days", type=int, default=30, help="with 10k users, 30 days gives about 1.1M interactions")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--cf-repeats", type=int, default=1, help="fits per side; the best of each is kept")
    p.add_argument("--http-events", type=int, default=50_000)
    p.add_argument("--http-batch", type=int, default=1000)
    p.add_argument("--http-clients", type=int, default=2)
    p.add_argument("--device", default="cpu", help="torch device for the embedding benchmark")
    p.add_argument("--serving-args", default="", help="extra arguments for manage.py bench_serving")
    p.add_argument("--embed-args", default="", help="extra arguments for python -m videobert_engine bench")
    p.add_argument("--json", metavar="PATH", help="also write the figures here as JSON")
    args = p.parse_args(argv)
    args.only = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = sorted(set(args.only) - set(SECTIONS))
    if unknown:
        p.error(f"unknown section(s) {', '.join(unknown)}; choose from {', '.join(SECTIONS)}")
    return args


def summary_lines(results: dict) -> list[str]:
    lines = []
    if s := results.get("seed"):
        lines.append(
            f"seed_world --no-render: {s['interactions']:,} interactions, {s['videos']:,} videos, {s['users']:,} users; "
            f"COPY {s['interactions_per_s_copy']:,} interactions/s, whole load {s['interactions_per_s_load']:,} interactions/s "
            f"(world generation {s['generate_s']} s, not counted)"
        )
    if c := results.get("cf"):
        lines.append(
            f"CF fit on {c['interactions']:,} interactions: cf_refit {c['cf_refit_s']} s (read {c['read_from_db_s']} s, "
            f"build {c['build_matrix_s']} s) vs bare implicit {c['bare_implicit_fit_s']} s: ratio {c['ratio']}"
        )
    if i := results.get("ingest"):
        lines.append(
            f"HTTP batch ingest: {i['interactions_per_s']:,} interactions/s ({i['events']:,} events, batches of {i['batch']}, "
            f"{i['clients']} clients, gunicorn {i['gunicorn_workers']} workers; batch p50 {i['batch_latency_p50_ms']} ms)"
        )
    for name in ("serving", "embed"):
        if d := results.get(name):
            lines.append(f"{name}: `{d['command']}` exited {d['returncode']} after {d['seconds']} s (output above)")
    return lines


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    results: dict = {
        "date": date.today().isoformat(),
        "machine": f"{platform.machine()} {platform.node()}",
        "args": vars(args),
    }
    needs_db = bool(set(args.only) & {"seed", "cf", "serving", "ingest"})
    if needs_db:
        use_database(args.db)
        from mediarec.models import Interaction

        if not (args.reuse and Interaction.objects.exists()):
            reset_database()
            if "seed" not in args.only:
                args.only.insert(0, "seed")  # the other sections need a world to work on
    started = time.perf_counter()
    for section in [s for s in SECTIONS if s in args.only]:
        print(f"== {section}", flush=True)
        if section == "seed":
            from lab.benchmarks.seed import bench_seed_world

            results["seed"] = bench_seed_world(videos=args.videos, users=args.users, days=args.days, seed=args.seed)
        elif section == "cf":
            from lab.benchmarks.cf_fit import bench_cf_fit

            results["cf"] = bench_cf_fit(repeats=args.cf_repeats)
        elif section == "serving":
            from lab.benchmarks.delegate import bench_serving

            results["serving"] = bench_serving(args.serving_args.split())
        elif section == "ingest":
            from lab.benchmarks.ingest import bench_http_ingest

            results["ingest"] = bench_http_ingest(
                events=args.http_events, batch=args.http_batch, clients=args.http_clients
            )
        elif section == "embed":
            from lab.benchmarks.delegate import bench_embedding

            results["embed"] = bench_embedding(args.device, args.embed_args.split())
    results["seconds"] = round(time.perf_counter() - started, 1)
    print("== summary")
    for line in summary_lines(results):
        print(f"  {line}")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
        print(f"  figures written to {args.json}")
    failed = [n for n in ("serving", "embed") if n in results and results[n]["returncode"] != 0]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
