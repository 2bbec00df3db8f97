"""The one place that opens a sandbox transaction and decides: roll back (result, preview) or commit.

Both the pages and the JSON API call this service; it knows nothing of Flask.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, nullcontext, suppress
from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import Any, Literal, TypeVar

from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from .backends.base import Backend, Table
from .config import Settings
from .errors import AlreadyCommitted, ClassReadOnly, SqlPosition, TokenSpent, Unavailable, UserError
from .faults import answering_faults
from .grid import Bindings, GridError, ParameterGrid, bindings_from_json, too_many_grid_rows
from .logs import event
from .messages import Message, _, _n, listed
from .runner import RunResult, run_statements
from .sandboxes import Sandboxes
from .script import Script, parse_script
from .store import RunRecord, Store
from .visitor_gate import VisitorGate

log = logging.getLogger("playground.runs")

Status = Literal["ok", "preview", "committed", "conflict"]
T = TypeVar("T")


class MissingValues(GridError):
    """The SQL has parameters the grid has no values for; `grid` is the grid with those columns added."""

    def __init__(self, message: str, names: tuple[str, ...], grid: ParameterGrid | None = None) -> None:
        super().__init__(message)
        self.names = names
        self.grid = grid


@dataclass(frozen=True)
class RunRequest:
    """What to run: SQL, an engine, and either the page's grid or the API's JSON parameters.

    `follow_sql` (the page's Run): the grid's columns follow the SQL as submitted, whatever the
    page's script had caught up with; columns the SQL no longer has are dropped. The API is strict.
    """

    sql: str
    engine: str | None = None
    grid: ParameterGrid | None = None
    params: Any = None
    follow_sql: bool = False

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"sql": self.sql, "engine": self.engine}
        if self.grid is not None:
            data["grid"] = {
                "columns": list(self.grid.columns),
                "types": list(self.grid.types),
                "rows": [list(r) for r in self.grid.rows],
            }
        else:
            data["params"] = self.params
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RunRequest:
        grid = data.get("grid")
        return cls(
            sql=data["sql"],
            engine=data.get("engine"),
            grid=(
                ParameterGrid(tuple(grid["columns"]), tuple(grid["types"]), tuple(tuple(r) for r in grid["rows"]))
                if grid is not None
                else None
            ),
            params=data.get("params"),
        )


@dataclass(frozen=True)
class Prepared:
    """A request ready to run: its engine, its statements, its typed values, and the request as it will run."""

    backend: Backend
    script: Script
    bindings: Bindings
    request: RunRequest


@dataclass(frozen=True)
class Outcome:
    """What a run, a commit or a conflict produced, for a page or the API to show."""

    status: Status
    engine: str
    run: RunResult
    token: str | None = None
    parameter_rows: int = 1
    notes: tuple[str, ...] = field(default=())
    request: RunRequest | None = None


class Playground:
    """Runs visitors' SQL on their sandboxes under the transaction contract."""

    def __init__(self, settings: Settings, store: Store, backends: Mapping[str, Backend], default_engine: str) -> None:
        # One Limits object for every layer: the service checks the grid and the SQL against the
        # same limits its backends enforce on the database, so a run can never be held to two.
        for name, backend in backends.items():
            if backend.limits != settings.limits:
                raise ValueError(f"the {name} backend enforces other limits than the service's settings")
        self._settings = settings
        self.store = store
        self.backends = dict(backends)
        self.default_engine = default_engine
        self.sandboxes = Sandboxes(settings, store, self.backends)
        # Runs per visitor at once and per minute, across the worker processes (see visitor_gate).
        self.gate = VisitorGate(settings.data_dir, settings.limits)

    def close(self) -> None:
        """At shutdown: write the pending run log lines and close the engines."""
        self.store.close()
        for backend in self.backends.values():
            close = getattr(backend, "close", None)
            if close:
                close()

    @property
    def settings(self) -> Settings:
        """Fixed for the service's life: to change a limit, build the backends and the service anew."""
        return self._settings

    @property
    def engines(self) -> list[str]:
        return list(self.backends)

    def backend(self, engine: str | None) -> Backend:
        name = engine or self.default_engine
        if name not in self.backends:
            raise UserError(
                _(
                    "Unknown engine %(engine)s; this server offers: %(engines)s.",
                    engine=repr(name),
                    engines=", ".join(self.backends),
                )
            )
        return self.backends[name]

    # -- the script and its parameters ------------------------------------------------------

    def prepare(self, request: RunRequest) -> Prepared:
        """Parse the SQL and type the parameters; raise UserError before anything runs."""
        backend = self.backend(request.engine)
        limits = self.settings.limits
        script = self._parse(request.sql, backend)
        if request.grid is not None:
            grid = self._grid_for(script, request.grid, follow_sql=request.follow_sql)
            request = replace(request, grid=grid, follow_sql=False)
            bindings = grid.typed(max_value_bytes=limits.max_value_bytes)
        else:
            bindings = bindings_from_json(
                request.params, max_rows=limits.max_grid_rows, max_value_bytes=limits.max_value_bytes
            )
            _check_names(script, bindings)
        return Prepared(backend, script, bindings, request)

    def _grid_for(self, script: Script, grid: ParameterGrid, *, follow_sql: bool) -> ParameterGrid:
        """The grid as it runs: its columns must be the SQL's parameters (made so, with `follow_sql`)."""
        limits = self.settings.limits
        if len(grid.rows) > limits.max_grid_rows:
            raise GridError(too_many_grid_rows(len(grid.rows), limits.max_grid_rows))
        missing = tuple(n for n in script.parameters if n not in grid.columns)
        followed = grid.with_columns(script.parameters) if follow_sql else grid
        if missing:
            names = ", ".join(f":{n}" for n in missing)
            raise MissingValues(
                _("The SQL needs values for %(names)s: fill in the grid and run again.", names=names), missing, followed
            )
        unused = [n for n in followed.columns if n not in script.parameters]
        if unused:
            names = ", ".join(f":{n}" for n in unused)
            raise GridError(
                _(
                    "The grid has columns the SQL does not use: %(names)s. Remove them or use them in the SQL.",
                    names=names,
                )
            )
        return followed

    # -- the contract -----------------------------------------------------------------------

    @answering_faults(_("your run"))
    def run(self, visitor: str, request: RunRequest, *, by_teacher: bool = False) -> Outcome:
        """Run in one transaction and roll back: a result, or a preview with a commit token.

        `by_teacher`: the teacher's own work (the starting data), which a read-only class does not stop.
        """
        started = time.perf_counter()
        try:
            with self.gate.enter(visitor), self._transaction(visitor, request) as (prepared, _session, result):
                pass  # always rolled back
            # Asked only of a write: a plain read does not read the bookkeeping database for it.
            if result.wrote and not by_teacher and self.store.class_is_read_only():
                raise ClassReadOnly()
        except UserError as e:
            engine = request.engine or self.default_engine
            self._log(
                RunRecord(
                    visitor, engine, "run", _error_outcome(e), request.sql, error=e.message, work=_work(request, engine)
                ),
                started,
                e,
            )
            raise
        backend, request = prepared.backend, prepared.request
        token = None
        if result.wrote:
            stored = request.to_json() | {"engine": backend.name}
            token = self.store.create_pending_write(visitor, backend.name, stored, result.counts)
        status: Status = "preview" if token else "ok"
        outcome = Outcome(status, backend.name, result, token, len(prepared.bindings.rows), request=request)
        self._log_outcome(visitor, "run", request.sql, outcome, started)
        return outcome

    @answering_faults(_("your commit"))
    def commit(self, visitor: str, token: str, *, by_teacher: bool = False) -> Outcome:
        """Run the previewed write again; commit only if every count matches the preview.

        The sandbox records the token in the same transaction (its commit log), so a commit cut
        short (a crash, a lost connection) leaves the token "committing" here, and the next Commit
        asks the sandbox: applied already (410), being applied right now (503, try again), or not
        applied, and then this commit applies it, once.
        """
        # Before the token is touched: a commit turned away here keeps its preview.
        with self.gate.enter(visitor):
            return self._commit(visitor, token, by_teacher=by_teacher)

    def _commit(self, visitor: str, token: str, *, by_teacher: bool) -> Outcome:
        started = time.perf_counter()
        if not by_teacher and self.store.class_is_read_only():
            raise ClassReadOnly()  # before the claim: the preview stays committable once the class may write again
        pending = self.store.claim_pending_write(visitor, token, outcome="committing")
        request = RunRequest.from_json(pending.request)
        try:
            with self._transaction(visitor, request, commit_token=token) as (prepared, session, result):
                backend, parameter_rows = prepared.backend, len(prepared.bindings.rows)
                if pending.expired:
                    raise TokenSpent(_EXPIRED_WHILE_COMMITTING)
                if result.counts == pending.counts:
                    backend.check_before_commit(session, visitor)
                    _commit_or_say_so(session)
                    self._settle(token, "committed")
                    outcome = Outcome("committed", backend.name, result, None, parameter_rows, request=request)
                    self._log_outcome(visitor, "commit", request.sql, outcome, started)
                    return outcome
        except AlreadyCommitted as e:
            self._settle(token, "committed")
            self._log(RunRecord(visitor, pending.engine, "commit", "refused", request.sql, error=e.message), started, e)
            raise
        except UserError as e:
            if not isinstance(e, Unavailable):  # busy or out of disk: the token stays committable
                self._settle(token, "expired" if pending.expired else "failed")
            record = RunRecord(
                visitor,
                pending.engine,
                "commit",
                _error_outcome(e),
                request.sql,
                error=e.message,
                work=_work(request, pending.engine),
            )
            self._log(record, started, e)
            raise
        # The data changed since the preview: show the new preview, with a new token.
        new_token = self.store.create_pending_write(visitor, backend.name, pending.request, result.counts)
        self._settle(token, "conflict")
        note = _(
            "Nothing was committed: the data changed since the preview (%(counts)s). Check the new preview.",
            counts=_changed_counts(pending.counts, result.counts),
        )
        outcome = Outcome("conflict", backend.name, result, new_token, parameter_rows, (note,), request)
        self._log_outcome(visitor, "commit", request.sql, outcome, started)
        return outcome

    def _settle(self, token: str, outcome: str) -> None:
        """Write a commit's outcome; if that fails, the token stays "committing" and the sandbox's log answers later."""
        try:
            self.store.set_outcome(token, outcome)
        except Exception:
            log.warning("the outcome %r of a commit was not written; the sandbox's commit log keeps it", outcome)

    @answering_faults(_("this request"))
    def evaluate(
        self, visitor: str, request: RunRequest, *, max_rows: int | None = None, max_bytes: int | None = None
    ) -> RunResult:
        """Run and roll back, keeping nothing: no commit token, no run log line.

        For what is built on a run without being one (a download, a plan, the schema panel's
        row counts): it shows what the SQL returns and never leaves a preview behind.
        """
        with (
            self.gate.enter(visitor),
            self._transaction(visitor, request, max_rows=max_rows, max_bytes=max_bytes) as (_p, _s, result),
        ):
            pass  # always rolled back
        return result

    @contextmanager
    def _transaction(
        self,
        visitor: str,
        request: RunRequest,
        *,
        max_rows: int | None = None,
        max_bytes: int | None = None,
        commit_token: str | None = None,
    ) -> Iterator[tuple[Prepared, Session, RunResult]]:
        """The statements run in one transaction on the visitor's sandbox; rolled back unless committed inside.

        For a commit, the sandbox's commit log gets the token first, in the same transaction.
        """
        prepared = _located(request.sql, None, self.prepare, request)
        backend, script = prepared.backend, prepared.script
        self._ready_sandbox(visitor, backend)
        limits = self.settings.limits
        with backend.session(visitor, script) as session:
            try:
                if commit_token is not None:
                    backend.claim_commit(session, visitor, commit_token)
                result = _located(
                    request.sql,
                    script,
                    run_statements,
                    session,
                    script,
                    prepared.bindings,
                    backend,
                    max_rows=max_rows or limits.max_rows,
                    max_bytes=max_bytes or limits.max_result_bytes,
                    run_time_limit_ms=limits.run_time_limit_ms,
                )
                yield prepared, session, result
            except BaseException:
                _roll_back_after_failure(session)
                raise
            else:
                session.rollback()

    @answering_faults(_("your discard"))
    def discard(self, visitor: str, token: str) -> RunRequest:
        """Forget a preview: its token can no longer commit. Returns what had been previewed."""
        pending = self.store.claim_pending_write(visitor, token, outcome="discarded")
        self._log(RunRecord(visitor, pending.engine, "discard", "discarded"))
        return RunRequest.from_json(pending.request)

    def parameters_of(self, sql: str, engine: str | None) -> tuple[str, ...]:
        """The grid's columns for this SQL, without running anything."""
        return _located(sql, None, self._parse, sql, self.backend(engine)).parameters

    def _parse(self, sql: str, backend: Backend) -> Script:
        limits = self.settings.limits
        max_bytes, max_statements = limits.max_sql_bytes, limits.max_statements
        if len(sql) > _CACHED_SQL_CHARS:
            return parse_script(sql, backend.name, backend.split, max_bytes=max_bytes, max_statements=max_statements)  # type: ignore[arg-type]
        return _parsed(sql, backend.name, backend.split, max_bytes, max_statements)

    @answering_faults(_("your sandbox"))
    def reset(self, visitor: str, engine: str | None = None, *, by_teacher: bool = False) -> str:
        """Restore the visitor's sandbox to the starting data (the sample, unless the teacher set other data)."""
        backend = self.backend(engine)
        if not by_teacher and self.store.class_is_read_only():
            raise ClassReadOnly()
        # The teacher's reset is not the student's run: it neither counts against nor waits on their turns.
        with nullcontext() if by_teacher else self.gate.enter(visitor):
            self._ready_sandbox(visitor, backend)
            backend.reset_sandbox(visitor)
        self.sandboxes.forget(visitor, backend.name)
        self._log(RunRecord(visitor, backend.name, "reset", "reset"))
        return backend.name

    @answering_faults(_("this request"))
    def schema(self, visitor: str, engine: str | None = None) -> list[Table]:
        """The tables and columns of the visitor's sandbox (created on first use)."""
        backend = self.backend(engine)
        self._ready_sandbox(visitor, backend)
        return backend.schema(visitor)

    # -- sandboxes (see sandboxes.py) -------------------------------------------------------

    def _ready_sandbox(self, visitor: str, backend: Backend) -> None:
        self.sandboxes.ready(visitor, backend)

    def sweep_idle_sandboxes(self, *, force: bool = False) -> list[tuple[str, str]]:
        """Drop sandboxes idle for longer than the TTL; at most once a minute across all processes."""
        dropped = self.sandboxes.sweep(force=force)
        for visitor in {visitor for visitor, _engine in dropped}:
            self.gate.forget(visitor)
        return dropped

    # -- observability ----------------------------------------------------------------------

    def _log_outcome(self, visitor: str, action: str, sql: str, outcome: Outcome, started: float) -> None:
        self._log(
            RunRecord(
                visitor,
                outcome.engine,
                action,
                outcome.status,
                sql,
                parameter_rows=outcome.parameter_rows,
                rowcount=outcome.run.rowcount,
                elapsed_ms=round(outcome.run.elapsed_ms, 3),
                work=_work(outcome.request, outcome.engine) if outcome.request else None,
            ),
            started,
        )

    def _log(self, record: RunRecord, started: float | None = None, error: UserError | None = None) -> None:
        """The run log (for the teacher, with the SQL) and one process log line (no SQL, no values)."""
        event(
            log,
            record.action,
            sandbox=record.visitor,
            engine=record.engine,
            outcome=record.outcome,
            rowcount=record.rowcount,
            parameter_rows=record.parameter_rows,
            duration_ms=round((time.perf_counter() - started) * 1000, 1) if started is not None else None,
            # The kind of error only: its message can quote a value from the grid.
            error=type(error).__name__ if error is not None else None,
        )
        self.store.log_run(record)


# History reopens a run from its log line; larger work (a huge grid) is logged without it.
MAX_LOGGED_WORK_BYTES = 256_000


def _work(request: RunRequest, engine: str) -> str | None:
    """The run's SQL, grid and engine as History keeps them, or None when too large to keep."""
    text = json.dumps(request.to_json() | {"engine": engine}, ensure_ascii=False)
    return text if len(text) <= MAX_LOGGED_WORK_BYTES else None


def _changed_counts(previewed: list[int], now: list[int]) -> Message:
    """How the counts moved: the total for one statement, each statement that changed for a script."""
    if len(previewed) == 1 == len(now):
        return _n(
            "it counted %(num)s row, now %(now)s", "it counted %(num)s rows, now %(now)s", previewed[0], now=now[0]
        )
    return listed(
        [
            _n(
                "statement %(index)s counted %(num)s row, now %(now)s",
                "statement %(index)s counted %(num)s rows, now %(now)s",
                before,
                index=i,
                now=after,
            )
            for i, (before, after) in enumerate(zip(previewed, now, strict=True), start=1)
            if before != after
        ],
        "; ",
    )


# The same SQL is parsed once per process: the grid asks for its parameters, Run runs it, Commit
# runs it again, and a class runs the lesson's SQL many times. A Script is immutable (its clauses
# are copied, never changed, when parameters are typed), so one can serve every run. SQL that
# fails to parse is not kept (an exception is not cached) and is parsed again.
_CACHED_SQL_CHARS = 20_000


@lru_cache(maxsize=512)
def _parsed(sql: str, dialect: str, split: Callable[[str], list[str]], max_bytes: int, max_statements: int) -> Script:
    return parse_script(sql, dialect, split, max_bytes=max_bytes, max_statements=max_statements)  # type: ignore[arg-type]


_EXPIRED_WHILE_COMMITTING = _(
    "This preview's commit was cut short and the preview has since expired; it was not applied. Run the SQL again."
)


def _commit_or_say_so(session: Session) -> None:
    """COMMIT; if the connection fails on the way, nobody here knows whether it was applied: the next Commit will."""
    try:
        session.commit()
    except Exception as e:
        if isinstance(e, UserError):
            raise
        raise Unavailable(
            _(
                "The connection to the database was lost while committing; press Commit again to find out "
                "whether your write was applied (it will not be applied twice)."
            )
        ) from e


def _roll_back_after_failure(session: Session) -> None:
    """Roll back after the run failed; if the rollback fails too, the first error is the answer.

    PostgreSQL can refuse the ROLLBACK itself for the very reason the statement failed (a value
    past temp_file_limit is counted again when its cursor is closed): the visitor is told what
    their statement did, and the connection, whose state is now unknown, is not used again.
    """
    try:
        session.rollback()
    except Exception:
        log.warning("a rollback after a failed run failed too; its connection is discarded", exc_info=True)
        bind = session.get_bind()
        if isinstance(bind, Connection):
            with suppress(Exception):
                bind.invalidate()


def _located(sql: str, script: Script | None, call: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Call; a UserError that says where in the SQL it is gets its line and column in the whole SQL."""
    try:
        return call(*args, **kwargs)
    except UserError as e:
        if e.position is None and e.offset is not None:
            start = 0
            if e.statement is not None and script is not None and 0 < e.statement <= len(script.statements):
                start = script.statements[e.statement - 1].start
            e.position = SqlPosition.in_text(sql, start + e.offset)
        raise


def _error_outcome(error: UserError) -> str:
    return "refused" if error.status in (403, 423) else "error"


def _check_names(script: Script, bindings: Bindings) -> None:
    """Every parameter has a value in every row, and no row names a parameter the SQL lacks."""
    expected = set(script.parameters)
    for r, row in enumerate(bindings.rows, start=1):
        missing = [n for n in script.parameters if n not in row]
        extra = [n for n in row if n not in expected]
        if extra:
            known = ", ".join(f":{n}" for n in script.parameters) or _("none")
            raise GridError(
                _(
                    "Parameter row %(row)s names %(names)s, which the SQL does not use (its parameters: %(known)s).",
                    row=r,
                    names=", ".join(":" + n for n in extra),
                    known=known,
                )
            )
        if missing:
            raise GridError(
                _("Parameter row %(row)s has no value for %(names)s.", row=r, names=", ".join(":" + n for n in missing))
            )
