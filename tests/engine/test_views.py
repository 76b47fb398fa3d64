"""The object view: the glimpse follows a small object and shows it large; the tower reads both views."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tests.engine.captioned import World
from videobert_engine.c3d import C3D, normalize_clips
from videobert_engine.config import C3DConfig, preset
from videobert_engine.embed import Embedder
from videobert_engine.train import TrainConfig, train
from videobert_engine.views import object_boxes, object_motion, object_view

GREY, RED = (120, 120, 120), (230, 30, 30)


def moving_disc_clip(frames=8, size=96, radius=5, start=(30, 20), step=(0, 6)) -> torch.Tensor:
    """uint8 (frames, size, size, 3): a red disc of ``radius`` px on grey, moving ``step`` px a frame."""
    ys, xs = np.mgrid[0:size, 0:size]
    clip = np.empty((frames, size, size, 3), dtype=np.uint8)
    for t in range(frames):
        cy, cx = start[0] + step[0] * t, start[1] + step[1] * t
        disc = (ys - cy) ** 2 + (xs - cx) ** 2 <= radius**2
        clip[t] = np.where(disc[..., None], RED, GREY)
    return torch.from_numpy(clip)


def test_the_glimpse_follows_the_object_and_shows_it_large():
    clip = moving_disc_clip()
    x = normalize_clips(clip[None])  # (1, 3, 8, 96, 96)
    centre, side = object_boxes(x, scale=2)
    truth = torch.tensor([[30.0, 20.0 + 6 * t] for t in range(8)])
    assert (centre[0] - truth).abs().max() <= 2.0  # pixels of the 96 px frame
    assert 11 <= side[0] <= 24  # the disc is 11 px across; the square is 1.5 times its extent
    glimpse = object_view(x, 48)  # (1, 3, 8, 48, 48)
    red = glimpse[0, 0] > glimpse[0, 1] + 1.0  # normalized red well above green: the disc's pixels
    share = red.float().mean(dim=(1, 2))  # per frame
    # in the 48 px frame view the disc is 1 % of the picture; in the glimpse about a third
    assert (share > 0.2).all() and (share < 0.6).all()
    cy, cx = red.nonzero()[:, 1].float().mean(), red.nonzero()[:, 2].float().mean()
    assert abs(cy - 23.5) < 3 and abs(cx - 23.5) < 3  # centred


def test_object_view_tower_reads_both_views():
    cfg = preset("tiny", clips__size=96, video__object_view=True)
    assert (cfg.clips.size, cfg.video.size) == (96, 48)
    torch.manual_seed(0)
    tower = C3D(cfg.video).eval()
    plain = C3D(C3DConfig(**{**cfg.video.__dict__, "object_view": False})).eval()
    assert tower.fc6.in_features == 2 * plain.fc6.in_features
    x = normalize_clips(torch.stack([moving_disc_clip(), moving_disc_clip(start=(60, 70), step=(0, -6))]))
    with torch.no_grad():
        features = tower.forward_features(x)
        pre = tower.forward_head(features, pre_logits=True)
    half = plain.fc6.in_features
    assert features.shape == (2, 2 * half) and pre.shape == (2, cfg.video.fc_dim)
    assert torch.isfinite(pre).all()
    # the two clips differ only in where the disc is and where it goes: their glimpses (second half) are
    # nearly the same, closer than their frame views (first half)
    frame_gap = (features[0, :half] - features[1, :half]).abs().mean()
    glimpse_gap = (features[0, half:] - features[1, half:]).abs().mean()
    assert glimpse_gap < frame_gap


def test_object_motion_reads_direction_and_speed_from_the_track():
    right = moving_disc_clip(size=48, radius=3, start=(15, 10), step=(0, 3))
    down = moving_disc_clip(size=48, radius=3, start=(10, 25), step=(3, 0))
    still = moving_disc_clip(size=48, radius=3, start=(20, 20), step=(0, 0))
    centre, _ = object_boxes(normalize_clips(torch.stack([right, down, still])))
    motion = object_motion(centre, 48)  # (3, 4): down, right, length, spread
    step = 3 / 48 * 10  # 3 px a frame in a 48 px frame, in tenths of the frame height
    expected = torch.tensor([[0, step, step, 0], [step, 0, step, 0], [0, 0, 0, 0]])
    assert torch.allclose(motion, expected, atol=0.05)
    cfg = preset("tiny", video__object_motion=True).video
    tower = C3D(cfg).eval()
    plain = C3D(C3DConfig(**{**cfg.__dict__, "object_motion": False}))
    assert tower.fc6.in_features == plain.fc6.in_features + 4
    with torch.no_grad():
        features = tower.forward_features(normalize_clips(torch.stack([right, down])))
    assert torch.allclose(features[:, -4:], motion[:2])


@pytest.mark.slow
def test_an_object_view_model_trains_embeds_and_reloads(world, tmp_path):
    """From files to vectors: clips decoded at 96 px, the tower at 48, the checkpoint rebuilds the same model."""
    out = tmp_path / "object-view.pt"
    config = TrainConfig(preset="tiny", overrides={"clips__size": 96, "video__object_view": True}, steps=3,
                         batch_size=8, out_path=str(out), num_workers=0, progress=False)  # fmt: skip
    train(World.records(world.train[:16]), config)
    emb = Embedder.from_checkpoint(out, device="cpu")
    assert (emb.model.config.clips.size, emb.model.config.video.size) == (96, 48)
    assert emb.model.config.video.object_view
    records = [{"path": r["path"], "text": ""} for r in world.held_out[:3]]
    vecs, errors = emb.embed_videos(records, num_workers=0)
    assert not errors and vecs.shape == (3, emb.embedding_dim)
    assert np.allclose(np.linalg.norm(vecs, axis=1), 1, atol=1e-5)
    again, _ = Embedder.from_checkpoint(out, device="cpu").embed_videos(records, num_workers=0)
    assert np.allclose(vecs, again, atol=1e-6)
