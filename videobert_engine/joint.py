"""The joint VideoBERT model: video tower + text tower + cross-modal transformer + fusion.

    clips (B, N, T, H, W, 3) uint8              text ids (B, L)
      ↓ C3D.forward_head(pre_logits)              ↓ TextTower.forward_features
      ↓ per-clip features (B, N, fc)              ↓ token states (B, L, dt)
      ↓ linear + temporal position                ↓ linear
    video tokens (B, N, d)                      text tokens (B, L, d)
      └──────────────┬────────────────────────────┘
         [CLS] text [SEP] video   + segment embeddings (0: [CLS], text; 1: [SEP], video)
                     ↓ cross-modal transformer (pre-LN, key padding mask)           = forward_features
           H (B, 1 + L + 1 + N, d)
      ↓ masked mean over video positions → V      ↓ masked mean over text positions → T
                     ↓ fusion  F = α⊙V + β⊙T   (α, β learned, per dimension)
                     ↓ linear d → D, L2 norm   = fused embedding  (forward_head(pre_logits=True))
           H[CLS] → alignment logit             = forward_head()

A missing modality is masked out of attention and pools to zero, so the embedding of a text-only item is
``norm(P(β⊙T))`` and of a video-only item ``norm(P(α⊙V))``; the contrastive objective trains these to meet.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F
from einops import rearrange

from videobert_engine.c3d import C3D, normalize_clips
from videobert_engine.config import JointConfig, VideoBertConfig
from videobert_engine.text import TextTower, masked_mean


class Block(nn.Module):
    """Pre-LN transformer block: two residual lines."""

    def __init__(self, config: JointConfig):
        super().__init__()
        d = config.d_model
        self.ln_1, self.ln_2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.attn = nn.MultiheadAttention(d, config.n_head, dropout=config.dropout, batch_first=True)
        self.mlp = nn.Sequential(
            nn.Linear(d, config.d_ff), nn.GELU(), nn.Linear(config.d_ff, d), nn.Dropout(config.dropout)
        )

    def forward(self, x: torch.Tensor, pad: torch.Tensor) -> torch.Tensor:
        h = self.ln_1(x)
        x = x + self.attn(h, h, h, key_padding_mask=pad, need_weights=False)[0]
        return x + self.mlp(self.ln_2(x))


class Fusion(nn.Module):
    """F = α⊙V + β⊙T with learned per-dimension α and β (both start at 1)."""

    def __init__(self, d: int):
        super().__init__()
        self.alpha = nn.Parameter(torch.ones(d))
        self.beta = nn.Parameter(torch.ones(d))

    def forward(self, video: torch.Tensor, text: torch.Tensor) -> torch.Tensor:
        return self.alpha * video + self.beta * text


@dataclass
class Tokens:
    """The inputs of the cross-modal transformer, per modality, with their masks."""

    text: torch.Tensor  # (B, L, d)
    text_mask: torch.Tensor  # (B, L) bool, True = real token
    video: torch.Tensor  # (B, N, d) clip content + temporal position
    video_mask: torch.Tensor  # (B, N) bool, True = real clip
    video_pos: torch.Tensor  # (B, N, d) the temporal position part of ``video``

    def without_video(self) -> Tokens:
        return Tokens(self.text, self.text_mask, self.video, torch.zeros_like(self.video_mask), self.video_pos)

    def without_text(self) -> Tokens:
        return Tokens(self.text, torch.zeros_like(self.text_mask), self.video, self.video_mask, self.video_pos)

    @staticmethod
    def cat(parts: list[Tokens]) -> Tokens:
        names = ("text", "text_mask", "video", "video_mask", "video_pos")
        return Tokens(*(torch.cat([getattr(p, n) for p in parts]) for n in names))


class VideoBert(nn.Module):
    def __init__(self, config: VideoBertConfig, fusion: nn.Module | None = None):
        super().__init__()
        self.config = config
        d = config.joint.d_model
        self.video = C3D(config.video)
        self.text = TextTower(config.text)
        self.video_proj = nn.Linear(self.video.num_features, d)
        self.clip_pos = nn.Embedding(config.clips.n_clips, d)
        self.text_proj = nn.Linear(self.text.num_features, d)
        self.cls_token, self.sep_token, self.clip_mask_token = (nn.Parameter(torch.randn(d) * 0.02) for _ in range(3))
        self.segment = nn.Embedding(2, d)
        self.blocks = nn.ModuleList(Block(config.joint) for _ in range(config.joint.n_layer))
        self.ln_f = nn.LayerNorm(d)
        self.fusion = fusion or Fusion(d)
        self.proj = nn.Linear(d, config.embed_dim, bias=False)
        # objective heads (see losses.py)
        self.align_head = nn.Linear(d, 1)
        self.clip_head = nn.Linear(d, d)
        self.mlm_head = nn.Sequential(
            nn.Linear(d, self.text.num_features), nn.GELU(), nn.LayerNorm(self.text.num_features)
        )
        self.mlm_bias = nn.Parameter(torch.zeros(config.text.vocab_size))
        self.logit_scale = nn.Parameter(torch.tensor(2.659))  # log(1 / 0.07), as in CLIP

    # ---- modality encoders -------------------------------------------------------------------------

    def clip_features(self, clips: torch.Tensor) -> torch.Tensor:
        """uint8 clips (B, N, T, H, W, 3) -> per-clip C3D features (B, N, fc)."""
        B = clips.shape[0]
        x = normalize_clips(rearrange(clips, "b n t h w c -> (b n) t h w c"))  # (B*N, 3, T, H, W), channels-last
        x = self.video.forward_head(self.video.forward_features(x), pre_logits=True)
        return rearrange(x, "(b n) f -> b n f", b=B)

    def text_tokens(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return self.text_proj(self.text.forward_features(ids, mask))  # (B, L, d)

    def tokens(
        self,
        clips: torch.Tensor | None,
        has_video: torch.Tensor,
        ids: torch.Tensor,
        text_mask: torch.Tensor,
        clip_index: torch.Tensor | None = None,
        text_states: torch.Tensor | None = None,
    ) -> Tokens:
        """Encode a batch of B items.

        clips: uint8 (R, N, T, H, W, 3), one row per True in ``has_video`` (B,) (R == B: all rows have a video),
            or None for a text-only batch;
        clip_index: (R, N) each clip's slot in its video (default 0..N-1), for the temporal position embedding;
        text_states: (B, L, dt) the text tower's output for ``ids``, when the caller has it (a frozen tower).
        """
        B, d = ids.shape[0], self.config.joint.d_model
        N = 0 if clips is None or clips.ndim < 2 else clips.shape[1]
        R = clips.shape[0] if N else 0
        if R:  # the video tower runs first (it is the bulk of the work) and only on rows that have a video
            if clip_index is None:
                clip_index = torch.arange(N, device=clips.device).expand(R, N)
            clip_pos = self.clip_pos(clip_index)  # (R, N, d)
            content = self.video_proj(self.clip_features(clips))  # (R, N, d)
        text = self.text_tokens(ids, text_mask) if text_states is None else self.text_proj(text_states)
        if R == B:  # every row has a video: no scatter, and no device sync to find the rows
            video, pos = (content + clip_pos).to(text.dtype), clip_pos.to(text.dtype)
        else:
            video, pos = text.new_zeros(B, N, d), text.new_zeros(B, N, d)
            if R:
                rows = has_video.nonzero().squeeze(1)
                if len(rows) != R:
                    raise ValueError(f"{R} clip rows for {len(rows)} items with a video")
                video = video.index_put((rows,), (content + clip_pos).to(video.dtype))
                pos = pos.index_put((rows,), clip_pos.to(pos.dtype))
        return Tokens(text, text_mask, video, has_video[:, None].expand(B, N).clone(), pos)

    # ---- cross-modal transformer and heads ---------------------------------------------------------

    def forward_features(self, tok: Tokens) -> torch.Tensor:
        """-> H (B, 1 + L + 1 + N, d)."""
        B = tok.text.shape[0]
        cls = self.cls_token.to(tok.text.dtype).expand(B, 1, -1)
        sep = self.sep_token.to(tok.text.dtype).expand(B, 1, -1)
        seg0, seg1 = self.segment.weight[0], self.segment.weight[1]
        x = torch.cat([cls + seg0, tok.text + seg0, sep + seg1, tok.video + seg1], dim=1)
        always = tok.text_mask.new_ones(B, 1)
        pad = ~torch.cat([always, tok.text_mask, always, tok.video_mask], dim=1)  # (B, S) True = ignore
        for block in self.blocks:
            x = block(x, pad)
        return self.ln_f(x)

    def split(self, h: torch.Tensor, tok: Tokens) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """H -> ([CLS] (B, d), text states (B, L, d), video states (B, N, d))."""
        L = tok.text.shape[1]
        return h[:, 0], h[:, 1 : 1 + L], h[:, 2 + L :]

    def forward_head(self, h: torch.Tensor, tok: Tokens, pre_logits: bool = False) -> torch.Tensor:
        cls, text, video = self.split(h, tok)
        if not pre_logits:
            return self.align_head(cls).squeeze(-1)  # (B,) logit: does the text belong to the video?
        fused = self.fusion(masked_mean(video, tok.video_mask), masked_mean(text, tok.text_mask))
        return F.normalize(self.proj(fused).float(), dim=-1)  # (B, D)

    def embed(
        self, clips: torch.Tensor | None, has_video: torch.Tensor, ids: torch.Tensor, text_mask: torch.Tensor
    ) -> torch.Tensor:
        """The fused embedding (B, D), float32, L2-normalized (all-zero for a row with neither modality)."""
        tok = self.tokens(clips, has_video, ids, text_mask)
        return self.forward_head(self.forward_features(tok), tok, pre_logits=True)

    def mlm_logits(self, text_states: torch.Tensor) -> torch.Tensor:
        """(.., d) -> (.., vocab); the decoder is tied to the text tower's token embeddings."""
        return self.mlm_head(text_states) @ self.text.tok_emb.weight.T + self.mlm_bias
