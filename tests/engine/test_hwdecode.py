"""The NVDEC decode path: its choice, its per-file fallback to PyAV, its frame plan, and its equivalence with PyAV.

The equivalence test needs a CUDA device and PyNvVideoCodec (the ``gpu`` extra); elsewhere it is skipped with
that reason. Everything else runs on any machine, on files written with PyAV.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from tests.engine.files import index_image, read_index, write_frames, write_indexed
from videobert_engine import UnreadableVideo
from videobert_engine.config import ClipConfig
from videobert_engine.decode import sample_clips, to_square_rgb
from videobert_engine.errors import HardwareDecodeError
from videobert_engine.hwdecode import (
    NvdecSampler,
    clip_sampler,
    hardware_decoder_available,
    plan_frames,
    sample_clips_nvdec,
    square_rgb_batch,
)

SPEC = ClipConfig(n_clips=4, frames_per_clip=8, fps=6.0, size=48, timeout_s=30.0)
HARDWARE = hardware_decoder_available()
# NVDEC's colour conversion and torch's area filter against swscale's: the same frames, pixels this close
MEAN_ABS_TOLERANCE = 4.0  # of 255, per clip


def test_cpu_model_decodes_with_pyav():
    assert clip_sampler("cpu") is sample_clips


def test_cuda_model_decodes_on_nvdec_only_where_it_is_installed():
    chosen = clip_sampler("cuda")
    if HARDWARE:
        assert isinstance(chosen, NvdecSampler)
    else:
        assert chosen is sample_clips


@pytest.mark.skipif(HARDWARE, reason="this machine has the hardware decoder")
def test_hardware_path_says_why_it_cannot_run(tmp_path: Path):
    path = write_indexed(tmp_path / "a.mp4", seconds=3, fps=10)
    with pytest.raises(HardwareDecodeError, match="no hardware decoder"):
        sample_clips_nvdec(path, SPEC)


def test_fallback_returns_the_pyav_clips(tmp_path: Path):
    # a rotated file is left to PyAV on every machine; without the hardware decoder, every file is
    image = np.zeros((32, 64, 3), dtype=np.uint8)
    image[:, 32:] = 220
    rotated = write_frames(tmp_path / "rotated.mp4", [image] * 30, fps=12, rotation=90)
    plain = write_indexed(tmp_path / "plain.mp4", seconds=6, fps=10)
    sampler = NvdecSampler()
    assert (sampler(rotated, SPEC) == sample_clips(rotated, SPEC)).all()
    if not HARDWARE:
        assert (sampler(plain, SPEC) == sample_clips(plain, SPEC)).all()


def test_fallback_keeps_the_pyav_reason_for_a_damaged_file(tmp_path: Path):
    path = tmp_path / "notes.mp4"
    path.write_text("not a video\n" * 50)
    with pytest.raises(UnreadableVideo) as pyav:
        sample_clips(path, SPEC)
    with pytest.raises(UnreadableVideo) as chosen:
        NvdecSampler()(path, SPEC)
    assert str(chosen.value) == str(pyav.value)


PLANNED = [  # the frame plan must hold the frames sample_clips holds: long, B-frames, looped, variable rate
    ("long.mp4", dict(seconds=40, fps=10, gop=30)),
    ("bframes.mkv", dict(seconds=20, fps=10, gop=12)),
    ("short.mp4", dict(seconds=0.5, fps=10)),
]


@pytest.mark.parametrize(("name", "layout"), PLANNED, ids=[p[0] for p in PLANNED])
def test_frame_plan_holds_the_frames_pyav_holds(tmp_path: Path, name, layout):
    path = write_indexed(tmp_path / name, **layout)
    expected = [[read_index(f) for f in clip] for clip in sample_clips(path, SPEC)]
    assert plan_frames(path, SPEC).indices.tolist() == expected


def test_frame_plan_on_variable_frame_rate(tmp_path: Path):
    times = [0.0, 0.1, 0.15, 1.0, 1.05, 2.5, 2.6, 4.0, 4.2, 5.9]
    path = write_frames(
        tmp_path / "vfr.mkv", [index_image(i, (64, 48)) for i in range(10)], fps=10, times=times, options={"crf": "0"}
    )
    spec = ClipConfig(n_clips=2, frames_per_clip=4, fps=2.0, size=48)
    expected = [[read_index(f) for f in clip] for clip in sample_clips(path, spec)]
    assert plan_frames(path, spec).indices.tolist() == expected


def test_batch_scaling_is_close_to_swscale(tmp_path: Path):
    path = write_indexed(tmp_path / "a.mp4", seconds=1, fps=10, size=(160, 90))
    import av

    with av.open(str(path)) as container:
        frame = next(container.decode(video=0))
    rgb = torch.from_numpy(frame.to_ndarray(format="rgb24"))[None]  # (1, H, W, 3)
    ours = square_rgb_batch(rgb, 48, "crop")[0].numpy().astype(int)
    theirs = to_square_rgb(frame, 48, "crop").astype(int)
    assert ours.shape == theirs.shape == (48, 48, 3)
    assert np.abs(ours - theirs).mean() < MEAN_ABS_TOLERANCE


EQUIVALENT = [("h264_gop30.mp4", "libx264"), ("h264_bframes.mkv", "libx264"), ("hevc.mp4", "libx265")]


@pytest.mark.skipif(not HARDWARE, reason="needs a CUDA device and PyNvVideoCodec (pip install mediarec[gpu])")
@pytest.mark.parametrize(("name", "codec"), EQUIVALENT, ids=[e[0] for e in EQUIVALENT])
def test_nvdec_clips_match_pyav(tmp_path: Path, name, codec):
    frames = (index_image(i, (160, 120)) for i in range(400))
    options = {"g": "30", "bf": "2", "crf": "0", "preset": "ultrafast"} if codec == "libx264" else {}
    path = write_frames(tmp_path / name, frames, codec=codec, fps=10, options=options)
    gpu, cpu = sample_clips_nvdec(path, SPEC), sample_clips(path, SPEC)
    assert gpu.shape == cpu.shape and gpu.dtype == np.uint8
    assert [[read_index(f) for f in c] for c in gpu] == [[read_index(f) for f in c] for c in cpu]
    diff = np.abs(gpu.astype(int) - cpu.astype(int)).reshape(len(cpu), -1).mean(1)
    assert diff.max() < MEAN_ABS_TOLERANCE, diff
