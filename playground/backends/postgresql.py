"""PostgreSQL: a private database and a private login role per visitor.

The boundary is PostgreSQL's own privilege system. Each visitor gets:

* a database `<prefix>_sb_<id>`, created by the admin role (which owns it) as a copy of a
  template database seeded with `playground/sample/postgresql.sql`;
* a login role of the same opaque name (`<id>` is an HMAC of the visitor id, so the names in
  the world-readable `pg_roles`/`pg_database` reveal nothing), NOSUPERUSER NOCREATEDB
  NOCREATEROLE NOREPLICATION NOBYPASSRLS, with a small CONNECTION LIMIT and a password derived
  from a secret kept in the admin database (so that every app process can log in as it);
* a NOLOGIN role `<prefix>_own_<id>` that owns the sample's tables in that database (and
  nothing anywhere else); the login role is its only member, so the student can ALTER, DROP
  and TRUNCATE the sample tables. (A non-superuser admin can only give objects to a role it is
  a member of: it is a member of the owner role for the moment of the hand-over, never of the
  login role.)
* CONNECT and TEMPORARY on its own database and nothing else: CONNECT is revoked from PUBLIC on
  every sandbox database and on the template. The template grants PUBLIC CREATE on the schema
  `public` (in a sandbox, only its role can connect), so the student creates its own tables.

Student SQL only ever runs on a connection logged in as that role. The admin URL is used only
to create, reset and drop sandboxes and the template; it connects to a sandbox database only
while creating it, before the sandbox role may. The admin role is never granted the login role.

Minimal privileges of the admin role (PLAYGROUND_DATABASE_URL / the admin URL):

    CREATE ROLE playground_admin LOGIN PASSWORD '...' CREATEROLE CREATEDB;   -- not SUPERUSER
    CREATE DATABASE playground OWNER playground_admin;   -- where the sandbox secret table lives
    REVOKE CONNECT ON DATABASE playground FROM PUBLIC;    -- recommended
    REVOKE CONNECT ON DATABASE postgres FROM PUBLIC;      -- recommended (sandbox roles can log in)
    -- optional, as a superuser:
    GRANT pg_signal_backend TO playground_admin;   -- Reset/drop end a running run at once
                                                   -- (otherwise they wait for it, up to ~10 s)
    GRANT SET ON PARAMETER temp_file_limit TO playground_admin;   -- per-sandbox temp-file cap
    -- or, cluster-wide: ALTER SYSTEM SET temp_file_limit = '1GB';

Limits a student cannot lift: `SET LOCAL statement_timeout` (and lock and idle timeouts) at the
start of every transaction, server-side startup options that override role defaults, and a
watchdog timer that cancels the running statement through libpq at the time limit, whatever
the session's settings say. Rows are streamed from a server-side cursor when the statement
allows it (a plain SELECT). A commit that leaves the database above `postgres_max_bytes` is
refused. A run takes a connection of the sandbox's role that this process kept from an earlier
run, reset as a new session would be, or logs in anew (pg_pool.py: bounded, and a connection
whose statement the watchdog cancelled is never reused). A run that does not commit gives back
the sequence values it took (nextval is not transactional), when no other connection of the
sandbox can have taken one meanwhile (see pg_sequences.py); a script of plain SELECTs that
names neither nextval nor setval skips that.

The statement check (`check`) is a second layer: it parses each statement with PostgreSQL's
own parser (pglast) and refuses, with a clear message, what the playground does not offer.

Where each part lives:

* `pg_sandboxes` (`PgSandboxes`): the sandboxes' lifecycle through the admin URL: the secret,
  names and passwords, creating, resetting and dropping sandboxes (and everything at once);
* `pg_admin` (`PgAdmin`): the admin connection itself: checking the admin role, cursors,
  dropping a database, quoting the names the playground generates;
* `pg_template`: the template database: built from the sample, named by its hash, old ones dropped;
* `pg_roles` (`PgRoles`): each sandbox's login and owner roles: creating, repairing and dropping
  them, and handing the sample's objects over to the owner role;
* `pg_statements`: the statement check and the splitter ("what student SQL may do");
* `pg_sequences`: giving back the sequence values a run that did not commit took;
* `pg_evidence`: the write evidence: whether a statement wrote and how many rows it changed;
* `pg_spares`: sandboxes made ahead of time, claimed whole by arriving visitors;
* `watchdog`: the one thread per process that cancels queries past their time limit (SQLite's too);
* `pg_pool`: the sandbox connections a process keeps between runs, and their reset;
* `pg_errors`: the errors a student sees (`translate_error`, `SandboxBusy`);
* this module (`PostgresBackend`): running student SQL as the sandbox role: sessions, the
  limits and the watchdog, the size cap, the schema.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager
from functools import lru_cache
from typing import Any

from sqlalchemy import create_engine, event
from sqlalchemy.dialects.postgresql.psycopg2 import PGExecutionContext_psycopg2
from sqlalchemy.engine import URL, Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool

from ..config import Limits
from ..connections import ServerSlots
from ..errors import SandboxFull, UserError
from ..messages import _
from ..script import Script, Statement
from .base import Column, Evidence, Table, record_sent_statements
from .pg_commits import SCHEMA as COMMIT_LOG_SCHEMA
from .pg_commits import claim_commit
from .pg_errors import SandboxBusy, first_line  # SandboxBusy is imported from here too
from .pg_errors import translate_error as translate_pg_error
from .pg_evidence import BASELINE_KEY, TUPLES, Snapshot, after_statement, before_statement
from .pg_pool import CANCELLED_KEY, IdleConnections, SandboxPool, pool_sandbox_connections
from .pg_sandboxes import PgSandboxes
from .pg_sequences import COMMITTED_KEY, SEQUENCE_LOCK, give_back, read_sequences
from .pg_statements import check_statement, shape, split_statements
from .watchdog import WATCHDOG

log = logging.getLogger("playground.postgresql")

# The watchdog fires a little after statement_timeout, which normally ends the statement first.
_WATCHDOG_GRACE_S = 0.1
_STREAM_KEY = "playground.pg.stream"
# Sandbox connections a process keeps between runs (see pg_pool), and for how long.
DEFAULT_IDLE_CONNECTIONS = 4
IDLE_SECONDS = 30
# Each statement's shape, parsed once per process (the same SQL runs again and again).
_shape = lru_cache(maxsize=1024)(shape)


class _StreamingContext(PGExecutionContext_psycopg2):
    """A server-side cursor only for statements the guard marked streamable.

    `stream_results` would otherwise wrap every statement in DECLARE CURSOR, which PostgreSQL
    accepts only for queries, and psycopg2 refuses for executemany.
    """

    def create_cursor(self) -> Any:
        if (
            self.execution_options.get("stream_results")
            and not self.executemany
            and self.root_connection.info.get(_STREAM_KEY)
        ):
            self._is_server_side = True
            return self.create_server_side_cursor()
        self._is_server_side = False
        return self.create_default_cursor()


_SEQUENCE_FUNCTIONS = re.compile(r"nextval|setval", re.IGNORECASE)


def _may_take_values(script: Script) -> bool:
    """Whether running the script may take sequence values (anything but plain SELECTs without nextval/setval)."""
    return not all(_shape(s.sql).streamable and not _SEQUENCE_FUNCTIONS.search(s.sql) for s in script.statements)


# -- the backend --------------------------------------------------------------------------


class PostgresBackend:
    """Sandboxes as databases `<prefix>_sb_<id>` with login roles of the same name."""

    name = "postgresql"
    label = "PostgreSQL"

    def __init__(
        self,
        admin_url: str,
        limits: Limits,
        *,
        sandbox_prefix: str = "pgsb",
        sample_sql: str | None = None,
        spare_sandboxes: int = 0,
        idle_connections: int = DEFAULT_IDLE_CONNECTIONS,
        starting_point: Callable[[], str | None] = lambda: None,
    ) -> None:
        self.limits = limits
        self.sandboxes = PgSandboxes(
            admin_url,
            limits,
            sandbox_prefix,
            sample_sql,
            spare_sandboxes=spare_sandboxes,
            starting_point=starting_point,
        )
        if self.sandboxes.admin.server_version < 150000:
            idle_connections = 0  # a session's statistics cannot be reported on demand (see pg_pool)
        self.idle_connections = IdleConnections(idle_connections, IDLE_SECONDS)
        self._engines: dict[str, Engine] = {}
        self._engines_lock = threading.Lock()

    @property
    def prefix(self) -> str:
        return self.sandboxes.prefix

    @property
    def admin_url(self) -> URL:
        return self.sandboxes.admin_url

    @property
    def template(self) -> str:
        """The template database sandboxes are copied from."""
        return self.sandboxes.template

    def check_admin(self) -> None:
        """Raise ConfigError (one line) unless the admin URL connects as a role that can make sandboxes."""
        self.sandboxes.check_admin()

    def ping(self) -> None:
        """The server answers the admin connection."""
        with self.sandboxes.admin.cursor() as cur:
            cur.execute("SELECT 1")
            cur.fetchone()

    def connection_slots(self) -> ServerSlots:
        """How many connections the server lets this deployment have (checked at start-up)."""
        return self.sandboxes.admin.connection_slots()

    def close(self) -> None:
        """Dispose of every engine (admin and sandboxes)."""
        self.close_sandbox_engines()
        self.sandboxes.close()

    # -- sandboxes (see pg_sandboxes) -----------------------------------------------------

    def sandbox_name(self, visitor: str) -> str:
        """The opaque name of the visitor's database and role."""
        return self.sandboxes.sandbox_name(visitor)

    def sandbox_url(self, visitor: str, *, database: str | None = None) -> URL:
        """How the visitor's role logs in (to its own database unless told otherwise)."""
        return self.sandboxes.sandbox_url(visitor, database=database)

    def ensure_sandbox(self, visitor: str) -> bool:
        return self.sandboxes.ensure_sandbox(visitor)

    def sandbox_exists(self, visitor: str) -> bool:
        return self.sandboxes.exists(visitor)

    def reset_sandbox(self, visitor: str) -> None:
        # This process's idle connections first; the drop ends the others' (see pg_pool).
        self.idle_connections.forget(self.sandbox_name(visitor))
        self.sandboxes.reset_sandbox(visitor)

    def drop_sandbox(self, visitor: str) -> None:
        self.idle_connections.forget(self.sandbox_name(visitor))
        self.sandboxes.drop_sandbox(visitor)

    def sandbox_sizes(self, visitors: Iterable[str]) -> dict[str, int]:
        """Bytes of each visitor's sandbox database that exists."""
        return self.sandboxes.sandbox_sizes(visitors)

    def make_sample_sandbox(self, visitor: str) -> None:
        """The visitor's sandbox becomes a copy of the built-in sample (where starting data is staged)."""
        self._forget_engine(visitor)
        self.sandboxes.make_sample_sandbox(visitor)

    def capture_starting_data(self, visitor: str) -> str:
        """The visitor's sandbox, copied as the template of new and reset sandboxes; its name."""
        self._forget_engine(visitor)
        return self.sandboxes.capture_starting_data(visitor)

    def discard_starting_data(self, keep: str | None) -> None:
        """Starting data other than `keep` is no longer needed; spares are made anew from what is current."""
        self.sandboxes.discard_starting_data(keep)

    def drop_everything(self) -> None:
        """Drop every sandbox, template and role of this prefix, and the secret table."""
        self.close_sandbox_engines()
        self.sandboxes.drop_everything()

    # -- the statement check (see pg_statements) ------------------------------------------

    def split(self, sql: str) -> list[str]:
        """Cut after the `;` that ends each statement, as PostgreSQL's own parser sees them."""
        return split_statements(sql)

    def check(self, statement: Statement) -> None:
        check_statement(statement)

    # -- running ------------------------------------------------------------------------

    def session(self, visitor: str, script: Script | None = None) -> AbstractContextManager[Session]:
        """A Session on a fresh connection; afterwards, unless it committed, sequences are set back.

        PostgreSQL's sequences are not transactional: a rolled-back INSERT keeps the SERIAL value
        it took. So the sandbox's sequences are read before the transaction begins and, unless it
        committed, those that moved are set back after it, on the same connection, when no other
        connection can have taken a value meanwhile (see pg_sequences). That costs two round
        trips, so a script of plain SELECTs that do not name nextval or setval skips it (a
        function of the student's own that takes a value then leaves a harmless gap).
        """
        return self._session(visitor, sequences=script is None or _may_take_values(script))

    @contextmanager
    def _session(self, visitor: str, *, sequences: bool) -> Iterator[Session]:
        name = self.sandbox_name(visitor)
        for attempt in range(4):
            connection = session = None
            try:
                connection = self._engine(name).connect()
                before = read_sequences(connection.connection.driver_connection) if sequences else None
                session = Session(bind=connection)
                session.connection()  # begins: the engine's "begin" event sets the limits
            except BaseException as e:
                if session is not None:
                    session.close()
                if connection is not None:
                    connection.close()
                if not isinstance(e, DBAPIError):
                    raise
                if e.connection_invalidated and attempt < 3:
                    # A kept connection the server ended meanwhile (a reset elsewhere, a restart,
                    # its idle timeout): nothing ran on it, so log in again.
                    continue
                self._recover_connect(visitor, name, e, last=attempt == 3)
                continue
            try:
                yield session
            finally:
                session.close()
                if sequences:
                    give_back(connection, before)
                connection.close()
            return

    def _recover_connect(self, visitor: str, name: str, error: DBAPIError, *, last: bool) -> None:
        """Fix what made a sandbox connection fail, or raise the user-facing reason."""
        message = first_line(error.orig or error)
        if "too many connections for role" in message:
            raise SandboxBusy(
                _("Too many runs at once on your sandbox; wait for one to finish and try again.")
            ) from None
        if last:
            raise error
        if "does not exist" in message or "not currently accepting connections" in message:
            time.sleep(0.1)
            self.ensure_sandbox(visitor)
        elif "password authentication failed" in message:
            self.sandboxes.repair_role(name)
        else:
            raise error

    def _engine(self, name: str) -> Engine:
        with self._engines_lock:
            engine = self._engines.get(name)
            if engine is None:
                if len(self._engines) >= 256:
                    self._engines.pop(next(iter(self._engines))).dispose()
                engine = self._engines[name] = self._make_engine(name)
            return engine

    def _forget_engine(self, visitor: str) -> None:
        """No connection of this process stays on the sandbox (a template cannot be copied while one does)."""
        self.idle_connections.forget(self.sandbox_name(visitor))
        with self._engines_lock:
            engine = self._engines.pop(self.sandbox_name(visitor), None)
        if engine is not None:
            engine.dispose()

    def close_sandbox_engines(self) -> None:
        with self._engines_lock:
            engines, self._engines = list(self._engines.values()), {}
        for engine in engines:
            engine.dispose()
        self.idle_connections.clear()

    def _make_engine(self, name: str) -> Engine:
        limits = self.limits
        ms = int(limits.time_limit_ms)
        idle_ms = max(ms * 4, 60_000)
        # Startup options win over any default the role might have set on itself.
        settings: dict[str, Any] = {
            "statement_timeout": ms,
            "lock_timeout": ms,
            "idle_in_transaction_session_timeout": idle_ms,
            "standard_conforming_strings": "on",
            "default_transaction_read_only": "off",
            "work_mem": "4MB",
            "maintenance_work_mem": "64MB",
            "temp_buffers": "8MB",
            "hash_mem_multiplier": "2",
        }
        if self.sandboxes.admin.server_version >= 140000:
            # A kept connection whose process went quiet is ended by the server (see pg_pool).
            settings["idle_session_timeout"] = f"{IDLE_SECONDS + 5}s"
        # Startup options win over any default the role might have set on itself; DISCARD ALL
        # between runs returns to them.
        options = " ".join(f"-c {k}={v}" for k, v in settings.items())
        engine = create_engine(
            self.sandboxes.role_url(name),
            poolclass=NullPool,
            pool_reset_on_return=None,  # pg_pool's reset: ROLLBACK, DISCARD ALL
            connect_args={"connect_timeout": 10, "application_name": "playground-sandbox", "options": options},
        )
        plain = engine.pool
        engine.pool = SandboxPool(
            plain._creator,
            idle=self.idle_connections,
            name=name,
            reset_on_return=None,
            echo=plain.echo,
            logging_name=plain._orig_logging_name,
            _dispatch=plain.dispatch,
            dialect=plain._dialect,
        )
        pool_sandbox_connections(engine, self.idle_connections, name)
        engine.dialect.execution_ctx_cls = _StreamingContext  # type: ignore[misc]

        @event.listens_for(engine, "begin")
        def _on_begin(conn: Any) -> None:
            raw = conn.connection.driver_connection
            with raw.cursor() as cur:
                # The shared lock keeps another connection from setting sequences back while this
                # transaction may take values from them (see `_finish`).
                cur.execute(
                    f"SET LOCAL statement_timeout = {ms}; SET LOCAL lock_timeout = {ms}; "
                    f"SET LOCAL idle_in_transaction_session_timeout = {idle_ms}; "
                    f"SELECT pg_catalog.pg_advisory_xact_lock_shared({SEQUENCE_LOCK})"
                )
            # Nothing changed yet in this transaction (see pg_evidence for why the counts start at zero).
            conn.info[BASELINE_KEY] = Snapshot.ZERO

        @event.listens_for(engine, "commit")
        def _on_commit(conn: Any) -> None:
            conn.info[COMMITTED_KEY] = True

        record_sent_statements(engine)
        return engine

    def execution_options(self) -> dict[str, Any]:
        # Honoured only for statements the guard marks streamable (see _StreamingContext).
        return {"stream_results": True, "max_row_buffer": self.limits.max_rows + 1}

    @contextmanager
    def guard(self, session: Session, statement: Statement, *, deadline: float | None = None) -> Iterator[Evidence]:
        conn = session.connection()
        raw = conn.connection.driver_connection
        evidence = Evidence()
        kind = _shape(statement.sql)
        # The dict itself: after a lost connection, Connection.info refuses to be read.
        info = conn.info
        before_statement(conn, raw)
        info[_STREAM_KEY] = kind.streamable
        lock = threading.Lock()
        active = [True]

        def watchdog() -> None:
            with lock:
                if active[0]:
                    evidence.timed_out = True
                    # The cancel request may reach the server late: this connection serves no other run.
                    info[CANCELLED_KEY] = True
                    raw.cancel()

        # statement_timeout (set per transaction) ends the statement at its own limit; the watchdog
        # also ends it at the run's deadline when that comes sooner.
        seconds = self.limits.time_limit_ms / 1000 + _WATCHDOG_GRACE_S
        if deadline is not None:
            seconds = min(seconds, max(deadline - time.monotonic(), 0))
        alarm = WATCHDOG.arm(seconds, watchdog)

        def stop() -> None:
            with lock:
                active[0] = False
            alarm.cancel()
            info.pop(_STREAM_KEY, None)

        try:
            yield evidence
        except BaseException:
            stop()
            raise
        stop()
        after_statement(
            conn, raw, statement, evidence, plain_write=kind.plain_write, time_limit_ms=self.limits.time_limit_ms
        )

    def translate_error(self, exc: BaseException, evidence: Evidence) -> UserError | None:
        return translate_pg_error(exc, evidence, self.limits.time_limit_ms)

    def claim_commit(self, session: Session, visitor: str, token: str) -> None:
        """Record the commit of `token` in the sandbox's own commit log, in this transaction (see pg_commits)."""
        conn = session.connection()
        raw = conn.connection.driver_connection
        name = self.sandbox_name(visitor)
        claim_commit(raw, self.sandboxes.commit_mark(token), lambda: self.sandboxes.add_commit_log(name))
        # The mark gave the transaction its id: the statements' write evidence starts from here.
        with raw.cursor() as cur:
            cur.execute(TUPLES)
            conn.info[BASELINE_KEY] = Snapshot.of(cur.fetchall())

    def check_before_commit(self, session: Session, visitor: str) -> None:
        raw = session.connection().connection.driver_connection
        with raw.cursor() as cur:
            cur.execute("SELECT pg_catalog.pg_database_size(pg_catalog.current_database())")
            size = cur.fetchone()[0]
        cap = self.limits.postgres_max_bytes
        if size > cap:
            raise SandboxFull(
                _(
                    "Your sandbox would be %(size)s MB, over its limit of %(limit)s MB; "
                    "nothing was committed. Delete some rows or tables, or press Reset.",
                    size=round(size / 1e6, 1),
                    limit=round(cap / 1e6, 1),
                )
            )

    def schema(self, visitor: str) -> list[Table]:
        with self._session(visitor, sequences=False) as session:
            raw = session.connection().connection.driver_connection
            with raw.cursor() as cur:
                cur.execute(
                    "SELECT c.table_schema, c.table_name, c.column_name, "
                    "CASE WHEN c.data_type IN ('USER-DEFINED', 'ARRAY') THEN c.udt_name ELSE c.data_type END "
                    "FROM information_schema.columns c "
                    "JOIN information_schema.tables t "
                    "ON t.table_schema = c.table_schema AND t.table_name = c.table_name "
                    "WHERE c.table_schema NOT IN ('pg_catalog', 'information_schema', %s) "
                    "AND c.table_schema NOT LIKE 'pg\\_temp\\_%%' "
                    "AND c.table_schema NOT LIKE 'pg\\_toast%%' "
                    "ORDER BY c.table_schema = 'public' DESC, c.table_schema, c.table_name, c.ordinal_position",
                    (COMMIT_LOG_SCHEMA,),  # the playground's own (see pg_commits)
                )
                rows = cur.fetchall()
            session.rollback()
        tables: dict[str, list[Column]] = {}
        for schema_name, table, column, type_ in rows:
            key = table if schema_name == "public" else f"{schema_name}.{table}"
            tables.setdefault(key, []).append(Column(column, type_ or ""))
        return [Table(name, tuple(columns)) for name, columns in sorted(tables.items())]
