"""Embedding quality on a synthetic world: do the engine's vectors carry what the video shows?

    world seed S ──render_catalog (cached on disk)──► videos with ground-truth attributes and text
      ↓ hold out 20% (a permutation drawn from S); optionally carve a validation split from the rest
      ↓ videobert_engine.train on the remaining videos (path + the text the plugin stores)
      ↓ Embedder: held-out videos from pixels only (text ""), from text only, and fused (video + text)
      ↓ neighbour agreement over chance per attribute, text→video Recall@K (titles, plain descriptions)

Pure numpy for the metrics; the driver imports ``videobert_engine`` and ``lab.synthetic`` (no Django).

    python -m lab.evaluation.embedding_quality --seed 7                # train on 240, test on the 60 held out
    python -m lab.evaluation.embedding_quality --seed 7 --validation   # train on 192, test on 48 of the 240
    python -m lab.evaluation.embedding_quality --seed 7 --set lr=1e-3 --set overrides.clips__size=56
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import json
import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

ATTRIBUTES = ("color", "shape", "motion", "background")
DEFAULT_CACHE = Path(os.environ.get("MEDIAREC_RENDER_CACHE", Path(__file__).resolve().parents[2] / "var" / "renders"))


# --------------------------------------------------------------------------- metrics


def neighbour_agreement(
    vectors: np.ndarray, attributes: list[dict], keys: tuple[str, ...] = ATTRIBUTES, k: int = 10
) -> dict[str, float]:
    """Share of each item's k nearest neighbours (cosine, itself excluded) that share the attribute, averaged
    over items, divided by the chance rate of sharing it (the same share over all other items). 1.0 = random.

    vectors (N, D); attributes[i] is item i's {name: value}.
    """
    x = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    sim = x @ x.T  # (N, N)
    np.fill_diagonal(sim, -np.inf)
    n = len(x)
    neighbours = np.argsort(-sim, axis=1, kind="stable")[:, :k]  # (N, k)
    out = {}
    for key in keys:
        values = np.array([str(a[key]) for a in attributes])
        same = values[:, None] == values[None, :]  # (N, N)
        np.fill_diagonal(same, False)
        observed = same[np.arange(n)[:, None], neighbours].mean()
        chance = same.sum() / (n * (n - 1))
        out[key] = float(observed / chance) if chance else float("nan")
    return out


def recall_at_k(queries: np.ndarray, targets: np.ndarray, ks: tuple[int, ...] = (1, 5, 10)) -> dict[int, float]:
    """Query i's right answer is target i: the share of queries that rank it within the top k (by dot product)."""
    scores = queries @ targets.T  # (Q, N)
    own = scores[np.arange(len(queries)), np.arange(len(queries))]
    rank = (scores > own[:, None]).sum(1)  # 0 = first; ties count in the query's favour
    return {k: float((rank < k).mean()) for k in ks}


# --------------------------------------------------------------------------- the world's text


SHAPE_PLURAL = {"circle": "circles", "square": "squares", "triangle": "triangles", "star": "stars", "ring": "rings",
                "cross": "crosses"}  # fmt: skip
MOTION_PLAIN = {"still": "standing still", "left": "moving left", "right": "moving right", "up": "moving up",
                "down": "moving down", "diagonal": "moving diagonally", "bounce": "bouncing"}  # fmt: skip


def plain_description(attributes: dict) -> str:
    """A query a person might type from what they see, e.g. "red circles moving left"."""
    shape = attributes["shape"] if int(attributes["n_objects"]) == 1 else SHAPE_PLURAL[attributes["shape"]]
    return f"{attributes['color']} {shape} {MOTION_PLAIN[attributes['motion']]}"


def stored_text(spec) -> str:
    """The text the plugin stores for a world video (``Video.text``: title . description . tags, tags normalized)."""
    tags = list(dict.fromkeys(t.strip().lower() for t in spec.tags if t.strip()))
    return " . ".join(p for p in (spec.title, spec.description, " ".join(tags)) if p)


# --------------------------------------------------------------------------- world and splits


