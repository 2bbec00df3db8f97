"""Faults of the infrastructure, as a visitor hears them: a full disk, a database that refuses a connection.

Neither is the visitor's doing, nor a bug: the answer says what happened, that nothing was
changed, and to try again later (507 for a full disk, 503 for a busy or unreachable database),
never a 500. `translate` turns an exception from the bookkeeping database, a sandbox, a pool or
the file system into that answer, or returns None for anything else (a real bug stays a 500).
`answering_faults` does it around a block; `retryable` says whether a worker booting may simply
try again (a start-up race, a busy database) rather than stop the whole server.
"""

from __future__ import annotations

import errno
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg2
import sqlalchemy.exc

from .errors import DiskFull, ServerBusy, Unavailable, UserError
from .messages import _

BUSY = _(
    "The server is busy right now (its database has no free connection); nothing was changed. Try again in a moment."
)
UNREACHABLE = _("The server cannot reach its database right now; nothing was changed. Try again in a moment.")
# TRANSLATORS: the default "what" of "... %(what)s could not be saved".
THIS_REQUEST = _("this request")

# What PostgreSQL and libpq say when a connection is refused for want of a slot, or the server is away.
_FULL_SERVER = (
    "too many clients",
    "remaining connection slots are reserved",
    "too many connections for database",
    "too many connections for role",
)
_SERVER_AWAY = (
    "could not connect",
    "connection refused",
    "server closed the connection unexpectedly",
    "terminating connection due to administrator command",
    "the database system is starting up",
    "the database system is shutting down",
    "the database system is in recovery mode",
    "connection to server",
    "no connection to the server",
)
# SQLSTATEs of a start-up race on a catalog row or a lock: trying again is the cure.
_RACES = {
    "XX000": "tuple concurrently updated / deleted",
    "40001": "serialization failure",
    "40P01": "deadlock",
    "23505": "unique violation (two processes creating the same object)",
    "42P07": "duplicate table",
    "42710": "duplicate object",
    "55P03": "lock not available",
}


def disk_full(what: str) -> DiskFull:
    """The answer when `what` (a preview, a commit, your sandbox) cannot be written for want of disk space."""
    return DiskFull(
        _(
            "The server's disk is full: %(what)s could not be saved, and nothing was changed. "
            "Reading still works; try again once space has been freed.",
            what=what,
        )
    )


def translate(exc: BaseException, what: str = THIS_REQUEST) -> Unavailable | None:
    """The 503/507 answer for an infrastructure fault, or None if `exc` is something else."""
    if isinstance(exc, UserError):
        return exc if isinstance(exc, Unavailable) else None
    if isinstance(exc, sqlalchemy.exc.TimeoutError):
        return ServerBusy(BUSY)  # no connection came free in the pool in time
    original = exc.orig if isinstance(exc, sqlalchemy.exc.DBAPIError) and exc.orig is not None else exc
    if _is_disk_full(original):
        return disk_full(what)
    if isinstance(original, psycopg2.Error):
        text = str(original).lower()
        if original.pgcode == "53300" or any(s in text for s in _FULL_SERVER):
            return ServerBusy(BUSY)
        if original.pgcode == "57P03" or (
            isinstance(original, psycopg2.OperationalError) and any(s in text for s in _SERVER_AWAY)
        ):
            return ServerBusy(UNREACHABLE)
    return None


def _is_disk_full(exc: BaseException) -> bool:
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    if isinstance(exc, sqlite3.Error) and (
        getattr(exc, "sqlite_errorname", "") == "SQLITE_FULL" or "database or disk is full" in str(exc)
    ):
        return True
    return isinstance(exc, psycopg2.Error) and exc.pgcode == "53100"


@contextmanager
def answering_faults(what: str = THIS_REQUEST) -> Iterator[None]:
    """Inside: an infrastructure fault leaves as its 503/507 answer; everything else as it was."""
    try:
        yield
    except Exception as e:
        translated = translate(e, what)
        if translated is None or translated is e:
            raise
        raise translated from e


def retryable(exc: BaseException) -> bool:
    """A fault a booting worker may wait out: a start-up race on a shared object, a busy or restarting database."""
    if isinstance(exc, UserError):
        return isinstance(exc, Unavailable)
    original = exc.orig if isinstance(exc, sqlalchemy.exc.DBAPIError) and exc.orig is not None else exc
    if isinstance(original, psycopg2.Error) and original.pgcode in _RACES:
        return True
    return translate(exc) is not None
