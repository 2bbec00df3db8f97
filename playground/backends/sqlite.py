"""SQLite: a private database file per visitor, guarded by SQLite's own authorizer and limits.

The boundary is SQLite itself: an authorizer (installed only around the user's statements)
refuses transaction control, ATTACH/DETACH, pragmas outside an allow-list, virtual-table modules
outside an allow-list and dangerous functions; `setlimit` forbids attached databases and bounds
value and SQL sizes; `max_page_count` caps the file; a progress handler enforces the time limit.
The keyword check in `check()` only adds clearer messages (and covers VACUUM, which the
authorizer does not report).
"""

from __future__ import annotations

import os
import re
import shutil
import sqlite3
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, suppress
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import Session
from sqlalchemy.pool import QueuePool

from ..config import Limits
from ..errors import RefusedStatement, SandboxFull, TimeLimitExceeded, UserError, ValueTooBig, statement_not_allowed
from ..faults import disk_full
from ..messages import _
from ..script import Script, Statement
from ..sqltext import tokenize
from .base import TRANSACTION_CONTROL, Column, Evidence, Table, record_sent_statements
from .engine_cache import EngineCache
from .sqlite_binds import bind_literally_safe
from .sqlite_commits import COMMIT_LOG, claim_commit
from .sqlite_files import SandboxFiles
from .sqlite_printf import install as install_printf_guard
from .sqlite_split import split as split_statements
from .watchdog import WATCHDOG

# Pragmas a student may run: the ones that only read. Those in _PRAGMAS_WITH_ARGUMENT take a
# table or index name; the others are allowed only without a value (reading, never setting).
_PRAGMAS_WITH_ARGUMENT = frozenset(
    {
        "table_info",
        "table_xinfo",
        "table_list",
        "index_list",
        "index_info",
        "index_xinfo",
        "foreign_key_list",
        "foreign_key_check",
        "integrity_check",
        "quick_check",
    }
)
_PRAGMAS_READ_ONLY = frozenset(
    {
        "collation_list",
        "function_list",
        "module_list",
        "pragma_list",
        "compile_options",
        "encoding",
        "user_version",
        "schema_version",
        "application_id",
        "page_count",
        "page_size",
        "freelist_count",
        "foreign_keys",
        "data_version",
    }
)
# Virtual-table modules tested in tests/test_sqlite_guard.py; fts3/fts4 stay out (their
# tokenizer interface is how fts3_tokenizer crashes a process).
_VTABLE_MODULES = frozenset({"fts5", "rtree"})
_FUNCTIONS_REFUSED = {
    "load_extension": _("loads native code into the server"),
    "fts3_tokenizer": _("can crash the server process"),
    "readfile": _("reads files on the server"),
    "writefile": _("writes files on the server"),
    "edit": _("starts a program on the server"),
}
_TABLES_REFUSED = frozenset({"sqlite_dbpage"})
# SQLite reports an UPDATE of sqlite_master while it (re)loads the schema for a plain SELECT; real
# DDL is reported by its own CREATE/DROP/ALTER action, so these names are no evidence of a write.
_SCHEMA_TABLES = frozenset({"sqlite_master", "sqlite_schema", "sqlite_temp_master", "sqlite_temp_schema"})

