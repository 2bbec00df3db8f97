"""Engines for sandboxes, made once and reused: a bounded cache, least recently used out first.

Making a SQLAlchemy engine (and its pool, and its event listeners) costs more than a run's SQL;
a process keeps the engines of the sandboxes it served lately. An engine pushed out, or dropped
with its sandbox, is disposed of, which closes the connections its pool kept.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable

from sqlalchemy.engine import Engine

DEFAULT_SIZE = 256


class EngineCache:
    """`get(key)` returns the engine for `key`, made by `make(key)` on first use."""

    def __init__(self, make: Callable[[str], Engine], *, size: int = DEFAULT_SIZE) -> None:
        self._make = make
        self.size = size
        self._engines: OrderedDict[str, Engine] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str) -> Engine:
        with self._lock:
            engine = self._engines.get(key)
            if engine is not None:
                self._engines.move_to_end(key)
                return engine
        made = self._make(key)  # outside the lock: making one does not hold up the others
        with self._lock:
            engine = self._engines.setdefault(key, made)
            self._engines.move_to_end(key)
            evicted = [self._engines.popitem(last=False)[1] for _ in range(len(self._engines) - self.size)]
        if engine is not made:
            made.dispose()
        for old in evicted:
            # Connections checked out right now are closed when they come back.
            old.dispose()
        return engine

    def discard(self, key: str) -> None:
        """Forget `key`'s engine and close its idle connections (its sandbox was dropped or replaced)."""
        with self._lock:
            engine = self._engines.pop(key, None)
        if engine is not None:
            engine.dispose()

    def clear(self) -> None:
        with self._lock:
            engines, self._engines = list(self._engines.values()), OrderedDict()
        for engine in engines:
            engine.dispose()

    def __len__(self) -> int:
        return len(self._engines)
