"""In-process clocks that keep the bookkeeping database out of a plain run.

A run has to know that its sandbox exists and is not about to be swept, and the server has to
sweep idle sandboxes now and then; neither needs the bookkeeping database on every request. A
process remembers which sandboxes it touched lately (`RecentSandboxes`) and when it last looked
at the sweep (`Interval`), and asks the database only when that memory is out of date. The
database stays the truth shared by every process: this is a cache of what it said, never state
a visitor depends on.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable

# A sandbox's "last used" time is written at most this often per process while it is in use.
TOUCH_EVERY_SECONDS = 60.0


def touch_interval(sandbox_ttl_seconds: float) -> float:
    """How long a touch stays good: a minute, but well inside the TTL so a coarse touch never lets a sweep in."""
    return min(TOUCH_EVERY_SECONDS, sandbox_ttl_seconds / 4)


class RecentSandboxes:
    """The sandboxes this process touched in the database lately (bounded, least recently used first out)."""

    def __init__(
        self, every_seconds: float, *, max_entries: int = 10_000, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.every_seconds = every_seconds
        self.max_entries = max_entries
        self._clock = clock
        self._touched: OrderedDict[Hashable, float] = OrderedDict()
        self._lock = threading.Lock()

    def fresh(self, key: Hashable) -> bool:
        """True if this process touched the sandbox less than `every_seconds` ago."""
        with self._lock:
            at = self._touched.get(key)
            if at is None or self._clock() - at >= self.every_seconds:
                return False
            self._touched.move_to_end(key)
            return True

    def touched(self, key: Hashable) -> None:
        """The database now says the sandbox is registered and was used now."""
        with self._lock:
            self._touched[key] = self._clock()
            self._touched.move_to_end(key)
            while len(self._touched) > self.max_entries:
                self._touched.popitem(last=False)

    def forget(self, key: Hashable) -> None:
        """The sandbox was dropped or replaced: the next run asks the database again."""
        with self._lock:
            self._touched.pop(key, None)


class Interval:
    """Says yes at most once per `every_seconds` in this process (the first time, at once)."""

    def __init__(self, every_seconds: float, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.every_seconds = every_seconds
        self._clock = clock
        self._next = float("-inf")
        self._lock = threading.Lock()

    def due(self) -> bool:
        with self._lock:
            now = self._clock()
            if now < self._next:
                return False
            self._next = now + self.every_seconds
            return True