_WRITE_ACTIONS = frozenset(
    {
        sqlite3.SQLITE_INSERT,
        sqlite3.SQLITE_UPDATE,
        sqlite3.SQLITE_DELETE,
        sqlite3.SQLITE_CREATE_INDEX,
        sqlite3.SQLITE_CREATE_TABLE,
        sqlite3.SQLITE_CREATE_TEMP_INDEX,
        sqlite3.SQLITE_CREATE_TEMP_TABLE,
        sqlite3.SQLITE_CREATE_TEMP_TRIGGER,
        sqlite3.SQLITE_CREATE_TEMP_VIEW,
        sqlite3.SQLITE_CREATE_TRIGGER,
        sqlite3.SQLITE_CREATE_VIEW,
        sqlite3.SQLITE_CREATE_VTABLE,
        sqlite3.SQLITE_DROP_INDEX,
        sqlite3.SQLITE_DROP_TABLE,
        sqlite3.SQLITE_DROP_TEMP_INDEX,
        sqlite3.SQLITE_DROP_TEMP_TABLE,
        sqlite3.SQLITE_DROP_TEMP_TRIGGER,
        sqlite3.SQLITE_DROP_TEMP_VIEW,
        sqlite3.SQLITE_DROP_TRIGGER,
        sqlite3.SQLITE_DROP_VIEW,
        sqlite3.SQLITE_DROP_VTABLE,
        sqlite3.SQLITE_ALTER_TABLE,
        sqlite3.SQLITE_REINDEX,
        sqlite3.SQLITE_ANALYZE,
    }
)
_REFUSED_ACTIONS = {
    sqlite3.SQLITE_TRANSACTION: TRANSACTION_CONTROL,
    sqlite3.SQLITE_SAVEPOINT: TRANSACTION_CONTROL,
    sqlite3.SQLITE_ATTACH: _("attaching a database would reach outside your sandbox"),
    sqlite3.SQLITE_DETACH: _("attaching a database would reach outside your sandbox"),
}
# The clearer message for statements we can name by their first word.
_REFUSED_KEYWORDS = {
    "BEGIN": _REFUSED_ACTIONS[sqlite3.SQLITE_TRANSACTION],
    "COMMIT": _REFUSED_ACTIONS[sqlite3.SQLITE_TRANSACTION],
    "END": _REFUSED_ACTIONS[sqlite3.SQLITE_TRANSACTION],
    "ROLLBACK": _REFUSED_ACTIONS[sqlite3.SQLITE_TRANSACTION],
    "SAVEPOINT": _REFUSED_ACTIONS[sqlite3.SQLITE_TRANSACTION],
    "RELEASE": _REFUSED_ACTIONS[sqlite3.SQLITE_TRANSACTION],
    "ATTACH": _REFUSED_ACTIONS[sqlite3.SQLITE_ATTACH],
    "DETACH": _REFUSED_ACTIONS[sqlite3.SQLITE_ATTACH],
    "VACUUM": _("VACUUM rewrites the whole database file (and VACUUM INTO writes a new file on the server)"),
}
# A guard against whole-process memory exhaustion: SQLite refuses allocations past this.
_HARD_HEAP_LIMIT = 512 * 1024 * 1024

# The grid sends a decimal column's values as Decimal (what the student typed, shown as such in
# "what the database received"). sqlite3 cannot bind a Decimal; SQLite has no decimal type and
# stores numbers with a fraction as REAL, so a Decimal goes in as the float nearest to it.
# (Adapters are per process; nothing else of ours binds a Decimal through sqlite3.)
sqlite3.register_adapter(Decimal, float)

# SQLite reads a double-quoted name that matches no column as a text literal ("DQS"). Python 3.12+
# can switch that off per connection; before it, the guard says when it happened.
_CAN_TURN_OFF_DQS = hasattr(sqlite3.Connection, "setconfig")
_SCHEMA_KEYWORDS = frozenset({"CREATE", "DROP", "ALTER"})


