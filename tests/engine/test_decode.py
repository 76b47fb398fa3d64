"""Clip sampling on real files written with PyAV: codecs, audio, short/long/sparse, rotation, VFR, damage."""

from __future__ import annotations

import os
from pathlib import Path

import av
import numpy as np
import pytest

from tests.engine.files import (
    index_image,
    read_index,
    reference_clips,
    smash_header,
    truncate,
    write_frames,
    write_indexed,
)
from tests.videos import write_audio_only, write_video
from videobert_engine import EngineError, UnreadableVideo
from videobert_engine.config import ClipConfig
from videobert_engine.decode import _Reader, clip_times, probe_video, sample_clips

SPEC = ClipConfig(n_clips=4, frames_per_clip=8, fps=6.0, size=48, timeout_s=30.0)


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def check_clips(clips: np.ndarray, spec: ClipConfig = SPEC) -> None:
    assert clips.shape == (spec.n_clips, spec.frames_per_clip, spec.size, spec.size, 3)
    assert clips.dtype == np.uint8


CODECS = [
    ("h264.mp4", "libx264", "yuv420p", False),
    ("h264_audio.mp4", "libx264", "yuv420p", True),
    ("vp9.webm", "libvpx-vp9", "yuv420p", False),
    ("mpeg4.avi", "mpeg4", "yuv420p", False),
    ("av1.mkv", "libsvtav1", "yuv420p", False),
    ("odd.mp4", "libx264", "yuv444p", False),
]


@pytest.mark.parametrize(("name", "codec", "pix_fmt", "audio"), CODECS, ids=[c[0] for c in CODECS])
def test_codecs(tmp_path: Path, name, codec, pix_fmt, audio):
    assert codec in av.codecs_available
    size = (75, 53) if name.startswith("odd") else (64, 48)
    path = write_video(
        tmp_path / name, codec=codec, frames=24, fps=12, size=size, color=(200, 40, 40), audio=audio, pix_fmt=pix_fmt
    )
    clips = sample_clips(path, SPEC)
    check_clips(clips)
    # the background colour survives decoding, scaling and cropping
    corner = clips[:, :, -4:, -4:].reshape(-1, 3).mean(0)
    assert corner[0] > 150 and corner[1] < 90 and corner[2] < 90
    info = probe_video(path)
    assert (
        (info.width, info.height) == size and info.has_audio == audio and info.duration_s == pytest.approx(2.0, abs=0.2)
    )


def test_frames_are_taken_at_the_planned_times(tmp_path: Path):
    path = write_indexed(tmp_path / "indexed.mp4", seconds=20, fps=10, gop=10)
    clips = sample_clips(path, SPEC)
    times = clip_times(20.0, SPEC)
    got = np.array([[read_index(f) for f in clip] for clip in clips])
    expected = np.floor(times * 10 + 1e-6).astype(int)
    assert np.abs(got - expected).max() <= 1, (got, expected)
    assert (np.diff(got, axis=1) >= 0).all()  # time runs forward inside every clip
    assert got[0, 0] < got[1, 0] < got[2, 0] < got[3, 0]


def test_sparse_ten_minute_file_is_read_by_seeking(tmp_path: Path):
    # 600 s at 1 fps, a key frame every 30 s: reading it through would decode 600 frames
    path = write_indexed(tmp_path / "sparse.mkv", seconds=600, fps=1, size=(32, 32), gop=30)
    with _Reader(path, 30.0) as reader:
        clips = reader.sample(SPEC)
        decoded = reader.decoded
    check_clips(clips)
    assert decoded < 4 * 35, decoded
    starts = clip_times(600.0, SPEC)[:, 0]
    got = [read_index(clip[0], aspect=1.0) for clip in clips]
    assert np.abs(np.array(got) - np.floor(starts)).max() <= 1


def test_one_frame_file_is_repeated(tmp_path: Path):
    path = write_frames(tmp_path / "one.mp4", [index_image(37, (64, 48))], fps=10, options={"crf": "0"})
    clips = sample_clips(path, SPEC)
    check_clips(clips)
    assert {read_index(f) for clip in clips for f in clip} == {37}


