"""The page's picture of an outcome: every figure and sentence the editor shows, ready to display.

It is built once from the service's Outcome, kept as JSON in the page's snapshot (see
playground/snapshots.py) and read back for every GET of that page, so a reload shows exactly what
the run showed without running anything. Templates only display these fields.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import re
import types
import typing
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, TypeVar

from ..describe import describe_row, describe_write
from ..errors import SqlPosition, UserError
from ..messages import Message, _, _n, _np, and_listed, is_message_json, listed
from ..per_row import RowCount
from ..runner import RowResult, SentStatement, StatementResult
from ..service import Outcome
from ..values import json_value
from .present import python_repr

T = TypeVar("T")


@dataclass(frozen=True)
class ShownRows:
    """A result table: its rows and, when cut at the row limit, the sentence that says so.

    The rows hold each value as the page shows it (see `kept`), which the `result_rows` filter
    renders as it renders values straight from the database.
    """

    rows: tuple[tuple[Any, ...], ...] = ()  # as kept in JSON
    truncated_note: str | None = None

    @property
    def shown_rows(self) -> tuple[tuple[Any, ...], ...]:
        """The rows for the table: decimals and bytes back to what the cells show for them."""
        return tuple(tuple(_revived(v) for v in row) for row in self.rows)


@dataclass(frozen=True)
class ShownRowRun:
    """One parameter row's result, for a statement that ran once per row."""

    row: int
    values: str  # ":y = 6, :x = 9"
    summary: str  # "4 rows returned"
    table: ShownRows


@dataclass(frozen=True)
class ShownSentValue:
    key: str  # "?1 ← :Name" (qmark) or "%(Name)s ← :Name" (pyformat)
    value: str  # as Python prints it
    type: str


@dataclass(frozen=True)
class ShownSent:
    statement: str
    caption: str
    sets: tuple[tuple[ShownSentValue, ...], ...]
    notes: tuple[str, ...] = ()
    received: str | None = None  # what the server received, where the driver binds on the client (psycopg2)


@dataclass(frozen=True)
class ShownStatement:
    index: int
    keyword: str
    sql: str
    summary: str  # "4 rows returned", "would change 2 rows", "creates table t", ...
    plain: str | None  # a write in a sentence: "This UPDATE changes 2 rows of some_table."
    every_row_warning: str | None  # an UPDATE or DELETE without WHERE
    each_grid_row: tuple[str, ...]  # an executemany, row by row: "Grid row 2 changes 1 row."
    columns: tuple[str, ...]
    table: ShownRows
    per_row: tuple[ShownRowRun, ...]
    sent: ShownSent | None
    notes: tuple[str, ...]


@dataclass(frozen=True)
class ShownOutcome:
    """The outcome's headline (lead, the count in bold, tail), its statements, and what Commit would use."""

    status: str  # ok, preview, committed, conflict
    engine: str
    lead: str
    count: str | None
    tail: str
    token: str | None
    notes: tuple[str, ...]
    statements: tuple[ShownStatement, ...]
    elapsed: str


@dataclass(frozen=True)
class ShownError:
    """An error message and, where the database or our reading says where, the place in the SQL."""

    message: str
    line: int | None = None
    column: int | None = None
    offset: int | None = None


@dataclass(frozen=True)
class ExcerptLine:
    """One line of the SQL around an error; `mark` is the part the error points at."""

    number: int
    before: str
    mark: str = ""
    after: str = ""
    marked: bool = False


# -- building ---------------------------------------------------------------------------------


def shown_outcome(
    outcome: Outcome, engine_label: str, *, max_rows: int, row_counts: tuple[RowCount, ...] = ()
) -> ShownOutcome:
    """Everything the page shows of an outcome, as text and cells; `row_counts`: each grid row's count of an executemany."""
    done = outcome.status == "committed"
    statements = tuple(
        _statement(s, outcome.engine, done=done, max_rows=max_rows, row_counts=row_counts)
        for s in outcome.run.statements
    )
    lead, count, tail = _headline(outcome, done=done)
    return ShownOutcome(
        status=outcome.status,
        engine=outcome.engine,
        lead=lead,
        count=count,
        tail=tail,
        token=outcome.token,
        notes=outcome.notes,
        statements=statements,
        elapsed=_("%(ms)s ms on %(engine)s", ms=round(outcome.run.elapsed_ms, 1), engine=engine_label),
    )


def shown_error(error: UserError) -> ShownError:
    position = error.position
    if position is None:
        return ShownError(error.message)
    return ShownError(error.message, position.line, position.column, position.offset)


# The headline is said in three parts, the count in bold between them; each part is chosen by the
# same count, so that a language whose verb agrees with the count (Russian) can say it. The part
# after the count starts with a space unless it starts with punctuation.


