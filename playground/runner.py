"""Run a script's statements inside a transaction someone else owns, and report what happened.

The runner never commits or rolls back: the service opens the transaction and decides. It
executes one statement at a time through the Session with `text()` and bound parameters,
fetches at most `max_rows + 1` rows (to know whether there are more without reading them all),
and asks the engine's guard whether the database changed.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam
from sqlalchemy.exc import StatementError
from sqlalchemy.orm import Session

from .backends.base import SENT_KEY, Backend, SentLog, rowcount_of
from .errors import RefusedStatement, UserError
from .grid import Bindings
from .script import Script, Statement

# Statements that return rows cannot run as an executemany: each would need its own result.
_QUERY_KEYWORDS = frozenset({"SELECT", "VALUES", "TABLE", "EXPLAIN", "PRAGMA", "SHOW"})


@dataclass(frozen=True)
class SentValue:
    key: str  # the name (pyformat) or 1-based position (qmark) the driver binds it to
    value: Any
    type: str  # the Python type the driver received


@dataclass(frozen=True)
class SentStatement:
    """A statement exactly as handed to the DBAPI cursor, with each execute's parameters."""

    statement: str
    parameter_sets: tuple[tuple[SentValue, ...], ...]
    executemany: bool


@dataclass(frozen=True)
class StatementResult:
    index: int
    sql: str
    keyword: str
    columns: tuple[str, ...]
    rows: tuple[tuple[Any, ...], ...]
    returns_rows: bool
    rowcount: int  # rows changed for a write; rows shown for a query
    truncated: bool
    wrote: bool
    sent: SentStatement | None


@dataclass(frozen=True)
class RunResult:
    statements: tuple[StatementResult, ...]
    elapsed_ms: float

    @property
    def wrote(self) -> bool:
        return any(s.wrote for s in self.statements)

    @property
    def rowcount(self) -> int:
        return sum(s.rowcount for s in self.statements)

    @property
    def counts(self) -> list[int]:
        """Per-statement counts: what a commit must reproduce to match its preview."""
        return [s.rowcount for s in self.statements]


class StatementFailed(UserError):
    """A statement failed in the database; the message names it."""


def run_statements(
    session: Session, script: Script, bindings: Bindings, backend: Backend, *, max_rows: int, max_bytes: int
) -> RunResult:
    """Execute every statement in order in the session's transaction; stop at the first error."""
    for statement in script.statements:
        # Every statement is checked before the first one runs.
        backend.check(statement)
    started = time.perf_counter()
    # Keep the dict itself: after a lost connection, `connection.info` refuses to answer.
    info = session.connection().info
    sent_log = SentLog()
    info[SENT_KEY] = sent_log
    results = []
    try:
        for statement in script.statements:
            results.append(_run_one(session, statement, bindings, backend, sent_log, max_rows, max_bytes))
    finally:
        info.pop(SENT_KEY, None)
    return RunResult(tuple(results), (time.perf_counter() - started) * 1000)


def _run_one(
    session: Session,
    statement: Statement,
    bindings: Bindings,
    backend: Backend,
    sent_log: SentLog,
    max_rows: int,
    max_bytes: int,
) -> StatementResult:
    clause = statement.clause
    typed = [bindparam(name, type_=bindings.types[name]) for name in statement.parameters if name in bindings.types]
    if typed:
        clause = clause.bindparams(*typed)
    # A statement without parameters runs once, whatever the number of grid rows.
    param_sets = [{name: row[name] for name in statement.parameters} for row in bindings.rows]
    many = bool(statement.parameters) and len(param_sets) > 1
    # The drivers' executemany discards returned rows, so a statement that returns rows runs once.
    if many and (statement.keyword in _QUERY_KEYWORDS or statement.returning):
        raise StatementFailed(
            f"{statement.label} returns rows, so it runs with one parameter row; the grid has {len(param_sets)}.",
            statement=statement.index,
        )
    sent_log.entries.clear()
    columns: tuple[str, ...] = ()
    rows: list[tuple[Any, ...]] = []
    truncated = False
    with backend.guard(session, statement) as evidence:
        try:
            result = session.execute(
                clause, param_sets if many else param_sets[0], execution_options=backend.execution_options()
            )
            returns_rows = result.returns_rows
            if returns_rows:
                columns = tuple(result.keys())
                rows, truncated = _fetch_capped(result, max_rows, max_bytes)
            count = rowcount_of(result)
            result.close()
        except StatementError as exc:
            translated = backend.translate_error(exc.orig if exc.orig is not None else exc, evidence)
            if translated is None:
                raise
            verb = "is not allowed" if isinstance(translated, RefusedStatement) else "failed"
            raise type(translated)(
                f"{statement.label} {verb}: {translated.message.rstrip('.')}.", statement=statement.index
            ) from exc
    wrote = evidence.wrote
    if evidence.changes is not None and (wrote or not returns_rows):
        count = evidence.changes
    if not wrote and returns_rows:
        count = len(rows)
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
        sent=_sent(sent_log),
    )


def _fetch_capped(result: Any, max_rows: int, max_bytes: int) -> tuple[list[tuple[Any, ...]], bool]:
    """At most max_rows rows and about max_bytes of values; True if the result had more."""
    rows: list[tuple[Any, ...]] = []
    size = 0
    # Row by row: a few huge rows must not fill the web process's memory before we can stop.
    while (row := result.fetchone()) is not None:
        if len(rows) == max_rows or size > max_bytes:
            return rows, True
        rows.append(tuple(row))
        size += sum(len(v) if isinstance(v, str | bytes) else 8 for v in row)
    return rows, False


def _sent(log: SentLog) -> SentStatement | None:
    if not log.entries:
        return None
    statement, parameters, executemany = log.entries[-1]
    sets = parameters if executemany else [parameters]
    return SentStatement(statement, tuple(_sent_values(p) for p in sets), executemany)


def _sent_values(parameters: Any) -> tuple[SentValue, ...]:
    if isinstance(parameters, dict):
        items = [(str(k), v) for k, v in parameters.items()]
    elif parameters is None:
        items = []
    else:
        items = [(str(i), v) for i, v in enumerate(parameters, start=1)]
    return tuple(SentValue(k, v, type(v).__name__) for k, v in items)