class SqliteBackend:
    """Sandboxes as files under `<data>/sandboxes/sqlite/`, cloned from a sample database."""

    name = "sqlite"
    label = "SQLite"

    def __init__(
        self, data_dir: Path, limits: Limits, *, starting_point: Callable[[], str | None] = lambda: None
    ) -> None:
        self.limits = limits
        self.files = SandboxFiles(data_dir, starting_point)
        self.root = self.files.root
        self.sample_path = self.files.sample_path
        self._engines = EngineCache(self._make_engine)

    # -- statements -------------------------------------------------------------------------

    def split(self, sql: str) -> list[str]:
        """Cut at each `;` that SQLite's own `sqlite3_complete` says ends a statement (one pass, see sqlite_split)."""
        return split_statements(sql)

    def check(self, statement: Statement) -> None:
        reason = _REFUSED_KEYWORDS.get(statement.keyword)
        if reason:
            raise RefusedStatement(statement_not_allowed(statement.label, reason), statement=statement.index)

    # -- sandboxes --------------------------------------------------------------------------

    def path(self, visitor: str) -> Path:
        return self.files.path(visitor)

    def sandbox_exists(self, visitor: str) -> bool:
        return self.files.exists(visitor)

    def data_version(self, visitor: str) -> tuple[int, ...] | None:
        """What changes whenever the sandbox's tables or rows do; None when that cannot be told now.

        The file (a reset puts another one there), its size and time, and SQLite's file change
        counter (header bytes 24-27), which every committed write increments in the rollback
        journal mode the sandboxes use. None while a journal is there (a write under way).
        """
        path = str(self.path(visitor))
        try:
            if os.path.exists(f"{path}-journal") or os.path.exists(f"{path}-wal"):
                return None
            with open(path, "rb") as f:
                header = f.read(28)
                st = os.fstat(f.fileno())
        except OSError:
            return None
        if len(header) < 28:
            return None
        return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, int.from_bytes(header[24:28], "big"))

    def ensure_sandbox(self, visitor: str) -> bool:
        return self.files.ensure(visitor)

    def reset_sandbox(self, visitor: str) -> None:
        self.files.replace(visitor)
        self._engines.discard(str(self.path(visitor)))

    def drop_sandbox(self, visitor: str) -> None:
        self._engines.discard(str(self.path(visitor)))
        self.files.remove(visitor)

    def sandbox_sizes(self, visitors: Iterable[str]) -> dict[str, int]:
        """Bytes on disk of each visitor's sandbox that exists (its file and its write-ahead log)."""
        sizes = {}
        for visitor in visitors:
            total = 0
            for suffix in ("", "-wal"):
                with suppress(FileNotFoundError, ValueError):
                    total += Path(f"{self.path(visitor)}{suffix}").stat().st_size
            if total:
                sizes[visitor] = total
        return sizes

    # -- the teacher's starting data (playground/classroom.py) --------------------------------

    def make_sample_sandbox(self, visitor: str) -> None:
        """The visitor's sandbox becomes a copy of the built-in sample (where starting data is staged)."""
        self.files.replace(visitor, from_sample=True)
        self._engines.discard(str(self.path(visitor)))

    def capture_starting_data(self, visitor: str) -> str:
        """The visitor's sandbox, copied as starting data for new and reset sandboxes; its name."""
        self._engines.discard(str(self.path(visitor)))
        return self.files.capture(visitor)

    def discard_starting_data(self, keep: str | None) -> None:
        """Starting data other than `keep` is no longer needed."""
        self.files.remove_starting_data(keep)

    def ping(self) -> None:
        """The sandboxes folder takes new files and the sample opens (a lost volume fails here)."""
        with tempfile.TemporaryFile(dir=self.root):
            pass
        conn = sqlite3.connect(f"{self.sample_path.resolve().as_uri()}?mode=ro", uri=True)
        try:
            conn.execute("SELECT count(*) FROM sqlite_schema").fetchone()
        finally:
            conn.close()

    # -- running ----------------------------------------------------------------------------

    @contextmanager
    def session(self, visitor: str, script: Script | None = None) -> Iterator[Session]:
        with Session(self._engines.get(str(self.path(visitor)))) as session:
            yield session

    def close(self) -> None:
        """Close the connections kept for the sandboxes."""
        self._engines.clear()

    def _make_engine(self, path: str) -> Engine:
        # One connection per sandbox is kept between runs (more while runs overlap), set up once
        # with the limits below. Nothing of a run survives into the next one on it: the run was
        # committed or rolled back, pragmas that set anything are refused, a connection that
        # holds temporary objects is closed when it comes back, and one whose file was replaced
        # (a reset, in any process) or removed is not used again.
        engine = create_engine(
            f"sqlite:///{path}",
            poolclass=QueuePool,
            pool_size=1,
            max_overflow=16,
            connect_args={"timeout": 10, "check_same_thread": False},
        )
        bind_literally_safe(engine)
        limits = self.limits
        max_length = _max_length(limits)

        @event.listens_for(engine, "do_connect")
        def _remember_file(_dialect: Any, record: Any, _cargs: Any, _cparams: Any) -> None:
            # Before opening: if the file is replaced in between, the next checkout opens it again.
            record.info[_FILE_KEY] = _file_id(path)

        @event.listens_for(engine, "checkout")
        def _same_file(_dbapi_connection: Any, record: Any, _proxy: Any) -> None:
            if record.info.get(_FILE_KEY) != _file_id(path):
                raise DisconnectionError("the sandbox file was replaced")  # the pool connects anew

        @event.listens_for(engine, "checkin")
        def _no_temporary_objects(dbapi_connection: sqlite3.Connection | None, record: Any) -> None:
            if dbapi_connection is not None and _holds_temporary_objects(dbapi_connection):
                record.invalidate()

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_connection: sqlite3.Connection, _record: Any) -> None:
            # SQLAlchemy's documented recipe for real transactions (DDL included) on pysqlite:
            # the driver must not issue BEGIN itself nor commit before DDL; we emit BEGIN below.
            dbapi_connection.isolation_level = None
            dbapi_connection.setlimit(sqlite3.SQLITE_LIMIT_ATTACHED, 0)
            # No value (string, blob, or a table's row) may grow past the value limit: a statement
            # that makes one fails at once with "string or blob too big".
            dbapi_connection.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, max_length)
            install_printf_guard(dbapi_connection, max_length)
            dbapi_connection.setlimit(sqlite3.SQLITE_LIMIT_SQL_LENGTH, _sql_length(limits))
            dbapi_connection.setlimit(sqlite3.SQLITE_LIMIT_TRIGGER_DEPTH, 100)
            dbapi_connection.setlimit(sqlite3.SQLITE_LIMIT_EXPR_DEPTH, 500)
            dbapi_connection.execute(f"PRAGMA max_page_count = {int(limits.sqlite_max_pages)}")
            dbapi_connection.execute("PRAGMA trusted_schema = OFF")
            dbapi_connection.execute("PRAGMA foreign_keys = ON")
            dbapi_connection.execute(f"PRAGMA hard_heap_limit = {_HARD_HEAP_LIMIT}")
            # TEMP tables and indexes, sorts and other transient results: in memory, never in a file
            # of the system's temp folder (which nothing capped). The temp schema gets the sandbox's
            # page cap; a statement's transient work is bounded by the heap limit (see guard).
            dbapi_connection.execute("PRAGMA temp_store = MEMORY")
            dbapi_connection.execute(f"PRAGMA temp.max_page_count = {int(limits.sqlite_max_pages)}")
            if _CAN_TURN_OFF_DQS:
                # "Nmae" is then "no such column: Nmae", as on PostgreSQL, not the text 'Nmae'.
                dbapi_connection.setconfig(sqlite3.SQLITE_DBCONFIG_DQS_DML, False)  # type: ignore[attr-defined]
                dbapi_connection.setconfig(sqlite3.SQLITE_DBCONFIG_DQS_DDL, False)  # type: ignore[attr-defined]

        @event.listens_for(engine, "begin")
        def _on_begin(conn: Any) -> None:
            conn.exec_driver_sql("BEGIN")

        record_sent_statements(engine)
        return engine

    def execution_options(self) -> dict[str, Any]:
        return {}

    @contextmanager
    def guard(self, session: Session, statement: Statement, *, deadline: float | None = None) -> Iterator[Evidence]:
        raw: sqlite3.Connection = session.connection().connection.driver_connection  # type: ignore[assignment]
        evidence = Evidence()
        own_deadline = time.monotonic() + self.limits.time_limit_ms / 1000
        deadline = own_deadline if deadline is None else min(deadline, own_deadline)

        def authorize(action: int, arg1: str | None, arg2: str | None, _db: str | None, _source: str | None) -> int:
            reason = _refusal(action, arg1, arg2)
            if reason:
                evidence.refusal = evidence.refusal or reason
                return sqlite3.SQLITE_DENY
            if action in _WRITE_ACTIONS and (arg1 or "").lower() not in _SCHEMA_TABLES:
                evidence.wrote = True
            return sqlite3.SQLITE_OK

        def past_deadline() -> bool:
            if time.monotonic() > deadline:
                evidence.timed_out = True
                return True
            return False

        # The second layer: the progress handler gets no turn inside one long C call (a function
        # over a huge value), so the watchdog interrupts the connection at the limit as well.
        lock = threading.Lock()
        running = [True]

        def interrupt() -> None:
            with lock:
                if running[0]:
                    evidence.timed_out = True
                    raw.interrupt()

        changes_before = raw.total_changes
        raw.set_authorizer(authorize)
        raw.set_progress_handler(past_deadline, 1000)
        alarm = WATCHDOG.arm(max(deadline - time.monotonic(), 0), interrupt)
        try:
            yield evidence
        except MemoryError as e:
            # SQLite's heap limit (not Python's memory): a sort, grouping or transient result too large.
            raise SandboxFull(
                _(
                    "Statement %(index)s (%(keyword)s) failed: it needed more working memory than this server gives "
                    "a statement (a sort, a grouping or a temporary result too large); sort or group fewer rows, or "
                    "add a WHERE. Nothing was changed.",
                    index=statement.index,
                    keyword=statement.keyword or "SQL",
                ),
                statement=statement.index,
            ) from e
        finally:
            with lock:
                running[0] = False
            alarm.cancel()
            raw.set_authorizer(None)
            raw.set_progress_handler(None, 0)
            changes = raw.total_changes - changes_before
            evidence.changes = changes
            evidence.wrote = evidence.wrote or changes > 0
        if not _CAN_TURN_OFF_DQS:
            evidence.notes.extend(_read_as_text(raw, statement))

    def translate_error(self, exc: BaseException, evidence: Evidence) -> UserError | None:
        message = str(exc)
        if evidence.refusal:
            return RefusedStatement(evidence.refusal)
        if evidence.timed_out:
            return TimeLimitExceeded(
                _("stopped at the time limit (%(ms)s ms); nothing was changed", ms=self.limits.time_limit_ms)
            )
        if "string or blob too big" in message:
            return ValueTooBig(
                _(
                    "a value grew past %(limit)s bytes, the largest this server keeps; nothing was changed",
                    limit=_max_length(self.limits),
                )
            )
        if re.fullmatch(r"unsafe use of (printf|format)\(\)", message):
            return UserError(
                _(
                    "%(error)s: on this server's SQLite (%(version)s) printf() and format() are guarded against "
                    "values past the size limit, and the guarded versions run only in statements you type, not "
                    "inside a view or trigger",
                    error=message,
                    version=sqlite3.sqlite_version,
                )
            )
        if isinstance(exc, sqlite3.OperationalError) and "database or disk is full" in message:
            # The same error for the page cap and for a full disk. A sandbox may always grow to its
            # cap, unless the disk has less than that left: then the disk is the cause.
            if shutil.disk_usage(self.root).free < self.limits.sqlite_max_pages * _PAGE_BYTES:
                return disk_full(_("what your statement writes"))
            return SandboxFull(_("your sandbox reached its size limit; delete some rows or press Reset"))
        if isinstance(exc, sqlite3.Error | ValueError | TypeError | OverflowError):
            return UserError(message)
        return None

    def claim_commit(self, session: Session, visitor: str, token: str) -> None:
        """Record the commit of `token` in the sandbox's own commit log, in this transaction (see sqlite_commits)."""
        claim_commit(session.connection().connection.driver_connection, token)  # type: ignore[arg-type]

    def check_before_commit(self, session: Session, visitor: str) -> None:
        """The page cap is enforced by SQLite itself while the statements run."""

    def schema(self, visitor: str) -> list[Table]:
        conn = sqlite3.connect(f"file:{self.path(visitor)}?mode=ro", uri=True)
        try:
            names = [
                r[0]
                for r in conn.execute(
                    "SELECT name FROM sqlite_schema WHERE type IN ('table', 'view') "
                    "AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' AND name <> ? ORDER BY name",
                    (COMMIT_LOG,),
                )
            ]
            tables = []
            for name in names:
                columns = conn.execute("SELECT name, type FROM pragma_table_info(?)", (name,)).fetchall()
                tables.append(Table(name, tuple(Column(c, t or "") for c, t in columns)))
            return tables
        finally:
            conn.close()


