"""Write the GOP-structure half of the decode benchmark corpus with PyAV.

    python -m lab.benchmarks.decode_corpus /work/media-corpus/gop

Real-world files alone rarely cover every key-frame layout, so these add the ones the decoder has to plan for:
a long GOP, all-intra, B-frames, a single key frame in a long file, VP9 and VP8 in WebM, MPEG-4 Part 2 in AVI,
AV1, MJPEG. The picture is textured and moving (noise blocks scrolling over a gradient), so the encoders
spend real bits. The benchmark itself is ``python -m videobert_engine bench --files ...``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import av
import numpy as np

ONE_KEY_X264 = {"g": "100000", "keyint_min": "100000", "sc_threshold": "0", "preset": "veryfast"}
X265_GOP120 = {"x265-params": "keyint=120:log-level=error", "preset": "veryfast"}
VP9_ONE_KEY = {"g": "100000", "deadline": "realtime", "cpu-used": "8"}
# name, codec, seconds, fps, size, encoder options (g: key-frame interval, bf: B-frames)
LAYOUTS = [
    ("h264_gop250_60s.mp4", "libx264", 60, 30, (640, 360), {"g": "250", "preset": "veryfast"}),
    ("h264_one_key_60s.mp4", "libx264", 60, 30, (640, 360), ONE_KEY_X264),
    ("h264_one_key_60s.mkv", "libx264", 60, 30, (640, 360), ONE_KEY_X264),
    ("h264_bframes_gop60_30s.mp4", "libx264", 30, 30, (854, 480), {"g": "60", "bf": "3", "preset": "medium"}),
    ("h264_intra_20s.mp4", "libx264", 20, 30, (640, 360), {"g": "1", "preset": "veryfast"}),
    ("h264_gop30_120s.mkv", "libx264", 120, 25, (480, 270), {"g": "30", "preset": "veryfast"}),
    ("hevc_gop120_30s.mp4", "libx265", 30, 30, (640, 360), X265_GOP120),
    ("vp9_gop240_40s.webm", "libvpx-vp9", 40, 30, (640, 360), {"g": "240", "deadline": "realtime", "cpu-used": "8"}),
    ("vp9_one_key_30s.webm", "libvpx-vp9", 30, 30, (640, 360), VP9_ONE_KEY),
    ("vp8_gop120_30s.webm", "libvpx", 30, 30, (640, 360), {"g": "120", "deadline": "realtime", "cpu-used": "8"}),
    ("mpeg4_gop12_30s.avi", "mpeg4", 30, 25, (640, 360), {"g": "12", "bf": "2"}),
    ("mpeg4_gop300_30s.avi", "mpeg4", 30, 25, (640, 360), {"g": "300"}),
    ("av1_gop150_20s.mkv", "libsvtav1", 20, 30, (640, 360), {"g": "150", "preset": "12"}),
    ("mjpeg_20s.avi", "mjpeg", 20, 25, (480, 270), {}),
]


def _frames(seconds: int, fps: int, size: tuple[int, int]):
    w, h = size
    rng = np.random.default_rng(0)
    blocks = rng.integers(0, 256, (-(-h // 8), -(-w // 8), 3), dtype=np.uint8).repeat(8, 0).repeat(8, 1)[:h, :w]
    ramp = np.linspace(0, 255, w, dtype=np.float32)[None, :, None]
    for i in range(seconds * fps):
        shade = (ramp + 3 * i) % 256
        image = (0.6 * np.roll(blocks, (i, 2 * i), axis=(0, 1)) + 0.4 * shade).astype(np.uint8)
        yield image


def write_layout(path: Path, codec: str, seconds: int, fps: int, size: tuple[int, int], options: dict) -> Path:
    pix_fmt = "yuvj420p" if codec == "mjpeg" else "yuv420p"
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=fps, options=options)
        stream.width, stream.height, stream.pix_fmt = *size, pix_fmt
        if "bf" in options:
            stream.codec_context.max_b_frames = int(options["bf"])
        if "g" in options:
            stream.codec_context.gop_size = int(options["g"])
        for image in _frames(seconds, fps, size):
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lab.benchmarks.decode_corpus", description=__doc__)
    parser.add_argument("out", type=Path, help="folder to write the files into (outside the repository)")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    for name, codec, seconds, fps, size, options in LAYOUTS:
        path = args.out / name
        if not path.exists():
            write_layout(path, codec, seconds, fps, size, options)
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
