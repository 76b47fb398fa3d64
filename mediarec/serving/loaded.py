"""One object read from a file, kept per process until its version or the file changes.

The serving path reads the active CF model and the active ranker this way: a feed costs no file read, and a
refit (a new version name) or a rewritten file (a new mtime) is picked up on the next request.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class LoadedFile(Generic[T]):
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loaded: tuple[str, float, T] | None = None  # version name, file mtime, what load() gave

    def get(self, name: str, path: str, load: Callable[[], T]) -> T:
        """``load()``'s result for version ``name`` at ``path``, loaded once; OSError when the file is gone."""
        mtime = os.stat(path).st_mtime
        with self._lock:
            if self._loaded and self._loaded[:2] == (name, mtime):
                return self._loaded[2]
        value = load()
        with self._lock:
            self._loaded = (name, mtime, value)
        return value
