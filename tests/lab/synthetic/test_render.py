"""Rendered videos decode, and their pixels show their attributes: the
declared colour dominates the saturated pixels, objects move the declared way,
lighting and noise change the picture as declared."""

from __future__ import annotations

import colorsys
from dataclasses import replace
from pathlib import Path

import av
import numpy as np
import pytest

from lab.synthetic import World, WorldConfig
from lab.synthetic.catalog import RGB, VideoSpec
from lab.synthetic.render import render_catalog, render_video

HUES = {name: colorsys.rgb_to_hsv(*(c / 255 for c in RGB[name]))[0] for name in
        ("red", "orange", "yellow", "green", "cyan", "blue", "purple", "pink")}  # fmt: skip


@pytest.fixture(scope="module")
def world() -> World:
    return World.generate(WorldConfig(n_videos=40, n_users=1, days=1, seed=21))


def decode(path: Path) -> tuple[list[np.ndarray], av.video.stream.VideoStream]:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(stream)]
        return frames, stream.codec_context.name


def saturated_mask(frame: np.ndarray) -> np.ndarray:
    rgb = frame.astype(np.float32) / 255
    high, low = rgb.max(-1), rgb.min(-1)
    return (high > 0.2) & ((high - low) / np.maximum(high, 1e-6) > 0.5)


def dominant_colour(frames: list[np.ndarray]) -> str:
    pixels = np.concatenate([f[saturated_mask(f)] for f in frames]).astype(np.float32) / 255
    high, low = pixels.max(-1), pixels.min(-1)
    r, g, b = pixels.T
    delta = np.maximum(high - low, 1e-6)
    hue = np.select([high == r, high == g], [((g - b) / delta) % 6, (b - r) / delta + 2], (r - g) / delta + 4) / 6
    names = list(HUES)
    distance = np.abs(hue[:, None] - np.array([HUES[n] for n in names])[None, :])
    nearest = np.minimum(distance, 1 - distance).argmin(1)
    return names[np.bincount(nearest, minlength=len(names)).argmax()]


def best_shift(a: np.ndarray, b: np.ndarray, reach: int = 12) -> tuple[int, int]:
    """The (dx, dy) roll of mask ``a`` that overlaps mask ``b`` best."""
    scores = {
        (dx, dy): np.sum(np.roll(a, (dy, dx), axis=(0, 1)) & b)
        for dx in range(-reach, reach + 1)
        for dy in range(-reach, reach + 1)
    }
    return max(scores, key=scores.get)


def scene(world: World, i: int, **attributes) -> VideoSpec:
    """A tiny, steady version of catalog video ``i`` with some attributes set."""
    base = world.videos[i]
    steady = {"zoom": "none", "pan": "none", "lighting": "steady", "noise": "clean", "rotation": "none"}
    return replace(
        base,
        attributes={**base.attributes, **steady, **attributes},
        size=(160, 120),
        duration_s=1.0,
        fps=10,
        codec="h264",
    )


def test_catalog_videos_decode_with_their_settings(world, tmp_path):
    """A handful of catalog videos as sampled (any size, codec and effects), shortened to 1 s."""
    specs = [replace(v, duration_s=1.0) for v in world.videos[:5]]
    specs.append(replace(next(v for v in world.videos if v.codec == "vp9"), duration_s=1.0))
    done = list(render_catalog(specs, tmp_path, seed=21, workers=2))
    assert [d.spec.index for d in done] == [s.index for s in specs]
    for item in done:
        frames, codec = decode(item.path)
        spec = item.spec
        assert codec == spec.codec
        assert item.path.suffix == (".webm" if spec.codec == "vp9" else ".mp4")
        assert len(frames) == round(spec.duration_s * spec.fps)
        assert frames[0].shape == (spec.size[1], spec.size[0], 3)
        brightest = frames[:3] if spec.attributes["lighting"] == "dimming" else frames[-3:]
        assert dominant_colour(brightest) == spec.attributes["color"], spec.attributes


@pytest.mark.parametrize("color", ["red", "yellow", "green", "blue", "purple", "pink"])
def test_declared_colour_dominates(world, tmp_path, color):
    spec = scene(world, 0, color=color, backdrop="grey", motion="still", speed="none")
    frames, _ = decode(render_video(spec, tmp_path / "c.mp4"))
    assert saturated_mask(frames[5]).mean() > 0.01
    assert dominant_colour(frames) == color


@pytest.mark.parametrize(("motion", "sign"), [("left", (-1, 0)), ("right", (1, 0)), ("up", (0, -1)), ("down", (0, 1))])
def test_objects_move_the_declared_way(world, tmp_path, motion, sign):
    spec = scene(world, 1, motion=motion, speed="fast", n_objects=1, count="one")
    frames, _ = decode(render_video(spec, tmp_path / "m.mp4"))
    shifts = np.array([best_shift(saturated_mask(frames[i]), saturated_mask(frames[i + 1])) for i in range(0, 8, 2)])
    dx, dy = np.median(shifts, axis=0)
    expected = 0.4 * 160 / 10  # fast: 0.4 widths per second, at 10 fps
    assert (dx, dy) == pytest.approx((sign[0] * expected, sign[1] * expected), abs=1.5)


def test_still_objects_stay(world, tmp_path):
    spec = scene(world, 2, motion="still", speed="none")
    frames, _ = decode(render_video(spec, tmp_path / "s.mp4"))
    assert best_shift(saturated_mask(frames[1]), saturated_mask(frames[8])) == (0, 0)


@pytest.mark.parametrize(("lighting", "direction"), [("brightening", 1), ("dimming", -1)])
def test_lighting_changes_brightness(world, tmp_path, lighting, direction):
    spec = scene(world, 3, lighting=lighting, backdrop="white")
    frames, _ = decode(render_video(spec, tmp_path / "l.mp4"))
    change = frames[-1].mean() - frames[0].mean()
    assert direction * change > 60


def test_noise_is_visible(world, tmp_path):
    clean = scene(world, 4, motion="still", speed="none", background="plain", backdrop="grey")
    noisy = replace(clean, attributes={**clean.attributes, "noise": "heavy"})
    roughness = []
    for spec, name in ((clean, "clean.mp4"), (noisy, "noisy.mp4")):
        frames, _ = decode(render_video(spec, tmp_path / name))
        background = frames[5][~saturated_mask(frames[5])].astype(np.float32)
        roughness.append(background.std())
    assert roughness[1] > roughness[0] + 5