def test_short_video_is_looped(tmp_path: Path):
    # 0.5 s at 10 fps is shorter than one clip (8 frames at 6 fps = 1.33 s): times wrap around
    path = write_indexed(tmp_path / "short.mp4", seconds=0.5, fps=10)
    clips = sample_clips(path, SPEC)
    got = [read_index(f) for f in clips[0]]
    assert set(got) <= set(range(5)) and got[0] == 0 and 0 in got[3:]  # wrapped back to the first frame


def test_rotation_metadata_is_applied(tmp_path: Path):
    image = np.zeros((32, 64, 3), dtype=np.uint8)
    image[:, :32] = (220, 30, 30)  # left half red
    image[:, 32:] = (30, 30, 220)  # right half blue
    path = write_frames(tmp_path / "rotated.mp4", [image] * 12, fps=12, rotation=90)
    assert probe_video(path).rotation == 90
    frame = sample_clips(path, SPEC)[0, 0].astype(int)
    # turned 90° counter-clockwise: the right half is now on top, the left half at the bottom
    assert frame[:8, :, 2].mean() > 150 and frame[:8, :, 0].mean() < 90
    assert frame[-8:, :, 0].mean() > 150 and frame[-8:, :, 2].mean() < 90


def test_grayscale(tmp_path: Path):
    images = [np.full((48, 64, 3), 40 + 10 * i, dtype=np.uint8) for i in range(12)]
    path = write_frames(tmp_path / "gray.mkv", images, codec="ffv1", fps=12, pix_fmt="gray")
    clips = sample_clips(path, SPEC)
    check_clips(clips)
    assert (clips[..., 0] == clips[..., 1]).all() and (clips[..., 1] == clips[..., 2]).all()


def test_variable_frame_rate(tmp_path: Path):
    # frames at irregular times: each target takes the last frame shown at or before it
    times = [0.0, 0.1, 0.15, 1.0, 1.05, 2.5, 2.6, 4.0, 4.2, 5.9]
    images = [index_image(i, (64, 48)) for i in range(len(times))]
    path = write_frames(tmp_path / "vfr.mkv", images, fps=10, times=times, options={"crf": "0"})
    spec = ClipConfig(n_clips=2, frames_per_clip=4, fps=2.0, size=48)
    clips = sample_clips(path, spec)
    duration = probe_video(path).duration_s
    for clip, targets in zip(clips, clip_times(duration, spec), strict=True):
        expected = [max(i for i, t in enumerate(times) if t <= target + 1e-6) for target in targets]
        assert [read_index(f) for f in clip] == expected


DAMAGED = [
    "text.mp4",
    "random.mp4",
    "empty.mp4",
    "missing.mp4",
    "header.mp4",
    "truncated.mp4",
    "truncated.mkv",
    "audio_only.mp4",
]


