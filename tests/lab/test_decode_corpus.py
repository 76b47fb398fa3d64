"""The decode benchmark's GOP-layout files are what their names say: one key frame, all intra, B-frames."""

from __future__ import annotations

from pathlib import Path

import av
import pytest
from av.video.frame import PictureType

from lab.benchmarks.decode_corpus import LAYOUTS, write_layout

BY_NAME = {layout[0]: layout for layout in LAYOUTS}


def picture_types(path: Path) -> list[str]:
    with av.open(str(path)) as container:
        return [PictureType(frame.pict_type).name for frame in container.decode(video=0)]


@pytest.mark.parametrize(
    ("name", "expect"),
    [
        ("h264_one_key_60s.mp4", "one key"),
        ("h264_one_key_60s.mkv", "one key"),
        ("vp9_one_key_30s.webm", "one key"),
        ("h264_intra_20s.mp4", "all key"),
        ("mjpeg_20s.avi", "all key"),
        ("h264_bframes_gop60_30s.mp4", "B-frames"),
        ("mpeg4_gop12_30s.avi", "B-frames"),
    ],
)
def test_layout_has_the_key_frames_its_name_says(tmp_path: Path, name, expect):
    _, codec, _, fps, _, options = BY_NAME[name]
    path = write_layout(tmp_path / name, codec, 3, fps, (160, 96), options)  # 3 s, small: the same encoder settings
    types = picture_types(path)
    assert len(types) == 3 * fps
    if expect == "one key":
        assert types.count("I") == 1 and types[0] == "I"
    elif expect == "all key":
        assert set(types) == {"I"}
    else:
        assert "B" in types
