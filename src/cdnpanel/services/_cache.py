"""A small time-bounded cache for lookups on the media-server hooks' hot path."""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

from cdnpanel.services._clock import Clock

__all__ = ["TtlCache"]

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class TtlCache(Generic[K, V]):
    """Remembers ``load(key)`` for ``ttl`` seconds, misses (None) included.

    Staleness is bounded by ``ttl``: a change made elsewhere (another process, another node) is
    seen at the latest ``ttl`` seconds later. Entries are dropped when the cache outgrows
    ``max_entries``, oldest first.
    """

    def __init__(
        self, load: Callable[[K], V], *, ttl: float, clock: Clock, max_entries: int = 100_000
    ) -> None:
        self._load = load
        self._ttl = ttl
        self._clock = clock
        self._max_entries = max_entries
        self._entries: dict[K, tuple[float, V]] = {}

    def get(self, key: K) -> V:
        now = self._clock()
        entry = self._entries.get(key)
        if entry is not None and entry[0] > now:
            return entry[1]
        value = self._load(key)
        if len(self._entries) >= self._max_entries:
            for stale in list(self._entries)[: self._max_entries // 10 or 1]:
                del self._entries[stale]
        self._entries.pop(key, None)  # re-inserted last: dict order is age order
        self._entries[key] = (now + self._ttl, value)
        return value

    def peek(self, key: K) -> tuple[bool, V | None]:
        """(True, value) when a fresh entry exists; (False, None) without loading anything."""
        entry = self._entries.get(key)
        if entry is not None and entry[0] > self._clock():
            return True, entry[1]
        return False, None

    def put(self, key: K, value: V) -> None:
        """Remember a value learnt elsewhere (e.g. from a write that just read it)."""
        self._entries.pop(key, None)
        self._entries[key] = (self._clock() + self._ttl, value)

    def forget(self, key: K) -> None:
        self._entries.pop(key, None)
