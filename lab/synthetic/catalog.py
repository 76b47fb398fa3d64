"""The synthetic catalog: what each video shows (its ground-truth attributes),
which channel it belongs to, when it was uploaded, and the text a person would
write about it.

    channel profile --sample--> attributes --+--> text (title, description, tags)
                                             +--> render spec (size, fps, codec, duration)
                                             +--> feature codes (for tastes and stand-in embeddings)

Channels ("topics") favour some values of some factors, so videos of a channel
look alike and real content clusters exist. The text is generated from the
attributes with varied templates, synonyms and omissions; it only names what
the renderer draws.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

import numpy as np

# --- Factors: every categorical attribute a video has, in a fixed order -----
# (the order fixes the feature layout of tastes and stand-in embeddings)
FACTORS: dict[str, tuple[str, ...]] = {
    "shape": ("circle", "square", "triangle", "star", "ring", "cross"),
    "color": ("red", "orange", "yellow", "green", "cyan", "blue", "purple", "pink"),
    "count": ("one", "two", "few", "many"),
    "texture": ("solid", "striped", "checkered", "dotted"),
    "background": ("plain", "gradient", "bands", "grid"),
    "backdrop": ("black", "grey", "white", "cream"),
    "motion": ("still", "left", "right", "up", "down", "diagonal", "bounce"),
    "speed": ("none", "slow", "medium", "fast"),
    "rotation": ("none", "clockwise", "counterclockwise"),
    "zoom": ("none", "in", "out"),
    "pan": ("none", "left", "right"),
    "lighting": ("steady", "brightening", "dimming", "flicker"),
    "noise": ("clean", "light", "heavy"),
}
FACTOR_NAMES = tuple(FACTORS)
# How much each factor matters to a viewer's taste (and to stand-in embeddings).
FACTOR_WEIGHTS: dict[str, float] = {
    "shape": 2.0,
    "color": 3.0,
    "count": 1.0,
    "texture": 1.0,
    "background": 1.0,
    "backdrop": 0.5,
    "motion": 2.0,
    "speed": 1.0,
    "rotation": 1.0,
    "zoom": 0.5,
    "pan": 0.5,
    "lighting": 0.5,
    "noise": 1.0,
}
# Feature layout: factor f's values occupy columns OFFSETS[f] .. OFFSETS[f] + len(values).
OFFSETS = np.cumsum([0] + [len(v) for v in FACTORS.values()])[:-1]
N_FEATURES = sum(len(v) for v in FACTORS.values())

# Global prior of each factor's values (for factors a channel does not favour).
PRIORS: dict[str, tuple[float, ...]] = {
    "shape": (1, 1, 1, 1, 1, 1),
    "color": (1, 1, 1, 1, 1, 1, 1, 1),
    "count": (3, 2, 2, 1),
    "texture": (4, 2, 2, 2),
    "background": (3, 3, 2, 2),
    "backdrop": (3, 3, 2, 2),
    "motion": (2, 2, 2, 2, 2, 2, 2),
    "speed": (0, 1, 1, 1),
    "rotation": (5, 2, 2),
    "zoom": (7, 1.5, 1.5),
    "pan": (7, 1.5, 1.5),
    "lighting": (6, 1.5, 1.5, 1),
    "noise": (6, 2.5, 1.5),
}
N_OBJECTS = {"one": (1,), "two": (2,), "few": (3, 4), "many": (5, 6, 7)}

# Object colours (saturated, distinct hues) and backdrop tones (unsaturated),
# so an object's colour can be read back from the pixels.
RGB: dict[str, tuple[int, int, int]] = {
    "red": (230, 30, 30),
    "orange": (245, 130, 20),
    "yellow": (240, 220, 20),
    "green": (40, 200, 60),
    "cyan": (20, 210, 220),
    "blue": (30, 70, 235),
    "purple": (140, 50, 220),
    "pink": (245, 60, 170),
    "black": (12, 12, 12),
    "grey": (120, 120, 120),
    "white": (240, 240, 240),
    "cream": (235, 225, 205),
}


@dataclass(frozen=True)
class Channel:
    slug: str
    name: str
    favours: dict[str, tuple[str, ...]]
    size: float  # relative share of the catalog


CHANNELS: tuple[Channel, ...] = (
    Channel("speedway", "Speedway", {"color": ("red", "orange"), "motion": ("left", "right"), "speed": ("fast",), "shape": ("circle", "square")}, 3.0),
    Channel("deep-calm", "Deep Calm", {"color": ("blue", "cyan"), "speed": ("slow",), "motion": ("left", "right", "diagonal"), "background": ("gradient",), "noise": ("clean",)}, 2.5),
    Channel("whirligig", "Whirligig", {"shape": ("star",), "rotation": ("clockwise", "counterclockwise"), "motion": ("still",), "color": ("yellow", "orange")}, 2.0),
    Channel("playground", "Playground", {"motion": ("bounce",), "shape": ("circle", "ring"), "count": ("few", "many"), "color": ("pink", "green", "yellow")}, 2.0),
    Channel("lab-notes", "Lab Notes", {"background": ("grid",), "shape": ("square", "cross"), "texture": ("checkered",), "color": ("green", "cyan")}, 1.5),
    Channel("night-shift", "Night Shift", {"backdrop": ("black",), "lighting": ("flicker", "dimming"), "color": ("purple", "pink", "blue")}, 1.5),
    Channel("lens-room", "Lens Room", {"zoom": ("in", "out"), "count": ("one",), "shape": ("ring", "circle", "star")}, 1.0),
    Channel("retro-tube", "Retro Tube", {"noise": ("heavy", "light"), "texture": ("striped",), "backdrop": ("grey",), "shape": ("triangle", "square")}, 1.0),
    Channel("sunrise", "Sunrise", {"lighting": ("brightening",), "color": ("orange", "yellow", "red"), "backdrop": ("cream", "white"), "motion": ("up",)}, 1.0),
    Channel("panorama", "Panorama", {"pan": ("left", "right"), "background": ("bands", "grid"), "motion": ("still", "down")}, 0.8),
    Channel("confetti", "Confetti", {"count": ("many",), "texture": ("dotted", "solid"), "shape": ("triangle", "star", "cross"), "speed": ("medium", "fast")}, 0.8),
    Channel("tiny-builders", "Tiny Builders", {"shape": ("square",), "count": ("two", "few"), "motion": ("down", "up"), "texture": ("solid",), "color": ("purple", "green")}, 0.6),
)  # fmt: skip
CHANNEL_FIDELITY = 0.85  # chance a favoured factor takes one of the channel's values

# Render settings: sizes from 160x120 to 640x360, mostly small; low frame rates.
SIZES = ((160, 120), (240, 180), (320, 180), (320, 240), (480, 270), (640, 360))
SIZE_WEIGHTS = (0.36, 0.2, 0.2, 0.13, 0.07, 0.04)
FPS_CHOICES = (8, 10, 12)
VP9_SHARE = 0.15
MIN_DURATION_S, MAX_DURATION_S = 1.0, 60.0
BACK_CATALOG_SHARE = 0.4  # uploaded before the simulated period


@dataclass
class VideoSpec:
    """One video of the world. ``index`` is its position in ``World.videos``."""

    index: int
    channel: str
    attributes: dict[str, str | int]  # FACTORS values plus n_objects
    title: str
    description: str
    tags: list[str]
    duration_s: float
    size: tuple[int, int]  # (width, height)
    fps: int
    codec: str  # "h264" (mp4) or "vp9" (webm)
    created_day: float  # days since the simulated period began (< 0: back catalog)
    appeal: float  # latent popularity, > 0
    render_seed: int = field(repr=False, default=0)

    @property
    def extension(self) -> str:
        return "webm" if self.codec == "vp9" else "mp4"


@dataclass
class CatalogArrays:
    """The catalog as arrays, for the simulator and the stand-in embeddings."""

    codes: np.ndarray  # (V, F) int16: value index of each factor
    channel: np.ndarray  # (V,) int16: index into CHANNELS
    appeal: np.ndarray  # (V,) float64
    created_day: np.ndarray  # (V,) float64
    duration_s: np.ndarray  # (V,) float64

    @property
    def onehot(self) -> np.ndarray:
        """(V, N_FEATURES) float32 one-hot of every factor's value."""
        out = np.zeros((len(self.codes), N_FEATURES), dtype=np.float32)
        rows = np.arange(len(self.codes))[:, None]
        out[rows, self.codes + OFFSETS[None, :]] = 1.0
        return out


