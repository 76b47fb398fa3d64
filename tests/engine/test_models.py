"""Shape / NaN tests for every module and preset, the C3D parameter count, masking, fusion, objectives."""

from __future__ import annotations

import pytest
import torch

from videobert_engine.c3d import C3D, normalize_clips
from videobert_engine.config import C3DConfig, VideoBertConfig, preset
from videobert_engine.joint import Fusion, VideoBert
from videobert_engine.losses import Batch, Objectives, compute_losses
from videobert_engine.text import TextTower, WordPiece

TEXTS = ["a red circle moving left", "a blue square moving up", "green triangle . tags: shapes, motion", ""]


@pytest.fixture(scope="module")
def tokenizer() -> WordPiece:
    return WordPiece.train([t for t in TEXTS if t] * 4, vocab_size=200)


def build(name: str, tokenizer: WordPiece, **overrides) -> VideoBert:
    cfg = preset(name, **overrides)
    if cfg.text.vocab == "corpus":
        cfg.text.vocab_size = tokenizer.vocab_size
    torch.manual_seed(0)
    return VideoBert(cfg).eval()


def inputs(cfg: VideoBertConfig, tokenizer: WordPiece, texts=TEXTS, has_video=(True, True, False, True)):
    c = cfg.clips
    has_video = torch.tensor(has_video)
    gen = torch.Generator().manual_seed(0)
    clips = torch.randint(
        0,
        256,
        (int(has_video.sum()), c.n_clips, c.frames_per_clip, c.size, c.size, 3),
        generator=gen,
        dtype=torch.uint8,
    )
    ids, mask = tokenizer.encode(list(texts), cfg.text.max_len)
    return clips, has_video, ids, mask


def test_c3d_parameter_count_matches_tran_et_al():
    with torch.device("meta"):
        backbone = C3D(C3DConfig())  # conv1a..conv5b + fc6 + fc7
        reference = C3D(C3DConfig(num_classes=487))  # + the Sports-1M fc8
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    assert count(backbone) == 77_995_776  # "about 78 M"
    assert count(reference) == 77_995_776 + 4096 * 487 + 487
    assert backbone.feature_shape == (512, 1, 4, 4)
    convs = [m for m in backbone.features if isinstance(m, torch.nn.Conv3d)]
    assert [c.out_channels for c in convs] == [64, 128, 256, 256, 512, 512, 512, 512]
    assert all(c.kernel_size == (3, 3, 3) and c.padding == (1, 1, 1) for c in convs)
    pools = [m for m in backbone.features if isinstance(m, torch.nn.MaxPool3d)]
    assert [p.kernel_size for p in pools] == [(1, 2, 2)] + [(2, 2, 2)] * 4
    assert pools[-1].padding == (0, 1, 1)
    assert backbone.fc6.in_features == 8192 and backbone.fc7.out_features == 4096


@pytest.mark.parametrize("name", ["tiny", "small", pytest.param("c3d", marks=pytest.mark.slow)])
def test_c3d_shapes(name):
    cfg = preset(name).video
    torch.manual_seed(0)
    model = C3D(C3DConfig(**{**cfg.__dict__, "num_classes": 10})).eval()
    x = normalize_clips(torch.randint(0, 256, (2, cfg.frames, cfg.size, cfg.size, 3), dtype=torch.uint8))
    assert x.shape == (2, 3, cfg.frames, cfg.size, cfg.size)
    with torch.no_grad():
        feats = model.forward_features(x)
        pre = model.forward_head(feats, pre_logits=True)
        logits = model.forward_head(feats)
    pyramid = (sum(cfg.widths[i] for i in (0, 1, 3, 5, 7)),)  # every stage's global max
    assert feats.shape[1:] == (pyramid if cfg.pool == "pyramid" else model.feature_shape)
    assert pre.shape == (2, cfg.fc_dim) and logits.shape == (2, 10)
    assert torch.isfinite(logits).all() and pre.abs().sum() > 0


def test_c3d_pyramid_reads_the_first_stage():
    """pool="pyramid": the first entries are pool1's global max, so the head sees colour after one conv."""
    cfg = C3DConfig(widths=(4, 8, 8, 8, 8, 8, 8, 8), fc_dim=16, batch_norm=True, pool="pyramid", frames=8, size=32)
    torch.manual_seed(0)
    model = C3D(cfg).eval()
    x = normalize_clips(torch.randint(0, 256, (2, 8, 32, 32, 3), dtype=torch.uint8))
    with torch.no_grad():
        feats = model.forward_features(x)
        first = model.features[:4](x)  # conv1a, bn, relu, pool1
    assert feats.shape == (2, 4 + 8 + 8 + 8 + 8)
    assert torch.equal(feats[:, :4], first.amax(dim=(2, 3, 4)))


