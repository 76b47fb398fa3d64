"""A small synthetic world for engine tests: one coloured shape moving over a plain background, and a caption
that says what is visible ("red circle moving left"). Videos are real files written with PyAV."""

from __future__ import annotations

import itertools
from pathlib import Path

import av
import numpy as np

COLOURS = {"red": (220, 30, 30), "green": (30, 200, 40), "blue": (40, 60, 230), "yellow": (230, 220, 30)}
SHAPES = ("circle", "square", "triangle")
MOTIONS = {"left": (-1, 0), "right": (1, 0), "up": (0, -1), "down": (0, 1)}
WORLD = list(itertools.product(COLOURS, SHAPES, MOTIONS))  # 48 distinct captions


def caption(colour: str, shape: str, motion: str) -> str:
    return f"a {colour} {shape} moving {motion}"


def draw(
    size: tuple[int, int],
    shape: str,
    colour: tuple[int, int, int],
    centre: tuple[float, float],
    radius: float,
    background: int,
) -> np.ndarray:
    w, h = size
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    dx, dy = x - centre[0], y - centre[1]
    if shape == "circle":
        inside = dx**2 + dy**2 <= radius**2
    elif shape == "square":
        inside = (np.abs(dx) <= radius * 0.85) & (np.abs(dy) <= radius * 0.85)
    else:  # triangle pointing up
        inside = (dy <= radius * 0.8) & (dy >= -radius) & (np.abs(dx) <= (dy + radius) * 0.6)
    image = np.full((h, w, 3), background, dtype=np.uint8)
    image[inside] = colour
    return image


def write_clip(
    path: Path, colour: str, shape: str, motion: str, rng: np.random.Generator, size=(96, 72), seconds=2.0, fps=12
) -> Path:
    w, h = size
    radius = rng.uniform(0.16, 0.22) * h
    speed = rng.uniform(0.35, 0.5) * w / seconds  # pixels per second
    vx, vy = MOTIONS[motion]
    cx = w / 2 - vx * speed * seconds / 2 + rng.uniform(-0.08, 0.08) * w
    cy = h / 2 - vy * speed * seconds / 2 * (h / w) + rng.uniform(-0.08, 0.08) * h
    background = int(rng.integers(20, 110))
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps, options={"preset": "ultrafast", "crf": "18"})
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        for i in range(int(seconds * fps)):
            t = i / fps
            centre = (cx + vx * speed * t, cy + vy * speed * t * (h / w))
            frame = av.VideoFrame.from_ndarray(
                draw(size, shape, COLOURS[colour], centre, radius, background), format="rgb24"
            )
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def make_pairs(directory: Path, n: int, seed: int, distinct: bool = False) -> list[dict]:
    """``n`` records {"path", "text", "attrs"}; ``distinct`` gives every record its own caption (n <= 48)."""
    rng = np.random.default_rng(seed)
    directory.mkdir(parents=True, exist_ok=True)
    if distinct:
        combos = [WORLD[i] for i in rng.permutation(len(WORLD))[:n]]
    else:
        combos = [WORLD[i] for i in rng.integers(0, len(WORLD), n)]
    records = []
    for i, (colour, shape, motion) in enumerate(combos):
        path = write_clip(directory / f"s{seed}_{i:04d}.mp4", colour, shape, motion, rng)
        records.append({"path": str(path), "text": caption(colour, shape, motion), "attrs": (colour, shape, motion)})
    return records
