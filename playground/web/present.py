"""How values from the database are shown: as page cells and as JSON values."""

from __future__ import annotations

from typing import Any

from markupsafe import Markup, escape

from ..backends.base import Table
from ..runner import RunResult, SentStatement, StatementResult
from ..service import Outcome
from ..values import json_value


def cell_html(value: Any) -> Markup:
    """One result cell; NULL is marked up so it cannot be mistaken for the text 'NULL'."""
    if value is None:
        return Markup('<span class="null" title="SQL NULL">NULL</span>')
    if isinstance(value, bytes | bytearray | memoryview):
        return Markup('<span class="bytes" title="bytes, shown as hex">x\'{}\'</span>').format(bytes(value).hex())
    shown = json_value(value)
    return escape(shown if isinstance(shown, str) else str(value))


def sent_json(sent: SentStatement | None) -> dict[str, Any] | None:
    if sent is None:
        return None
    return {
        "statement": sent.statement,
        "executemany": sent.executemany,
        "parameters": [
            [{"key": v.key, "value": json_value(v.value), "type": v.type} for v in values]
            for values in sent.parameter_sets
        ],
    }


def statement_json(result: StatementResult) -> dict[str, Any]:
    return {
        "index": result.index,
        "sql": result.sql,
        "columns": list(result.columns),
        "rows": [[json_value(v) for v in row] for row in result.rows],
        "rowcount": result.rowcount,
        "truncated": result.truncated,
        "wrote": result.wrote,
        "sent": sent_json(result.sent),
    }


def run_json(run: RunResult) -> dict[str, Any]:
    return {
        "statements": [statement_json(s) for s in run.statements],
        "rowcount": run.rowcount,
        "elapsed_ms": round(run.elapsed_ms, 3),
    }


def outcome_json(outcome: Outcome) -> dict[str, Any]:
    data: dict[str, Any] = {"status": outcome.status, "engine": outcome.engine} | run_json(outcome.run)
    if outcome.token:
        data["token"] = outcome.token
    if outcome.notes:
        data["message"] = " ".join(outcome.notes)
    return data


def schema_json(tables: list[Table]) -> dict[str, Any]:
    return {
        "tables": [{"name": t.name, "columns": [{"name": c.name, "type": c.type} for c in t.columns]} for t in tables]
    }


def rows_phrase(n: int) -> str:
    return f"{n:,} row" if n == 1 else f"{n:,} rows"


def param_args(values: dict[str, list[str]]) -> dict[str, list[str]]:
    """Grid values as the editor's query arguments (p.NAME, once per row)."""
    return {f"p.{name}": cells for name, cells in values.items()}


def python_repr(value: Any) -> str:
    """A value as Python would print it, which is how the driver sees it."""
    return repr(value)


def register_filters(app: Any) -> None:
    app.jinja_env.filters.update(cell=cell_html, rows=rows_phrase, pyrepr=python_repr, param_args=param_args)
