"""A small thread-safe LRU map for per-process caches of immutable things (published versions,
their compiled templates)."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable
from threading import Lock
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class BoundedCache(Generic[K, V]):
    def __init__(self, size: int = 256):
        self._size = size
        self._items: OrderedDict[K, V] = OrderedDict()
        self._lock = Lock()

    def get(self, key: K) -> V | None:
        with self._lock:
            value = self._items.get(key)
            if value is not None:
                self._items.move_to_end(key)
            return value

    def put(self, key: K, value: V) -> V:
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self._size:
                self._items.popitem(last=False)
        return value

    def get_or_build(self, key: K, build: Callable[[], V]) -> V:
        """The cached value, or `build()` stored. Built outside the lock: two threads may both
        build a missing value, which is harmless for immutable values and keeps the lock short."""
        value = self.get(key)
        return value if value is not None else self.put(key, build())

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
