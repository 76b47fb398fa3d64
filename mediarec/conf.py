"""Every ``MEDIAREC_*`` setting with its default, in one place.

A host site overrides any of them in its own settings module; code reads them
through ``app_settings.NAME`` so the defaults below always apply.
"""

from __future__ import annotations

from dataclasses import fields, replace
from pathlib import Path
from typing import Any

from django.conf import settings

from mediarec.recommender.config import DEFAULT_KIND_WEIGHTS, RecommenderConfig

DEFAULTS: dict[str, Any] = {
    # Where the embedded Postgres, uploads, checkpoints and CF factors live.
    "DATA_DIR": Path("var"),
    # Dimension of the fused VideoBERT embedding stored in pgvector.
    "EMBEDDING_DIM": 256,
    # Upload limits, enforced by the one upload service.
    "MAX_UPLOAD_BYTES": 512 * 1024 * 1024,
    "MAX_DURATION_S": 3 * 60 * 60,
    "MAX_WIDTH": 3840,
    "MAX_HEIGHT": 2160,
    # Smaller frames are refused (a 1x1 "video" carries nothing to recommend on).
    "MIN_WIDTH": 32,
    "MIN_HEIGHT": 32,
    # A page view of a video the same user viewed less than this long ago is not recorded again.
    "VIEW_DEDUP_WINDOW_S": 30 * 60,
    # Interaction kinds and their CF confidence weights (negative = dislike).
    "INTERACTION_WEIGHTS": DEFAULT_KIND_WEIGHTS,
    # Embedding pipeline.
    "EMBED_BATCH_SIZE": 16,
    "EMBED_BATCH_WINDOW_S": 2.0,
    "EMBED_MAX_ATTEMPTS": 5,
    "EMBED_STUCK_AFTER_S": 30 * 60,
    # First retry delay after a transient error; doubles per retry, capped at 10 minutes.
    "EMBED_RETRY_BACKOFF_S": 5.0,
    # Decoding processes per GPU worker, and the torch device ("" = cuda if available).
    "EMBED_DECODE_WORKERS": 2,
    "EMBED_DEVICE": "",
    # Recommender: overrides of mediarec.recommender.config.RecommenderConfig fields (see recommender_config).
    "RECOMMENDER": {},
    # Media: the prefix of a web-server location that serves MEDIA_ROOT internally
    # (nginx: an ``internal`` location). Set, the media view only checks access and
    # answers with X-Accel-Redirect; empty, Django streams the file itself.
    "MEDIA_ACCEL_REDIRECT": "",
    # API.
    "API_MAX_BATCH": 1000,
    "API_THROTTLE_RATE": "6000/m",
    # POST /api/token: attempts per username, and per client address (password guessing).
    "API_TOKEN_THROTTLE_RATE": "10/m",
    "API_TOKEN_CLIENT_THROTTLE_RATE": "30/m",
}


class AppSettings:
    """Reads ``settings.MEDIAREC_<NAME>``, falling back to ``DEFAULTS``."""

    def __getattr__(self, name: str) -> Any:
        if name not in DEFAULTS:
            raise AttributeError(f"unknown mediarec setting {name!r}")
        value = getattr(settings, f"MEDIAREC_{name}", DEFAULTS[name])
        if name == "DATA_DIR":
            value = Path(value).resolve()
        return value


app_settings = AppSettings()


def recommender_config() -> RecommenderConfig:
    """The site's ``RecommenderConfig``: the defaults, the site's interaction weights, then ``MEDIAREC_RECOMMENDER``."""
    overrides = dict(app_settings.RECOMMENDER)
    unknown = sorted(set(overrides) - {f.name for f in fields(RecommenderConfig)})
    if unknown:
        raise ValueError(f"unknown MEDIAREC_RECOMMENDER field(s): {', '.join(unknown)}")
    return replace(RecommenderConfig(kind_weights=dict(app_settings.INTERACTION_WEIGHTS)), **overrides)
