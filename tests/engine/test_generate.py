"""Generation: the tag vocabulary, tags and captions from pixels alone, determinism, one pass with the embedding."""

from __future__ import annotations

import copy
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.engine.captioned import World
from tests.engine.synthetic import COLOURS, MOTIONS, SHAPES
from videobert_engine import CheckpointError
from videobert_engine.embed import Embedder
from videobert_engine.generate import Generator, TagVocabulary, attach_vocabulary
from videobert_engine.text import WordPiece

TEXTS = [
    "A crimson ball bouncing . red circle",
    "Two blue boxes moving left . blue square",
    "A red box sliding left . red square",
    "Blue balls bouncing around . blue circle",
    "The crimson hoop . red ring",
]


def test_vocabulary_is_learned_from_the_texts():
    vocab = TagVocabulary.from_texts(TEXTS, WordPiece.minilm())
    # in two texts or more and in fewer than half: "red" is in 3 of 5, so it is out; "blue" is in 2
    assert vocab.words == ["blue", "bouncing", "circle", "crimson", "left", "square"]
    words = vocab.words
    assert (
        vocab.pieces[words.index("crimson")]
        == WordPiece.minilm().tokenizer.encode("crimson", add_special_tokens=False).ids
    )
    # a colour comes before its shape, and a shape before its motion, in the sentences it was seen in
    assert vocab.position[words.index("crimson")] < vocab.position[words.index("bouncing")]
    assert TagVocabulary.from_dict(vocab.to_dict()) == vocab


def test_alternatives_are_words_never_seen_together_beyond_chance():
    texts = ["red ball", "blue ball", "red box", "blue box"] * 10
    vocab = TagVocabulary.from_texts(texts, WordPiece.minilm(), None)
    assert vocab.words == []  # each word is in half the texts: objective (e) gives them no weight
    texts += ["green cone", "yellow disc", "violet cube", "white star"] * 10  # now each old word is in 20 / 80
    vocab = TagVocabulary.from_texts(texts, WordPiece.minilm())
    red, blue, ball = (vocab.words.index(w) for w in ("red", "blue", "ball"))
    assert blue in vocab.alternatives[red] and red in vocab.alternatives[blue]
    assert ball not in vocab.alternatives[red]


@pytest.fixture(scope="module")
def generator(world: World, trained: Path, tmp_path_factory) -> Generator:
    path = tmp_path_factory.mktemp("gen") / "tiny.pt"
    shutil.copyfile(trained, path)
    assert attach_vocabulary(path, [r["text"] for r in world.train]) > 0
    return Generator.from_checkpoint(path, device="cpu")


@pytest.mark.slow
def test_tags_and_caption_come_from_the_pixels(world: World, generator: Generator):
    held = world.held_out
    gens, errors = generator.generate_videos(World.records(held), batch_size=8, num_workers=2)
    assert errors == {} and all(g is not None for g in gens)
    vocab = set(COLOURS) | set(SHAPES) | set(MOTIONS)
    right = [len({t for t, _ in g.tags[:3]} & set(r["text"].split())) / 3 for g, r in zip(gens, held, strict=True)]
    print(f"\ntop-3 tags naming the video's colour, shape or motion: {np.mean(right):.2f} (of {len(held)})")
    assert np.mean(right) >= 0.5
    for g in gens:
        scores = [s for _, s in g.tags]
        assert 1 <= len(g.tags) <= generator.config.top_k and scores == sorted(scores, reverse=True)
        assert scores[-1] > 0 and scores[0] <= 1
        listed = [generator.vocabulary.words.index(t) for t, _ in g.tags]
        assert not any(i in generator.vocabulary.alternatives[j] for i in listed for j in listed)  # never "red, blue"
        words = g.caption.split()
        assert 1 <= len(words) <= generator.config.caption_words and set(words) <= {t for t, _ in g.tags}
        assert len(set(words) & set(COLOURS)) <= 1  # two colours are alternatives: one per caption
    assert any(set(g.caption.split()) & vocab for g in gens)


@pytest.mark.slow
def test_generation_is_deterministic_in_any_batch(world: World, generator: Generator, trained: Path, tmp_path):
    records = [*World.records(world.held_out[:6]), {"path": str(tmp_path / "missing.mp4"), "text": ""}]
    a, errors = generator.generate_videos(records, batch_size=4, num_workers=2)
    b, _ = generator.generate_videos(records, batch_size=7, num_workers=0)
    assert list(errors) == [6] and a[6] is None
    assert [g.caption for g in a[:6]] == [g.caption for g in b[:6]]
    for x, y in zip(a[:6], b[:6], strict=True):
        assert [t for t, _ in x.tags] == [t for t, _ in y.tags]
        assert np.allclose([s for _, s in x.tags], [s for _, s in y.tags], atol=1e-4)
    # the text a record carries does not change what is generated
    with_text = [{**r, "text": "something else entirely"} for r in records[:6]]
    c, _ = generator.generate_videos(with_text, batch_size=4, num_workers=0)
    assert [g.caption for g in c] == [g.caption for g in a[:6]]


@pytest.mark.slow
def test_embed_and_generate_is_the_embedding_plus_the_words(world: World, generator: Generator):
    records = [
        {"path": world.held_out[0]["path"], "text": world.held_out[0]["text"]},
        {"path": world.held_out[1]["path"], "text": ""},
        {"path": None, "text": "a red circle moving left"},
    ]
    vectors, gens, errors = generator.embed_and_generate(records, batch_size=3, num_workers=0)
    plain, _ = generator.embedder.embed_videos(records, batch_size=3, num_workers=0)
    assert errors == {} and gens[2] is None and gens[0] is not None and gens[1] is not None
    # a video with text of its own: the embedding is the one embed_videos makes
    assert np.allclose(vectors[[0, 2]], plain[[0, 2]], atol=1e-5)
    # a video without: embedded with its generated words, exactly as if they were its text
    filled, _ = generator.embedder.embed_videos([{**records[1], "text": gens[1].text}], num_workers=0)
    assert np.allclose(vectors[1], filled[0], atol=1e-5) and not np.allclose(vectors[1], plain[1], atol=1e-3)
    again, _, _ = generator.embed_and_generate(records, batch_size=3, num_workers=0, fill_missing_text=False)
    assert np.allclose(again, plain, atol=1e-5)


@pytest.mark.slow
def test_a_checkpoint_without_vocabulary_is_refused(trained: Path):
    with pytest.raises(CheckpointError, match="no tag vocabulary"):
        Generator.from_checkpoint(trained, device="cpu")


@pytest.mark.slow
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_gives_the_cpu_tags(world: World, generator: Generator, tmp_path: Path):
    records = World.records(world.held_out[:8])
    cpu, _ = generator.generate_videos(records, num_workers=0)
    model = copy.deepcopy(generator.embedder.model)
    cuda = Generator(Embedder(model, generator.embedder.tokenizer, generator.version, "cuda"), generator.vocabulary)
    gpu, _ = cuda.generate_videos(records, num_workers=0)
    agree = np.mean(
        [len({t for t, _ in a.tags[:5]} & {t for t, _ in b.tags[:5]}) / 5 for a, b in zip(cpu, gpu, strict=True)]
    )
    assert agree >= 0.8  # bf16 on CUDA: near ties may swap