def _headline(outcome: Outcome, *, done: bool) -> tuple[str, str | None, str]:
    """ "Preview: this creates table t and would change" + "3 rows" + " in total. Nothing has been saved yet." """
    if outcome.status == "ok":
        return "", None, ""
    statements = outcome.run.statements
    schema = [s.schema_change.phrase(done=done) for s in statements if s.wrote and s.schema_change]
    counted = [s for s in statements if s.wrote and (s.schema_change is None or s.changed)]
    n = outcome.run.rows_changed
    effects = and_listed(schema)
    if done:
        if schema and not counted:
            return _("Committed: %(effects)s.", effects=effects), None, ""
        if schema:
            lead = _np(
                "headline, before the count", "Committed: %(effects)s;", "Committed: %(effects)s;", n, effects=effects
            )
        else:
            lead = _np("headline, before the count", "Committed:", "Committed:", n)
        count = _np("headline, the count", "%(num)s row", "%(num)s rows", n)
        return lead, count, _np("headline, after the count", " changed.", " changed.", n)
    if schema and not counted:
        return _("Preview: this %(effects)s. Nothing has been saved yet.", effects=effects), None, ""
    if schema:
        lead = _np(
            "headline, before the count",
            "Preview: this %(effects)s and would change",
            "Preview: this %(effects)s and would change",
            n,
            effects=effects,
        )
    else:
        lead = _np("headline, before the count", "Preview: this would change", "Preview: this would change", n)
    count = _np("preview's headline, the count", "%(num)s row", "%(num)s rows", n)
    if len(counted) > 1:
        tail = _np(
            "headline, after the count",
            " in total. Nothing has been saved yet.",
            " in total. Nothing has been saved yet.",
            n,
        )
    else:
        tail = _np("headline, after the count", ". Nothing has been saved yet.", ". Nothing has been saved yet.", n)
    return lead, count, tail


def _statement(
    result: StatementResult, engine: str, *, done: bool, max_rows: int, row_counts: tuple[RowCount, ...]
) -> ShownStatement:
    described = describe_write(result.sql, engine, result.changed, committed=done) if result.wrote else None  # type: ignore[arg-type]
    return ShownStatement(
        index=result.index,
        keyword=result.keyword,
        sql=result.sql,
        summary=_summary(result, done=done),
        plain=described.sentence if described else None,
        every_row_warning=described.every_row_warning if described else None,
        each_grid_row=tuple(
            describe_row(result.sql, engine, c.row, c.count)  # type: ignore[arg-type]
            for c in row_counts
            if c.statement == result.index
        ),
        columns=result.columns,
        table=_rows(result.rows, result.truncated, max_rows),
        per_row=tuple(_row_run(r, max_rows) for r in result.per_row),
        sent=_sent(result.sent, engine),
        notes=result.notes,
    )


def shown_statement(result: StatementResult, engine: str, *, max_rows: int) -> ShownStatement:
    """One statement of a run that is rolled back, as the editor shows it (the injection lab uses it)."""
    return _statement(result, engine, done=False, max_rows=max_rows, row_counts=())


def _summary(result: StatementResult, *, done: bool) -> str:
    """The statement's own figure with its own word: rows returned, rows changed, or what it did to the schema."""
    parts: list[Message] = []
    if result.wrote:
        if result.schema_change:
            parts.append(result.schema_change.phrase(done=done))
        if result.schema_change is None or result.changed:
            n = result.changed
            parts.append(
                _n("%(num)s row changed", "%(num)s rows changed", n)
                if done
                else _n("would change %(num)s row", "would change %(num)s rows", n)
            )
    if result.returned is not None:
        parts.append(_returned(result.returned, result.truncated, len(result.per_row)))
    return listed(parts) if parts else _("done")


def _returned(n: int, truncated: bool, parameter_rows: int = 0) -> Message:
    """ "4 rows returned", "50 rows+ returned" (cut at the limit), "4 rows returned for 2 parameter rows"."""
    if parameter_rows:
        if truncated:
            return _n(
                "%(num)s row+ returned for %(rows)s parameter rows",
                "%(num)s rows+ returned for %(rows)s parameter rows",
                n,
                rows=parameter_rows,
            )
        return _n(
            "%(num)s row returned for %(rows)s parameter rows",
            "%(num)s rows returned for %(rows)s parameter rows",
            n,
            rows=parameter_rows,
        )
    if truncated:
        return _n("%(num)s row+ returned", "%(num)s rows+ returned", n)
    return _n("%(num)s row returned", "%(num)s rows returned", n)


def _row_run(run: RowResult, max_rows: int) -> ShownRowRun:
    values = ", ".join(f":{name} = {_value_text(value)}" for name, value in run.parameters)
    return ShownRowRun(
        run.row, values, _returned(len(run.rows), run.truncated), _rows(run.rows, run.truncated, max_rows)
    )


def _rows(rows: tuple[tuple[Any, ...], ...], truncated: bool, max_rows: int) -> ShownRows:
    note = (
        _n(
            "Showing the first %(num)s row; there are more (the limit is %(limit)s per statement). "
            "Download the result to get them all.",
            "Showing the first %(num)s rows; there are more (the limit is %(limit)s per statement). "
            "Download the result to get them all.",
            len(rows),
            limit=max_rows,
        )
        if truncated
        else None
    )
    return ShownRows(tuple(tuple(_kept(v) for v in row) for row in rows), note)