@pytest.fixture
def damaged(tmp_path: Path):
    good_mp4 = write_indexed(tmp_path / "good.mp4", seconds=6, fps=10)
    good_mkv = write_indexed(tmp_path / "good.mkv", seconds=20, fps=10)
    files = {
        "text.mp4": tmp_path / "text.mp4",
        "random.mp4": tmp_path / "random.mp4",
        "empty.mp4": tmp_path / "empty.mp4",
        "missing.mp4": tmp_path / "missing.mp4",
        "header.mp4": smash_header(good_mp4, tmp_path / "header.mp4"),
        "truncated.mp4": truncate(good_mp4, tmp_path / "truncated.mp4", 0.5),
        "truncated.mkv": truncate(good_mkv, tmp_path / "truncated.mkv", 0.4),
        "audio_only.mp4": write_audio_only(tmp_path / "audio_only.mp4"),
    }
    files["text.mp4"].write_text("title: not a video\n" * 20)
    files["random.mp4"].write_bytes(np.random.default_rng(1).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    files["empty.mp4"].write_bytes(b"")
    return files


@pytest.mark.parametrize("name", DAMAGED)
def test_damaged_input_raises_unreadable_video(damaged, name):
    before = open_fds()
    with pytest.raises(UnreadableVideo) as info:
        sample_clips(damaged[name], SPEC)
    assert isinstance(info.value, EngineError)
    assert name in str(info.value)  # the message names the file
    assert open_fds() == before  # the container was closed


def test_reason_says_what_is_wrong(damaged):
    reasons = {}
    for name in ("empty.mp4", "missing.mp4", "audio_only.mp4", "truncated.mkv"):
        with pytest.raises(UnreadableVideo) as info:
            sample_clips(damaged[name], SPEC)
        reasons[name] = str(info.value)
    assert "empty" in reasons["empty.mp4"]
    assert "no such file" in reasons["missing.mp4"]
    assert "no video stream" in reasons["audio_only.mp4"]
    assert "truncated" in reasons["truncated.mkv"]


def test_deadline_stops_decoding(tmp_path: Path):
    path = write_indexed(tmp_path / "slow.mp4", seconds=4, fps=10)
    with pytest.raises(UnreadableVideo, match="longer than"):
        sample_clips(path, ClipConfig(n_clips=4, frames_per_clip=8, fps=6.0, size=48, timeout_s=0.0))


def test_good_file_leaves_no_open_descriptor(tmp_path: Path):
    path = write_indexed(tmp_path / "good.mp4", seconds=3, fps=10)
    before = open_fds()
    for _ in range(3):
        sample_clips(path, SPEC)
        probe_video(path)
    assert open_fds() == before


@pytest.mark.parametrize("name", ["one_key.mp4", "one_key.mkv", "one_key.ts"])
def test_one_key_frame_file_is_decoded_once(tmp_path: Path, name):
    # seeking cannot skip anything here: the only key frame is the first frame
    path = write_indexed(tmp_path / name, seconds=60, fps=10, size=(32, 32), gop=100_000)
    with _Reader(path, 30.0) as reader:
        clips = reader.sample(SPEC)
        decoded = reader.decoded
    assert decoded <= 600, decoded
    assert (clips == reference_clips(path, SPEC)).all()


LAYOUTS = [  # name, codec, key-frame interval, B-frames: the containers, index kinds and droppable frames the planner meets
    ("gop12_bframes.mp4", "libx264", 12, 3),
    ("gop12_bframes.mkv", "libx264", 12, 3),
    ("one_key_bframes.mp4", "libx264", 100_000, 3),
    ("gop25.ts", "libx264", 25, 0),  # no index: decoded through
    ("gop7_bframes.avi", "libx264", 7, 2),
    ("mpeg4_bframes.avi", "mpeg4", 30, 2),
    ("mpeg2_bframes.mpg", "mpeg2video", 15, 2),
    ("vp9.webm", "libvpx-vp9", 60, 0),
]


@pytest.mark.parametrize(("name", "codec", "gop", "bframes"), LAYOUTS, ids=[c[0] for c in LAYOUTS])
def test_clips_are_the_frames_decoding_everything_holds(tmp_path: Path, name, codec, gop, bframes):
    frames = (index_image(i, (96, 72)) for i in range(600))
    if codec == "libx264":
        options = {"g": str(gop), "bf": str(bframes), "crf": "0", "preset": "ultrafast"}
    else:
        options = {"g": str(gop), **({"bf": str(bframes)} if bframes else {}), "qscale": "2"}
    path = write_frames(tmp_path / name, frames, codec=codec, fps=10, options=options)
    with _Reader(path, 30.0) as reader:
        clips = reader.sample(SPEC)
        decoded = reader.decoded
    indexed = path.suffix in {".mp4", ".mkv", ".avi", ".webm"}
    if indexed and gop < 100:  # 4 clips of 1.3 s in 60 s: seeking skipped most of the file
        assert decoded < 300, decoded
    else:  # nothing to skip to, or no index to find it by: one pass, never more
        assert decoded <= 600, decoded
    assert (clips == reference_clips(path, SPEC)).all()


def test_frames_no_target_holds_are_not_decoded_when_droppable(tmp_path: Path):
    # MPEG-2 in a program stream: no index, so one pass; two of every three frames are B-frames nothing refers to
    frames = (index_image(i, (96, 72)) for i in range(600))
    path = write_frames(
        tmp_path / "bframes.mpg", frames, codec="mpeg2video", fps=10, options={"bf": "2", "qscale": "2"}
    )
    with _Reader(path, 30.0) as reader:
        clips = reader.sample(SPEC)
        decoded = reader.decoded
    assert decoded < 300, decoded  # the B-frames between the 32 targets were dropped unseen
    assert (clips == reference_clips(path, SPEC)).all()
