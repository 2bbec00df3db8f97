"""One watchdog thread per process that stops statements running past their time limit (both engines).

A timer thread per statement cost more than a small query (starting a thread on a loaded
machine takes a fraction of a millisecond); one thread keeps every armed deadline in a heap and
sleeps until the nearest one.
"""

from __future__ import annotations

import heapq
import itertools
import os
import threading
import time
from collections.abc import Callable
from contextlib import suppress


class Alarm:
    """An armed deadline; `cancel` makes sure its callback does not run."""

    __slots__ = ("callback", "cancelled")

    def __init__(self, callback: Callable[[], None]) -> None:
        self.callback = callback
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class Watchdog:
    """`arm(seconds, callback)`: call `callback` (on the watchdog thread) after `seconds` unless cancelled."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, Alarm]] = []
        self._order = itertools.count()
        self._wake = threading.Condition(threading.Lock())
        self._pid = 0

    def arm(self, seconds: float, callback: Callable[[], None]) -> Alarm:
        alarm = Alarm(callback)
        with self._wake:
            self._ensure_thread()
            heapq.heappush(self._heap, (time.monotonic() + seconds, next(self._order), alarm))
            if self._heap[0][2] is alarm:
                self._wake.notify()
        return alarm

    def _ensure_thread(self) -> None:
        # A forked worker does not inherit the parent's thread.
        if self._pid != os.getpid():
            self._pid = os.getpid()
            self._heap.clear()
            threading.Thread(target=self._run, name="playground-watchdog", daemon=True).start()

    def _run(self) -> None:
        while True:
            with self._wake:
                while self._heap and self._heap[0][2].cancelled:
                    heapq.heappop(self._heap)
                if not self._heap:
                    self._wake.wait()
                    continue
                deadline, _, alarm = self._heap[0]
                wait = deadline - time.monotonic()
                if wait > 0:
                    self._wake.wait(wait)
                    continue
                heapq.heappop(self._heap)
            if not alarm.cancelled:
                with suppress(Exception):  # a failed cancel must not stop the watchdog
                    alarm.callback()


WATCHDOG = Watchdog()