def rendered_videos(specs: list, seed: int, cache: Path = DEFAULT_CACHE, workers: int | None = None) -> list[Path]:
    """The files of world ``seed``'s videos ``specs``, rendered once into ``cache`` and reused on later runs."""
    from lab.synthetic.render import render_catalog, video_filename

    # the folder is named by what the frames depend on, so another world never reuses these files
    digest = hashlib.sha1(
        repr([(s.attributes, s.render_seed, s.duration_s, s.size, s.fps, s.codec) for s in specs]).encode()
    )
    out = cache / f"world{seed}-{len(specs)}-{digest.hexdigest()[:10]}"
    paths = [out / video_filename(spec, seed) for spec in specs]
    missing = [spec for spec, path in zip(specs, paths, strict=True) if not path.is_file()]
    if missing:
        part = out / "partial"  # rendered here, then moved: a killed run leaves no half-written file in ``out``
        for done in render_catalog(missing, part, seed=seed, workers=workers):
            done.path.rename(out / done.path.name)
    return paths


def catalog_world(seed: int, n_videos: int):
    """World ``seed``'s catalog as the demo seeds it (30 days); one user, since only the videos are used."""
    from lab.synthetic import World, WorldConfig

    return World.generate(WorldConfig(n_videos=n_videos, n_users=1, days=30, seed=seed))


def rendered_world(seed: int, n_videos: int = 300, cache: Path = DEFAULT_CACHE, workers: int | None = None):
    """The world's video specs and their files (``rendered_videos``)."""
    world = catalog_world(seed, n_videos)
    return world.videos, rendered_videos(world.videos, seed, cache=cache, workers=workers)


def split(n: int, seed: int, frac: float = 0.2) -> tuple[np.ndarray, np.ndarray]:
    """-> (train, held-out) indices, sorted; the held-out share is ``frac``, drawn from ``seed``."""
    order = np.random.default_rng([seed, 20_24]).permutation(n)
    cut = n - round(n * frac)
    return np.sort(order[:cut]), np.sort(order[cut:])


# --------------------------------------------------------------------------- one run


@dataclass
class Report:
    seed: int
    n_train: int
    n_test: int
    train_s: float  # wall time of videobert_engine.train (decoding included)
    train_cpu_s: float  # CPU time of this process in it (decoding workers excluded): contention does not inflate it
    steps: int
    loop_s: float  # the optimization steps alone
    agreement: dict[str, dict[str, float]]  # view -> attribute -> ratio over chance
    recall: dict[str, dict[int, float]]  # query kind -> k -> recall
    config: dict = field(default_factory=dict)

    def table(self) -> str:
        lines = [
            f"world seed {self.seed}: trained on {self.n_train}, evaluated on {self.n_test} held-out videos; "
            f"train() {self.train_s:.0f} s wall, {self.train_cpu_s:.0f} s CPU ({self.steps} steps, "
            f"{self.loop_s / max(self.steps, 1):.2f} s/step wall)",
            "neighbour agreement over chance (10 NN)  " + "  ".join(f"{a:>10}" for a in ATTRIBUTES),
        ]
        for view, row in self.agreement.items():
            lines.append(f"  {view:<38}  " + "  ".join(f"{row[a]:>9.2f}x" for a in ATTRIBUTES))
        lines.append(f"text -> video recall among {self.n_test} (chance R@1 {1 / self.n_test:.3f})   R@1    R@5   R@10")
        for kind, row in self.recall.items():
            lines.append(f"  {kind:<38}  " + "  ".join(f"{row[k]:.3f}" for k in (1, 5, 10)))
        return "\n".join(lines)


def evaluate(checkpoint: Path, specs: list, paths: list[Path], num_workers: int = 2):
    """-> (agreement by view, recall by query kind) for the given videos."""
    from videobert_engine.embed import Embedder

    emb = Embedder.from_checkpoint(checkpoint, device="cpu")
    attributes = [s.attributes for s in specs]
    video, errors = emb.embed_videos([{"path": str(p), "text": ""} for p in paths], num_workers=num_workers)
    if errors:
        raise RuntimeError(f"held-out videos failed to embed: {errors}")
    texts = [stored_text(s) for s in specs]
    fused, _ = emb.embed_videos([{"path": str(p), "text": t} for p, t in zip(paths, texts, strict=True)])
    text_only = emb.embed_texts(texts)
    agreement = {
        "video only (pixels)": neighbour_agreement(video, attributes),
        "text only (stored text)": neighbour_agreement(text_only, attributes),
        "fused (video + stored text)": neighbour_agreement(fused, attributes),
    }
    recall = {
        "title -> video (pixels)": recall_at_k(emb.embed_texts([s.title for s in specs]), video),
        "plain description -> video (pixels)": recall_at_k(
            emb.embed_texts([plain_description(a) for a in attributes]), video
        ),
        "stored text -> video (pixels)": recall_at_k(text_only, video),
        "title -> fused": recall_at_k(emb.embed_texts([s.title for s in specs]), fused),
    }
    return agreement, recall


