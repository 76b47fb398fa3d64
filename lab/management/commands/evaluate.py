"""``python manage.py evaluate``: popularity, ALS, BPR, content and the hybrid,
scored side by side on the synthetic world and/or a MovieLens-format folder.

The world runs when no ``--movielens`` is given, or when a ``--world-*``
option is. docs/EVALUATION.md defines the metrics and protocols.
"""

from __future__ import annotations

import json
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from lab.evaluation.metrics import METRICS
from lab.evaluation.report import format_table, plot_metrics, ratio_lines
from lab.evaluation.runner import MODELS, PEERS, run_evaluation
from lab.synthetic import World
from mediarec.conf import recommender_config
from mediarec.recommender.config import RecommenderConfig
from videobert_engine.errors import EngineError


def int_list(text: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError as exc:
        raise CommandError(f"expected comma-separated integers, got {text!r}") from exc
    if not values or min(values) < 1:
        raise CommandError(f"K values must be positive integers, got {text!r}")
    return values


def with_overrides(config: RecommenderConfig, overrides: list[str]) -> RecommenderConfig:
    """``["mmr_lambda=1.0", ...]`` applied to ``config``, each value cast to the field's current type."""
    changes = {}
    for item in overrides:
        name, sep, value = item.partition("=")
        if not sep or not hasattr(config, name) or isinstance(getattr(config, name), dict):
            raise CommandError(f"--set takes FIELD=VALUE with a scalar RecommenderConfig field; got {item!r}")
        try:
            kind = type(getattr(config, name))
            if kind is bool and value.lower() not in ("true", "false", "1", "0"):
                raise ValueError(f"{value!r} is not true or false")
            changes[name] = value.lower() in ("true", "1") if kind is bool else kind(value)
        except ValueError as exc:
            raise CommandError(f"--set {item}: {exc}") from exc
    return replace(config, **changes)


class Command(BaseCommand):
    help = "Offline evaluation: top-K metrics of every recommender on the synthetic world and MovieLens-format data."

    def add_arguments(self, parser):
        world = parser.add_argument_group("synthetic world")
        world.add_argument("--world-videos", type=int, default=None, help="catalog size (default 600)")
        world.add_argument("--world-users", type=int, default=None, help="audience size (default 800)")
        world.add_argument("--world-days", type=int, default=None, help="days of simulated activity (default 30)")
        world.add_argument(
            "--content-vectors",
            choices=("engine", "oracle", "both"),
            default="both",
            help="world content vectors: the engine's own (renders the world and trains VideoBERT as the demo "
            "does, or uses --checkpoint), the stand-in vectors from the ground truth (an oracle), or both (default)",
        )
        parser.add_argument("--seed", type=int, default=42, help="world seed and split seed")
        parser.add_argument("--movielens", metavar="PATH", help="folder with u.data and u.item (MovieLens-100k format)")
        parser.add_argument("--k", default="5,10,20", help="comma-separated cut-offs (default 5,10,20)")
        parser.add_argument("--models", default=",".join(MODELS), help=f"subset of {','.join(MODELS)}")
        parser.add_argument(
            "--peers", action="store_true", help=f"also run the other libraries' peers ({','.join(PEERS)}; slow)"
        )
        parser.add_argument("--json", action="store_true", help="print the results as JSON instead of tables")
        parser.add_argument(
            "--plot", metavar="PATH", help="PNG of metrics against K (default <data dir>/evaluation.png)"
        )
        parser.add_argument(
            "--set",
            dest="overrides",
            action="append",
            default=[],
            metavar="FIELD=VALUE",
            help="override a RecommenderConfig field for this run, e.g. --set mmr_lambda=1.0 (repeatable)",
        )
        parser.add_argument("--device", default="cpu", help="torch device for the text tower (MovieLens item texts)")
        parser.add_argument(
            "--checkpoint",
            help="VideoBERT checkpoint: the text tower for MovieLens item texts (default: MiniLM warm start), "
            "and the world's engine vectors (default: train as the demo does)",
        )
        parser.add_argument(
            "--export-movielens", metavar="PATH", help="instead: write the world in MovieLens format to PATH"
        )
        parser.add_argument(
            "--tune",
            action="store_true",
            help="instead: tune --tune-model's config on validation data carved from the training data of the "
            "chosen datasets' protocols, then score the defaults and the result once on their test splits",
        )
        parser.add_argument(
            "--tune-model",
            default="hybrid",
            choices=("hybrid", "ranked", "ranked-served"),
            help="the model --tune tunes: the blend (default) or a learned ranker (minutes a trial)",
        )
        parser.add_argument(
            "--embeddings",
            action="store_true",
            help="instead: embedding quality on a rendered world (--seed, --world-videos, default 300): train as the "
            "demo does with 20%% held out (or take --checkpoint), embed the held-out videos from pixels only, "
            "report attribute-neighbour agreement and text->video recall, and the suggested tags' and captions' "
            "precision and recall against the ground-truth attribute words",
        )
        parser.add_argument("--tune-rounds", type=int, default=2, help="coordinate-descent sweeps (default 2)")

    def handle(self, *args, **opts):
        ks = int_list(opts["k"])
        models = [m.strip() for m in opts["models"].split(",") if m.strip()]
        if opts["peers"]:
            models += [p for p in PEERS if p not in models]
        unknown = sorted(set(models) - set(MODELS) - set(PEERS))
        if unknown:
            raise CommandError(f"unknown model(s) {', '.join(unknown)}; choose from {', '.join([*MODELS, *PEERS])}")
        config = with_overrides(recommender_config(), opts["overrides"])
        log = (lambda line: self.stderr.write(line)) if not opts["json"] else (lambda line: None)
        if opts["embeddings"]:
            return self.embeddings(opts)
        if opts["tune"]:
            return self.tune(opts, config, ks)
        if opts["export_movielens"]:
            return self.export(opts)
        protocols = self.protocols(opts, config)
        results = run_evaluation(protocols, ks, config=config, models=models, progress=sys.stderr.isatty(), log=log)
        plot = plot_metrics(
            results["results"], results["ks"], opts["plot"] or settings.MEDIAREC_DATA_DIR / "evaluation.png"
        )
        results["plot"] = str(plot)
        if opts["json"]:
            self.stdout.write(json.dumps(results, indent=2))
            return
        k = 10 if 10 in results["ks"] else results["ks"][-1]
        self.stdout.write(format_table(results["results"], k))
        for model in ("hybrid", "ranked", "ranked-served"):
            self.stdout.write("\n".join(ratio_lines(results["results"], k, model=model)))
        self.stdout.write(f"metrics: {', '.join(METRICS)}; every K is in --json. Plot: {plot}")

    def embeddings(self, opts) -> None:
        """What the engine's vectors carry, on a rendered world with 20% of its videos held out of training."""
        from lab.evaluation.embedding_quality import ORACLE_VIEW, add_oracle, run
        from lab.evaluation.engine_vectors import DEMO_TRAINING
        from lab.evaluation.generation_quality import run as generation_run
        from lab.evaluation.report import plot_embedding_quality

        n_videos = opts["world_videos"] or 300
        with tempfile.TemporaryDirectory(prefix="evaluate-embeddings-") as tmp:
            kept = None if opts["checkpoint"] else Path(tmp) / "model.pt"  # trained once, for both reports
            report = run(opts["seed"], dict(DEMO_TRAINING), n_videos=n_videos, checkpoint=opts["checkpoint"], keep=kept)
            generation = generation_run(opts["seed"], checkpoint=Path(opts["checkpoint"] or kept), n_videos=n_videos)
        add_oracle(report, n_videos=n_videos)
        plot = plot_embedding_quality(report, opts["plot"] or settings.MEDIAREC_DATA_DIR / "embedding-quality.png")
        if opts["json"]:
            out = {**report.__dict__, "generation": generation.__dict__, "plot": str(plot)}
            self.stdout.write(json.dumps(out, indent=2, default=lambda o: getattr(o, "__dict__", str(o))))
            return
        self.stdout.write(report.table())
        self.stdout.write(
            f"{ORACLE_VIEW}: from the ground-truth attributes, an upper bound, not the product. Plot: {plot}"
        )
        self.stdout.write(generation.table())

    def tune(self, opts, config: RecommenderConfig, ks: list[int]) -> None:
        from lab.evaluation.tuning import tune

        k = 10 if 10 in ks else ks[-1]
        protocols = list(self.protocols(opts, config))
        result = tune(
            protocols,
            base=config,
            model=opts["tune_model"],
            k=k,
            rounds=opts["tune_rounds"],
            log=lambda line: self.stderr.write(line),
        )
        if opts["json"]:
            self.stdout.write(json.dumps(result, indent=2))
            return
        self.stdout.write(
            f"{result['model']}: validation {result['metric']} averaged over {len(result['validation'])} protocols: "
            f"{result['baseline']:.4f} -> {result['score']:.4f}"
        )
        for name, value in result["best"].items():
            was = result["defaults"][name]
            self.stdout.write(f"  {name:<22} {value!s:>8}" + ("" if value == was else f"   (default {was})"))
        self.stdout.write(f"test {result['metric']}, read once after the choice (defaults -> tuned):")
        for key, before in result["test"]["defaults"].items():
            if not key.startswith("mean_"):
                self.stdout.write(f"  {key:<28} {before:.4f} -> {result['test']['best'][key]:.4f}")

    def export(self, opts) -> None:
        from lab.evaluation.synthetic import export_movielens, world_config

        counts = export_movielens(World.generate(world_config(opts)), opts["export_movielens"])
        self.stdout.write(
            f"wrote {counts['ratings']} ratings of {counts['users']} users on {counts['items']} items to {opts['export_movielens']}"
        )

    def protocols(self, opts, config: RecommenderConfig):
        world_options = any(opts[k] is not None for k in ("world_videos", "world_users", "world_days"))
        if opts["movielens"]:
            yield from self.movielens_protocols(opts, config)
        if world_options or not opts["movielens"]:
            yield from self.world_protocols(opts, config)

    def movielens_protocols(self, opts, config: RecommenderConfig):
        from lab.evaluation.embeddings import embed_texts
        from lab.evaluation.movielens import (
            MovieLensFormatError,
            item_cold_start_protocol,
            read_movielens,
            standard_protocol,
        )

        try:
            data = read_movielens(opts["movielens"])
            embeddings = embed_texts(data.item_texts, device=opts["device"], checkpoint=opts["checkpoint"])
        except (MovieLensFormatError, EngineError) as exc:
            raise CommandError(str(exc)) from exc
        yield standard_protocol(data, embeddings, seed=opts["seed"], config=config)
        yield item_cold_start_protocol(data, embeddings, seed=opts["seed"], config=config)

    def world_protocols(self, opts, config: RecommenderConfig):
        """World protocols with the engine's vectors (the product's figures) and, beside them,
        the stand-in vectors made from the ground truth ("world-oracle", an upper bound)."""
        from lab.evaluation.synthetic import world_config, world_protocols

        world = World.generate(world_config(opts))
        if opts["content_vectors"] in ("engine", "both"):
            from lab.evaluation.engine_vectors import world_engine_vectors

            vectors, info = world_engine_vectors(world, checkpoint=opts["checkpoint"], log=self.stderr.write)
            self.stderr.write(f"world engine vectors: {info}")
            yield from world_protocols(world, config=config, embeddings=vectors, dataset="world")
        if opts["content_vectors"] in ("oracle", "both"):
            yield from world_protocols(world, config=config, dataset="world-oracle")
