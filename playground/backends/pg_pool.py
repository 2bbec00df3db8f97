"""Connections of the sandbox roles, kept open between runs: a small pool per process.

Logging in is most of what a PostgreSQL run costs when nothing else is: a new backend process,
authentication, and the catalog caches that its first queries fill. So a process keeps a few
connections it used lately, each still logged in as its sandbox's role (the boundary is
unchanged: a connection never changes role, and a sandbox's connection only ever serves that
sandbox), within these bounds:

* at most one idle connection per sandbox, and at most `most` idle ones in the process, least
  recently used out first: they count in the server's connection budget (connections.py);
* idle for at most `idle_seconds`: this process closes older ones when it next looks, and the
  server itself ends a session idle that long (`idle_session_timeout`, PostgreSQL 14+), so a
  process that goes quiet does not hold connections;
* a connection is kept only while its role has fewer than `PER_ROLE` other idle connections on
  the server: the rest of the role's CONNECTION LIMIT stays free for its concurrent runs, which
  past the limit are still told to wait (429);
* between runs the session is reset as a new one would be (`reset`: ROLLBACK, then DISCARD ALL:
  settings, role, temporary tables, prepared statements, cursors, LISTEN, session advisory locks,
  cached sequence values and plans; and the session's statistics reported, so that the next
  run's write evidence starts from zero); a connection that cannot be reset, whose statement the
  watchdog cancelled (a cancel request can arrive late), or that is in any doubt, is closed.
  Before PostgreSQL 15 (no pg_stat_force_next_flush) nothing is kept.
* `forget(name)` closes a sandbox's idle connections and refuses those still out when they come
  back: before its database is reset or dropped. Connections in other processes are ended by
  the drop itself (DROP DATABASE ... WITH (FORCE), or the role ending its own idle sessions);
  their process finds them dead when it takes them out (`alive`) and logs in again.
"""

from __future__ import annotations

import select
import threading
import time
from collections import OrderedDict
from typing import Any

import psycopg2.extensions
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.pool import ConnectionPoolEntry, Pool

# Idle connections of one role (in every process) past which one that comes back is closed, not kept.
PER_ROLE = 2
# Set by the watchdog on a connection whose statement it cancelled.
CANCELLED_KEY = "playground.pg.cancelled"
_GENERATION = "playground.pg.generation"
_KEEP = "playground.pg.keep"
_SINCE = "playground.pg.idle_since"
_POOL_KEYS = frozenset({_GENERATION, _KEEP, _SINCE})
# After DISCARD ALL: the statistics this session has not reported yet are reported before the
# server answers (pg_stat_force_next_flush, PostgreSQL 15+): the next run's write evidence reads
# its transaction's own counts, which otherwise would include the earlier runs' (pg_evidence).
# And the other idle connections of this role: past PER_ROLE, this one is not kept.
_AFTER_DISCARD = (
    "SELECT pg_catalog.pg_stat_force_next_flush(), pg_catalog.count(*) FROM pg_catalog.pg_stat_get_activity(NULL) a "
    "WHERE a.usesysid = (SELECT usesysid FROM pg_catalog.pg_stat_get_activity(pg_catalog.pg_backend_pid())) "
    "AND a.pid <> pg_catalog.pg_backend_pid() AND a.state = 'idle' AND a.backend_type = 'client backend'"
)


class IdleConnections:
    """The process's idle sandbox connections: one per sandbox at most, `most` in all, LRU."""

    def __init__(self, most: int, idle_seconds: float) -> None:
        self.most = most
        self.idle_seconds = idle_seconds
        self._idle: OrderedDict[str, ConnectionPoolEntry] = OrderedDict()
        self._generations: dict[str, int] = {}
        self._lock = threading.Lock()

    def generation(self, name: str) -> int:
        return self._generations.get(name, 0)

    def take(self, name: str) -> ConnectionPoolEntry | None:
        """The sandbox's idle connection, if it has one young enough."""
        with self._lock:
            record = self._idle.pop(name, None)
        if record is not None and time.monotonic() - record.info.get(_SINCE, 0) > self.idle_seconds:
            record.close()
            return None
        return record

    def put(self, name: str, record: ConnectionPoolEntry) -> None:
        """Keep a connection that came back, if it may be kept; close what no longer fits."""
        closing = []
        keep = (
            self.most > 0
            and record.info.pop(_KEEP, False)
            and record.info.get(_GENERATION) == self.generation(name)
            and _idle_and_open(record.dbapi_connection)
        )
        now = time.monotonic()
        with self._lock:
            if keep:
                record.info[_SINCE] = now
                old = self._idle.pop(name, None)
                if old is not None:
                    closing.append(old)
                self._idle[name] = record
            else:
                closing.append(record)
            while len(self._idle) > self.most:
                closing.append(self._idle.popitem(last=False)[1])
            # Least recently used first: the oldest idle ones are at the front.
            while self._idle:
                oldest = next(iter(self._idle.values()))
                if now - oldest.info.get(_SINCE, now) <= self.idle_seconds:
                    break
                closing.append(self._idle.popitem(last=False)[1])
        for old in closing:
            old.close()

    def forget(self, name: str) -> None:
        """Close the sandbox's idle connection; those out now are closed when they come back."""
        with self._lock:
            self._generations[name] = self.generation(name) + 1
            record = self._idle.pop(name, None)
        if record is not None:
            record.close()

    def clear(self) -> None:
        with self._lock:
            records = list(self._idle.values())
            self._idle.clear()
            for name in list(self._generations):
                self._generations[name] += 1
        for record in records:
            record.close()

    def __len__(self) -> int:
        return len(self._idle)


