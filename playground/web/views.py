"""The pages: the editor with its parameter grid, and the Run / Commit / Discard / Reset forms."""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import suppress
from dataclasses import dataclass, field, replace
from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from werkzeug import Response

from .. import history
from ..catalog import TableSummary, summarise
from ..errors import CapacityReached, Unavailable, UserError
from ..examples import EXAMPLES, Example, example
from ..grid import COLUMN_TYPES, GridError, ParameterGrid
from ..per_row import counts_per_row
from ..samples import CHINOOK_TABLES
from ..service import Outcome, RunRequest
from ..sharing import grid_from_query
from .visitor import playground, visitor_id

bp = Blueprint("views", __name__)


@dataclass
class EditorState:
    """Everything the editor page shows; templates only display it."""

    sql: str = ""
    engine: str = ""
    grid: ParameterGrid = field(default_factory=ParameterGrid)
    outcome: Outcome | None = None
    error: str | None = None
    notice: str | None = None
    example: Example | None = None  # the example the editor was opened with (its explanation is shown)


@bp.get("/")
def editor() -> str:
    """The editor; query arguments may pre-fill it (sql, engine, p.NAME once per row, t.NAME), but a GET never runs SQL."""
    sql = request.args.get("sql", "")
    engine = request.args.get("engine") or playground().default_engine
    grid = ParameterGrid()
    if sql:
        try:
            names = playground().parameters_of(sql, engine)
        except UserError:
            names = ()
        grid = grid_from_query(request.args, names, max_rows=playground().settings.limits.max_grid_rows)
    return _render(EditorState(sql=sql, engine=engine, grid=grid, example=example(request.args.get("example"))))


@bp.post("/run")
def run() -> tuple[str, int]:
    """Run the SQL with the grid (or only rearrange the grid, for the buttons that do that)."""
    state = EditorState(
        sql=request.form.get("sql", ""), engine=request.form.get("engine") or playground().default_engine
    )
    try:
        state.grid = grid_from_form(request.form, max_rows=playground().settings.limits.max_grid_rows)
    except GridError as e:
        state.error = e.message
        return _render(state), e.status
    action = request.form.get("action", "run")
    if action != "run":
        return _rearranged(state, action)
    try:
        state.outcome = playground().run(visitor_id(), RunRequest(state.sql, state.engine, grid=state.grid))
    except GridError as e:  # missing values or unused columns: the grid follows the SQL
        state.grid = state.grid.with_columns(_parameters_or(state, state.grid.columns))
        state.error = e.message
        return _render(state), e.status
    except UserError as e:
        state.error = e.message
        return _render(state), e.status
    return _render(state), 200


@bp.post("/commit")
def commit() -> tuple[str, int]:
    """Commit a previewed write (once); a changed count shows the new preview instead."""
    try:
        outcome = playground().commit(visitor_id(), request.form.get("token", ""))
    except UserError as e:
        return _render(_state_from_form(error=e.message)), e.status
    state = _state_from_request(outcome.request, outcome=outcome)
    return _render(state), 409 if outcome.status == "conflict" else 200


@bp.post("/discard")
def discard() -> tuple[str, int]:
    """Forget a preview; the editor keeps the SQL and the grid."""
    try:
        previewed = playground().discard(visitor_id(), request.form.get("token", ""))
    except UserError as e:
        return _render(_state_from_form(error=e.message)), e.status
    return _render(_state_from_request(previewed, notice="Discarded: nothing was changed.")), 200


@bp.post("/reset")
def reset() -> Response:
    """Restore the sample data in the visitor's sandbox."""
    engine = playground().reset(visitor_id(), request.form.get("engine") or None)
    if request.form.get("clear_history"):
        history.clear(playground().store, visitor_id(), engine)
    flash(f"Your {playground().backend(engine).label} sandbox was reset to the sample data.")
    return redirect(url_for("views.editor", engine=engine))


