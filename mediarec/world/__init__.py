"""The synthetic media world: a rendered catalog with ground-truth attributes
and generated text, a simulated audience with known tastes, their interactions,
and holdout splits. Django-free; ``mediarec.services.world`` loads it into the
database and ``manage.py seed_world`` is its command. See docs/WORLD.md.
"""

from mediarec.world.audience import KINDS, UserSpec, username_for
from mediarec.world.catalog import VideoSpec
from mediarec.world.holdout import Split
from mediarec.world.standin import STANDIN_VERSION
from mediarec.world.world import World, WorldConfig

__all__ = ["KINDS", "STANDIN_VERSION", "Split", "UserSpec", "VideoSpec", "World", "WorldConfig", "username_for"]
