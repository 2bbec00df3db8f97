"""How values from the database are shown: as page cells and as JSON values."""

from __future__ import annotations

import datetime as dt
import math
import re
from typing import Any

from markupsafe import Markup, escape

from ..backends.base import Table
from ..messages import Message, _, _n, listed
from ..runner import RunResult, SentStatement, StatementResult
from ..service import Outcome
from ..values import is_number, json_value
from .i18n import translated

# A value longer than this (or with more lines) is shown clipped; the whole value is one click away.
CLIP_CHARS = 120
CLIP_LINES = 4


def cell_html(value: Any) -> Markup:
    """One result cell; NULL is a badge that cannot be mistaken for the text 'NULL'; long values are clipped."""
    if value is None:
        return Markup('<span class="null" title="{}"><span aria-hidden="true">∅ </span>NULL</span>').format(
            translated(_("SQL NULL (no value)"))
        )
    if isinstance(value, bytes | bytearray | memoryview):
        return Markup('<span class="bytes" title="{}">x\'{}\'</span>').format(
            translated(_("bytes, shown as hex")), bytes(value).hex()
        )
    shown = json_value(value)
    text = (
        ("true" if value else "false") if isinstance(value, bool) else shown if isinstance(shown, str) else str(value)
    )
    lines = text.split("\n")
    if len(text) <= CLIP_CHARS and len(lines) <= CLIP_LINES:
        return escape(text)
    clipped = "\n".join(lines[:CLIP_LINES])[:CLIP_CHARS]
    show_all = translated(_n("(show all %(num)s character)", "(show all %(num)s characters)", len(text)))
    return Markup(
        '<details class="long"><summary><span class="clip">{}…</span>'
        '<span class="visually-hidden"> {}</span></summary>'
        '<div class="whole">{}</div></details>'
    ).format(clipped, show_all, text)


def cell_class(value: Any) -> str:
    """The cell's class: numbers are right-aligned, NULL has its own background."""
    if value is None:
        return "null"
    return "num" if is_number(value) else ""


def sql_name(name: str) -> str:
    """A table or column name as it is typed in SQL: quoted unless it is a plain lower-case word."""
    if re.fullmatch(r"[a-z_][a-z0-9_]*", name):
        return name
    return '"' + name.replace('"', '""') + '"'


_NEEDS_ESCAPE = re.compile(r"[&<>'\"]")


def result_rows_html(rows: tuple[tuple[Any, ...], ...]) -> Markup:
    """A result's <tr> rows in one pass: each cell as `cell_class` and `cell_html` make it.

    A thousand rows of four columns is four thousand cells, which a template loop renders with
    several filter calls and a Markup object each. Short text and numbers (nearly all cells) are
    written here directly; anything else goes through the filters themselves.
    """
    parts: list[str] = []
    append = parts.append
    null_td = Markup('<td class="null">{}</td>').format(
        cell_html(None)
    )  # once per table: it is in the reader's language
    for row in rows:
        append("<tr>")
        for value in row:
            kind = type(value)
            if kind is str and len(value) <= CLIP_CHARS and value.count("\n") < CLIP_LINES:
                append(f"<td>{_escape_text(value)}</td>")
            elif kind is int or (kind is float and math.isfinite(value)):
                append(f'<td class="num">{value}</td>')
            elif value is None:
                append(null_td)
            else:
                css = cell_class(value)
                append(f'<td class="{css}">{cell_html(value)}</td>' if css else f"<td>{cell_html(value)}</td>")
        append("</tr>\n")
    return Markup("".join(parts))


def _escape_text(text: str) -> str:
    # markupsafe's escaping, without a Markup object per cell.
    return str(escape(text)) if _NEEDS_ESCAPE.search(text) else text


def sent_json(sent: SentStatement | None) -> dict[str, Any] | None:
    if sent is None:
        return None
    return {
        "statement": sent.statement,
        "executemany": sent.executemany,
        "per_row": sent.per_row,
        # psycopg2 binds on the client: the one finished text the server received (cursor.query); null on SQLite.
        "received": sent.received,
        "parameters": [
            [{"key": v.key, "name": v.name, "value": json_value(v.value), "type": v.type} for v in values]
            for values in sent.parameter_sets
        ],
    }


def statement_json(result: StatementResult) -> dict[str, Any]:
    data = {
        "index": result.index,
        "sql": result.sql,
        "columns": list(result.columns),
        "rows": [[json_value(v) for v in row] for row in result.rows],
        "rowcount": result.rowcount,
        "rows_changed": result.changed,
        "rows_returned": result.returned,
        "truncated": result.truncated,
        "wrote": result.wrote,
        "sent": sent_json(result.sent),
    }
    if result.per_row:
        data["per_row"] = [
            {
                "row": r.row,
                "parameters": {name: json_value(value) for name, value in r.parameters},
                "rows": [[json_value(v) for v in row] for row in r.rows],
                "truncated": r.truncated,
            }
            for r in result.per_row
        ]
    if result.schema_change:
        data["schema_change"] = result.schema_change.phrase(done=False)
    if result.notes:
        data["notes"] = list(result.notes)
    return data


def run_json(run: RunResult) -> dict[str, Any]:
    return {
        "statements": [statement_json(s) for s in run.statements],
        "rowcount": run.rowcount,
        "rows_changed": run.rows_changed,
        "rows_returned": run.rows_returned,
        "elapsed_ms": round(run.elapsed_ms, 3),
    }


def outcome_json(outcome: Outcome) -> dict[str, Any]:
    data: dict[str, Any] = {"status": outcome.status, "engine": outcome.engine} | run_json(outcome.run)
    if outcome.token:
        data["token"] = outcome.token
    if outcome.notes:
        data["message"] = listed(outcome.notes, " ")
    return data


def schema_json(tables: list[Table]) -> dict[str, Any]:
    return {
        "tables": [{"name": t.name, "columns": [{"name": c.name, "type": c.type} for c in t.columns]} for t in tables]
    }


def rows_phrase(n: int) -> Message:
    """ "1 row", "5 rows": a count of rows in the reader's language (Russian has three forms)."""
    return _n("%(num)s row", "%(num)s rows", n)


def param_args(values: dict[str, list[str]]) -> dict[str, list[str]]:
    """Grid values as the editor's query arguments (p.NAME, once per row)."""
    return {f"p.{name}": cells for name, cells in values.items()}


def iso_time(seconds: float) -> str:
    """A stored time (seconds since the epoch) as ISO 8601 in UTC, to the second."""
    return dt.datetime.fromtimestamp(seconds, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def python_repr(value: Any) -> str:
    """A value as Python would print it, which is how the driver sees it."""
    return repr(value)


def register_filters(app: Any) -> None:
    app.jinja_env.filters.update(
        cell=cell_html,
        cell_class=cell_class,
        # In a template the phrase is said at once: it is often a parameter of a longer sentence.
        rows=lambda n: translated(rows_phrase(n)),
        pyrepr=python_repr,
        param_args=param_args,
        sql_name=sql_name,
        isotime=iso_time,
        result_rows=result_rows_html,
    )
