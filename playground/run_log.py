"""The run log, batched per process: lines are kept in memory and written together, off the request.

Every run is observable, but a log line is not worth a transaction on the bookkeeping database per
request (under 32 connections those commits queue on one SQLite file). So `record` only appends to
a bounded buffer; a background thread writes what has gathered every `flush_seconds` (or sooner,
once `batch_size` lines wait), and `close` writes the rest at shutdown. A crash loses at most the
last few seconds of log lines, and never anything else: commit tokens are written synchronously by
the store, outside this buffer.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

log = logging.getLogger("playground.runs")

FLUSH_SECONDS = 2.0
BATCH_SIZE = 500
# Past this many unwritten lines (the database is down, say), the oldest are dropped and counted.
MAX_PENDING = 20_000


@dataclass(frozen=True)
class RunRecord:
    """One line of the run log: who ran what, on which engine, and what came of it."""

    visitor: str
    engine: str
    action: str
    outcome: str
    sql: str | None = None
    parameter_rows: int | None = None
    rowcount: int | None = None
    elapsed_ms: float | None = None
    error: str | None = None
    at: float = 0.0  # when it happened (time.time()); 0 means "when recorded"
    work: str | None = None  # the run's SQL, grid and engine as JSON, for the visitor's History


class RunLogBuffer:
    """Lines waiting to be written by `write` (one call, one transaction, per batch)."""

    def __init__(
        self,
        write: Callable[[Sequence[RunRecord]], None],
        *,
        flush_seconds: float = FLUSH_SECONDS,
        batch_size: int = BATCH_SIZE,
        max_pending: int = MAX_PENDING,
    ) -> None:
        self._write = write
        self.flush_seconds = flush_seconds
        self.batch_size = batch_size
        self._pending: deque[RunRecord] = deque(maxlen=max_pending)
        self.dropped = 0  # lines lost because the buffer was full
        self._lock = threading.Lock()  # appending and taking a batch
        self._flushing = threading.Lock()  # one writer at a time, so lines land in order
        self._wake = threading.Event()
        self._closed = False
        self._thread: threading.Thread | None = None
        self._pid = 0
        # At interpreter exit, whatever is still pending is written (a weak reference: the
        # buffer of a service that was thrown away is not kept alive by atexit).
        ref = weakref.ref(self)
        atexit.register(lambda: (buffer := ref()) is not None and buffer.close())

    def record(self, record: RunRecord) -> None:
        """Keep a line for the next batch; never blocks on the database."""
        if record.at == 0.0:
            record = _stamped(record)
        with self._lock:
            if len(self._pending) == self._pending.maxlen:
                self.dropped += 1
            self._pending.append(record)
            waiting = len(self._pending)
        self._ensure_thread()
        if waiting >= self.batch_size:
            self._wake.set()

    def pending(self) -> int:
        with self._lock:
            return len(self._pending)

    def flush(self) -> None:
        """Write every pending line now, in order (the background thread does this on its own)."""
        with self._flushing:
            while True:
                with self._lock:
                    batch = list(self._pending)
                    self._pending.clear()
                if not batch:
                    return
                try:
                    self._write(batch)
                except Exception:
                    self._put_back(batch)
                    raise

    def _put_back(self, batch: list[RunRecord]) -> None:
        """The database is away: the lines go back in front, the oldest dropped past the bound."""
        with self._lock:
            room = max((self._pending.maxlen or 0) - len(self._pending), 0)
            kept = batch[len(batch) - room :] if room else []
            self.dropped += len(batch) - len(kept)
            self._pending.extendleft(reversed(kept))

    def close(self) -> None:
        """Write what is pending and stop the background thread; later lines are written at once."""
        self._closed = True
        self._wake.set()
        try:
            self.flush()
        except Exception:
            log.exception("the last run log lines could not be written")

    def _ensure_thread(self) -> None:
        # After a fork (gunicorn's workers), the parent's thread does not exist in the child.
        if self._thread is not None and self._pid == os.getpid() and self._thread.is_alive():
            return
        if self._closed:
            self.flush()
            return
        with self._lock:
            if self._thread is not None and self._pid == os.getpid() and self._thread.is_alive():
                return
            self._pid = os.getpid()
            self._thread = threading.Thread(target=self._run, name="playground-run-log", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        failing = False
        while not self._closed:
            self._wake.wait(self.flush_seconds)
            self._wake.clear()
            try:
                self.flush()
            except Exception as e:
                # Said once, in one line (a full disk or a database away lasts a while), then quietly retried.
                level = logging.DEBUG if failing else logging.WARNING
                text = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
                log.log(level, "run log lines not written yet (they are kept and retried): %s", text, exc_info=failing)
                failing = True
                time.sleep(self.flush_seconds)
                continue
            if failing:
                log.warning("run log lines are written again")
                failing = False


def _stamped(record: RunRecord) -> RunRecord:
    return replace(record, at=time.time())
