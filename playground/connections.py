"""The PostgreSQL connection budget: every connection a server can hold at once, checked against the server's slots.

PostgreSQL refuses a connection past `max_connections`; a playground that finds that out in the
middle of a class answers students with errors. So the connections are counted as a whole, from
the workers and threads, and checked once at start-up (`playground serve` stops with one line if
they cannot fit, and picks fewer workers by itself when their number was not given).

Per worker process:
- **runs**: one sandbox connection per thread (a run, a commit or the schema pane holds one at
  a time, and a thread serves one request at a time);
- **idle**: the sandbox connections the worker keeps between runs (`PLAYGROUND_POSTGRES_IDLE_CONNECTIONS`,
  see backends/pg_pool.py);
- **bookkeeping**: a small pool (`STORE_POOL`) for tokens, the registry and the run log;
- **admin**: a small pool (`ADMIN_POOL`) for making, resetting and dropping sandboxes, and for
  each of its connections one more while a new sandbox's sample is handed over (a connection to
  that sandbox's database), or while a sandbox's role ends its idle kept connections before a
  drop (pg_sandboxes, when the admin may not signal); and `BACKGROUND` more for the thread that makes spare sandboxes ahead
  of time (pg_spares: every worker's opens one to ask for the lock, one worker's keeps it).
For the whole server, `TOOLS` more: the master's start-up check (before the workers start),
`playground sweep` from cron, an administrator's psql.

A request that finds a pool empty waits up to `POOL_TIMEOUT_SECONDS` for a connection, then gets
a 503 "busy, try again"; so does one that PostgreSQL refuses anyway (another application took
the slots).
"""

from __future__ import annotations

from dataclasses import dataclass

from .config import ConfigError


@dataclass(frozen=True)
class PoolSize:
    size: int  # connections kept open
    overflow: int  # more, opened while needed and closed after

    @property
    def most(self) -> int:
        return self.size + self.overflow


STORE_POOL = PoolSize(size=1, overflow=1)
ADMIN_POOL = PoolSize(size=1, overflow=1)
BACKGROUND = 1
POOL_TIMEOUT_SECONDS = 10.0
TOOLS = 3
# Connections that log in as the admin role, per worker.
_ADMIN_ROLE = 2 * ADMIN_POOL.most + BACKGROUND


@dataclass(frozen=True)
class ServerSlots:
    """What the PostgreSQL server lets the admin role have (read at start-up)."""

    max_connections: int
    reserved: int  # superuser_reserved_connections (+ reserved_connections on PostgreSQL 16+)
    role_limit: int  # the admin role's CONNECTION LIMIT, -1 for none
    database_limit: int  # the admin database's CONNECTION LIMIT, -1 for none

    @property
    def available(self) -> int:
        """Connections for roles that are not superusers (every sandbox role, the admin role in a good set-up)."""
        return self.max_connections - self.reserved


@dataclass(frozen=True)
class ConnectionBudget:
    """The most connections a server of `workers` x `threads` can hold at once."""

    workers: int
    threads: int
    idle: int = 0  # sandbox connections kept between runs, per worker

    @property
    def per_worker(self) -> int:
        return self.threads + self.idle + STORE_POOL.most + _ADMIN_ROLE

    @property
    def total(self) -> int:
        return self.workers * self.per_worker + TOOLS

    @property
    def as_admin_role(self) -> int:
        """Bookkeeping, admin and hand-over connections: those that log in as the admin role."""
        return self.workers * (STORE_POOL.most + _ADMIN_ROLE) + TOOLS

    @property
    def to_admin_database(self) -> int:
        return self.workers * (STORE_POOL.most + ADMIN_POOL.most + BACKGROUND) + TOOLS

    def explain(self) -> str:
        idle = f" + {self.idle} idle" if self.idle else ""
        return (
            f"{self.workers} workers x ({self.threads} threads{idle} + {STORE_POOL.most} bookkeeping + "
            f"{_ADMIN_ROLE} admin) + {TOOLS} = {self.total}"
        )

    def check(self, slots: ServerSlots) -> None:
        """Raise ConfigError (one line) if the server may refuse one of these connections."""
        advice = "lower PLAYGROUND_WORKERS or PLAYGROUND_THREADS, or raise PostgreSQL's max_connections"
        if self.total > slots.available:
            raise ConfigError(
                f"the PostgreSQL connection budget does not fit: {self.explain()} connections, but the server "
                f"allows {slots.available} (max_connections {slots.max_connections} - {slots.reserved} reserved); {advice}"
            )
        if 0 <= slots.role_limit < self.as_admin_role:
            raise ConfigError(
                f"the PostgreSQL admin role may hold {slots.role_limit} connections (its CONNECTION LIMIT), but "
                f"{self.workers} workers need up to {self.as_admin_role}; lower PLAYGROUND_WORKERS or raise the limit"
            )
        if 0 <= slots.database_limit < self.to_admin_database:
            raise ConfigError(
                f"the PostgreSQL admin database takes {slots.database_limit} connections (its CONNECTION LIMIT), "
                f"but {self.workers} workers need up to {self.to_admin_database}; lower PLAYGROUND_WORKERS or raise the limit"
            )


def workers_that_fit(wanted: int, threads: int, slots: ServerSlots, idle: int = 0) -> int:
    """The most workers, up to `wanted`, whose budget fits the server (0 if not even one does)."""
    fitting = 0
    for workers in range(1, wanted + 1):
        try:
            ConnectionBudget(workers, threads, idle).check(slots)
        except ConfigError:
            break
        fitting = workers
    return fitting
