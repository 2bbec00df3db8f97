"""Run a script's statements inside a transaction someone else owns, and report what happened.

The runner never commits or rolls back: the service opens the transaction and decides. It
executes one statement at a time through the Session with `text()` and bound parameters,
fetches at most `max_rows + 1` rows (to know whether there are more without reading them all),
and asks the engine's guard whether the database changed.

With several parameter rows, a statement that writes without returning rows runs as one
executemany; a statement that returns rows (a query, or a write with RETURNING) runs once per
row, because the drivers' executemany throws returned rows away. Each row's result is kept under
that row's values.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam
from sqlalchemy.exc import StatementError
from sqlalchemy.orm import Session

from .backends.base import SENT_KEY, Backend, SentEntry, SentLog, rowcount_of
from .error_position import error_offset
from .errors import (
    RefusedStatement,
    RunLimitExceeded,
    TimeLimitExceeded,
    UserError,
    statement_failed,
    statement_not_allowed,
)
from .grid import Bindings
from .messages import _
from .schema_change import SchemaChange, schema_change
from .script import Script, Statement

# Statements that return rows: with several parameter rows they run once per row.
_QUERY_KEYWORDS = frozenset({"SELECT", "VALUES", "TABLE", "EXPLAIN", "PRAGMA", "SHOW", "WITH"})


@dataclass(frozen=True)
class SentValue:
    key: str  # the name (pyformat) or 1-based position (qmark) the driver binds it to
    value: Any
    type: str  # the Python type the driver received
    name: str | None = None  # the :name it came from


@dataclass(frozen=True)
class SentStatement:
    """A statement exactly as handed to the DBAPI cursor, with each execute's parameters."""

    statement: str
    parameter_sets: tuple[tuple[SentValue, ...], ...]
    executemany: bool
    per_row: bool = False  # executed once per parameter row (it returns rows)
    positional: bool = False  # the driver binds by position (qmark), not by name
    # The text the server received, where the driver binds on the client (psycopg2 quotes each
    # value into the statement and sends one finished text); None where the values travel apart.
    received: str | None = None


@dataclass(frozen=True)
class RowResult:
    """One parameter row's execution of a statement that ran once per row."""

    row: int  # 1-based, as the grid numbers it
    parameters: tuple[tuple[str, Any], ...]  # (name, value) in the statement's order
    rows: tuple[tuple[Any, ...], ...]
    truncated: bool


@dataclass(frozen=True)
class StatementResult:
    index: int
    sql: str
    keyword: str
    columns: tuple[str, ...]
    rows: tuple[tuple[Any, ...], ...]  # every row fetched (all parameter rows' when it ran once per row)
    returns_rows: bool
    rowcount: int  # rows changed for a write; rows returned for a query (what a commit must reproduce)
    truncated: bool
    wrote: bool
    sent: SentStatement | None
    changed: int = 0  # rows the statement changed (0 unless it wrote)
    per_row: tuple[RowResult, ...] = ()  # each parameter row's result, when it ran once per row
    schema_change: SchemaChange | None = None  # for CREATE, DROP, ALTER, ...: what it does to the schema
    notes: tuple[str, ...] = ()  # how the engine read the statement, where the student should know

    @property
    def returned(self) -> int | None:
        """Rows returned (fetched), or None for a statement that returns none."""
        return len(self.rows) if self.returns_rows else None


@dataclass(frozen=True)
class RunResult:
    statements: tuple[StatementResult, ...]
    elapsed_ms: float

    @property
    def wrote(self) -> bool:
        return any(s.wrote for s in self.statements)

    @property
    def rows_changed(self) -> int:
        """Rows the writes changed, all statements together; rows a query returned never count."""
        return sum(s.changed for s in self.statements)

    @property
    def rows_returned(self) -> int:
        return sum(s.returned or 0 for s in self.statements)

    @property
    def rowcount(self) -> int:
        """The run's figure: rows changed when it wrote, else rows returned."""
        return self.rows_changed if self.wrote else self.rows_returned

    @property
    def counts(self) -> list[int]:
        """Per-statement counts: what a commit must reproduce to match its preview."""
        return [s.rowcount for s in self.statements]