def test_c3d_frame_diff_sees_what_moves():
    """frame_diff=True: conv1a's last three input channels read frame differences, zero for a still clip."""
    cfg = C3DConfig(widths=(4, 8, 8, 8, 8, 8, 8, 8), fc_dim=16, batch_norm=True, pool="pyramid", frame_diff=True,
                    frames=8, size=32)  # fmt: skip
    torch.manual_seed(0)
    model = C3D(cfg).eval()
    assert model.features[0].in_channels == 6
    frame = torch.randint(0, 256, (1, 1, 32, 32, 3), dtype=torch.uint8)
    still = normalize_clips(frame.expand(1, 8, 32, 32, 3))
    moving = normalize_clips(torch.cat([frame.roll(t, dims=3) for t in range(8)], dim=1))
    with torch.no_grad():
        before = [model.forward_features(x) for x in (still, moving)]
        model.features[0].weight[:, 3:] = 0  # blind the difference channels
        after = [model.forward_features(x) for x in (still, moving)]
    assert torch.equal(before[0], after[0])  # a still clip's differences are zero: nothing changes
    assert not torch.allclose(before[1], after[1])  # a moving clip's are not


@pytest.mark.parametrize("name", ["tiny", "small"])
def test_text_tower_shapes(name, tokenizer):
    cfg = preset(name).text
    cfg.vocab_size = tokenizer.vocab_size
    tower = TextTower(cfg).eval()
    ids, mask = tokenizer.encode(TEXTS, cfg.max_len)
    with torch.no_grad():
        states = tower.forward_features(ids, mask)
        pooled = tower.forward_head(states, mask)
    assert states.shape == (len(TEXTS), ids.shape[1], cfg.d_model) and pooled.shape == (len(TEXTS), cfg.d_model)
    assert torch.isfinite(states).all()
    assert pooled[3].abs().sum() == 0  # the empty text has no tokens


@pytest.mark.parametrize("name", ["tiny", "small", pytest.param("c3d", marks=pytest.mark.slow)])
def test_joint_model_shapes_and_norms(name, tokenizer):
    overrides = {"clips__n_clips": 1} if name == "c3d" else {}  # one 16x112x112 clip keeps the full C3D cheap on CPU
    model = build(name, tokenizer, **overrides)
    clips, has_video, ids, mask = inputs(model.config, tokenizer)
    with torch.inference_mode():
        tok = model.tokens(clips, has_video, ids, mask)
        h = model.forward_features(tok)
        fused = model.forward_head(h, tok, pre_logits=True)
        align = model.forward_head(h, tok)
    B, L, N = len(TEXTS), ids.shape[1], model.config.clips.n_clips
    assert h.shape == (B, 1 + L + 1 + N, model.config.joint.d_model)
    assert fused.shape == (B, model.config.embed_dim) and fused.dtype == torch.float32
    assert align.shape == (B,)
    assert torch.isfinite(h).all() and torch.isfinite(fused).all()
    assert torch.allclose(fused.norm(dim=1), torch.ones(B), atol=1e-5)


def test_missing_modality_is_masked(tokenizer):
    model = build("tiny", tokenizer)
    clips, has_video, ids, mask = inputs(model.config, tokenizer)
    with torch.inference_mode():
        fused = model.embed(clips, has_video, ids, mask)
        # the text-only row (2) does not depend on other rows' videos, nor on how many clip slots there are
        text_only = model.embed(None, torch.zeros(4, dtype=torch.bool), ids, mask)
        other_clips = model.embed(torch.zeros_like(clips), has_video, ids, mask)
        # neither modality: an all-zero row
        nothing = model.embed(None, torch.zeros(1, dtype=torch.bool), *tokenizer.encode([""], 32))
    assert torch.allclose(fused[2], text_only[2], atol=1e-5)
    assert torch.allclose(fused[2], other_clips[2], atol=1e-5)
    assert not torch.allclose(fused[0], other_clips[0], atol=1e-3)  # rows with a video do see it
    assert nothing.abs().sum() == 0


def test_fusion_is_per_dimension_weighted_sum():
    fusion = Fusion(4)
    with torch.no_grad():
        fusion.alpha.copy_(torch.tensor([1.0, 2.0, 0.0, -1.0]))
        fusion.beta.copy_(torch.tensor([0.5, 0.0, 1.0, 1.0]))
    v, t = torch.ones(1, 4), torch.full((1, 4), 2.0)
    assert fusion(v, t).tolist() == [[2.0, 2.0, 2.0, 1.0]]