def _sql_length(limits: Limits) -> int:
    """SQLITE_LIMIT_SQL_LENGTH: the longest SQL text (in UTF-8, and the statements we add around it)."""
    return limits.max_sql_bytes * 2 + 1000


def _max_length(limits: Limits) -> int:
    """SQLITE_LIMIT_LENGTH: the value size, but never less than the SQL's (SQLite bounds a statement's text by it too)."""
    return max(limits.max_value_bytes, _sql_length(limits))


_FILE_KEY = "playground.sqlite.file"
_PAGE_BYTES = 4096  # SQLite's default page size, which the sample and every copy of it have


def _file_id(path: str) -> tuple[int, int] | None:
    """Which file is at `path` now (a reset replaces it with another)."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return (st.st_dev, st.st_ino)


def _holds_temporary_objects(dbapi_connection: sqlite3.Connection) -> bool:
    try:
        return dbapi_connection.execute("SELECT 1 FROM temp.sqlite_schema LIMIT 1").fetchone() is not None
    except sqlite3.Error:
        return True  # when in doubt, do not keep it


def _refusal(action: int, arg1: str | None, arg2: str | None) -> str | None:
    """Why SQLite's authorizer should deny this action, or None to allow it."""
    if action in _REFUSED_ACTIONS:
        return _REFUSED_ACTIONS[action]
    if COMMIT_LOG in ((arg1 or "").lower(), (arg2 or "").lower()):
        # Reading, writing, altering, indexing or triggering on it, or making one of that name.
        return _("the table %(name)s is the playground's own record of commits", name=COMMIT_LOG)
    if action == sqlite3.SQLITE_PRAGMA:
        name = (arg1 or "").lower()
        if name in _PRAGMAS_WITH_ARGUMENT or (name in _PRAGMAS_READ_ONLY and arg2 is None):
            return None
        return _("PRAGMA %(name)s is not on the list of pragmas that only read", name=name)
    if action == sqlite3.SQLITE_FUNCTION:
        name = (arg2 or "").lower()
        if name in _FUNCTIONS_REFUSED:
            return _("the function %(call)s %(reason)s", call=name + "()", reason=_FUNCTIONS_REFUSED[name])
        return None
    if action in (sqlite3.SQLITE_CREATE_VTABLE, sqlite3.SQLITE_DROP_VTABLE):
        module = (arg2 or "").lower()
        if module not in _VTABLE_MODULES:
            allowed = ", ".join(sorted(_VTABLE_MODULES))
            return _(
                "virtual tables of module '%(module)s' are not allowed (allowed: %(allowed)s)",
                module=module,
                allowed=allowed,
            )
        return None
    reads_or_writes = (sqlite3.SQLITE_READ, sqlite3.SQLITE_INSERT, sqlite3.SQLITE_UPDATE, sqlite3.SQLITE_DELETE)
    if action in reads_or_writes and (arg1 or "").lower() in _TABLES_REFUSED:
        return _("the table %(name)s exposes the raw database file", name=arg1)
    return None