def _kept(value: Any) -> Any:
    """A database value as a snapshot keeps it (JSON), shown the same once `_revived`."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, Decimal):
        return {"decimal": str(value)} if value.is_finite() else str(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return {"hex": bytes(value).hex()}
    shown = json_value(value)
    return shown if isinstance(shown, str) else str(value)


def _revived(value: Any) -> Any:
    if isinstance(value, dict):
        if "decimal" in value:
            return Decimal(value["decimal"])
        if "hex" in value:
            return bytes.fromhex(value["hex"])
    return value


def _value_text(value: Any) -> str:
    """A parameter value as a student would write it in SQL."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    return str(value)


def _sent(sent: SentStatement | None, engine: str) -> ShownSent | None:
    if sent is None:
        return None
    count = len(sent.parameter_sets)
    if sent.per_row:
        caption = _n(
            "executed once per parameter row (%(num)s time): it returns rows, which executemany would drop",
            "executed once per parameter row (%(num)s times): it returns rows, which executemany would drop",
            count,
        )
    elif sent.executemany:
        caption = _n("executemany with %(num)s parameter set", "executemany with %(num)s parameter sets", count)
    else:
        caption = _("parameters")
    sets = tuple(
        tuple(ShownSentValue(_key(v.key, v.name, sent.positional), python_repr(v.value), v.type) for v in values)
        for values in sent.parameter_sets
        if values
    )
    notes: tuple[str, ...] = ()
    if engine == "sqlite" and any(isinstance(v.value, Decimal) for values in sent.parameter_sets for v in values):
        notes = (_("SQLite has no decimal type: sqlite3 stores a Decimal as a REAL (the nearest float)."),)
    if sent.received and sent.received.startswith("DECLARE "):
        notes += (DECLARED_CURSOR,)
    return ShownSent(sent.statement, caption, sets, notes, sent.received)


# psycopg2's cursor.query of a server-side cursor: the query inside the DECLARE is the one sent.
DECLARED_CURSOR = _(
    "The playground reads a query's rows through a server-side cursor, so the server received the query "
    "inside DECLARE … CURSOR FOR."
)


def _key(key: str, name: str | None, positional: bool) -> str:
    placeholder = f"?{key}" if positional else f"%({key})s"
    return f"{placeholder} ← :{name}" if name else placeholder


def error_excerpt(sql: str, error: ShownError, *, around: int = 2) -> tuple[ExcerptLine, ...]:
    """The lines of the SQL around the error, the place it points at marked (a word, or one character)."""
    if error.offset is None:
        return ()
    position = SqlPosition.in_text(sql, error.offset)
    lines = sql.split("\n")
    first = max(position.line - around, 1)
    last = min(position.line + around, len(lines))
    excerpt = []
    for number in range(first, last + 1):
        text = lines[number - 1]
        if number != position.line:
            excerpt.append(ExcerptLine(number, text))
            continue
        column = position.column - 1
        word = re.match(r"\w+|\S", text[column:])
        end = column + (len(word.group(0)) if word else 0)
        excerpt.append(ExcerptLine(number, text[:column], text[column:end] or " ", text[end:], True))
    return tuple(excerpt)


# -- kept as JSON -----------------------------------------------------------------------------


def to_json(value: Any) -> Any:
    """A Shown* value as JSON (dataclasses as objects, tuples as arrays, Messages as what says them again)."""
    if isinstance(value, Message):
        return value.to_json()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_json(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, list | tuple):
        return [to_json(v) for v in value]
    if isinstance(value, dict):
        return {k: to_json(v) for k, v in value.items()}
    return value


def message_from_json(data: Any) -> Any:
    """A kept text: a Message again if it was one, else as it was (a str, None)."""
    return Message.from_json(data) if is_message_json(data) else data


def from_json(cls: type[T], data: Any) -> T:
    """A Shown* dataclass back from its JSON; unknown fields are ignored, missing ones take their defaults."""
    return typing.cast(T, _build(cls, data))


def _build(kind: Any, data: Any) -> Any:
    if kind is str:
        return message_from_json(data)
    origin = typing.get_origin(kind)
    if origin in (typing.Union, types.UnionType):
        options = [k for k in typing.get_args(kind) if k is not type(None)]
        return None if data is None else _build(options[0], data)
    if origin is tuple:
        args = typing.get_args(kind)
        item = args[0] if len(args) == 2 and args[1] is Ellipsis else Any
        return tuple(_build(item, v) for v in data or ())
    if dataclasses.is_dataclass(kind) and isinstance(data, dict):
        hints = _hints(kind)
        names = {f.name for f in dataclasses.fields(kind)}
        return kind(**{k: _build(hints[k], v) for k, v in data.items() if k in names})
    return data


@functools.cache
def _hints(kind: type) -> dict[str, Any]:
    return typing.get_type_hints(kind)
