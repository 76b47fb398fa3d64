"""Self-supervised objectives. Each is switched off by a zero weight, and each logs its loss and accuracy.

One training step runs the cross-modal transformer over four views of the batch at once:

    text only      [CLS] text [SEP] -          ─► z_t  ┐ (a) symmetric InfoNCE z_v <-> z_t, plus the fused
    video only     [CLS] -    [SEP] video      ─► z_v  ┤     embedding z_f anchored to both (so text-only
    both           [CLS] text [SEP] video      ─► z_f  ┘     queries, video-only and fused items share one space)
    masked         [CLS] text~ [SEP] video~'   ─► (b) MLM on text~, conditioned on the video
                                                       (mlm=0: the text is left whole)
                                                   (c) masked clip NCE (CBT): predict each masked clip's token
                                                       among all masked clips of the batch
                                                   (d) [CLS] alignment: is video' the item's own video? (half
                                                       the pairs get another item's video)
    video only, pooled                           ─► (e) bag of words: predict which words the item's text uses
                                                       (through the MLM decoder; a direct, many-label signal
                                                       for what the pixels show, where (a) alone lets a small
                                                       catalog be told apart by whatever differs, not by content)
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from videobert_engine.joint import Tokens, VideoBert
from videobert_engine.text import masked_mean


@dataclass
class Objectives:
    contrastive: float = 1.0  # (a)
    # (b)-(d) are off by default: on a few hundred videos they cost step time (a fourth view, a second text
    # pass) without making the video embedding carry more of what is on screen (see lab/evaluation)
    mlm: float = 0.0  # (b)  when on, keep it low: at 0.5 / 0.5 / 0.25 the auxiliaries slowed (a) down
    masked_clip: float = 0.0  # (c)
    alignment: float = 0.0  # (d)
    text_mask_prob: float = 0.15
    clip_mask_prob: float = 0.25
    fused_anchor: float = 0.5  # share of (a) that ties the fused embedding to z_v and z_t
    clip_temperature: float = 0.1
    words: float = 1.0  # (e), each word weighted by its idf in the training texts


@dataclass
class Batch:
    clips: torch.Tensor  # (R, k, T, S, S, 3) uint8, rows with a video
    clip_index: torch.Tensor  # (R, k) slot of each clip in its video
    has_video: torch.Tensor  # (B,) bool
    ids: torch.Tensor  # (B, L)
    text_mask: torch.Tensor  # (B, L) bool
    text_states: torch.Tensor | None = None  # (B, L, dt) a frozen text tower's output, computed once per text
    word_weight: torch.Tensor | None = None  # (vocab,) weight of each word in (e), e.g. its idf in the corpus


def info_nce(a: torch.Tensor, b: torch.Tensor, scale: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Symmetric InfoNCE between matching rows of a and b (both L2-normalized) -> (loss, top-1 accuracy)."""
    logits = scale * a @ b.T  # (n, n)
    target = torch.arange(len(a), device=a.device)
    loss = (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target)) / 2
    return loss, (logits.argmax(1) == target).float().mean()


def mask_text(
    ids: torch.Tensor,
    mask: torch.Tensor,
    n_special: int,
    mask_id: int,
    vocab_size: int,
    prob: float,
    gen: torch.Generator,
):
    """BERT masking: of the chosen tokens 80% -> [MASK], 10% -> random, 10% kept. -> (ids~, labels with -100)."""
    special = ids < n_special  # [CLS], [SEP], [PAD], ... are never chosen
    chosen = (torch.rand(ids.shape, generator=gen) < prob).to(ids.device) & mask & ~special
    labels = torch.where(chosen, ids, torch.full_like(ids, -100))
    roll = torch.rand(ids.shape, generator=gen).to(ids.device)
    random_ids = torch.randint(n_special, vocab_size, ids.shape, generator=gen).to(ids.device)
    out = torch.where(chosen & (roll < 0.8), torch.full_like(ids, mask_id), ids)
    out = torch.where(chosen & (roll >= 0.9), random_ids, out)
    return out, labels


