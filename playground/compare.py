"""Compare: the same SQL and grid on the visitor's SQLite and PostgreSQL sandboxes, side by side.

Each side is an ordinary run on its own engine (so each follows the transaction contract: a
write is a preview with a commit token of its own, and nothing is committed on either side
unless the visitor commits that side). What differs is marked: the columns, the number of rows,
each cell (values are compared as the API sends them, so `1` and `true` differ, and so do a
date and the same date as text), the counts of a write, and an error on one side only.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from .errors import UserError
from .messages import N_, Message
from .values import json_value

if TYPE_CHECKING:
    from .service import Outcome, Playground, RunRequest

COMPARED_ENGINES = ("sqlite", "postgresql")
NEEDS_BOTH = N_("Compare needs both SQLite and PostgreSQL; this server offers only %(engines)s.")


@dataclass(frozen=True)
class Side:
    """One engine's outcome, or the error it answered with."""

    engine: str
    outcome: Outcome | None = None
    error: str | None = None
    error_statement: int | None = None


@dataclass(frozen=True)
class StatementDifference:
    """How statement `index` differs between the two sides."""

    index: int
    columns: frozenset[int]  # positions whose column names differ
    row_counts_differ: bool  # a different number of rows returned, or of rows changed
    cells: frozenset[tuple[int, int]]  # (row, column) positions whose values differ
    only_one_side: bool = False  # the other side has no such statement (it stopped at an error)

    @property
    def differs(self) -> bool:
        return bool(self.columns or self.row_counts_differ or self.cells or self.only_one_side)


@dataclass(frozen=True)
class Comparison:
    left: Side
    right: Side
    statements: tuple[StatementDifference, ...]

    @property
    def error_differs(self) -> bool:
        """One side answered with an error and the other did not."""
        return (self.left.error is None) != (self.right.error is None)

    @property
    def differs(self) -> bool:
        return self.error_differs or any(s.differs for s in self.statements)

    def difference(self, index: int) -> StatementDifference | None:
        return next((s for s in self.statements if s.index == index), None)


def compare(playground: Playground, visitor: str, request: RunRequest) -> Comparison:
    """Run on both engines and mark what differs."""
    missing = [e for e in COMPARED_ENGINES if e not in playground.engines]
    if missing:
        raise UserError(Message(NEEDS_BOTH, {"engines": ", ".join(playground.engines)}))
    left, right = (_side(playground, visitor, replace(request, engine=engine)) for engine in COMPARED_ENGINES)
    return Comparison(left, right, _differences(left, right))


def _side(playground: Playground, visitor: str, request: RunRequest) -> Side:
    engine = request.engine or playground.default_engine
    try:
        return Side(engine, outcome=playground.run(visitor, request))
    except UserError as e:
        return Side(engine, error=e.message, error_statement=e.statement)


def _key(value: Any) -> str:
    return json.dumps(json_value(value), sort_keys=True)


def _differences(left: Side, right: Side) -> tuple[StatementDifference, ...]:
    a = left.outcome.run.statements if left.outcome else ()
    b = right.outcome.run.statements if right.outcome else ()
    found = []
    for i in range(max(len(a), len(b))):
        if i >= len(a) or i >= len(b):
            if left.outcome and right.outcome:
                found.append(StatementDifference(i + 1, frozenset(), False, frozenset(), only_one_side=True))
            continue
        x, y = a[i], b[i]
        columns = frozenset(
            c
            for c in range(max(len(x.columns), len(y.columns)))
            if c >= len(x.columns) or c >= len(y.columns) or x.columns[c] != y.columns[c]
        )
        counts = len(x.rows) != len(y.rows) if (x.returns_rows and y.returns_rows) else x.rowcount != y.rowcount
        cells = frozenset(
            (r, c)
            for r in range(min(len(x.rows), len(y.rows)))
            for c in range(max(len(x.rows[r]), len(y.rows[r])))
            if c >= len(x.rows[r]) or c >= len(y.rows[r]) or _key(x.rows[r][c]) != _key(y.rows[r][c])
        )
        found.append(StatementDifference(x.index, columns, counts, cells))
    return tuple(found)
