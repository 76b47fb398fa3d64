"""Generation: suggested tags with scores and a short caption for a video, from its pixels alone.

    clips (B, N, T, H, W, 3)  ─► video tokens ─► cross-modal transformer over [CLS] - [SEP] video  (no text)
      ↓ masked mean over the video positions                     the pooled video state of objective (e)
      ↓ mlm_logits (the MLM decoder, tied to the text tower's token embeddings)     (B, vocab)
      ↓ a word's logit = the lowest logit of its WordPiece pieces ("tang ##erine")
      ↓ softmax over the tag vocabulary (the words seen in training)                 (B, V) = tag scores
      ↓ tags: the best words, each skipped where it is an alternative of a better one (never "red, orange")
      ↓ caption: the best words, one per slot (two words never seen in one training sentence are
        alternatives, e.g. two colours), in the order the training sentences put them ("crimson ball bouncing")

The words head is what objective (e) trains: the video-only view predicts the words of the item's text. MLM (b)
is off in the default recipe, so decoding [MASK] slots would read positions no objective trained; the caption is
built from the words head's best words instead, and costs nothing beyond the tags (docs/ENGINE.md).

The tag vocabulary is learned from the training texts (``TagVocabulary.from_texts``) and travels in the
checkpoint (``attach_vocabulary``), so generation is a function of the checkpoint alone: deterministic, batched,
on CPU or CUDA.

    gen = Generator.from_checkpoint("ckpt.pt")
    [g], errors = gen.generate_videos([{"path": "a.mp4"}])
    g.tags, g.caption        # [("crimson", 0.21), ("ball", 0.17), ...], "crimson ball bouncing"
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from videobert_engine.checkpoint import load_model, read_checkpoint, write_checkpoint
from videobert_engine.embed import Embedder, VideoBatch
from videobert_engine.errors import CheckpointError
from videobert_engine.joint import Tokens
from videobert_engine.text import WordPiece, masked_mean

# English function words: never a tag, whatever their frequency ("up", "down", "out" stay: on a video they
# are directions)
STOPWORDS = frozenset(
    [
        "a",
        "an",
        "the",
        "and",
        "or",
        "but",
        "of",
        "to",
        "in",
        "on",
        "at",
        "by",
        "for",
        "from",
        "with",
        "without",
        "into",
        "onto",
        "over",
        "under",
        "across",
        "through",
        "around",
        "off",
        "as",
        "is",
        "are",
        "was",
        "were",
        "be",
        "been",
        "it",
        "its",
        "it's",
        "they",
        "them",
        "their",
        "this",
        "that",
        "these",
        "those",
        "there",
        "here",
        "then",
        "than",
        "so",
        "very",
        "all",
        "any",
        "some",
        "each",
        "every",
        "no",
        "not",
        "part",
    ]
)
SENTENCE_ENDS = frozenset(".!?;")


@dataclass
class GenerationConfig:
    top_k: int = 10  # tags per video
    caption_words: int = 4  # at most
    caption_min_score: float = 0.1  # a caption word scores at least this share of the best tag's score
    min_df: int = 2  # a word enters the vocabulary once it is in this many training texts
    max_df: float = 0.5  # and leaves it in this share of them or more (objective (e) gives those no weight)
    min_expected: float = 2.0  # two words are alternatives if never in one text where chance expects this many


@dataclass
class Generation:
    tags: list[tuple[str, float]]  # best first, scores in (0, 1]: the words head over the tag vocabulary
    caption: str

    @property
    def text(self) -> str:
        """The generated words as one text, for the embedding of a video without text of its own."""
        return " . ".join(p for p in (self.caption, " ".join(t for t, _ in self.tags)) if p)


def _words(tokenizer: WordPiece, text: str) -> list[str]:
    """The tokenizer's own word split (lower-cased, punctuation apart)."""
    tok = tokenizer.tokenizer
    return [w for w, _ in tok.pre_tokenizer.pre_tokenize_str(tok.normalizer.normalize_str(text))]


def _sentences(words: list[str]) -> list[list[str]]:
    out, current = [], []
    for w in words:
        if w in SENTENCE_ENDS:
            out, current = out + [current] * bool(current), []
        else:
            current.append(w)
    return out + [current] * bool(current)


