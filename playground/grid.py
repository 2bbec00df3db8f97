"""The parameter grid: columns are the SQL's `:name` parameters, rows are value sets.

One row is one execute; several rows are one executemany. Cells arrive as text from the page
(typed here) or as JSON values from the API (used as given).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import Boolean, Date, DateTime, Integer, String
from sqlalchemy.types import TypeEngine

from .errors import UserError
from .messages import Message, _, _n, listed

# The per-column type selector; "auto" reads each cell on its own.
COLUMN_TYPES: tuple[str, ...] = ("auto", "text", "integer", "decimal", "boolean", "date", "timestamp", "null")

_INT64 = (-(2**63), 2**63 - 1)
_INTEGER = re.compile(r"[+-]?\d+")
_DECIMAL = re.compile(r"[+-]?(\d+\.\d*|\.\d+|\d+)([eE][+-]?\d+)?")
_TRUE = {"true", "t", "yes", "y", "1", "on"}
_FALSE = {"false", "f", "no", "n", "0", "off"}

# The SQLAlchemy type a column's values are bound with: it decides what the driver receives.
# A decimal column has none: SQLAlchemy's Numeric would turn a Decimal into a float on SQLite,
# and the driver is to receive the Decimal the student typed (the SQLite backend stores it).
_BIND_TYPES: dict[str, type[TypeEngine[Any]]] = {
    "text": String,
    "integer": Integer,
    "boolean": Boolean,
    "date": Date,
    "timestamp": DateTime,
}
_EMPTY = _("is empty; type NULL to send NULL, or '' (two single quotes) for an empty text")


class GridError(UserError):
    """A cell or the grid's shape is wrong; the message names the row and the column."""


def too_many_grid_rows(rows: int, max_rows: int) -> Message:
    return _("The grid has %(rows)s rows; at most %(limit)s can run at once.", rows=rows, limit=max_rows)


@dataclass(frozen=True)
class Bindings:
    """Typed values ready to bind: one dict per execute, and a bind type per parameter that has one."""

    rows: tuple[dict[str, Any], ...]
    types: Mapping[str, TypeEngine[Any]] = field(default_factory=dict)

    @property
    def is_many(self) -> bool:
        return len(self.rows) > 1


@dataclass(frozen=True)
class ParameterGrid:
    """The grid as the page submits it: column names, a type per column, rows of cell text."""

    columns: tuple[str, ...] = ()
    types: tuple[str, ...] = ()
    rows: tuple[tuple[str, ...], ...] = ((),)

    def type_of(self, column: str) -> str:
        i = self.columns.index(column)
        return self.types[i] if i < len(self.types) else "auto"

    def value(self, row: int, column: str) -> str:
        i = self.columns.index(column)
        cells = self.rows[row]
        return cells[i] if i < len(cells) else ""

    @classmethod
    def from_params(cls, params: Any) -> ParameterGrid:
        """The API's JSON parameters (one object or a list) as the grid's text cells, as the editor shows them."""
        rows = params if isinstance(params, list) else [params or {}]
        columns = tuple(dict.fromkeys(k for row in rows if isinstance(row, dict) for k in row))
        cells = tuple(tuple(_cell_text(row.get(c)) for c in columns) for row in rows if isinstance(row, dict))
        return cls(columns, ("auto",) * len(columns), cells or ((),))

    def with_columns(self, names: Sequence[str]) -> ParameterGrid:
        """The same values re-arranged for these columns; new columns start empty, unknown ones go."""
        types = tuple(self.type_of(n) if n in self.columns else "auto" for n in names)
        rows = tuple(tuple(self.value(r, n) if n in self.columns else "" for n in names) for r in range(len(self.rows)))
        return ParameterGrid(tuple(names), types, rows or ((),))

    def column(self, name: str) -> tuple[str, tuple[str, ...]]:
        """One column's type and its cells, top to bottom."""
        return self.type_of(name), tuple(self.value(r, name) for r in range(len(self.rows)))

    @classmethod
    def from_columns(cls, columns: Sequence[tuple[str, str, Sequence[str]]], height: int) -> ParameterGrid:
        """A grid of these (name, type, cells) columns and `height` rows; short columns end in empty cells."""
        return cls(
            tuple(name for name, _, _ in columns),
            tuple(kind for _, kind, _ in columns),
            tuple(tuple(cells[r] if r < len(cells) else "" for _, _, cells in columns) for r in range(height)),
        )

    def typed(self, *, max_value_bytes: int) -> Bindings:
        """Read every cell as its column's type; all bad cells are reported at once."""
        problems: list[Message] = []
        rows: list[dict[str, Any]] = []
        for r, cells in enumerate(self.rows, start=1):
            row: dict[str, Any] = {}
            for c, name in enumerate(self.columns):
                raw = cells[c] if c < len(cells) else ""
                kind = self.types[c] if c < len(self.types) else "auto"
                try:
                    if len(raw.encode()) > max_value_bytes:
                        raise ValueError(_("is longer than %(limit)s bytes", limit=max_value_bytes))
                    row[name] = typed_value(raw, kind)
                except ValueError as e:
                    problems.append(
                        _("Row %(row)s, column :%(name)s: %(problem)s.", row=r, name=name, problem=e.args[0])
                    )
            rows.append(row)
        if problems:
            more = len(problems) - 10
            shown = problems[:10] + ([_n("(and %(num)s more)", "(and %(num)s more)", more)] if more > 0 else [])
            raise GridError(listed(shown, " "))
        types: dict[str, TypeEngine[Any]] = {}
        for c, name in enumerate(self.columns):
            kind = self.types[c] if c < len(self.types) else "auto"
            bind_type = _bind_type(kind)
            if bind_type is not None:
                types[name] = bind_type
        return Bindings(tuple(rows), types)


