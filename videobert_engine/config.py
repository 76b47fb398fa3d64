"""Dataclass configs, one per component, and the size presets (``tiny``, ``small``, ``c3d``).

A whole model is one ``VideoBertConfig``; checkpoints store it as a plain dict so inference can rebuild the model.
``preset(name, **overrides)`` takes top-level fields (``embed_dim=128``) or component fields written
``component__field`` (``text__init="minilm"``, ``clips__n_clips=2``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal


@dataclass
class ClipConfig:
    """How clips are sampled from a video: ``n_clips`` evenly spaced clips of ``frames_per_clip`` frames."""

    n_clips: int = 4
    frames_per_clip: int = 16
    fps: float = 8.0  # sampling rate inside a clip: a clip spans frames_per_clip / fps seconds
    size: int = 112  # frames are made size x size, as ``fit`` says
    fit: Literal["crop", "squash"] = "crop"  # crop: short side to size, center crop; squash: whole frame, resized
    timeout_s: float = 60.0  # a video that takes longer than this to sample raises UnreadableVideo


OBJECT_VIEW_SCALE = 2  # clips for the object view are decoded at this multiple of the tower's size


@dataclass
class C3DConfig:
    """C3D video tower. The default is the Tran et al. 2015 layout (about 78 M parameters with its 487-way head)."""

    widths: tuple[int, ...] = (64, 128, 256, 256, 512, 512, 512, 512)  # conv1a 2a 3a 3b 4a 4b 5a 5b
    fc_dim: int = 4096  # fc6 / fc7 width; fc7 output is the per-clip feature (pre-logits)
    num_classes: int = 0  # fc8; 487 (Sports-1M) for the reference network, 0 = no classifier
    dropout: float = 0.5
    batch_norm: bool = False  # BatchNorm3d after each conv (not in the original; helps short from-scratch training)
    # pool5 -> fc6: flatten (the original), global max over t, h, w, or the global max of every stage (pyramid)
    pool: Literal["flatten", "max", "pyramid"] = "flatten"
    # the stem also reads each frame's difference from the one before it (RGB difference, as in TSN); off in the
    # presets: on the demo's world it helped a supervised probe tell motion, not the self-supervised recipe
    frame_diff: bool = False
    # the convs also read an object-centred glimpse of each frame (videobert_engine/views.py), and fc6 both
    # views' features; clips are then decoded at twice ``size`` (the glimpse is cut from the larger frames)
    object_view: bool = False
    # fc6 also reads how the clip's most salient object moves (views.object_motion: 4 numbers from its track)
    object_motion: bool = False
    frames: int = 16  # input clip length; must equal ClipConfig.frames_per_clip
    size: int = 112  # input frame size; ClipConfig.size is ``decoded_size``

    @property
    def decoded_scale(self) -> int:
        """How much larger than the tower's input the clips are decoded (the glimpse is cut from them)."""
        return OBJECT_VIEW_SCALE if self.object_view else 1

    @property
    def decoded_size(self) -> int:
        return self.size * self.decoded_scale


@dataclass
class TextConfig:
    """BERT-style text tower. ``init="minilm"`` warm-starts from the all-MiniLM-L6-v2 weights (fixed shape)."""

    vocab: Literal["minilm", "corpus"] = "corpus"  # WordPiece vocabulary: the MiniLM one, or trained on the corpus
    corpus_vocab_size: int = 4000  # upper bound when the vocabulary is trained on the corpus
    vocab_size: int = 30522  # set from the tokenizer when the model is built
    init: Literal["random", "minilm"] = "random"
    d_model: int = 384
    n_layer: int = 6
    n_head: int = 12
    d_ff: int = 1536
    max_len: int = 64  # tokens including [CLS] and [SEP]
    dropout: float = 0.1


@dataclass
class JointConfig:
    """Cross-modal transformer over ``[CLS] text [SEP] video`` tokens."""

    d_model: int = 256
    n_layer: int = 2
    n_head: int = 4
    d_ff: int = 1024
    dropout: float = 0.1


