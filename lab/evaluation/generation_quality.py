"""Generation quality on a synthetic world: do the suggested tags and the caption name what the video shows?

    world seed S ──rendered (embedding_quality.rendered_world)──► videos, ground-truth attributes, stored text
      ↓ the same split as embedding_quality (80% train, 20% held out)
      ↓ a checkpoint trained on the training share, its tag vocabulary from the training texts
      ↓ Generator.generate_videos on the held-out videos, from pixels only
      ↓ tag precision@5 / recall@5 and caption attribute recall against each video's attribute words,
        beside the most frequent tags of the training texts (the same five for every video)

A tag is right when it is one of the words the world's text uses for one of the video's attribute values
(``attribute_words``: "crimson" for red, "hoop" for a ring, "drifting" for a left motion, ...). Recall is over
colour, shape and motion: the share of the three that at least one tag (or a caption word) names.

    python -m lab.evaluation.generation_quality --seed 7 --checkpoint demo.pt   # a model trained elsewhere
    python -m lab.evaluation.generation_quality --seed 7                        # train as the demo does first
"""

from __future__ import annotations

import argparse
import re
import shutil
import tempfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lab.evaluation.embedding_quality import DEFAULT_CACHE, rendered_world, split, stored_text

RECALLED = ("color", "shape", "motion")
K = 5
# words of the world's phrases that name no value ("the camera pans left": "camera" is not what pans)
_FILLER = frozenset(
    [
        "a",
        "the",
        "to",
        "of",
        "off",
        "in",
        "on",
        "it",
        "at",
        "and",
        "background",
        "backdrop",
        "pattern",
        "camera",
        "view",
        "shot",
        "scene",
        "picture",
    ]
)


def attribute_words(attributes: dict) -> dict[str, set[str]]:
    """{factor: the words the world's text may use for this video's value of it}, for every factor with words."""
    from lab.synthetic.catalog import BACKGROUND_PHRASES, NUMBER_WORDS, VOCABULARY, plural

    out: dict[str, set[str]] = {}
    phrases = {**VOCABULARY, "background": BACKGROUND_PHRASES}
    for factor, table in phrases.items():
        value = str(attributes[factor])
        if value not in table:  # "none", "steady", "clean": the text never names them
            continue
        words = {value} | {w for p in table[value] for w in re.findall(r"[a-z]+", p.lower())}
        if factor == "shape":
            words |= {plural(w) for w in list(words)}
        out[factor] = words - _FILLER - {"bd"}
    out["count"] = {NUMBER_WORDS[int(attributes["n_objects"])]} | (
        {"single"} if int(attributes["n_objects"]) == 1 else {"pair"} if int(attributes["n_objects"]) == 2 else set()
    ) | ({"many", "swarm", "lots"} if int(attributes["n_objects"]) >= 5 else set())  # fmt: skip
    return out


@dataclass
class Scores:
    precision: float  # share of the top 5 tags that name one of the video's attribute values
    recall: float  # share of colour, shape, motion named by one of the top 5 tags
    caption_recall: float  # share of colour, shape, motion named by a caption word
    caption_words: float  # mean caption length


def score(tags: list[list[str]], captions: list[str], attributes: list[dict]) -> Scores:
    p, r, c, n = [], [], [], []
    for top, caption, a in zip(tags, captions, attributes, strict=True):
        truth = attribute_words(a)
        every = set().union(*truth.values())
        top = top[:K]
        p.append(sum(t in every for t in top) / K)
        r.append(np.mean([bool(truth[f] & set(top)) for f in RECALLED]))
        words = set(caption.split())
        c.append(np.mean([bool(truth[f] & words) for f in RECALLED]))
        n.append(len(caption.split()))
    return Scores(float(np.mean(p)), float(np.mean(r)), float(np.mean(c)), float(np.mean(n)))


def most_frequent(texts: list[str], vocabulary: list[str]) -> list[str]:
    """The vocabulary's words by the number of training texts that use them, most first (the baseline)."""
    df = Counter(w for t in texts for w in set(re.findall(r"[a-z]+", t.lower())))
    return sorted(vocabulary, key=lambda w: (-df[w], w))


