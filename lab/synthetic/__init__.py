"""The synthetic media world: a rendered catalog with ground-truth attributes
and generated text, a simulated audience with known tastes, their interactions,
and holdout splits. Django-free; ``lab.services`` loads it into the
database and ``manage.py seed_world`` is its command. See docs/WORLD.md.
"""

from lab.synthetic.audience import KINDS, UserSpec, username_for
from lab.synthetic.catalog import VideoSpec
from lab.synthetic.generator import World, WorldConfig
from lab.synthetic.holdout import Split
from lab.synthetic.standin import STANDIN_VERSION

__all__ = ["KINDS", "STANDIN_VERSION", "Split", "UserSpec", "VideoSpec", "World", "WorldConfig", "username_for"]