class StatementFailed(UserError):
    """A statement failed in the database; the message names it."""


def run_statements(
    session: Session,
    script: Script,
    bindings: Bindings,
    backend: Backend,
    *,
    max_rows: int,
    max_bytes: int,
    run_time_limit_ms: int | None = None,
) -> RunResult:
    """Execute every statement in order in the session's transaction; stop at the first error.

    With `run_time_limit_ms`, the whole run has that long: a statement gets what is left of it
    (or its own time limit, if that is sooner), and one that would start after it is not run.
    """
    for statement in script.statements:
        # Every statement is checked before the first one runs.
        backend.check(statement)
    started = time.perf_counter()
    deadline = time.monotonic() + run_time_limit_ms / 1000 if run_time_limit_ms is not None else None
    # Keep the dict itself: after a lost connection, `connection.info` refuses to answer.
    info = session.connection().info
    sent_log = SentLog()
    info[SENT_KEY] = sent_log
    results = []
    try:
        for statement in script.statements:
            if deadline is not None and time.monotonic() >= deadline:
                raise _past_run_time_limit(statement, run_time_limit_ms, stopped=False)
            try:
                results.append(_run_one(session, statement, bindings, backend, sent_log, max_rows, max_bytes, deadline))
            except TimeLimitExceeded as e:
                # Stopped by the run's deadline (sooner than its own limit): say which limit it was.
                if deadline is not None and time.monotonic() >= deadline:
                    raise _past_run_time_limit(statement, run_time_limit_ms, stopped=True) from e
                raise
    finally:
        info.pop(SENT_KEY, None)
    return RunResult(tuple(results), (time.perf_counter() - started) * 1000)


def _past_run_time_limit(statement: Statement, limit_ms: int | None, *, stopped: bool) -> RunLimitExceeded:
    names = {"index": statement.index, "keyword": statement.keyword or "SQL", "limit": limit_ms or 0}
    if stopped:
        message = _(
            "Statement %(index)s (%(keyword)s) was stopped: the run reached its total time limit of %(limit)s ms "
            "(PLAYGROUND_RUN_TIME_LIMIT_MS). The whole run was rolled back; nothing was changed.",
            **names,
        )
    else:
        message = _(
            "Statement %(index)s (%(keyword)s) was not run: the run reached its total time limit of %(limit)s ms "
            "(PLAYGROUND_RUN_TIME_LIMIT_MS). The whole run was rolled back; nothing was changed.",
            **names,
        )
    return RunLimitExceeded(message, statement=statement.index)


