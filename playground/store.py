"""The playground's own bookkeeping: pending writes (commit tokens), the sandbox registry, the run log.

It lives in a database, never in a process's memory, so that several worker processes (and
several servers sharing PLAYGROUND_DATABASE_URL) behave as one: a preview made by one process can
be committed by another, and a replayed commit is refused by all of them.

Commit tokens are written synchronously, each in its own transaction. The run log is not: its
lines are batched per process (`run_log.RunLogBuffer`) and written off the request, so a run that
changes nothing writes nothing here (the service keeps the registry's "last used" coarse, see
`housekeeping`).
"""

from __future__ import annotations

import json
import re
import secrets
import time
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any, overload

from sqlalchemy import (
    Column,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    delete,
    event,
    func,
    insert,
    inspect,
    select,
    update,
)
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError

from .config import postgres_url
from .connections import POOL_TIMEOUT_SECONDS, STORE_POOL
from .errors import TokenSpent, TokenUnknown
from .faults import answering_faults
from .messages import _
from .run_log import FLUSH_SECONDS, RunLogBuffer, RunRecord
from .startup import file_lock, lock_key

__all__ = ["PendingWrite", "RunRecord", "Store"]

metadata = MetaData()

pending_writes = Table(
    "playground_pending_writes",
    metadata,
    Column("token", String(64), primary_key=True),
    Column("visitor", String(64), nullable=False, index=True),
    Column("engine", String(20), nullable=False),
    Column("request", Text, nullable=False),  # the SQL and the parameters, as the user sent them
    Column("counts", Text, nullable=False),  # per-statement row counts the preview showed
    Column("created_at", Float, nullable=False),
    Column("used_at", Float),
    Column("outcome", String(20)),  # committed, conflict, discarded, failed
)

sandboxes = Table(
    "playground_sandboxes",
    metadata,
    Column("visitor", String(64), primary_key=True),
    Column("engine", String(20), primary_key=True),
    Column("created_at", Float, nullable=False),
    Column("last_used_at", Float, nullable=False, index=True),
)

runs = Table(
    "playground_runs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", Float, nullable=False, index=True),
    Column("visitor", String(64), nullable=False),
    Column("engine", String(20), nullable=False),
    Column("action", String(20), nullable=False),  # run, commit, discard, reset
    Column("sql", Text),
    Column("parameter_rows", Integer),
    Column("outcome", String(20), nullable=False),  # result, preview, committed, conflict, error, refused
    Column("rowcount", Integer),
    Column("elapsed_ms", Float),
    Column("error", Text),
    # What History reopens: the run's SQL, grid and engine (RunRequest.to_json()), for runs and commits.
    Column("work", Text),
    Index("ix_playground_runs_visitor_at", "visitor", "at"),
)

housekeeping = Table(
    "playground_housekeeping",
    metadata,
    Column("name", String(40), primary_key=True),
    Column("at", Float, nullable=False),
)

# -- the classroom (the teacher's dashboard, playground/classroom.py) ---------------------------

students = Table(
    "playground_students",
    metadata,
    Column("visitor", String(64), primary_key=True),
    Column("name", String(200), nullable=False),  # the display name the student chose
    Column("named_at", Float, nullable=False),
)

# The class's settings every worker reads: read-only, the published lesson, the starting data.
class_state = Table(
    "playground_class_state",
    metadata,
    Column("name", String(60), primary_key=True),
    Column("value", Text, nullable=False),
    Column("at", Float, nullable=False),
)

teacher_actions = Table(
    "playground_teacher_actions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", Float, nullable=False, index=True),
    Column("action", String(40), nullable=False),
    Column("detail", Text, nullable=False),
)

teacher_logins = Table(
    "playground_teacher_logins",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", Float, nullable=False),
    Column("client", String(100), nullable=False),
    Column("succeeded", Integer, nullable=False),
    Index("ix_playground_teacher_logins_client_at", "client", "at"),
)

