"""Command line: ``python -m videobert_engine train|embed|bench``.

    python -m videobert_engine train --manifest pairs.jsonl --out ckpt.pt --preset tiny --steps 150 --seed 0
    python -m videobert_engine embed --checkpoint ckpt.pt --manifest pairs.jsonl --out vecs.npy
    python -m videobert_engine bench --preset c3d --device cuda --batch-size 64
    python -m videobert_engine bench --preset c3d --no-models --files corpus/*   # decode CPU cost per file

A manifest is JSONL, one {"path": ..., "text": ...} per line. Errors print one line and exit with status 2.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from dataclasses import asdict

import numpy as np

from videobert_engine.errors import EngineError


def _parse_value(text: str):
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def cmd_train(args: argparse.Namespace) -> None:
    from videobert_engine.data import load_manifest
    from videobert_engine.train import TrainConfig, train

    overrides = {}
    for item in args.set or []:
        key, _, value = item.partition("=")
        overrides[key] = _parse_value(value)
    config = TrainConfig(
        preset=args.preset,
        overrides=overrides,
        steps=args.steps,
        batch_size=args.batch_size,
        clips_per_item=args.clips_per_item,
        lr=args.lr,
        seed=args.seed,
        out_path=args.out,
        resume_from=args.resume,
        checkpoint_every=args.checkpoint_every,
        device=args.device,
        num_workers=args.num_workers,
        threads=args.threads,
        log_path=args.log,
        progress=not args.no_progress,
    )
    path = train(load_manifest(args.manifest), config)
    from videobert_engine.checkpoint import read_checkpoint

    payload = read_checkpoint(path)
    print(
        json.dumps(
            {"checkpoint": str(path), "version": payload["version"], "metrics": payload["train"].get("metrics", {})}
        )
    )


def cmd_embed(args: argparse.Namespace) -> None:
    from videobert_engine.data import load_manifest
    from videobert_engine.embed import Embedder

    embedder = Embedder.from_checkpoint(args.checkpoint, device=args.device)
    records = load_manifest(args.manifest)
    vecs, errors = embedder.embed_videos(
        records, batch_size=args.batch_size, num_workers=args.num_workers, progress=not args.no_progress
    )
    np.save(args.out, vecs)
    for index, reason in errors.items():
        print(json.dumps({"index": index, "error": reason}), file=sys.stderr)
    print(
        json.dumps(
            {
                "out": args.out,
                "version": embedder.version,
                "rows": len(vecs),
                "dim": int(vecs.shape[1]),
                "errors": len(errors),
            }
        )
    )


def cmd_bench(args: argparse.Namespace) -> None:
    from videobert_engine.bench import run_bench
    from videobert_engine.embed import InferenceConfig

    result = run_bench(
        args.preset,
        args.device,
        args.batch_size,
        args.iters,
        args.warmup,
        args.decode_iters,
        files=args.files or [],
        models=not args.no_models,
        inference=InferenceConfig(compile_video=args.compile),
    )
    print("\n".join(result.lines()))
    if args.json:
        print(json.dumps(asdict(result)))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m videobert_engine", description="VideoBERT engine: train, embed, bench"
    )
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("train", help="self-supervised training on a manifest of video/text pairs")
    p.add_argument("--manifest", required=True)
    p.add_argument("--out", required=True, help="checkpoint path")
    p.add_argument("--preset", default="tiny", choices=["tiny", "small", "c3d"])
    p.add_argument("--steps", type=int, default=150)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--clips-per-item", type=int, default=1, help="clips of each video per step (0: all)")
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default=None, help="cpu, cuda (default: cuda when available)")
    p.add_argument("--num-workers", type=int, default=2)
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (1 is best on a busy machine)")
    p.add_argument("--resume", default=None, help="continue from this checkpoint up to --steps")
    p.add_argument("--checkpoint-every", type=int, default=0)
    p.add_argument("--log", default=None, help="append per-step metrics as JSONL")
    p.add_argument(
        "--set", action="append", metavar="FIELD=VALUE", help="model config override, e.g. --set text__init=minilm"
    )
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("embed", help="embed every record of a manifest into an .npy (N, D) float32 array")
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--manifest", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--num-workers", type=int, default=2)
    p.add_argument("--device", default=None)
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=cmd_embed)

    p = sub.add_parser("bench", help="clips/s of the video tower and the fused embedding, decode frames/s")
    p.add_argument("--preset", default="tiny", choices=["tiny", "small", "c3d"])
    p.add_argument("--device", default="cpu")
    p.add_argument("--batch-size", type=int, default=32, help="clips per batch")
    p.add_argument("--iters", type=int, default=5)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--decode-iters", type=int, default=5)
    p.add_argument(
        "--files", nargs="+", metavar="VIDEO", help="also print sample_clips / bare decode CPU time for these files"
    )
    p.add_argument("--no-models", action="store_true", help="time decoding only")
    p.add_argument("--compile", action="store_true", help="torch.compile the fused model's video tower (CUDA)")
    p.add_argument("--json", action="store_true", help="also print the figures as one JSON line")
    p.set_defaults(func=cmd_bench)

    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        args.func(args)
    except EngineError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