def typed_value(raw: str, kind: str) -> Any:
    """One cell's text as a Python value of the column's type; ValueError says why it does not fit."""
    if kind not in COLUMN_TYPES:
        raise ValueError(_("unknown type %(type)s", type=repr(kind)))
    if "\x00" in raw:
        raise ValueError(_("contains a NUL byte"))
    text = raw.strip()
    if kind == "text":
        return raw
    if kind == "null":
        if text and text.upper() != "NULL":
            raise ValueError(_("%(value)s given for a NULL column (leave it empty)", value=repr(raw)))
        return None
    if not text:
        # An empty cell sent as '' would make `y > ''` quietly match nothing.
        raise ValueError(_EMPTY)
    if text.upper() == "NULL":
        return None
    if kind == "auto":
        return _inferred(raw)
    if kind == "integer":
        if not _INTEGER.fullmatch(text):
            raise ValueError(_("%(value)s is not an integer", value=repr(raw)))
        value = int(text)
        if not _INT64[0] <= value <= _INT64[1]:
            raise ValueError(_("%(value)s is outside the 64-bit integer range", value=repr(raw)))
        return value
    if kind == "decimal":
        if not _DECIMAL.fullmatch(text):
            raise ValueError(_("%(value)s is not a decimal number", value=repr(raw)))
        try:
            return Decimal(text)
        except InvalidOperation:
            raise ValueError(_("%(value)s is not a decimal number", value=repr(raw))) from None
    if kind == "boolean":
        if text.lower() in _TRUE:
            return True
        if text.lower() in _FALSE:
            return False
        raise ValueError(_("%(value)s is not a boolean (true or false)", value=repr(raw)))
    if kind == "date":
        try:
            return dt.date.fromisoformat(text)
        except ValueError:
            raise ValueError(_("%(value)s is not a date (YYYY-MM-DD)", value=repr(raw))) from None
    # timestamp
    try:
        return dt.datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(_("%(value)s is not a timestamp (YYYY-MM-DD HH:MM[:SS])", value=repr(raw))) from None


def _inferred(raw: str) -> Any:
    """The default reading: 42 → int, 4.5 → Decimal, true/false → bool, 'quoted' → text, else text."""
    text = raw.strip()
    if _INTEGER.fullmatch(text):
        value = int(text)
        return value if _INT64[0] <= value <= _INT64[1] else Decimal(text)
    if _DECIMAL.fullmatch(text):
        return Decimal(text)
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        # Quotes make text of what would otherwise be read as a number, a boolean or NULL.
        return text[1:-1]
    return raw


def _bind_type(kind: str) -> TypeEngine[Any] | None:
    return _BIND_TYPES[kind]() if kind in _BIND_TYPES else None


_JSON_SCALARS = (str, int, float, bool, type(None))


def bindings_from_json(params: Any, *, max_rows: int, max_value_bytes: int) -> Bindings:
    """The API's `params`: omitted, `[]`, one object or a list of objects; JSON types as given."""
    if params is None or params == []:
        rows: list[Any] = [{}]
    elif isinstance(params, dict):
        rows = [params]
    elif isinstance(params, list):
        rows = params
    else:
        raise GridError(_('"params" must be an object or a list of objects.'))
    if len(rows) > max_rows:
        raise GridError(
            _("At most %(limit)s parameter rows may run at once; %(sent)s were sent.", limit=max_rows, sent=len(rows))
        )
    for r, row in enumerate(rows, start=1):
        if not isinstance(row, dict):
            raise GridError(_("Parameter row %(row)s must be an object of name: value.", row=r))
        for name, value in row.items():
            if not isinstance(value, _JSON_SCALARS):
                raise GridError(
                    _(
                        "Row %(row)s, parameter :%(name)s: a %(type)s cannot be bound; send a scalar.",
                        row=r,
                        name=name,
                        type=type(value).__name__,
                    )
                )
            if isinstance(value, str):
                if "\x00" in value:
                    raise GridError(_("Row %(row)s, parameter :%(name)s: contains a NUL byte.", row=r, name=name))
                if len(value.encode()) > max_value_bytes:
                    raise GridError(
                        _(
                            "Row %(row)s, parameter :%(name)s: is longer than %(limit)s bytes.",
                            row=r,
                            name=name,
                            limit=max_value_bytes,
                        )
                    )
            if isinstance(value, int) and not isinstance(value, bool) and not _INT64[0] <= value <= _INT64[1]:
                raise GridError(
                    _(
                        "Row %(row)s, parameter :%(name)s: %(value)s is outside the 64-bit integer range.",
                        row=r,
                        name=name,
                        value=str(value),
                    )
                )
    return Bindings(tuple(dict(row) for row in rows))


def _cell_text(value: Any) -> str:
    """A JSON value as the text a grid cell holds (and reads back as the same value)."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