@dataclass
class Report:
    seed: int
    n_train: int
    n_test: int
    checkpoint: str
    version: str
    rows: dict[str, Scores]
    examples: list[tuple[str, str, str]]  # (ground truth, tags, caption)

    def table(self) -> str:
        lines = [
            f"world seed {self.seed}: {self.n_test} held-out videos from pixels only; model {self.version} "
            f"trained on {self.n_train}",
            f"  {'':<44}  tag P@5  tag R@5  caption recall  caption words",
        ]
        for name, s in self.rows.items():
            lines.append(
                f"  {name:<44}  {s.precision:>7.3f}  {s.recall:>7.3f}  {s.caption_recall:>14.3f}  {s.caption_words:>13.1f}"
            )
        return "\n".join(lines)


def evaluate(checkpoint: Path, train_texts: list[str], specs: list, paths: list[Path], num_workers: int = 2):
    """-> (rows by name, examples, version) for the held-out ``specs``; the checkpoint gets the tag vocabulary
    of ``train_texts`` when it has none."""
    from videobert_engine.checkpoint import read_checkpoint
    from videobert_engine.generate import Generator, attach_vocabulary

    with tempfile.TemporaryDirectory(prefix="generation-quality-") as tmp:
        if "generation" not in read_checkpoint(checkpoint):  # a copy gets it; the file given stays as it is
            checkpoint = Path(shutil.copyfile(checkpoint, Path(tmp) / "model.pt"))
            attach_vocabulary(checkpoint, train_texts)
        gen = Generator.from_checkpoint(checkpoint, device="cpu")
    generated, errors = gen.generate_videos([{"path": str(p)} for p in paths], num_workers=num_workers)
    if errors:
        raise RuntimeError(f"held-out videos failed: {errors}")
    attributes = [s.attributes for s in specs]
    tags = [[t for t, _ in g.tags] for g in generated]
    frequent = most_frequent(train_texts, gen.vocabulary.words)
    rank = np.array([1 / (1 + frequent.index(w)) for w in gen.vocabulary.words])
    baseline_caption = gen._generation(rank).caption  # the caption rule over the frequency ranking
    rows = {
        "VideoBERT words head (pixels only)": score(tags, [g.caption for g in generated], attributes),
        "most frequent training tags (same for all)": score(
            [frequent] * len(specs), [baseline_caption] * len(specs), attributes
        ),
    }
    examples = [
        (" ".join(str(a[f]) for f in RECALLED), ", ".join(t[:K]), g.caption)
        for a, t, g in zip(attributes[:5], tags, generated, strict=False)
    ]
    return rows, examples, gen.version


def run(seed: int, *, checkpoint: Path | None = None, n_videos: int = 300, cache: Path = DEFAULT_CACHE) -> Report:
    """Evaluate ``checkpoint`` (or a model trained here as the demo trains) on world ``seed``'s held-out 20%."""
    from lab.evaluation.engine_vectors import DEMO_TRAINING
    from videobert_engine.train import TrainConfig, train

    specs, paths = rendered_world(seed, n_videos, cache=cache)
    train_idx, test_idx = split(len(specs), seed)
    train_texts = [stored_text(specs[i]) for i in train_idx]
    held = ([specs[i] for i in test_idx], [paths[i] for i in test_idx])
    with tempfile.TemporaryDirectory(prefix="generation-quality-") as tmp:
        if checkpoint is None:
            records = [{"path": str(paths[i]), "text": t} for i, t in zip(train_idx, train_texts, strict=True)]
            checkpoint = Path(tmp) / "model.pt"
            train(records, TrainConfig(**DEMO_TRAINING, device="cpu", progress=False, out_path=str(checkpoint)))
        rows, examples, version = evaluate(Path(checkpoint), train_texts, *held)
    return Report(seed, len(train_idx), len(test_idx), str(checkpoint), version, rows, examples)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Tags and captions from pixels, scored against the world's truth.")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--checkpoint", type=Path, default=None, help="a model trained on this world's training share")
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    args = parser.parse_args(argv)
    report = run(args.seed, checkpoint=args.checkpoint, cache=args.cache)
    print(report.table())
    for truth, tags, caption in report.examples:
        print(f"  {truth:<24} tags: {tags:<50} caption: {caption}")


if __name__ == "__main__":
    main()