def grid_from_form(form: Mapping[str, str], *, max_rows: int) -> ParameterGrid:
    """The grid's fields: col-I (name), type-I, rows (count), cell-R-I (text)."""
    names: list[str] = []
    while f"col-{len(names)}" in form and len(names) < 1000:
        names.append(form[f"col-{len(names)}"])
    types = tuple(
        t if t in COLUMN_TYPES else "auto" for t in (form.get(f"type-{i}", "auto") for i in range(len(names)))
    )
    raw_rows = form.get("rows", "1")
    try:
        count = int(raw_rows)
    except ValueError:
        raise GridError(f"The grid's row count {raw_rows!r} is not a number.") from None
    if count > max_rows:
        raise GridError(f"The grid has {count:,} rows; at most {max_rows:,} can run at once.")
    count = max(count, 1)
    rows = tuple(tuple(form.get(f"cell-{r}-{i}", "") for i in range(len(names))) for r in range(count))
    return ParameterGrid(tuple(names), types, rows)


def _rearranged(state: EditorState, action: str) -> tuple[str, int]:
    """Add or remove a row, or make the columns follow the SQL, without running anything."""
    grid = state.grid
    if action == "add_row":
        if len(grid.rows) >= playground().settings.limits.max_grid_rows:
            state.error = "The grid already has as many rows as can run at once."
        else:
            grid = replace(grid, rows=grid.rows + (("",) * len(grid.columns),))
    elif action.startswith("remove_row:"):
        index = action.partition(":")[2]
        if index.isdigit() and int(index) < len(grid.rows) and len(grid.rows) > 1:
            grid = replace(grid, rows=grid.rows[: int(index)] + grid.rows[int(index) + 1 :])
    state.grid = grid.with_columns(_parameters_or(state, grid.columns))
    return _render(state), 400 if state.error else 200


def _parameters_or(state: EditorState, fallback: tuple[str, ...]) -> tuple[str, ...]:
    try:
        return playground().parameters_of(state.sql, state.engine)
    except UserError as e:
        state.error = state.error or e.message
        return fallback


def _state_from_request(previewed: RunRequest | None, **kwargs: object) -> EditorState:
    if previewed is None:
        return EditorState(**kwargs)  # type: ignore[arg-type]
    grid = previewed.grid if previewed.grid is not None else ParameterGrid.from_params(previewed.params)
    return EditorState(sql=previewed.sql, engine=previewed.engine or "", grid=grid, **kwargs)  # type: ignore[arg-type]


def _state_from_form(**kwargs: object) -> EditorState:
    """After a failed commit or discard: keep what the page had, when it sent it along."""
    state = EditorState(sql=request.form.get("sql", ""), engine=request.form.get("engine", ""), **kwargs)  # type: ignore[arg-type]
    with suppress(GridError):
        state.grid = grid_from_form(request.form, max_rows=playground().settings.limits.max_grid_rows)
    return state


def _render(state: EditorState) -> str:
    return render_editor(state)


def render_editor(state: EditorState, **panels: Any) -> str:
    """The editor page; `panels` are what a feature adds below it (a plan, a comparison, a link)."""
    service = playground()
    if state.engine not in service.engines:
        state.engine = service.default_engine
    tables: list[TableSummary]
    try:
        tables = summarise(service, visitor_id(), state.engine)
    except CapacityReached:
        raise  # no sandbox for this visitor at all: the 503 page says why, not an editor without tables
    except UserError as e:
        tables = []  # the schema is a side panel: a busy sandbox must not hide the run's own message
        if isinstance(e, Unavailable) and not state.error:
            state.error = e.message  # the disk is full, the database busy: the page still opens, and says why
    return render_template(
        "editor.html",
        state=state,
        engine_labels={name: service.backend(name).label for name in service.engines},
        column_types=COLUMN_TYPES,
        tables=tables,
        examples=EXAMPLES,
        chinook_loaded={t.name for t in tables} >= CHINOOK_TABLES,
        row_counts=counts_per_row(service, visitor_id(), state.outcome) if state.outcome else (),
        limits=service.settings.limits,
        **panels,
    )


def state_from_form() -> EditorState:
    """The editor as the form sent it (SQL, engine, grid); GridError if the grid's fields are wrong."""
    state = EditorState(
        sql=request.form.get("sql", ""), engine=request.form.get("engine") or playground().default_engine
    )
    state.grid = grid_from_form(request.form, max_rows=playground().settings.limits.max_grid_rows)
    return state