def test_fusion_module_is_passed_in(tokenizer):
    cfg = preset("tiny", text__vocab_size=tokenizer.vocab_size)
    text_only = Fusion(cfg.joint.d_model)
    with torch.no_grad():
        text_only.alpha.zero_()  # ignore the pooled video
    model = VideoBert(cfg, fusion=text_only).eval()
    clips, has_video, ids, mask = inputs(cfg, tokenizer)
    with torch.inference_mode():
        tok = model.tokens(clips, has_video, ids, mask)
        h = model.forward_features(tok)
        fused = model.forward_head(h, tok, pre_logits=True)
        _, text_states, _ = model.split(h, tok)
    pooled_text = (text_states * mask[..., None]).sum(1) / mask.sum(1, keepdim=True).clamp(min=1)
    expected = torch.nn.functional.normalize(model.proj(text_only.beta * pooled_text), dim=-1)
    assert torch.allclose(fused[:3], expected[:3], atol=1e-5)


def train_batch(model: VideoBert, tokenizer: WordPiece) -> Batch:
    c = model.config.clips
    texts = [
        "a red circle moving left",
        "a blue square moving up",
        "a green triangle moving down",
        "yellow square right",
        "text only item",
    ]
    has_video = torch.tensor([True, True, True, True, False])
    clips = torch.randint(0, 256, (4, 2, c.frames_per_clip, c.size, c.size, 3), dtype=torch.uint8)
    ids, mask = tokenizer.encode(texts, model.config.text.max_len)
    return Batch(clips, torch.tensor([[0, 2], [1, 3], [0, 1], [2, 3]]), has_video, ids, mask)


EVERY_OBJECTIVE = dict(mlm=0.25, masked_clip=0.25, alignment=0.1, words=1.0, text_mask_prob=0.5, clip_mask_prob=0.5)


def test_objectives_are_finite_switchable_and_logged(tokenizer):
    model = build("tiny", tokenizer).train()
    batch = train_batch(model, tokenizer)
    loss, metrics = compute_losses(
        model, batch, Objectives(**EVERY_OBJECTIVE), tokenizer, torch.Generator().manual_seed(0)
    )
    assert torch.isfinite(loss) and loss.requires_grad
    keys = ("nce", "nce_acc", "mlm", "mlm_acc", "clip_nce", "clip_acc", "align", "align_acc", "words", "loss")
    for key in keys:
        assert key in metrics, key
    loss.backward()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)
    assert model.video.fc6.weight.grad.abs().sum() > 0 and model.text.tok_emb.weight.grad.abs().sum() > 0

    switches = (("contrastive", "nce"), ("mlm", "mlm"), ("masked_clip", "clip_nce"), ("alignment", "align"),
                ("words", "words"))  # fmt: skip
    for off, key in switches:
        _, metrics = compute_losses(
            model,
            batch,
            Objectives(**{**EVERY_OBJECTIVE, off: 0.0}),
            tokenizer,
            torch.Generator().manual_seed(0),
        )
        assert key not in metrics and "loss" in metrics


def test_weights_scale_the_total(tokenizer):
    model = build("tiny", tokenizer).train()
    batch = train_batch(model, tokenizer)
    only = dict(contrastive=0.0, mlm=0.0, masked_clip=0.0, alignment=0.0, words=0.0, text_mask_prob=0.5,
                clip_mask_prob=0.5)  # fmt: skip
    one, m1 = compute_losses(
        model, batch, Objectives(**{**only, "alignment": 1.0}), tokenizer, torch.Generator().manual_seed(0)
    )
    two, m2 = compute_losses(
        model, batch, Objectives(**{**only, "alignment": 2.0}), tokenizer, torch.Generator().manual_seed(0)
    )
    assert one.item() == pytest.approx(m1["align"]) and two.item() == pytest.approx(2 * m2["align"])


@pytest.mark.slow
def test_mixed_precision_path(tokenizer):
    """The CUDA path (bf16 autocast, channels_last_3d video tower), exercised with CPU autocast."""
    model = build("tiny", tokenizer).train()
    model.video.to(memory_format=torch.channels_last_3d)
    batch = train_batch(model, tokenizer)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss, metrics = compute_losses(
            model,
            batch,
            Objectives(**EVERY_OBJECTIVE),
            tokenizer,
            torch.Generator().manual_seed(0),
        )
    loss.backward()
    assert torch.isfinite(loss) and {"nce", "mlm", "clip_nce", "align", "words"} <= metrics.keys()
    clips, has_video, ids, mask = inputs(model.config, tokenizer)
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
        fused = model.eval().embed(clips, has_video, ids, mask)
    assert fused.dtype == torch.float32 and torch.allclose(fused.norm(dim=1), torch.ones(4), atol=1e-4)


def test_preset_overrides():
    cfg = preset("tiny", embed_dim=64, text__n_layer=1, clips__n_clips=2, clips__size=32)
    assert (cfg.embed_dim, cfg.text.n_layer, cfg.clips.n_clips) == (64, 1, 2)
    assert cfg.video.size == 32  # the tower input follows the clip shape
    assert VideoBertConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ValueError, match="unknown config field"):
        preset("tiny", text__nope=1)
    with pytest.raises(ValueError, match="unknown preset"):
        preset("huge")