@dataclass
class TagVocabulary:
    """The words a model may suggest, and what the training texts say about how they go together."""

    words: list[str]
    pieces: list[list[int]]  # each word's WordPiece ids
    position: list[float]  # mean relative position in its training sentences, 0 = first word
    alternatives: list[list[int]]  # for each word, the words never seen in a sentence with it (beyond chance)
    config: GenerationConfig = field(default_factory=GenerationConfig)

    @classmethod
    def from_texts(cls, texts: list[str], tokenizer: WordPiece, config: GenerationConfig | None = None):
        config = config or GenerationConfig()
        docs = [_words(tokenizer, t) for t in texts if t and t.strip()]
        df = Counter(w for d in docs for w in set(d))
        keep = sorted(
            w
            for w, n in df.items()
            if n >= config.min_df and n < config.max_df * len(docs) and w.isalpha() and len(w) > 1
            and w not in STOPWORDS
        )  # fmt: skip
        index = {w: i for i, w in enumerate(keep)}
        sentences = [[index[w] for w in dict.fromkeys(s) if w in index] for d in docs for s in _sentences(d)]
        V = len(keep)
        together = np.zeros((V, V), dtype=np.int64)
        count = np.zeros(V, dtype=np.int64)
        pos_sum, pos_n = np.zeros(V), np.zeros(V)
        for s in sentences:
            if not s:
                continue
            ix = np.array(s)
            count[ix] += 1
            together[np.ix_(ix, ix)] += 1
            if len(s) > 1:
                pos_sum[ix] += np.arange(len(s)) / (len(s) - 1)
                pos_n[ix] += 1
        expected = np.outer(count, count) / max(len(sentences), 1)
        apart = (together == 0) & (expected >= config.min_expected)
        pieces = [tokenizer.tokenizer.encode(w, add_special_tokens=False).ids for w in keep]
        return cls(
            words=keep,
            pieces=pieces,
            position=[float(p) for p in np.where(pos_n > 0, pos_sum / np.maximum(pos_n, 1), 0.5)],
            alternatives=[np.flatnonzero(row).tolist() for row in apart],
            config=config,
        )

    def to_dict(self) -> dict:
        return {**asdict(self), "config": asdict(self.config)}

    @classmethod
    def from_dict(cls, data: dict) -> TagVocabulary:
        return cls(**{**data, "config": GenerationConfig(**data.get("config", {}))})


def attach_vocabulary(path: str | os.PathLike, texts: list[str], config: GenerationConfig | None = None) -> int:
    """Store the tag vocabulary of ``texts`` (the model's training texts) in the checkpoint at ``path``; the
    weights and the version string stay as they are. Returns the vocabulary size."""
    payload = read_checkpoint(path)
    _, tokenizer = load_model(payload)
    vocabulary = TagVocabulary.from_texts(texts, tokenizer, config)
    payload["generation"] = vocabulary.to_dict()
    write_checkpoint(path, payload)
    return len(vocabulary.words)


