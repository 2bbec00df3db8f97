"""The schema panel: each table of the visitor's sandbox with its columns and its number of rows.

Row counts are read in one query, as the visitor (through `Playground.evaluate`: the sandbox's
own boundary and time limit, always rolled back), and each count stops at ROW_COUNT_CAP rows so
that a huge table costs no more than a small one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from .backends.base import Column
from .errors import UserError

if TYPE_CHECKING:
    from .service import Playground

ROW_COUNT_CAP = 10_000


@dataclass(frozen=True)
class TableSummary:
    name: str
    columns: tuple[Column, ...]
    rows: int | None  # None when the count could not be read
    more: bool = False  # the table has more than `rows` (the count stopped at the cap)


def summarise(playground: Playground, visitor: str, engine: str | None = None) -> list[TableSummary]:
    """The visitor's tables with their columns and row counts."""
    tables = playground.schema(visitor, engine)
    if not tables:
        return []
    from .service import RunRequest  # the service imports nothing of this module

    name = playground.backend(engine).name
    sql = "\nUNION ALL\n".join(
        f"SELECT {i} AS t, count(*) AS n FROM (SELECT 1 FROM {_quoted(t.name, name)} LIMIT {ROW_COUNT_CAP + 1}) AS s"
        for i, t in enumerate(tables)
    )
    counts: dict[int, int] = {}
    try:
        result = playground.evaluate(visitor, RunRequest(sql, engine=name), max_rows=len(tables))
        counts = {int(t): int(n) for t, n in result.statements[-1].rows}
    except UserError:
        pass  # a broken view, say: the panel still lists the tables
    return [
        TableSummary(
            t.name,
            t.columns,
            min(counts[i], ROW_COUNT_CAP) if i in counts else None,
            counts.get(i, 0) > ROW_COUNT_CAP,
        )
        for i, t in enumerate(tables)
    ]


def _quoted(name: str, engine: str) -> str:
    """A table name as an identifier; PostgreSQL's panel names tables outside `public` as schema.table."""
    parts = name.split(".", 1) if engine == "postgresql" and "." in name else [name]
    return ".".join('"' + part.replace('"', '""') + '"' for part in parts)