def factor_weight_vector() -> np.ndarray:
    """(N_FEATURES,) the factor weight of each feature column."""
    return np.concatenate([np.full(len(v), FACTOR_WEIGHTS[f], dtype=np.float32) for f, v in FACTORS.items()])


def _normalized(weights) -> np.ndarray:
    w = np.asarray(weights, dtype=np.float64)
    return w / w.sum()


def sample_catalog(
    n_videos: int, *, days: int, rng: np.random.Generator, seed: int, max_duration_s: float = MAX_DURATION_S
) -> tuple[list[VideoSpec], CatalogArrays]:
    """Draw ``n_videos`` videos: attributes, render settings, upload times and text."""
    n_factors = len(FACTORS)
    channel = rng.choice(len(CHANNELS), size=n_videos, p=_normalized([c.size for c in CHANNELS])).astype(np.int16)
    codes = np.zeros((n_videos, n_factors), dtype=np.int16)
    for f, (name, values) in enumerate(FACTORS.items()):
        codes[:, f] = rng.choice(len(values), size=n_videos, p=_normalized(PRIORS[name]))
        for c, ch in enumerate(CHANNELS):
            if name not in ch.favours:
                continue
            rows = np.flatnonzero((channel == c) & (rng.random(n_videos) < CHANNEL_FIDELITY))
            favoured = [values.index(v) for v in ch.favours[name]]
            codes[rows, f] = rng.choice(favoured, size=len(rows))
    # Speed only exists for moving objects.
    motion, speed = FACTOR_NAMES.index("motion"), FACTOR_NAMES.index("speed")
    still = codes[:, motion] == 0
    codes[still, speed] = 0
    unset = ~still & (codes[:, speed] == 0)
    codes[unset, speed] = rng.integers(1, 4, size=unset.sum())

    count_code = codes[:, FACTOR_NAMES.index("count")]
    lowest = np.array([min(N_OBJECTS[c]) for c in FACTORS["count"]])
    choices = np.array([len(N_OBJECTS[c]) for c in FACTORS["count"]])
    n_objects = lowest[count_code] + np.floor(rng.random(n_videos) * choices[count_code]).astype(int)
    # Heavy-tailed appeal: a few videos (and channels) draw most attention.
    channel_appeal = np.exp(rng.normal(0.0, 0.5, size=len(CHANNELS)))
    appeal = np.exp(rng.normal(0.0, 1.3, size=n_videos)) * channel_appeal[channel]
    # Durations skewed short: log-normal, median 4.5 s, clipped to 1..60 s.
    duration = np.clip(np.round(np.exp(rng.normal(np.log(4.5), 0.9, size=n_videos)), 1), MIN_DURATION_S, max_duration_s)
    size_idx = rng.choice(len(SIZES), size=n_videos, p=_normalized(SIZE_WEIGHTS))
    fps = rng.choice(FPS_CHOICES, size=n_videos)
    vp9 = rng.random(n_videos) < VP9_SHARE
    back = rng.random(n_videos) < BACK_CATALOG_SHARE
    created = np.where(back, -rng.random(n_videos) * 2 * days, rng.random(n_videos) * days)
    render_seeds = rng.integers(0, 2**31 - 1, size=n_videos)

    text_rng = random.Random(seed)
    specs = []
    for i in range(n_videos):
        attributes: dict[str, str | int] = {name: FACTORS[name][codes[i, f]] for f, name in enumerate(FACTOR_NAMES)}
        attributes["n_objects"] = int(n_objects[i])
        ch = CHANNELS[channel[i]]
        title, description, tags = describe(attributes, ch, text_rng)
        specs.append(
            VideoSpec(
                index=i,
                channel=ch.slug,
                attributes=attributes,
                title=title,
                description=description,
                tags=tags,
                duration_s=float(duration[i]),
                size=SIZES[size_idx[i]],
                fps=int(fps[i]),
                codec="vp9" if vp9[i] else "h264",
                created_day=float(created[i]),
                appeal=float(appeal[i]),
                render_seed=int(render_seeds[i]),
            )
        )
    arrays = CatalogArrays(
        codes=codes, channel=channel, appeal=appeal, created_day=created, duration_s=duration.astype(np.float64)
    )
    return specs, arrays


