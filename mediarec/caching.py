"""One per-process time-to-live memo, for the few shared, slow-changing values
every request reads: the active model versions, the trending and fresh lists.

Each web or worker process keeps its own copy; a value is at most ``ttl_s``
old, which is how long another process's change (a new active version) takes
to be seen. ``caches_clear`` empties every cache (tests call it between cases).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable
from typing import TypeVar

T = TypeVar("T")


class TTLCache:
    def __init__(self, ttl_s: float):
        self.ttl_s = ttl_s
        self._lock = threading.Lock()
        self._values: dict[Hashable, tuple[float, object]] = {}
        _ALL.append(self)

    def get(self, key: Hashable, compute: Callable[[], T]) -> T:
        """The cached value of ``key``, computed (outside the lock) when missing or older than ``ttl_s``."""
        now = time.monotonic()
        with self._lock:
            hit = self._values.get(key)
            if hit and now - hit[0] < self.ttl_s:
                return hit[1]
        value = compute()
        with self._lock:
            self._values[key] = (now, value)
        return value

    def clear(self) -> None:
        with self._lock:
            self._values.clear()


_ALL: list[TTLCache] = []


def caches_clear() -> None:
    for cache in _ALL:
        cache.clear()
