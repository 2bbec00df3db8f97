"""Each visitor's sandboxes as the runs use them: made and registered on first use, touched now and then, swept when idle.

The registry in the bookkeeping database is the truth every process shares; this process keeps
a coarse memory of what it told it lately (see housekeeping), so that a plain run does not write
to it. The registry's writes are the ones a full disk refuses: a sandbox that exists still serves
its visitor then, and a new one is not made (the visitor gets a clear 507).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from .backends.base import Backend
from .config import Settings
from .errors import CapacityReached, DiskFull
from .housekeeping import Interval, RecentSandboxes, touch_interval
from .messages import _
from .store import Store

log = logging.getLogger("playground.runs")

SWEEP_EVERY_SECONDS = 60.0


class Sandboxes:
    """The sandboxes of one service: `ready` before a run, `sweep` of the idle ones, `forget` after a reset."""

    def __init__(self, settings: Settings, store: Store, backends: Mapping[str, Backend]) -> None:
        self.settings = settings
        self.store = store
        self.backends = backends
        # What this process already told the bookkeeping database lately (see housekeeping).
        self.recent = RecentSandboxes(touch_interval(settings.sandbox_ttl_seconds))
        self.sweep_due = Interval(SWEEP_EVERY_SECONDS)

    def ready(self, visitor: str, backend: Backend) -> None:
        """Make sure the sandbox exists and is registered as in use, asking the database at most once a minute."""
        self._sweep_in_passing()
        key = (visitor, backend.name)
        if self.recent.fresh(key):
            # Touched by this process within the interval, which is well inside the TTL: it cannot
            # have been swept, and a reset elsewhere replaces it whole.
            return
        try:
            known = self.store.touch_sandbox(visitor, backend.name)
        except DiskFull:
            # The bookkeeping cannot be written now: a sandbox that is there still serves the
            # visitor (the touch is tried again on the next run); a new one cannot be made.
            if backend.sandbox_exists(visitor):
                return
            raise
        if not known:
            if self.store.sandbox_count(backend.name) >= self.settings.max_sandboxes:
                raise CapacityReached(
                    _(
                        "The server holds as many sandboxes as it is configured for; try again later or ask your teacher."
                    )
                )
            # Registered before it is made: a sandbox the registry does not know would never be swept.
            self.store.register_sandbox(visitor, backend.name)
        backend.ensure_sandbox(visitor)
        self.recent.touched(key)

    def forget(self, visitor: str, engine: str) -> None:
        """The sandbox was replaced (a reset): the next run asks the database again."""
        self.recent.forget((visitor, engine))

    def _sweep_in_passing(self) -> None:
        """The sweep a request does on its way: if it cannot be done now, the request goes on."""
        try:
            self.sweep()
        except Exception as e:
            log.warning("idle sandboxes not swept this time: %s", str(e).strip().splitlines()[0] if str(e) else e)

    def sweep(self, *, force: bool = False) -> list[tuple[str, str]]:
        """Drop sandboxes idle for longer than the TTL; at most once a minute across all processes.

        Each process looks at the shared claim at most once a minute by its own clock, so a
        plain run does not read the bookkeeping database for it.
        """
        if not force and not (self.sweep_due.due() and self.store.claim_sweep("idle-sandboxes", SWEEP_EVERY_SECONDS)):
            return []
        dropped = []
        idle_since = self.store.clock() - self.settings.sandbox_ttl_seconds
        for name, backend in self.backends.items():
            for visitor in self.store.idle_sandboxes(name, idle_since):
                # Unregistered first, and only if still idle: a visitor who just came back keeps it.
                if self.store.forget_sandbox(visitor, name, idle_since=idle_since):
                    self.recent.forget((visitor, name))
                    backend.drop_sandbox(visitor)
                    dropped.append((visitor, name))
        self.store.forget_old_pending_writes()
        return dropped
