"""Explain: the plan of one statement of the script, with the grid's first row bound.

SQLite answers `EXPLAIN QUERY PLAN` with rows (id, parent, detail), shown as a tree; PostgreSQL
answers `EXPLAIN` with the text psql shows. Neither runs the statement itself. The statements
before it do run first (in the same transaction, always rolled back), so that a table the script
creates a moment earlier can be explained too.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from .errors import UserError
from .messages import N_, Message
from .script import Statement
from .sqltext import is_blank, tokenize

if TYPE_CHECKING:
    from .backends.base import Backend
    from .service import Playground, RunRequest

_PREFIX = {"sqlite": "EXPLAIN QUERY PLAN ", "postgresql": "EXPLAIN "}
ALREADY_EXPLAIN = N_("Statement %(index)s is an EXPLAIN already: press Run to see its plan.")


@dataclass(frozen=True)
class PlanNode:
    """One step of a SQLite plan and the steps under it."""

    detail: str
    children: tuple[PlanNode, ...] = ()


@dataclass(frozen=True)
class Plan:
    engine: str
    statement: int  # 1-based index in the script
    statement_sql: str
    explain_sql: str  # what was sent to the database
    tree: tuple[PlanNode, ...]  # SQLite's plan as a tree
    text: tuple[str, ...]  # PostgreSQL's plan, line by line


def explain(playground: Playground, visitor: str, request: RunRequest, *, cursor: int | None = None) -> Plan:
    """The plan of the statement under `cursor` (a character offset in the SQL), else of the last one."""
    prepared = playground.prepare(request)
    backend, script = prepared.backend, prepared.script
    index = statement_at(request.sql, cursor, backend) if cursor is not None else len(script.statements)
    index = min(max(index, 1), len(script.statements))
    target = script.statements[index - 1]
    if target.keyword == "EXPLAIN":
        raise UserError(Message(ALREADY_EXPLAIN, {"index": index}), statement=index)
    wanted = [*script.statements[: index - 1], target]
    # "\n;\n": a statement that ends in a -- comment must not swallow the separator.
    explain_sql = "\n;\n".join([*(_body(s) for s in wanted[:-1]), _PREFIX[backend.name] + _body(target)])
    names = list(dict.fromkeys(n for s in wanted for n in s.parameters))
    result = playground.evaluate(visitor, _first_row(request, explain_sql, names))
    rows = result.statements[-1].rows
    if backend.name == "sqlite":
        return Plan(backend.name, index, target.sql, explain_sql, _tree(rows), ())
    return Plan(backend.name, index, target.sql, explain_sql, (), tuple(str(r[0]) for r in rows))


def statement_at(sql: str, cursor: int, backend: Backend) -> int:
    """The 1-based index of the statement the cursor is in (a cursor after the last one: the last)."""
    index = 0
    offset = 0
    for chunk in backend.split(sql):
        start, offset = offset, offset + len(chunk)
        if is_blank(tokenize(chunk, backend.name)):  # type: ignore[arg-type]
            continue
        index += 1
        if cursor <= offset or start <= cursor < offset:
            return index
    return max(index, 1)


def _body(statement: Statement) -> str:
    return statement.sql.rstrip().removesuffix(";").rstrip()


def _first_row(request: RunRequest, sql: str, names: list[str]) -> RunRequest:
    """The request for the EXPLAIN script: the grid's first row, only the columns it uses."""
    if request.grid is not None:
        grid = request.grid.with_columns(names)
        return replace(request, sql=sql, grid=replace(grid, rows=grid.rows[:1]))
    params = request.params
    first = params[0] if isinstance(params, list) and params else params
    if isinstance(first, dict):
        first = {k: v for k, v in first.items() if k in names}
    return replace(request, sql=sql, params=first)


def _tree(rows: tuple[tuple[object, ...], ...]) -> tuple[PlanNode, ...]:
    """SQLite's (id, parent, notused, detail) rows as nested nodes, in SQLite's order."""
    children: dict[int, list[tuple[int, str]]] = {}
    for row in rows:
        node_id, parent, detail = int(row[0]), int(row[1]), str(row[3])  # type: ignore[call-overload]
        children.setdefault(parent, []).append((node_id, detail))

    def build(parent: int, depth: int) -> tuple[PlanNode, ...]:
        if depth > 100:
            return ()
        return tuple(PlanNode(detail, build(node_id, depth + 1)) for node_id, detail in children.get(parent, []))

    return build(0, 0)