def run(
    seed: int,
    settings: dict,
    *,
    n_videos: int = 300,
    validation: bool = False,
    cache: Path = DEFAULT_CACHE,
    keep: Path | None = None,
    checkpoint: str | Path | None = None,
):
    """Render (or reuse) world ``seed``, train on its training share with ``TrainConfig(**settings)``, evaluate on
    its held-out 20% (``validation``: on 20% of the training share instead, training on the rest)."""
    from videobert_engine.train import TrainConfig, train

    specs, paths = rendered_world(seed, n_videos, cache=cache)
    train_idx, test_idx = split(len(specs), seed)
    if validation:
        inner_train, inner_test = split(len(train_idx), seed + 1)
        train_idx, test_idx = train_idx[inner_train], train_idx[inner_test]
    held_out = ([specs[i] for i in test_idx], [paths[i] for i in test_idx])
    if checkpoint is not None:  # a model trained elsewhere (e.g. the demo's): evaluate it as it is
        agreement, recall = evaluate(Path(checkpoint), *held_out)
        return Report(seed, len(train_idx), len(test_idx), 0.0, 0.0, 0, 0.0, agreement, recall,
                      {"checkpoint": str(checkpoint)})  # fmt: skip
    records = [{"path": str(paths[i]), "text": stored_text(specs[i])} for i in train_idx]
    with tempfile.TemporaryDirectory(prefix="embedding-quality-") as tmp:
        out = keep or Path(tmp) / "model.pt"
        log = Path(tmp) / "train.jsonl"
        config = TrainConfig(**{"seed": 0, "device": "cpu", "progress": False, **settings}, out_path=str(out),
                             log_path=str(log))  # fmt: skip
        start, start_cpu = time.perf_counter(), time.process_time()
        train(records, config)
        train_s, train_cpu_s = time.perf_counter() - start, time.process_time() - start_cpu
        steps = [json.loads(line) for line in log.read_text().splitlines()]
        loop_s = steps[-1].get("time_s", float("nan")) if steps else 0.0
        agreement, recall = evaluate(out, *held_out)
    return Report(seed, len(train_idx), len(test_idx), train_s, train_cpu_s, len(steps), loop_s, agreement, recall,
                  {**settings, "validation": validation, "last_step": steps[-1] if steps else {}})  # fmt: skip


ORACLE_VIEW = "stand-in vectors (oracle upper bound)"


def add_oracle(report: Report, *, n_videos: int, dim: int = 256) -> Report:
    """Add the world's stand-in vectors (made from the ground truth) of the same held-out videos, as the
    upper bound of neighbour agreement; they have no text side, so no recall."""
    world = catalog_world(report.seed, n_videos)
    _, test_idx = split(len(world.videos), report.seed)
    vectors = world.standin_embeddings(dim)[test_idx]
    report.agreement[ORACLE_VIEW] = neighbour_agreement(vectors, [world.videos[i].attributes for i in test_idx])
    return report


def _parse_settings(pairs: list[str]) -> dict:
    """``key=value`` (value a Python literal, else a string); ``overrides.x=..`` and ``objectives.x=..`` nest."""
    settings: dict = {}
    for pair in pairs:
        key, _, raw = pair.partition("=")
        try:
            value = ast.literal_eval(raw)
        except (ValueError, SyntaxError):
            value = raw
        head, _, leaf = key.partition(".")
        if leaf:
            settings.setdefault(head, {})[leaf] = value
        else:
            settings[key] = value
    return settings


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Train on a rendered world and measure what the embeddings carry.")
    parser.add_argument("--seed", type=int, action="append", help="world seed (repeatable; default 7)")
    parser.add_argument("--validation", action="store_true", help="evaluate on a split of the training share")
    parser.add_argument("--set", action="append", default=[], help="TrainConfig field=value (e.g. steps=150)")
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE, help="where rendered worlds are kept")
    parser.add_argument("--json", type=Path, default=None, help="append each report as a JSON line here")
    parser.add_argument("--keep", type=Path, default=None, help="keep the checkpoint at this path")
    args = parser.parse_args(argv)
    settings = _parse_settings(args.set)
    for seed in args.seed or [7]:
        report = run(seed, settings, validation=args.validation, cache=args.cache, keep=args.keep)
        print(report.table(), flush=True)
        if args.json:
            with open(args.json, "a", encoding="utf-8") as f:
                f.write(json.dumps(report.__dict__, default=str) + "\n")


if __name__ == "__main__":
    main()