@dataclass
class VideoBertConfig:
    name: str = "custom"
    clips: ClipConfig = field(default_factory=ClipConfig)
    video: C3DConfig = field(default_factory=C3DConfig)
    text: TextConfig = field(default_factory=TextConfig)
    joint: JointConfig = field(default_factory=JointConfig)
    embed_dim: int = 256  # D of the fused embedding

    def __post_init__(self) -> None:
        decoded = self.video.decoded_size
        if (self.video.frames, decoded) != (self.clips.frames_per_clip, self.clips.size):
            raise ValueError(
                f"video tower input {self.video.frames}x{decoded}px does not match clip sampling "
                f"{self.clips.frames_per_clip}x{self.clips.size}px"
            )
        if self.text.init == "minilm" and self.text.vocab != "minilm":
            raise ValueError('text.init="minilm" needs text.vocab="minilm"')

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> VideoBertConfig:
        parts = {"clips": ClipConfig, "video": C3DConfig, "text": TextConfig, "joint": JointConfig}
        kwargs = {k: (parts[k](**v) if k in parts else v) for k, v in data.items()}
        kwargs["video"].widths = tuple(kwargs["video"].widths)
        return cls(**kwargs)


def tiny() -> VideoBertConfig:
    """CPU demo size: 4 clips x 8 frames at 48 px (not 112: a 2-core CPU trains it in a minute or two).

    The text tower is all-MiniLM-L6-v2 (the trainer keeps it frozen by default, see TrainConfig), so the few
    hundred videos of a demo catalog learn to meet a text space that already knows "crimson" is red; frames are
    squashed whole (a center crop loses objects near the edges) and the C3D head max-pools every stage
    (position-free, and the early stages carry colour from the first steps on).
    """
    return VideoBertConfig(
        name="tiny",
        clips=ClipConfig(n_clips=4, frames_per_clip=8, fps=6.0, size=48, fit="squash"),
        video=C3DConfig(
            widths=(8, 16, 32, 32, 64, 64, 64, 64),
            fc_dim=256,
            dropout=0.0,
            batch_norm=True,
            pool="pyramid",
            frames=8,
            size=48,
        ),
        text=TextConfig(vocab="minilm", init="minilm", max_len=64, dropout=0.0),
        joint=JointConfig(d_model=128, n_layer=2, n_head=4, d_ff=512, dropout=0.0),
    )


def small() -> VideoBertConfig:
    """CPU/GPU mid size: C3D at 1/4 width on 16 x 112 px clips."""
    return VideoBertConfig(
        name="small",
        clips=ClipConfig(n_clips=4, frames_per_clip=16, fps=8.0, size=112),
        video=C3DConfig(widths=(16, 32, 64, 64, 128, 128, 128, 128), fc_dim=1024, dropout=0.1, batch_norm=True),
        text=TextConfig(vocab="corpus", corpus_vocab_size=8000, d_model=256, n_layer=4, n_head=4, d_ff=1024),
        joint=JointConfig(d_model=256, n_layer=2, n_head=4, d_ff=1024),
    )


def c3d() -> VideoBertConfig:
    """Full size: exact C3D on 16 x 112 px clips, text tower warm-started from all-MiniLM-L6-v2."""
    return VideoBertConfig(
        name="c3d",
        clips=ClipConfig(n_clips=4, frames_per_clip=16, fps=16.0, size=112),
        video=C3DConfig(),
        text=TextConfig(vocab="minilm", init="minilm"),
        joint=JointConfig(d_model=512, n_layer=2, n_head=8, d_ff=2048),
    )


PRESETS = {"tiny": tiny, "small": small, "c3d": c3d}


def preset(name: str, **overrides: Any) -> VideoBertConfig:
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; choose one of {sorted(PRESETS)}")
    data = PRESETS[name]().to_dict()
    for key, value in overrides.items():
        part, _, leaf = key.partition("__")
        target = data[part] if leaf else data
        leaf = leaf or part
        if leaf not in target or (not isinstance(target, dict)):
            raise ValueError(f"unknown config field {key!r}")
        if isinstance(target[leaf], dict):
            raise ValueError(f"override the fields of {leaf!r} one by one, e.g. {leaf}__<field>=...")
        target[leaf] = value
    # the clip shape is set once; the tower input follows it (a fraction of it with the object view)
    scale = OBJECT_VIEW_SCALE if data["video"]["object_view"] else 1
    data["video"]["frames"], data["video"]["size"] = data["clips"]["frames_per_clip"], data["clips"]["size"] // scale
    return VideoBertConfig.from_dict(data)