class SandboxPool(Pool):
    """An engine's pool for one sandbox: its idle connection lives in the process's IdleConnections."""

    def __init__(self, creator: Any, *, idle: IdleConnections, name: str, **kwargs: Any) -> None:
        self._idle_connections = idle
        self._name = name
        super().__init__(creator, **kwargs)

    def _do_get(self) -> ConnectionPoolEntry:
        return self._idle_connections.take(self._name) or self._create_connection()

    def _do_return_conn(self, record: ConnectionPoolEntry) -> None:
        self._idle_connections.put(self._name, record)

    def dispose(self) -> None:
        self._idle_connections.forget(self._name)

    def recreate(self) -> SandboxPool:
        return SandboxPool(
            self._creator,
            idle=self._idle_connections,
            name=self._name,
            recycle=self._recycle,
            reset_on_return=self._reset_on_return,
            echo=self.echo,
            logging_name=self._orig_logging_name,
            _dispatch=self.dispatch,
            dialect=self._dialect,
        )

    def status(self) -> str:
        return f"SandboxPool {self._name}"


def pool_sandbox_connections(engine: Engine, idle: IdleConnections, name: str) -> None:
    """Listen on the engine's pool: tag new connections, check taken ones, reset returned ones."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
        record.info[_GENERATION] = idle.generation(name)

    @event.listens_for(engine, "checkout")
    def _on_checkout(dbapi_connection: Any, record: ConnectionPoolEntry, proxy: Any) -> None:
        record.info.pop(_KEEP, None)
        # What a run noted on the connection (committed, the write evidence...) was that run's.
        for key in [k for k in record.info if k.startswith("playground.") and k not in _POOL_KEYS]:
            del record.info[key]
        if record.info.get(_GENERATION) != idle.generation(name) or not alive(dbapi_connection):
            # SQLAlchemy closes it and logs in again (once more at most).
            raise DisconnectionError("a pooled sandbox connection was ended or its sandbox replaced")

    @event.listens_for(engine, "reset")
    def _on_reset(dbapi_connection: Any, record: ConnectionPoolEntry, state: Any) -> None:
        if state.terminate_only or idle.most <= 0 or record.info.pop(CANCELLED_KEY, False):
            return
        record.info[_KEEP] = reset(dbapi_connection)


def alive(raw: Any) -> bool:
    """Nothing has arrived on an idle connection: a server that ended the session has said so, or closed it."""
    if raw.closed:
        return False
    try:
        poll = select.poll()  # not select(): a worker may hold more than 1024 files
        poll.register(raw.fileno(), select.POLLIN | select.POLLERR | select.POLLHUP)
        return not poll.poll(0)
    except (OSError, ValueError, psycopg2.Error):
        return False


def reset(raw: Any) -> bool:
    """End the run's transaction and reset the session; True if the connection may serve another run.

    DISCARD ALL is what a new session would look like (it cannot run inside a transaction, so
    alone, in autocommit). Then: keep it only while few other idle connections of its role exist.
    """
    try:
        if raw.closed:
            return False
        raw.rollback()
        raw.autocommit = True
        try:
            with raw.cursor() as cur:
                cur.execute("DISCARD ALL")
                cur.execute(_AFTER_DISCARD)
                others = cur.fetchone()[1]
        finally:
            raw.autocommit = False
    except Exception:  # noqa: BLE001 - a connection that cannot be reset is closed, never an error
        return False
    return others < PER_ROLE and _idle_and_open(raw)


def _idle_and_open(raw: Any) -> bool:
    try:
        return not raw.closed and raw.info.transaction_status == psycopg2.extensions.TRANSACTION_STATUS_IDLE
    except Exception:  # noqa: BLE001
        return False