READ_ONLY = "read_only"
STARTING_DATA = "starting_data:{engine}"  # JSON: {"name": ..., "sql": ..., "at": ...}


def starting_point(store: Store, engine: str) -> Callable[[], str | None]:
    """What an engine asks when it makes or resets a sandbox: the name of the teacher's starting data, if any."""

    def current() -> str | None:
        raw = store.class_value(STARTING_DATA.format(engine=engine))
        if not raw:
            return None
        name = json.loads(raw).get("name")
        return name if isinstance(name, str) else None

    return current


# A preview can be committed for this long; after that it must be run again.
PENDING_WRITE_TTL = 3600.0
# What a token looks like (secrets.token_urlsafe): anything else is unknown without a lookup, so that
# text the database cannot hold (a NUL, on PostgreSQL) never reaches it.
_TOKEN_SHAPE = re.compile(r"[A-Za-z0-9_-]{1,200}")
_NO_SUCH_PREVIEW = _("There is no such preview to commit or discard; run the SQL again.")
_LOGGED_SQL_CHARS = 4000


_SPENT_MESSAGES = {
    "committed": _("This preview was already committed; nothing was applied again."),
    # Only Discard meets this one: a Commit of a token left "committing" asks the sandbox instead.
    "committing": _("This preview's commit started and may have been applied; press Commit to find out."),
    "conflict": _("This preview was replaced by a newer one (the data had changed); nothing was applied."),
    "failed": _("This preview's commit failed; nothing was applied. Run the SQL again."),
    "discarded": _("This preview was discarded; nothing was applied."),
    "expired": _(
        "This preview's commit was cut short and the preview has expired; it was not applied. Run the SQL again."
    ),
}


@dataclass(frozen=True)
class PendingWrite:
    """A previewed write waiting for Commit or Discard."""

    token: str
    visitor: str
    engine: str
    request: dict[str, Any]
    counts: list[int]
    # An earlier commit of this token was cut short (a crash, a lost connection): only the sandbox
    # knows whether it was applied (see Playground.commit).
    resumed: bool = False
    expired: bool = False