def _read_as_text(raw: sqlite3.Connection, statement: Statement) -> list[str]:
    """The double-quoted names SQLite read as text because no column has that name (SQLite's DQS fallback).

    The statement is compiled again (EXPLAIN only compiles it, nothing runs) with each "name"
    written as `name`, which SQLite never reads as text: "no such column: name" then names one.
    """
    if statement.keyword in _SCHEMA_KEYWORDS:
        return []
    tokens = tokenize(statement.sql, "sqlite")
    quoted = {i for i, t in enumerate(tokens) if t.kind == "identifier" and t.text.startswith('"') and t.closed}
    as_text: set[int] = set()
    for _attempt in range(len(quoted)):
        parts = []
        for i, token in enumerate(tokens):
            name = token.text[1:-1].replace('""', '"')
            if i in as_text:
                parts.append("'" + name.replace("'", "''") + "'")
            elif i in quoted:
                parts.append("`" + name.replace("`", "``") + "`")
            else:
                parts.append("NULL" if token.kind == "param" else token.text)
        try:
            raw.execute("EXPLAIN " + "".join(parts)).close()
            break
        except sqlite3.Error as e:
            missing = re.fullmatch(r"no such column: (.+)", str(e))
            culprit = next(
                (i for i in sorted(quoted - as_text) if missing and tokens[i].text[1:-1] == missing.group(1)), None
            )
            if culprit is None:
                break
            as_text.add(culprit)
    return [
        _(
            "%(quoted)s matched no column, so SQLite read it as the text '%(text)s' "
            "(double quotes are for names; write text in single quotes). PostgreSQL would report an error.",
            quoted=tokens[i].text,
            text=tokens[i].text[1:-1],
        )
        for i in sorted(as_text)
    ]
