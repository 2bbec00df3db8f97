"""What the editor page shows (EditorState), read from its form, kept as a snapshot, and its grid following the SQL."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from flask import request

from ..errors import UserError
from ..examples import Example
from ..grid import COLUMN_TYPES, GridError, ParameterGrid, too_many_grid_rows
from ..messages import _
from ..service import RunRequest
from .shown import ShownError, ShownOutcome, from_json, message_from_json, shown_error, to_json
from .visitor import playground


@dataclass
class EditorState:
    """Everything the editor page shows; templates only display it."""

    sql: str = ""
    engine: str = ""
    grid: ParameterGrid = field(default_factory=ParameterGrid)
    # Columns the SQL no longer has, with their values, in case the parameter comes back.
    aside: ParameterGrid = field(default_factory=lambda: ParameterGrid(rows=()))
    outcome: ShownOutcome | None = None
    # A ShownError; a plain message (str) from the pages built on the editor is shown the same way.
    error: ShownError | str | None = None
    notice: str | None = None  # a Message, kept as one (a reload in another language says it in that one)
    example: Example | None = None  # the example the editor was opened with (its explanation is shown)
    status: int = 200

    def failed(self, error: UserError) -> EditorState:
        """This state showing the error (its message, where it is in the SQL) with the error's status."""
        self.error = shown_error(error)
        self.status = error.status
        return self

    def page(self) -> dict[str, Any]:
        """The snapshot's JSON."""
        return {
            "status": self.status,
            "sql": self.sql,
            "engine": self.engine,
            "grid": _grid_json(self.grid),
            "aside": _grid_json(self.aside),
            "outcome": to_json(self.outcome),
            "error": to_json(ShownError(self.error) if isinstance(self.error, str) else self.error),
            "notice": to_json(self.notice),
        }

    @classmethod
    def from_page(cls, page: Mapping[str, Any]) -> EditorState:
        return cls(
            sql=str(page.get("sql", "")),
            engine=str(page.get("engine", "")),
            grid=_grid_from_json(page.get("grid")),
            aside=_grid_from_json(page.get("aside"), empty=True),
            outcome=from_json(ShownOutcome, page["outcome"]) if page.get("outcome") else None,
            error=from_json(ShownError, page["error"]) if page.get("error") else None,
            notice=message_from_json(page.get("notice")),
            status=int(page.get("status", 200)),
        )

    @classmethod
    def from_request(cls, previewed: RunRequest | None) -> EditorState:
        """The editor holding what a preview ran (its SQL, engine and grid)."""
        if previewed is None:
            return cls()
        grid = previewed.grid if previewed.grid is not None else ParameterGrid.from_params(previewed.params)
        return cls(sql=previewed.sql, engine=previewed.engine or "", grid=grid)


# -- the form ----------------------------------------------------------------------------------


def grid_from_form(form: Mapping[str, str], *, max_rows: int, prefix: str = "") -> ParameterGrid:
    """The grid's fields: col-I (name), type-I, rows (count), cell-R-I (text); `prefix` for the set-aside columns."""
    names: list[str] = []
    while f"{prefix}col-{len(names)}" in form and len(names) < 1000:
        names.append(form[f"{prefix}col-{len(names)}"])
    types = tuple(
        t if t in COLUMN_TYPES else "auto" for t in (form.get(f"{prefix}type-{i}", "auto") for i in range(len(names)))
    )
    raw_rows = form.get(f"{prefix}rows", "1")
    try:
        count = int(raw_rows)
    except ValueError:
        raise GridError(_("The grid's row count %(count)s is not a number.", count=repr(raw_rows))) from None
    if count > max_rows:
        raise GridError(too_many_grid_rows(count, max_rows))
    count = max(count, 1)
    rows = tuple(tuple(form.get(f"{prefix}cell-{r}-{i}", "") for i in range(len(names))) for r in range(count))
    return ParameterGrid(tuple(names), types, rows)


def state_from_form() -> EditorState:
    """The editor as the form sent it (SQL, engine, grid); GridError if the grid's fields are wrong."""
    service = playground()
    state = EditorState(sql=request.form.get("sql", ""), engine=request.form.get("engine") or service.default_engine)
    max_rows = service.settings.limits.max_grid_rows
    state.grid = grid_from_form(request.form, max_rows=max_rows)
    if "aside-col-0" in request.form:
        state.aside = grid_from_form(request.form, max_rows=max_rows, prefix="aside-")
    return state


def state_or_error_from_form() -> EditorState:
    """As state_from_form, but a grid that cannot be read leaves the error on the state (and the grid empty)."""
    try:
        return state_from_form()
    except GridError as e:
        service = playground()
        state = EditorState(
            sql=request.form.get("sql", ""), engine=request.form.get("engine") or service.default_engine
        )
        return state.failed(e)


# -- the grid follows the SQL --------------------------------------------------------------------


def follow_sql(state: EditorState, *, quietly: bool = True) -> None:
    """The grid's columns become the SQL's parameters (values kept by name; lost columns go aside)."""
    try:
        names = playground().parameters_of(state.sql, state.engine)
    except UserError:
        if quietly:
            return
        raise
    submitted = state.grid
    state.grid = submitted.with_columns(names)
    set_aside(state, submitted)


def bring_back_aside(state: EditorState) -> None:
    """Set-aside columns whose parameter is back in the SQL return to the grid with their values."""
    if not state.aside.columns:
        return
    try:
        names = playground().parameters_of(state.sql, state.engine)
    except UserError:
        return
    back = [n for n in state.aside.columns if n in names and n not in state.grid.columns]
    if back:
        columns = [(n, *state.grid.column(n)) for n in state.grid.columns]
        columns += [(n, *state.aside.column(n)) for n in back]
        state.grid = ParameterGrid.from_columns(columns, len(state.grid.rows))


def set_aside(state: EditorState, submitted: ParameterGrid) -> None:
    """Columns the grid lost (the SQL no longer has them) go aside; those back in the grid leave the aside."""
    lost = [n for n in submitted.columns if n not in state.grid.columns]
    kept = [n for n in state.aside.columns if n not in state.grid.columns and n not in lost]
    columns = [(n, *state.aside.column(n)) for n in kept] + [(n, *submitted.column(n)) for n in lost]
    height = max((len(cells) for _, _, cells in columns), default=0)
    state.aside = ParameterGrid.from_columns(columns, height)


def _grid_json(grid: ParameterGrid) -> dict[str, Any]:
    return {"columns": list(grid.columns), "types": list(grid.types), "rows": [list(r) for r in grid.rows]}


def _grid_from_json(data: Any, *, empty: bool = False) -> ParameterGrid:
    if not isinstance(data, dict):
        return ParameterGrid(rows=()) if empty else ParameterGrid()
    return ParameterGrid(
        tuple(data.get("columns", ())), tuple(data.get("types", ())), tuple(tuple(r) for r in data.get("rows", ()))
    )