class Generator:
    """Tags and captions from an ``Embedder``'s model; ``embed_and_generate`` shares one decode and one video
    tower pass between the fused embedding and the generated words."""

    def __init__(self, embedder: Embedder, vocabulary: TagVocabulary):
        if not vocabulary.words:
            raise CheckpointError(f"model {embedder.version} has an empty tag vocabulary")
        self.embedder, self.vocabulary, self.config = embedder, vocabulary, vocabulary.config
        self.version = embedder.version
        dev = embedder.device
        width = max(len(p) for p in vocabulary.pieces)
        # (V, P) piece ids, a word's short rows padded with its first piece (the minimum ignores repeats)
        self._pieces = torch.tensor([p + p[:1] * (width - len(p)) for p in vocabulary.pieces], device=dev)
        self._position = np.asarray(vocabulary.position)
        self._alternatives = [set(a) for a in vocabulary.alternatives]

    @classmethod
    def from_checkpoint(
        cls, path: str | os.PathLike, device: str | None = None, expect_version: str | None = None
    ) -> Generator:
        """Raises CheckpointError when the checkpoint has no tag vocabulary (see ``attach_vocabulary``)."""
        return cls.for_embedder(Embedder.from_checkpoint(path, device, expect_version), path)

    @classmethod
    def for_embedder(cls, embedder: Embedder, path: str | os.PathLike) -> Generator:
        """The generator of the checkpoint ``embedder`` was loaded from (its weights are shared, not reloaded)."""
        payload = read_checkpoint(path)
        if "generation" not in payload:
            raise CheckpointError(f"checkpoint {Path(path).name} has no tag vocabulary; run attach_vocabulary on it")
        if payload["version"] != embedder.version:
            raise CheckpointError(f"checkpoint {Path(path).name} is {payload['version']}, not {embedder.version}")
        return cls(embedder, TagVocabulary.from_dict(payload["generation"]))

    # ---- the words head over the video-only view ------------------------------------------------------

    def tag_scores(self, tok: Tokens) -> torch.Tensor:
        """-> (B, V) float32 scores over the tag vocabulary, from the video alone (rows sum to 1)."""
        model = self.embedder.model
        video_only = tok.without_text()
        _, _, video = model.split(model.forward_features(video_only), video_only)
        logits = model.mlm_logits(masked_mean(video, video_only.video_mask)).float()  # (B, vocab)
        words = logits[:, self._pieces].amin(-1)  # (B, V, P) -> (B, V)
        return words.softmax(-1)

    def _generation(self, scores: np.ndarray) -> Generation:
        """(V,) scores -> tags and caption; ties go to the earlier word (vocabulary order), so it is stable."""
        order = np.argsort(-scores, kind="stable")
        words = self.vocabulary.words
        # a word that is an alternative of a better one ("orange" after "red") cannot also be right: skip it
        listed: list[int] = []
        for i in order:
            if len(listed) == self.config.top_k:
                break
            if not any(i in self._alternatives[j] for j in listed):
                listed.append(int(i))
        tags = [(words[i], round(float(scores[i]), 4)) for i in listed]
        chosen: list[int] = []
        floor = self.config.caption_min_score * scores[order[0]]
        for i in listed:
            if len(chosen) == self.config.caption_words or scores[i] < floor:
                break
            if any(_same_word(words[i], words[j]) for j in chosen):  # ``listed`` has no alternatives left
                continue
            chosen.append(int(i))
        chosen.sort(key=lambda i: (self._position[i], words[i]))
        return Generation(tags=tags, caption=" ".join(words[i] for i in chosen))

    def _tokens(self, batch: VideoBatch, texts: list[str]) -> Tokens:
        ids, mask = self.embedder._text(texts)
        return self.embedder.model.tokens(batch.clips, batch.has_video, ids, mask)

    # ---- public -------------------------------------------------------------------------------------

    @torch.inference_mode()
    def generate_videos(
        self, records: list[dict], batch_size: int = 16, num_workers: int = 2
    ) -> tuple[list[Generation | None], dict[int, str]]:
        """-> (a Generation per record, None for one without a readable video; {index: reason}).

        The records' texts are ignored: what is generated comes from the pixels alone.
        """
        out: list[Generation | None] = [None] * len(records)
        errors: dict[int, str] = {}
        no_text = [{"path": r.get("path"), "text": ""} for r in records]
        for batch in self.embedder.video_batches(no_text, batch_size, num_workers):
            errors.update(batch.errors)
            if len(batch.rows):
                with self.embedder._autocast():
                    scores = self.tag_scores(self._tokens(batch, batch.texts)).cpu().numpy()
                for row, s in zip(batch.rows.tolist(), scores, strict=True):
                    out[row] = self._generation(s)
        return out, dict(sorted(errors.items()))

    @torch.inference_mode()
    def embed_and_generate(
        self, records: list[dict], batch_size: int = 16, num_workers: int = 2, fill_missing_text: bool = True
    ) -> tuple[np.ndarray, list[Generation | None], dict[int, str]]:
        """``Embedder.embed_videos`` and ``generate_videos`` in one pass over the videos.

        With ``fill_missing_text`` a video without text is embedded with its generated words as its text, so
        text queries of those words find it; a record's own text is always used when it has one.
        """
        emb = self.embedder
        vectors = np.zeros((len(records), emb.embedding_dim), dtype=np.float32)
        out: list[Generation | None] = [None] * len(records)
        errors: dict[int, str] = {}
        for batch in emb.video_batches(records, batch_size, num_workers):
            errors.update(batch.errors)
            if not len(batch.rows):
                continue
            with emb._autocast():
                tok = self._tokens(batch, batch.texts)
                generated = [None] * len(batch.rows)
                if batch.clips is not None:
                    scores = self.tag_scores(tok).cpu().numpy()
                    has = batch.has_video.cpu().tolist()
                    generated = [self._generation(s) if h else None for s, h in zip(scores, has, strict=True)]
                texts = [
                    g.text if fill_missing_text and g is not None and not t.strip() else t
                    for t, g in zip(batch.texts, generated, strict=True)
                ]
                if texts != batch.texts:
                    ids, mask = emb._text(texts)
                    tok = Tokens(emb.model.text_tokens(ids, mask), mask, tok.video, tok.video_mask, tok.video_pos)
                vecs = emb.model.forward_head(emb.model.forward_features(tok), tok, pre_logits=True)
            vectors[batch.rows] = vecs.float().cpu().numpy()
            for row, g in zip(batch.rows.tolist(), generated, strict=True):
                out[row] = g
        return vectors, out, dict(sorted(errors.items()))


def _same_word(a: str, b: str) -> bool:
    """ "ball" and "balls", "box" and "boxes": one caption word is enough."""
    short, long = sorted((a, b), key=len)
    return long in (short + "s", short + "es")
