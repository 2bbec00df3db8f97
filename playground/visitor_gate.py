"""Per visitor (per sandbox, never per IP address: a classroom shares one), across every worker process:
at most `max_concurrent_runs` runs at once, and runs at most at `runs_per_minute` with bursts of `run_burst`.

Both live in small files of the data folder, `<data>/run-slots/<visitor>.*`, and the kernel does
the counting, so nothing is kept in a process's memory and nothing is written to a database:

* a run holds a non-blocking `flock` on one of the visitor's slot files (`<visitor>.0`, `.1`, ...)
  for as long as it runs; when every slot is held, the run is answered 429 at once. The kernel
  releases the lock when the run ends or its process dies, so a killed worker never leaks a slot.
* the rate is GCRA (a leaky bucket kept as one number, the "theoretical arrival time"): 8 bytes
  in `<visitor>.rate`, read and written under a short exclusive `flock` (a page-cache write, not
  a database write: no fsync, microseconds).

Why not PostgreSQL advisory locks: SQLite-only servers have no PostgreSQL, and each check would be
a round trip to the database; why not the bookkeeping database: the performance work took its
writes off the path of every run. The price: the counts are per server (per data folder);
several servers behind one address each allow a visitor that many.
"""

from __future__ import annotations

import fcntl
import math
import os
import struct
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from .backends.base import check_visitor_id
from .config import Limits
from .errors import Unavailable
from .messages import _, _n

_RATE = struct.Struct("d")


class TooManyRuns(Unavailable):
    """The visitor has as many runs going as one visitor may, or sends them faster than allowed.

    An Unavailable (nothing was done, it will work later): a commit refused here keeps its preview.
    """

    status = 429
    retry_after_seconds = 1


class VisitorGate:
    """`with gate.enter(visitor):` around everything that runs a visitor's SQL or rebuilds their sandbox."""

    def __init__(self, data_dir: Path, limits: Limits, *, clock: Callable[[], float] = time.time) -> None:
        self.folder = data_dir / "run-slots"
        self.folder.mkdir(parents=True, exist_ok=True)
        self.slots = limits.max_concurrent_runs
        self.per_minute = limits.runs_per_minute
        self.burst = limits.run_burst
        self._clock = clock

    @contextmanager
    def enter(self, visitor: str) -> Iterator[None]:
        """Count one run against the visitor's rate and hold one of their slots while it runs; else TooManyRuns."""
        check_visitor_id(visitor)
        self._take_turn(visitor)
        fd = self._take_slot(visitor)
        try:
            yield
        finally:
            os.close(fd)  # releases the flock

    def _take_slot(self, visitor: str) -> int:
        for slot in range(self.slots):
            fd = os.open(self.folder / f"{visitor}.{slot}", os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                continue
            except BaseException:
                os.close(fd)
                raise
            return fd
        raise TooManyRuns(
            _n(
                "You already have %(num)s run going, the most one visitor may have at once "
                "(PLAYGROUND_MAX_CONCURRENT_RUNS); wait for it to finish, then run again. Nothing was run.",
                "You already have %(num)s runs going, the most one visitor may have at once "
                "(PLAYGROUND_MAX_CONCURRENT_RUNS); wait for one to finish, then run again. Nothing was run.",
                self.slots,
            )
        )

    def _take_turn(self, visitor: str) -> None:
        """GCRA: a turn is allowed while the visitor is no more than `burst - 1` turns ahead of the rate."""
        interval = 60.0 / self.per_minute
        fd = os.open(self.folder / f"{visitor}.rate", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            raw = os.pread(fd, _RATE.size, 0)
            now = self._clock()
            arrival = max(_RATE.unpack(raw)[0] if len(raw) == _RATE.size else 0.0, now)
            ahead = arrival - now
            allowed_ahead = (self.burst - 1) * interval
            if ahead > allowed_ahead:
                wait = math.ceil(ahead - allowed_ahead)
                error = TooManyRuns(
                    _(
                        "You are running SQL faster than this server allows one visitor (%(rate)s runs a minute, "
                        "%(burst)s in a row; PLAYGROUND_RUNS_PER_MINUTE, PLAYGROUND_RUN_BURST); wait %(wait)s s and "
                        "run again. Nothing was run.",
                        rate=self.per_minute,
                        burst=self.burst,
                        wait=wait,
                    )
                )
                error.retry_after_seconds = wait
                raise error
            os.pwrite(fd, _RATE.pack(arrival + interval), 0)
        finally:
            os.close(fd)

    def forget(self, visitor: str) -> None:
        """Remove the visitor's files (their sandbox was swept away)."""
        check_visitor_id(visitor)
        for path in self.folder.glob(f"{visitor}.*"):
            path.unlink(missing_ok=True)