# --- Text --------------------------------------------------------------------
# Phrases per factor value. Every phrase names only its own value; "none"-like
# values have no phrase, so the text never mentions what is not on screen.
SHAPE_WORDS = {
    "circle": ("circle", "disc", "ball"),
    "square": ("square", "block", "box"),
    "triangle": ("triangle",),
    "star": ("star",),
    "ring": ("ring", "hoop", "donut"),
    "cross": ("cross", "plus sign"),
}
COLOR_WORDS = {
    "red": ("red", "crimson", "scarlet"),
    "orange": ("orange", "tangerine", "amber"),
    "yellow": ("yellow", "golden", "lemon"),
    "green": ("green", "emerald"),
    "cyan": ("cyan", "turquoise", "aqua"),
    "blue": ("blue", "cobalt", "azure"),
    "purple": ("purple", "violet"),
    "pink": ("pink", "magenta", "rose"),
}
BACKDROP_WORDS = {
    "black": ("black", "jet-black"),
    "grey": ("grey", "gray", "slate"),
    "white": ("white", "snow-white"),
    "cream": ("cream", "beige", "ivory"),
}
TEXTURE_WORDS = {
    "solid": ("solid", "flat-coloured"),
    "striped": ("striped", "stripy"),
    "checkered": ("checkered", "chequered"),
    "dotted": ("dotted", "polka-dot", "spotted"),
}
BACKGROUND_PHRASES = {
    "plain": ("a plain {bd} background", "a flat {bd} backdrop"),
    "gradient": ("a {bd} gradient", "a soft {bd} gradient background"),
    "bands": ("{bd} bands in the background", "a banded {bd} background"),
    "grid": ("a {bd} grid", "a {bd} grid pattern"),
}
MOTION_PHRASES = {
    "still": ("standing still", "at rest", "holding still"),
    "left": ("drifting left", "moving left", "sliding to the left", "heading left"),
    "right": ("drifting right", "moving right", "sliding to the right", "heading right"),
    "up": ("rising", "floating upward", "moving up"),
    "down": ("falling", "sinking", "moving down", "dropping"),
    "diagonal": ("moving diagonally", "drifting diagonally", "crossing diagonally"),
    "bounce": ("bouncing", "bouncing around", "ricocheting off the edges"),
}
SPEED_WORDS = {
    "slow": ("slowly", "gently", "lazily"),
    "medium": ("steadily", "at a steady pace"),
    "fast": ("quickly", "rapidly", "at speed"),
}
ROTATION_PHRASES = {
    "clockwise": ("spinning clockwise", "turning clockwise", "rotating clockwise"),
    "counterclockwise": ("spinning counterclockwise", "turning anticlockwise", "rotating counterclockwise"),
}
ZOOM_PHRASES = {
    "in": ("the view zooms in", "the camera zooms in", "the camera moves in close"),
    "out": ("the view zooms out", "the camera pulls back", "the camera draws back"),
}
PAN_PHRASES = {
    "left": ("the camera pans left", "the shot pans to the left"),
    "right": ("the camera pans right", "the shot pans to the right"),
}
LIGHTING_PHRASES = {
    "brightening": ("the light comes up", "the scene gets brighter", "it gradually brightens"),
    "dimming": ("the light fades", "the scene gets darker", "it gradually dims"),
    "flicker": ("the light flickers", "the lighting strobes", "a flickering light plays over it"),
}
NOISE_PHRASES = {
    "light": ("a little film grain", "a touch of sensor noise"),
    "heavy": ("heavy static", "a lot of grain and noise"),
}
NUMBER_WORDS = {1: "one", 2: "two", 3: "three", 4: "four", 5: "five", 6: "six", 7: "seven"}