def compute_losses(model: VideoBert, batch: Batch, obj: Objectives, tokenizer, gen: torch.Generator):
    """-> (weighted total loss, metrics {name: float})."""
    dev = batch.ids.device
    B = batch.ids.shape[0]
    tok = model.tokens(batch.clips, batch.has_video, batch.ids, batch.text_mask, batch.clip_index, batch.text_states)
    N = tok.video.shape[1]
    both = batch.has_video & batch.text_mask.any(1)  # (B,) items with video and text

    # masked view: text~, clips~ and, for half of the paired items, another item's video
    ids_m, mlm_labels = mask_text(
        batch.ids,
        batch.text_mask,
        tokenizer.n_special,
        tokenizer.mask_id,
        tokenizer.vocab_size,
        obj.text_mask_prob,
        gen,
    )
    clip_sel = (torch.rand((B, N), generator=gen).to(dev) < obj.clip_mask_prob) & tok.video_mask
    content = tok.video - tok.video_pos  # (B, N, d) targets of (c)
    masked_video = torch.where(
        clip_sel[..., None], model.clip_mask_token.to(tok.video.dtype) + tok.video_pos, tok.video
    )
    pairs = both.nonzero().squeeze(1)
    swap = torch.zeros(B, dtype=torch.bool, device=dev)
    source = torch.arange(B, device=dev)
    if len(pairs) > 1:
        flip = (torch.rand(len(pairs), generator=gen) < 0.5).to(dev)
        source[pairs[flip]] = pairs.roll(1)[flip]  # another paired item's video
        swap[pairs[flip]] = True
    masked = Tokens(
        model.text_tokens(ids_m, batch.text_mask) if obj.mlm else tok.text,  # without MLM the text stays whole
        batch.text_mask,
        masked_video[source],
        tok.video_mask[source],
        tok.video_pos[source],
    )

    use_masked = bool(obj.mlm or obj.masked_clip or obj.alignment)  # else the fourth view is not run at all
    views = [tok.without_video(), tok.without_text(), tok] + ([masked] if use_masked else [])
    h_t, h_v, h_f, *h_m = model.forward_features(Tokens.cat(views)).split(B)
    metrics, total = {}, h_t.new_zeros((), dtype=torch.float32)

    if obj.contrastive and len(pairs) > 1:  # (a)
        scale = model.logit_scale.exp().clamp(max=100)
        z_t = model.forward_head(h_t, tok.without_video(), pre_logits=True)[pairs]
        z_v = model.forward_head(h_v, tok.without_text(), pre_logits=True)[pairs]
        z_f = model.forward_head(h_f, tok, pre_logits=True)[pairs]
        loss_vt, acc = info_nce(z_v, z_t, scale)
        loss_f = (info_nce(z_f, z_t, scale)[0] + info_nce(z_f, z_v, scale)[0]) / 2
        loss = (1 - obj.fused_anchor) * loss_vt + obj.fused_anchor * loss_f
        total = total + obj.contrastive * loss
        metrics.update(nce=loss.item(), nce_acc=acc.item(), nce_vt=loss_vt.item(), nce_fused=loss_f.item())

    if obj.words and len(pairs):  # (e)
        _, _, video_v = model.split(h_v, tok)
        logits = model.mlm_logits(masked_mean(video_v, tok.video_mask)[pairs]).float()  # (P, vocab)
        used = batch.text_mask[pairs] & (batch.ids[pairs] >= tokenizer.n_special)  # (P, L)
        bag = logits.new_zeros(logits.shape).scatter_(1, batch.ids[pairs], used.float())  # (P, vocab) 0/1
        weighted = bag if batch.word_weight is None else bag * batch.word_weight
        target = weighted / weighted.sum(1, keepdim=True).clamp(min=1e-6)
        loss = -(target * F.log_softmax(logits, dim=-1)).sum(1).mean()
        top = logits.topk(5, dim=1).indices
        total = total + obj.words * loss
        metrics.update(words=loss.item(), words_p5=bag.gather(1, top).mean().item())

    if use_masked:
        h_m = h_m[0]
        _, text_m, video_m = model.split(h_m, masked)
    if obj.mlm:  # (b), on items that kept their own video
        labels = torch.where(swap[:, None], torch.full_like(mlm_labels, -100), mlm_labels)
        chosen = labels != -100
        if chosen.any():
            logits = model.mlm_logits(text_m[chosen]).float()
            loss = F.cross_entropy(logits, labels[chosen])
            total = total + obj.mlm * loss
            metrics.update(mlm=loss.item(), mlm_acc=(logits.argmax(1) == labels[chosen]).float().mean().item())

    if obj.masked_clip:  # (c)
        chosen = clip_sel[source] & tok.video_mask[source]
        if chosen.sum() > 1:
            pred = F.normalize(model.clip_head(video_m[chosen]).float(), dim=-1)
            target = F.normalize(content[source][chosen].float(), dim=-1)
            logits = pred @ target.T / obj.clip_temperature
            index = torch.arange(len(pred), device=dev)
            loss = F.cross_entropy(logits, index)
            total = total + obj.masked_clip * loss
            metrics.update(clip_nce=loss.item(), clip_acc=(logits.argmax(1) == index).float().mean().item())

    if obj.alignment and len(pairs) > 1:  # (d)
        logit = model.forward_head(h_m, masked)[pairs].float()
        label = (~swap[pairs]).float()
        loss = F.binary_cross_entropy_with_logits(logit, label)
        total = total + obj.alignment * loss
        metrics.update(align=loss.item(), align_acc=((logit > 0).float() == label).float().mean().item())

    metrics["loss"] = total.item()
    return total, metrics