def _run_one(
    session: Session,
    statement: Statement,
    bindings: Bindings,
    backend: Backend,
    sent_log: SentLog,
    max_rows: int,
    max_bytes: int,
    deadline: float | None = None,
) -> StatementResult:
    clause = statement.clause
    typed = [bindparam(name, type_=bindings.types[name]) for name in statement.parameters if name in bindings.types]
    if typed:
        clause = clause.bindparams(*typed)
    # A statement without parameters runs once, whatever the number of grid rows.
    param_sets = [{name: row[name] for name in statement.parameters} for row in bindings.rows]
    several = bool(statement.parameters) and len(param_sets) > 1
    per_row = several and (statement.keyword in _QUERY_KEYWORDS or statement.returning)
    many = several and not per_row
    executions = param_sets if per_row else [param_sets if many else param_sets[0]]
    sent_log.entries.clear()
    raw = session.connection().connection.driver_connection
    columns: tuple[str, ...] = ()
    row_results: list[RowResult] = []
    rows: list[tuple[Any, ...]] = []
    size = 0
    truncated = False
    returns_rows = False
    driver_count = 0
    with backend.guard(session, statement, deadline=deadline) as evidence:
        try:
            for number, parameters in enumerate(executions, start=1):
                result = session.execute(clause, parameters, execution_options=backend.execution_options())
                returns_rows = result.returns_rows
                fetched: list[tuple[Any, ...]] = []
                more = False
                if returns_rows:
                    columns = tuple(result.keys())
                    # One budget of rows and bytes for the statement, whatever the number of executions.
                    fetched, more, fetched_size = _fetch_capped(result, max_rows - len(rows), max_bytes - size)
                    rows.extend(fetched)
                    size += fetched_size
                    truncated = truncated or more
                driver_count += rowcount_of(result)
                result.close()
                if per_row:
                    shown = tuple((name, parameters[name]) for name in statement.parameters)  # type: ignore[call-overload]
                    row_results.append(RowResult(number, shown, tuple(fetched), more))
        except StatementError as exc:
            original = exc.orig if exc.orig is not None else exc
            translated = backend.translate_error(original, evidence)
            if translated is None:
                raise
            said = statement_not_allowed if isinstance(translated, RefusedStatement) else statement_failed
            raise type(translated)(
                said(statement.label, translated.message),
                statement=statement.index,
                offset=_offset(original, statement, backend, sent_log.entries, raw),
            ) from exc
    wrote = evidence.wrote
    changed = (evidence.changes if evidence.changes is not None else driver_count) if wrote else 0
    count = changed if wrote or not returns_rows else len(rows)
    return StatementResult(
        index=statement.index,
        sql=statement.sql,
        keyword=statement.keyword,
        columns=columns,
        rows=tuple(rows),
        returns_rows=returns_rows,
        rowcount=count,
        truncated=truncated,
        wrote=wrote,
        sent=_sent(sent_log.entries, per_row=per_row),
        changed=changed,
        per_row=tuple(row_results),
        schema_change=schema_change(statement.sql, backend.name) if wrote else None,  # type: ignore[arg-type]
        notes=tuple(evidence.notes),
    )


def _offset(
    error: BaseException, statement: Statement, backend: Backend, sent: Sequence[SentEntry], raw: Any
) -> int | None:
    """Where in the statement the database says the error is (see error_position)."""

    def literal(value: Any) -> str:
        # psycopg2 quotes values on the client: quoting again gives the text the server received.
        with raw.cursor() as cursor:
            quoted = cursor.mogrify("%s", (value,))
        return quoted.decode("utf-8", "replace") if isinstance(quoted, bytes) else str(quoted)

    return error_offset(error, statement.sql, backend.name, sent, literal)  # type: ignore[arg-type]


def _value_size(value: Any) -> int:
    return len(value) if isinstance(value, str | bytes) else 8


def _fetch_capped(result: Any, max_rows: int, max_bytes: int) -> tuple[list[tuple[Any, ...]], bool, int]:
    """At most max_rows rows and about max_bytes of values; True if the result had more; their size."""
    rows: list[tuple[Any, ...]] = []
    size = 0
    # Row by row: a few huge rows must not fill the web process's memory before we can stop.
    while (row := result.fetchone()) is not None:
        if len(rows) >= max_rows or size > max_bytes:
            return rows, True, size
        rows.append(tuple(row))
        size += sum(_value_size(v) for v in row)
    return rows, False, size


def _sent(entries: list[SentEntry], *, per_row: bool) -> SentStatement | None:
    if not entries:
        return None
    if per_row:
        sets = [_sent_values(e.parameters, e.position_names) for e in entries]
        last = entries[-1]
        return SentStatement(last.statement, tuple(sets), False, True, last.position_names is not None, last.received)
    last = entries[-1]
    parameters = last.parameters if last.executemany else [last.parameters]
    sets = [_sent_values(p, last.position_names) for p in parameters]
    return SentStatement(
        last.statement, tuple(sets), last.executemany, False, last.position_names is not None, last.received
    )


def _sent_values(parameters: Any, names: tuple[str, ...] | None) -> tuple[SentValue, ...]:
    if isinstance(parameters, dict):
        return tuple(SentValue(str(k), v, type(v).__name__, str(k)) for k, v in parameters.items())
    if parameters is None:
        return ()
    return tuple(
        SentValue(str(i), v, type(v).__name__, names[i - 1] if names and i <= len(names) else None)
        for i, v in enumerate(parameters, start=1)
    )