class Store:
    """Bookkeeping on the administrative database (PostgreSQL) or a SQLite file in the data folder."""

    def __init__(
        self, url: str, *, clock: Callable[[], float] = time.time, run_log_flush_seconds: float = FLUSH_SECONDS
    ) -> None:
        self.clock = clock  # wall-clock time, as stored in the tables
        if url.startswith("sqlite"):
            self.engine: Engine = create_engine(url, pool_pre_ping=True)
        else:
            # Small: its connections count in the server's connection budget (see connections.py).
            self.engine = create_engine(
                postgres_url(url),
                pool_pre_ping=True,
                pool_size=STORE_POOL.size,
                max_overflow=STORE_POOL.overflow,
                pool_timeout=POOL_TIMEOUT_SECONDS,
                connect_args={"connect_timeout": 10, "application_name": "playground-bookkeeping"},
            )
        if self.engine.dialect.name == "sqlite":

            @event.listens_for(self.engine, "connect")
            def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
                dbapi_connection.execute("PRAGMA journal_mode = WAL")
                dbapi_connection.execute("PRAGMA busy_timeout = 10000")
                # WAL with NORMAL: a commit is not synced to disk on its own (every page's Run keeps
                # a snapshot here: a commit each). A crash of the process loses nothing; a power
                # cut may lose the last commits, never the file: a commit token is then settled by
                # the sandbox's own commit log, which is the truth of whether a write was applied.
                dbapi_connection.execute("PRAGMA synchronous = NORMAL")

        self._create_tables()
        self.run_log = RunLogBuffer(self._write_runs, flush_seconds=run_log_flush_seconds)

    def close(self) -> None:
        """Write the pending run log lines and let go of the connections."""
        self.run_log.close()
        self.engine.dispose()

    def _create_tables(self) -> None:
        """Create (or bring up to date) what is missing, once: looked at without a lock, made under one (see startup.py)."""
        if self._up_to_date():
            return
        if self.engine.dialect.name == "postgresql":
            with self.engine.begin() as conn:
                # Held until this transaction ends; PostgreSQL's DDL is transactional, so the next
                # holder sees the tables this one made.
                conn.execute(select(func.pg_advisory_xact_lock(lock_key("playground:bookkeeping"))))
                metadata.create_all(conn)
                _add_missing_columns(conn)
            return
        database = self.engine.url.database
        lock = Path(f"{database}.setup-lock") if database and database != ":memory:" else None
        with file_lock(lock) if lock else nullcontext(), self.engine.begin() as conn:
            metadata.create_all(conn)
            _add_missing_columns(conn)

    def _up_to_date(self) -> bool:
        with self.engine.connect() as conn:
            inspector = inspect(conn)
            if not set(metadata.tables) <= set(inspector.get_table_names()):
                return False
            columns = {c["name"] for c in inspector.get_columns(runs.name)}
            indexes = {i["name"] for i in inspector.get_indexes(runs.name)}
        return set(runs.columns.keys()) <= columns and {i.name for i in runs.indexes} <= indexes

    # -- pending writes ---------------------------------------------------------------------

    @answering_faults(_("your preview's commit token"))
    def create_pending_write(self, visitor: str, engine: str, request: dict[str, Any], counts: list[int]) -> str:
        token = secrets.token_urlsafe(24)
        with self.engine.begin() as conn:
            conn.execute(
                insert(pending_writes).values(
                    token=token,
                    visitor=visitor,
                    engine=engine,
                    request=json.dumps(request),
                    counts=json.dumps(counts),
                    created_at=self.clock(),
                )
            )
        return token

    @answering_faults(_("your commit"))
    def claim_pending_write(self, visitor: str, token: str, outcome: str) -> PendingWrite:
        """Mark the write as used, once: a second claim of the same token (a replay) fails.

        A token an earlier commit left "committing" (it was cut short, or is still running) is
        handed to a new commit as `resumed`: the sandbox's own commit log says whether that
        earlier one was applied, and lets exactly one commit apply it otherwise.
        """
        if not _TOKEN_SHAPE.fullmatch(token):
            raise TokenUnknown(_NO_SUCH_PREVIEW)
        now = self.clock()
        mine = (pending_writes.c.token == token, pending_writes.c.visitor == visitor)
        columns = (pending_writes.c.engine, pending_writes.c.request, pending_writes.c.counts)
        with self.engine.begin() as conn:
            # One statement claims and reads: only the caller whose UPDATE finds it unused gets the row.
            claimed = conn.execute(
                update(pending_writes)
                .where(
                    *mine,
                    pending_writes.c.used_at.is_(None),
                    pending_writes.c.created_at > now - PENDING_WRITE_TTL,
                )
                .values(used_at=now, outcome=outcome)
                .returning(*columns)
            ).one_or_none()
            if claimed is not None:
                return _pending(token, visitor, claimed)
            row = conn.execute(
                select(pending_writes.c.used_at, pending_writes.c.outcome, pending_writes.c.created_at, *columns).where(
                    *mine
                )
            ).one_or_none()
        if row is None:
            raise TokenUnknown(_NO_SUCH_PREVIEW)
        if row.used_at is None:
            raise TokenSpent(_("This preview has expired; run the SQL again to see a fresh one."))
        if row.outcome == "committing" and outcome == "committing":
            return _pending(token, visitor, row, resumed=True, expired=row.created_at <= now - PENDING_WRITE_TTL)
        raise TokenSpent(_SPENT_MESSAGES.get(row.outcome or "", _SPENT_MESSAGES["committed"]))

    @answering_faults(_("your preview's state"))
    def pending_write_outcome(self, visitor: str, token: str) -> str | None:
        """What became of a preview: "pending" (it can still commit), its outcome, "expired", or None if unknown."""
        if not _TOKEN_SHAPE.fullmatch(token):
            return None
        with self.engine.connect() as conn:
            row = conn.execute(
                select(pending_writes.c.used_at, pending_writes.c.outcome, pending_writes.c.created_at).where(
                    pending_writes.c.token == token, pending_writes.c.visitor == visitor
                )
            ).one_or_none()
        if row is None:
            return None
        if row.used_at is None:
            return "pending" if row.created_at > time.time() - PENDING_WRITE_TTL else "expired"
        return str(row.outcome or "committed")

    @answering_faults(_("the commit's outcome"))
    def set_outcome(self, token: str, outcome: str) -> None:
        """Settle a token being committed; an outcome already settled (by a concurrent commit) stays."""
        with self.engine.begin() as conn:
            conn.execute(
                update(pending_writes)
                .where(pending_writes.c.token == token, pending_writes.c.outcome == "committing")
                .values(outcome=outcome)
            )

    # -- sandbox registry -------------------------------------------------------------------

    @answering_faults(_("your sandbox's last use"))
    def touch_sandbox(self, visitor: str, engine: str) -> bool:
        """Record a registered sandbox as used now; False if it is not registered."""
        with self.engine.begin() as conn:
            return bool(
                conn.execute(
                    update(sandboxes)
                    .where(sandboxes.c.visitor == visitor, sandboxes.c.engine == engine)
                    .values(last_used_at=self.clock())
                ).rowcount
            )

    @answering_faults(_("your new sandbox"))
    def register_sandbox(self, visitor: str, engine: str) -> None:
        """Register a new sandbox as used now."""
        now = self.clock()
        try:
            with self.engine.begin() as conn:
                conn.execute(insert(sandboxes).values(visitor=visitor, engine=engine, created_at=now, last_used_at=now))
        except IntegrityError:
            pass  # another request registered it a moment ago

    @answering_faults(_("this request"))
    def sandbox_count(self, engine: str) -> int:
        with self.engine.connect() as conn:
            return conn.execute(
                select(func.count()).select_from(sandboxes).where(sandboxes.c.engine == engine)
            ).scalar_one()

    @answering_faults(_("this request"))
    def idle_sandboxes(self, engine: str, idle_since: float) -> list[str]:
        with self.engine.connect() as conn:
            return list(
                conn.execute(
                    select(sandboxes.c.visitor).where(
                        sandboxes.c.engine == engine, sandboxes.c.last_used_at < idle_since
                    )
                ).scalars()
            )

    @answering_faults(_("this request"))
    def forget_sandbox(self, visitor: str, engine: str, *, idle_since: float | None = None) -> bool:
        """Unregister a sandbox (and its previews); with `idle_since`, only if it is still idle since then.

        The sweep asks this before it drops the sandbox, so that a visitor who came back between
        the sweep's list and its drop keeps the sandbox. True if it was unregistered.
        """
        condition = [sandboxes.c.visitor == visitor, sandboxes.c.engine == engine]
        if idle_since is not None:
            condition.append(sandboxes.c.last_used_at < idle_since)
        with self.engine.begin() as conn:
            if not conn.execute(delete(sandboxes).where(*condition)).rowcount and idle_since is not None:
                return False
            conn.execute(
                delete(pending_writes).where(pending_writes.c.visitor == visitor, pending_writes.c.engine == engine)
            )
        return True

    @answering_faults(_("this request"))
    def claim_sweep(self, name: str, every_seconds: float) -> bool:
        """True for exactly one caller per interval, across all processes sharing the store."""
        now = self.clock()
        with self.engine.connect() as conn:
            last = conn.execute(select(housekeeping.c.at).where(housekeeping.c.name == name)).scalar_one_or_none()
        if last is not None and last >= now - every_seconds:
            return False  # the common case, on every request: a read, no write
        with self.engine.begin() as conn:
            if last is None:
                try:
                    with conn.begin_nested():
                        conn.execute(insert(housekeeping).values(name=name, at=now))
                    return True
                except IntegrityError:
                    return False
            # Only the caller whose UPDATE still finds the old time wins the interval.
            return bool(
                conn.execute(
                    update(housekeeping)
                    .where(housekeeping.c.name == name, housekeeping.c.at < now - every_seconds)
                    .values(at=now)
                ).rowcount
            )

    @answering_faults(_("this request"))
    def forget_old_pending_writes(self) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                delete(pending_writes).where(pending_writes.c.created_at < self.clock() - 2 * PENDING_WRITE_TTL)
            )

    # -- the classroom's shared state ------------------------------------------------------

    @answering_faults(_("this request"))
    def class_value(self, name: str) -> str | None:
        """One of the class's settings (see classroom.py), or None when it is not set."""
        with self.engine.connect() as conn:
            return conn.execute(select(class_state.c.value).where(class_state.c.name == name)).scalar_one_or_none()

    @answering_faults(_("the class's settings"))
    def set_class_value(self, name: str, value: str | None) -> None:
        """Set (or, with None, clear) one of the class's settings."""
        with self.engine.begin() as conn:
            conn.execute(delete(class_state).where(class_state.c.name == name))
            if value is not None:
                conn.execute(insert(class_state).values(name=name, value=value, at=self.clock()))

    def class_is_read_only(self) -> bool:
        """Whether the teacher switched the class to read-only (asked only when a student writes)."""
        return self.class_value(READ_ONLY) == "1"

    # -- the run log ------------------------------------------------------------------------

    def log_run(self, record: RunRecord) -> None:
        """Keep a run log line; it is written with the next batch (within seconds), never on the request."""
        self.run_log.record(record)

    def _write_runs(self, records: Sequence[RunRecord]) -> None:
        """One transaction for a batch of run log lines."""
        with self.engine.begin() as conn:
            conn.execute(
                insert(runs),
                [
                    {
                        "at": r.at or self.clock(),
                        "visitor": _loggable(r.visitor)[:64],
                        "engine": _loggable(r.engine)[:20],
                        "action": _loggable(r.action)[:20],
                        "sql": _loggable(r.sql[:_LOGGED_SQL_CHARS] if r.sql else r.sql),
                        "parameter_rows": r.parameter_rows,
                        "outcome": _loggable(r.outcome)[:20],
                        "rowcount": r.rowcount,
                        "elapsed_ms": r.elapsed_ms,
                        "error": _loggable(r.error),
                        "work": _loggable(r.work),
                    }
                    for r in records
                ],
            )

    def recent_runs(self, limit: int = 50, visitor: str | None = None) -> list[dict[str, Any]]:
        """The newest run log lines (this process's pending ones are written first)."""
        self.run_log.flush()
        query = select(runs).order_by(runs.c.id.desc()).limit(limit)
        if visitor:
            query = query.where(runs.c.visitor == visitor)
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(query)]


def _add_missing_columns(conn: Connection) -> None:
    """A bookkeeping database made by an older version gets the run log's newer column and index."""
    if "work" not in {c["name"] for c in inspect(conn).get_columns(runs.name)}:
        conn.exec_driver_sql(f"ALTER TABLE {runs.name} ADD COLUMN work TEXT")
    for index in runs.indexes:
        index.create(conn, checkfirst=True)


def _pending(token: str, visitor: str, row: Any, *, resumed: bool = False, expired: bool = False) -> PendingWrite:
    return PendingWrite(
        token, visitor, row.engine, json.loads(row.request), json.loads(row.counts), resumed=resumed, expired=expired
    )


@overload
def _loggable(text: str) -> str: ...
@overload
def _loggable(text: None) -> None: ...
def _loggable(text: str | None) -> str | None:
    """Text any database can hold: NUL (PostgreSQL's text cannot) and lone surrogates (not UTF-8) as U+FFFD.

    A refused run is logged with what was sent (its SQL, its engine name): one such line must not
    keep the batch it is written with, other visitors' lines included, out of the log.
    """
    if not text:
        return text
    return _UNSTORABLE.sub("\ufffd", text)


# A str holds a surrogate code point only when it is lone (a pair decodes to one astral character).
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
