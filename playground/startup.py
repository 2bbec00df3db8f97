"""Start-up work on shared objects: done once, under a lock, idempotent; and a worker that waits out a race.

Every worker process builds the service when it boots, and a server has many workers (and a
deployment may have several servers) booting at the same moment. What they share (the
bookkeeping tables, the PostgreSQL secret and template, the SQLite sample) is therefore first
looked at without a lock, which is all a worker does once it exists; only when something is
missing does one process at a time make it, under a lock (a PostgreSQL advisory lock, or a file
lock beside the SQLite file), looking again once it holds the lock.

gunicorn stops the whole server when a worker fails to boot. `boot_with_retries` keeps a worker
from doing that for a fault it can wait out (a start-up race, a database that is busy or
restarting): it tries again with a growing pause, and if the fault lasts, the worker exits with
an ordinary code so that gunicorn simply starts another one.
"""

from __future__ import annotations

import fcntl
import hashlib
import importlib
import logging
import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from .faults import retryable

log = logging.getLogger("playground.startup")

T = TypeVar("T")

# A worker waits out a fault for about this long before it gives up and lets gunicorn replace it.
BOOT_PATIENCE_SECONDS = 30.0
# The exit code of a worker that gave up: anything but gunicorn's "failed to boot" (3), which halts the server.
GAVE_UP_EXIT_CODE = 1


def lock_key(name: str) -> int:
    """A PostgreSQL advisory lock key (a signed 64-bit integer) for a name."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


@contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """An exclusive lock on `path` (made if missing) across processes; released when the block ends or the process dies."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def boot_with_retries(
    build: Callable[[], T],
    *,
    patience_seconds: float = BOOT_PATIENCE_SECONDS,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """`build()`, tried again while it fails with a fault it can wait out; a lasting one ends only this process."""
    deadline = time.monotonic() + patience_seconds
    pause = 0.1
    attempt = 1
    while True:
        try:
            return build()
        except Exception as e:
            if not retryable(e):
                raise
            if time.monotonic() + pause > deadline:
                log.error("worker %s gives up booting after %d attempts: %s", os.getpid(), attempt, _first_line(e))
                sys.exit(GAVE_UP_EXIT_CODE)
            log.warning("worker %s boots again in %.1f s: %s", os.getpid(), pause, _first_line(e))
        sleep(pause)
        pause = min(pause * 2, 5.0)
        attempt += 1


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0] if text else ''}"


def load_app_in_worker() -> Any:
    """In a gunicorn worker: the app, built from the package as it is on disk now, waiting out faults.

    The master imported the package before it forked (its start-up check builds the service), so
    a worker would otherwise run the master's copy of the code for ever: after `pip install` of a
    new version and a HUP, the new workers must run the new code. Forgetting the package's
    modules makes the import read them again.
    """
    for name in [n for n in sys.modules if n == "playground" or n.startswith("playground.")]:
        del sys.modules[name]

    def build() -> Any:
        return importlib.import_module("playground").create_app()

    return boot_with_retries(build)


def announce_ready(worker: Any) -> None:
    """gunicorn's post_worker_init: one line once a worker has loaded the app and takes requests."""
    worker.log.info("playground worker %s ready", worker.pid)
