"""What every engine provides to the runner and the service."""

from __future__ import annotations

import re
from collections.abc import Iterable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from sqlalchemy import Connection, CursorResult, event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from ..config import Limits
from ..errors import UserError
from ..messages import _
from ..script import Script, Statement

VISITOR_ID = re.compile(r"[0-9a-f]{32}")

# Why every engine refuses BEGIN, COMMIT, ROLLBACK, SAVEPOINT and the like, in the same words.
TRANSACTION_CONTROL = _("transaction control belongs to the playground (Run previews and rolls back; Commit commits)")


def check_visitor_id(visitor: str) -> str:
    """Visitor ids become file and role names: only our own 32-hex-digit form is accepted."""
    if not VISITOR_ID.fullmatch(visitor):
        raise ValueError(f"not a visitor id: {visitor!r}")
    return visitor


@dataclass(frozen=True)
class Column:
    name: str
    type: str


@dataclass(frozen=True)
class Table:
    name: str
    columns: tuple[Column, ...]


@dataclass
class Evidence:
    """What the database itself says one statement did; filled in by the engine's guard."""

    wrote: bool = False
    changes: int | None = None  # rows the statement changed, where the engine counts them itself
    refusal: str | None = None  # why the engine's boundary refused the statement
    timed_out: bool = False
    notes: list[str] = field(default_factory=list)  # what the student should know about how it was read


@dataclass(frozen=True)
class SentEntry:
    """One cursor execution: the statement, its parameters, and for positional styles the :name of each position."""

    statement: str
    parameters: Any
    executemany: bool
    position_names: tuple[str, ...] | None = None
    # What the server itself received, where the driver binds on the client (psycopg2's
    # `cursor.query`: the statement with each value quoted into it); None where the statement and
    # its values travel to the database apart (sqlite3).
    received: str | None = None


@dataclass
class SentLog:
    """The statements and parameters as handed to the DBAPI cursor, from SQLAlchemy's events."""

    entries: list[SentEntry] = field(default_factory=list)


SENT_KEY = "playground.sent"


def record_sent_statements(engine: Engine) -> None:
    """Keep what the cursor receives on each connection, so a run can show it."""

    @event.listens_for(engine, "before_cursor_execute")
    def _record(conn: Connection, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool):
        log = conn.info.get(SENT_KEY)
        if log is not None:
            compiled = getattr(context, "compiled", None)
            # qmark: position N binds the Nth name of the compiled statement (a name used twice fills two).
            names = getattr(compiled, "positiontup", None) if conn.dialect.positional else None
            log.entries.append(SentEntry(statement, parameters, executemany, tuple(names) if names else None))

    @event.listens_for(engine, "after_cursor_execute")
    def _received(conn: Connection, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool):
        _keep_received(conn.info.get(SENT_KEY), cursor)


def _keep_received(log: SentLog | None, cursor: Any) -> None:
    """Note on the last entry the text the driver sent, if it keeps one (psycopg2's `cursor.query`)."""
    query = getattr(cursor, "query", None)
    if log is None or not log.entries or query is None:
        return
    text = query.decode("utf-8", "replace") if isinstance(query, bytes) else str(query)
    log.entries[-1] = replace(log.entries[-1], received=text)


class Backend(Protocol):
    """One engine (SQLite, PostgreSQL): its sandboxes, its statement check and its guard."""

    name: str
    label: str
    # The limits it enforces on the database: the very ones the service reads (see Playground).
    limits: Limits

    def split(self, sql: str) -> list[str]:
        """Split a script into statements with the engine's own tokenizer."""
        ...

    def check(self, statement: Statement) -> None:
        """Refuse (RefusedStatement) what the engine's statement check does not allow; runs nothing."""
        ...

    def ensure_sandbox(self, visitor: str) -> bool:
        """Create the visitor's sandbox from the sample if it is missing; True if it was created."""
        ...

    def sandbox_exists(self, visitor: str) -> bool:
        """Whether the visitor's sandbox is there, asked without the bookkeeping database."""
        ...

    def reset_sandbox(self, visitor: str) -> None: ...

    def drop_sandbox(self, visitor: str) -> None: ...

    def session(self, visitor: str, script: Script | None = None) -> AbstractContextManager[Session]:
        """A Session on the visitor's sandbox, on a connection with the engine's limits, for running `script`.

        The script (None: anything) lets the engine skip work the script cannot need.
        """
        ...

    def guard(
        self, session: Session, statement: Statement, *, deadline: float | None = None
    ) -> AbstractContextManager[Evidence]:
        """Around one user statement: the boundary, the time limit, and the evidence of writes.

        `deadline` (time.monotonic()) is when the whole run must end: the statement is stopped
        then if that is sooner than its own time limit.
        """
        ...

    def execution_options(self) -> dict[str, Any]:
        """Options for executing user statements (for example, a server-side cursor)."""
        ...

    def translate_error(self, exc: Exception, evidence: Evidence) -> UserError | None:
        """The user-facing error for a database error, or None if it is not the user's doing."""
        ...

    def claim_commit(self, session: Session, visitor: str, token: str) -> None:
        """In a commit's transaction, before its statements: record `token` in the sandbox's own commit log.

        The record commits with the write or not at all, so it says whether a commit that was cut
        short was applied. Raises AlreadyCommitted if the log has it, CommitInProgress if another
        transaction is writing it now. The student can neither read nor forge the log.
        """
        ...

    def check_before_commit(self, session: Session, visitor: str) -> None:
        """Checks on the finished transaction before it commits (for example, the size cap); may raise UserError."""
        ...

    def schema(self, visitor: str) -> list[Table]: ...

    def sandbox_sizes(self, visitors: Iterable[str]) -> dict[str, int]:
        """Bytes each visitor's sandbox takes (only those that exist), for the teacher's class list."""
        ...

    def make_sample_sandbox(self, visitor: str) -> None:
        """The visitor's sandbox becomes a copy of the built-in sample, whatever starting data is set."""
        ...

    def capture_starting_data(self, visitor: str) -> str:
        """Copy the visitor's sandbox as the starting data of new and reset sandboxes; returns its name.

        The engine's `starting_point` callable (given at construction) says which one is in use.
        """
        ...

    def discard_starting_data(self, keep: str | None) -> None:
        """Remove starting data other than `keep` (best effort)."""
        ...

    def ping(self) -> None:
        """Raise unless the engine can be reached (for /healthz); touches no sandbox, runs no student SQL."""
        ...


def rowcount_of(result: CursorResult[Any]) -> int:
    try:
        return max(result.rowcount, 0)
    except Exception:  # noqa: BLE001 - some drivers raise for statements without a count
        return 0
