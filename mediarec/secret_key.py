"""A site's signing key when ``DJANGO_SECRET_KEY`` is not set: random, made once
per data dir and kept there (mode 0600), so every process of the site (web
workers, Celery workers, commands) signs with the same key and a restart keeps
sessions and API tokens valid. No key is ever a constant in the source."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

FILE_NAME = "secret_key"


def secret_key_for(data_dir: Path) -> str:
    path = Path(data_dir) / FILE_NAME
    try:
        return _read(path)
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{FILE_NAME}.{os.getpid()}")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(secrets.token_urlsafe(50))
    try:
        os.link(partial, path)  # atomic, and never replaces a key another process made first
    except FileExistsError:
        pass
    finally:
        partial.unlink(missing_ok=True)
    return _read(path)


def _read(path: Path) -> str:
    key = path.read_text().strip()
    if len(key) < 32:
        raise RuntimeError(f"{path} holds no usable secret key; delete it to have a new one made")
    return key
