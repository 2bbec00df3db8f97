"""A write's count for each grid row, for the preview: "grid row 2 changes 1 row of some_table".

An executemany reports one total. To say what each row of the grid does, the same statements
run again in a second transaction that is always rolled back (`Playground.evaluate`), each
statement once per grid row, in the order the executemany takes them (every row of statement 1,
then every row of statement 2), with the parameters renamed per row (`:x` → `:x__r2`). What the
visitor previews and commits is still the one executemany; this only counts.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from .errors import UserError
from .grid import ParameterGrid
from .sqltext import tokenize

if TYPE_CHECKING:
    from .service import Outcome, Playground

# Past this many grid rows the preview shows the totals only (the second run would cost too much).
MAX_ROWS_COUNTED = 20


@dataclass(frozen=True)
class RowCount:
    statement: int  # 1-based, as the preview names statements
    row: int  # 1-based grid row
    count: int  # rows this grid row changed, in the order the executemany runs


def counts_per_row(playground: Playground, visitor: str, outcome: Outcome) -> tuple[RowCount, ...]:
    """Per grid row counts of each statement that wrote with several grid rows; () when there is nothing to split."""
    request = outcome.request
    if request is None or request.grid is None or outcome.status not in ("preview", "conflict"):
        return ()
    grid = request.grid
    rows = len(grid.rows)
    if not 1 < rows <= MAX_ROWS_COUNTED:
        return ()
    try:
        prepared = playground.prepare(request)
        backend, script = prepared.backend, prepared.script
    except UserError:
        return ()
    wrote = {s.index for s in outcome.run.statements if s.wrote}
    split = [s for s in script.statements if s.index in wrote and s.parameters]
    if not split:
        return ()
    dialect = backend.name
    parts: list[str] = []
    origin: list[tuple[int, int] | None] = []  # (statement, row) for each statement of the new script
    columns: list[str] = []
    types: list[str] = []
    values: list[str] = []
    for statement in script.statements:
        body = statement.sql.rstrip().removesuffix(";")
        if statement not in split:
            parts.append(_renamed(body, dialect, None))
            origin.append(None)
            continue
        for r in range(rows):
            parts.append(_renamed(body, dialect, r + 1))
            origin.append((statement.index, r + 1))
    for r in range(rows):
        for c, name in enumerate(grid.columns):
            columns.append(f"{name}__r{r + 1}")
            types.append(grid.types[c] if c < len(grid.types) else "auto")
            values.append(grid.rows[r][c] if c < len(grid.rows[r]) else "")
    # Columns of statements that run once keep their own names (the first row, as the executemany binds them).
    for c, name in enumerate(grid.columns):
        columns.append(name)
        types.append(grid.types[c] if c < len(grid.types) else "auto")
        values.append(grid.rows[0][c] if c < len(grid.rows[0]) else "")
    counting = replace(
        request, sql="\n;\n".join(parts), grid=ParameterGrid(tuple(columns), tuple(types), (tuple(values),))
    )
    try:
        counting = replace(counting, grid=counting.grid.with_columns(playground.parameters_of(counting.sql, dialect)))  # type: ignore[union-attr]
        result = playground.evaluate(visitor, counting)
    except UserError:
        return ()
    return tuple(
        RowCount(where[0], where[1], s.rowcount)
        for where, s in zip(origin, result.statements, strict=False)
        if where is not None
    )


def _renamed(sql: str, dialect: str, row: int | None) -> str:
    """The statement with each `:name` made `:name__rN` (row None: unchanged)."""
    if row is None:
        return sql
    return "".join(
        f"{t.text}__r{row}" if t.kind == "param" else t.text
        for t in tokenize(sql, dialect)  # type: ignore[arg-type]
    )
