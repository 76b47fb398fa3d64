"""The recommender: CF, content and popularity parts behind one small
interface, blended into a feed. Pure numpy: nothing here imports Django.

    interactions ──► weights.py ──► signed user×item matrix ─┬─► cf.py (implicit ALS / BPR)
                                                             ├─► popularity.py (trending)
    video embeddings ────────────────────────────────────────┴─► content.py (taste vectors)
                                                                   │
                                blend.py (normalize, adapt, MMR, explain) ◄┘
                                   │
              in memory: HybridRecommender (offline evaluation)
              database:  mediarec.serving (pgvector HNSW candidates, the persisted CF model)

Every in-memory recommender follows the contract in ``base.py`` (fit /
recommend / similar_items / save / load), so evaluation can fit any of them on
a plain matrix, and the database path reuses the same scoring functions.
"""

from mediarec.recommender.base import FitError, Recommender
from mediarec.recommender.config import RecommenderConfig

__all__ = ["FitError", "Recommender", "RecommenderConfig"]