# Every factor's phrases, for checking text against attributes.
VOCABULARY: dict[str, dict[str, tuple[str, ...]]] = {
    "shape": SHAPE_WORDS,
    "color": COLOR_WORDS,
    "backdrop": BACKDROP_WORDS,
    "texture": TEXTURE_WORDS,
    "motion": MOTION_PHRASES,
    "speed": SPEED_WORDS,
    "rotation": ROTATION_PHRASES,
    "zoom": ZOOM_PHRASES,
    "pan": PAN_PHRASES,
    "lighting": LIGHTING_PHRASES,
    "noise": NOISE_PHRASES,
}
NO_DESCRIPTION_SHARE = 0.12


def plural(noun: str) -> str:
    head, _, tail = noun.rpartition(" ")
    word = tail + ("es" if tail.endswith(("s", "x")) else "s")
    return f"{head} {word}" if head else word


def describe(attributes: dict, channel: Channel, r: random.Random) -> tuple[str, str, list[str]]:
    """Title, description and tags for ``attributes`` (deterministic in ``r``)."""
    a = attributes
    n = int(a["n_objects"])
    shape_word = r.choice(SHAPE_WORDS[a["shape"]])
    shapes = shape_word if n == 1 else plural(shape_word)
    color = r.choice(COLOR_WORDS[a["color"]])
    motion = r.choice(MOTION_PHRASES[a["motion"]])
    speed = r.choice(SPEED_WORDS[a["speed"]]) if a["speed"] in SPEED_WORDS else ""
    texture = r.choice(TEXTURE_WORDS[a["texture"]])
    backdrop = r.choice(BACKDROP_WORDS[a["backdrop"]])
    background = r.choice(BACKGROUND_PHRASES[a["background"]]).format(bd=backdrop)
    count = _count_phrase(n, r)

    title_templates = [
        f"{count} {color} {shapes} {motion}",
        f"{color} {shapes} {motion}",
        f"{count} {texture} {color} {shapes}",
        f"{channel.name}: {color} {shapes}",
        f"{color} {shapes} on {backdrop}",
        f"{shapes} in {color}, {motion}",
    ]
    if a["rotation"] != "none":
        title_templates.append(f"{r.choice(ROTATION_PHRASES[a['rotation']])} {color} {shapes}")
    title = r.choice(title_templates)
    title = title[0].upper() + title[1:]

    description = ""
    if r.random() >= NO_DESCRIPTION_SHARE:
        subject = f"{count} {texture if r.random() < 0.6 else ''} {color} {shapes}".replace("  ", " ")
        movement = f"{motion} {speed}".strip() if r.random() < 0.7 else motion
        first = f"{subject} {movement}"
        if r.random() < 0.7:
            first += f" across {background}" if a["motion"] != "still" else f" on {background}"
        sentences = [first + "."]
        extras = []
        if a["rotation"] != "none":
            extras.append(f"{'It keeps' if n == 1 else 'They keep'} {r.choice(ROTATION_PHRASES[a['rotation']])}.")
        if a["zoom"] != "none":
            extras.append(f"Meanwhile {r.choice(ZOOM_PHRASES[a['zoom']])}.")
        if a["pan"] != "none":
            extras.append(f"{r.choice(('As it plays', 'Throughout', 'Meanwhile'))} {r.choice(PAN_PHRASES[a['pan']])}.")
        if a["lighting"] != "steady":
            extras.append(
                f"{r.choice(('Halfway through', 'Over the clip', 'Meanwhile'))} {r.choice(LIGHTING_PHRASES[a['lighting']])}."
            )
        if a["noise"] != "clean":
            extras.append(f"The picture has {r.choice(NOISE_PHRASES[a['noise']])}.")
        extras = [s for s in extras if r.random() < 0.75]  # omissions
        r.shuffle(extras)
        sentences += extras
        if r.random() < 0.4:
            sentences.append(r.choice((f"From the {channel.name} channel.", f"Part of {channel.name}.")))
        description = " ".join(s[0].upper() + s[1:] for s in sentences)

    tags = [a["color"], a["shape"], channel.slug]
    optional = [color, shape_word, texture, backdrop, a["background"] if a["background"] != "plain" else ""]
    if a["motion"] != "still":
        optional.append(r.choice(("moving", a["motion"] if a["motion"] != "bounce" else "bouncing")))
    if a["rotation"] != "none":
        optional.append("spinning")
    if a["zoom"] != "none":
        optional.append(f"zoom {a['zoom']}")
    if a["lighting"] != "steady":
        optional.append(a["lighting"])
    if a["noise"] == "heavy":
        optional.append("static")
    optional = [t for t in optional if t and t not in tags]
    tags += r.sample(optional, k=min(len(optional), r.randint(1, 5)))
    return title, description, tags


def _count_phrase(n: int, r: random.Random) -> str:
    if n == 1:
        return r.choice(("a", "a single", "one"))
    if n == 2:
        return r.choice(("two", "a pair of"))
    if n >= 5 and r.random() < 0.3:
        return r.choice(("many", "a swarm of", "lots of"))
    return NUMBER_WORDS[n]
