"""Downloads of a query's result as CSV or JSON: the whole result up to the export cap, streamed.

The SQL runs again, as a query, in a transaction that is always rolled back (`Playground.evaluate`):
a download never leaves a preview behind and never writes. SQL that changes data is refused
with a message instead. The file is produced row by row, so the response starts at once and the
web process never builds the whole file in memory.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from .errors import UserError
from .messages import N_, Message, _
from .values import is_number, json_value

if TYPE_CHECKING:
    from .service import Playground, RunRequest

ExportFormat = Literal["csv", "json"]
MEDIA_TYPES: dict[str, str] = {"csv": "text/csv; charset=utf-8", "json": "application/json; charset=utf-8"}

# A spreadsheet reads a cell that starts with one of these as a formula (CSV injection); such
# a text cell is written with a leading apostrophe, which spreadsheets show as plain text.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")

WRITES_REFUSED = _("Download saves what a query returns; this SQL changes data. Run it, and Commit if you mean it.")
NO_ROWS = _("This SQL returns no rows to download.")
CUT_NOTE = N_(
    "The download stops after %(rows)s rows: the result has more than one download may hold "
    "(at most %(cap)s rows and %(megabytes)s MB)."
)


class NothingToExport(UserError):
    """The SQL writes, or returns no rows."""


@dataclass(frozen=True)
class ExportedResult:
    """The rows of the last statement that returned rows, up to the export cap."""

    engine: str
    statement: int
    columns: tuple[str, ...]
    rows: tuple[tuple[Any, ...], ...]
    truncated: bool
    cap_rows: int
    cap_bytes: int

    @property
    def cut_note(self) -> Message | None:
        """The sentence that ends a download that was cut, or None."""
        if not self.truncated:
            return None
        return Message(
            CUT_NOTE, {"rows": len(self.rows), "cap": self.cap_rows, "megabytes": self.cap_bytes // 1_000_000}
        )


def export_result(playground: Playground, visitor: str, request: RunRequest) -> ExportedResult:
    """Run the SQL as a query (rolled back, no preview) and keep its last result up to the cap."""
    limits = playground.settings.limits
    result = playground.evaluate(visitor, request, max_rows=limits.max_export_rows, max_bytes=limits.max_export_bytes)
    if result.wrote:
        raise NothingToExport(WRITES_REFUSED)
    queries = [s for s in result.statements if s.returns_rows]
    if not queries:
        raise NothingToExport(NO_ROWS)
    last = queries[-1]
    return ExportedResult(
        engine=request.engine or playground.default_engine,
        statement=last.index,
        columns=last.columns,
        rows=last.rows,
        truncated=last.truncated,
        cap_rows=limits.max_export_rows,
        cap_bytes=limits.max_export_bytes,
    )


def csv_cell(value: Any) -> str:
    """A value as CSV text: NULL empty, numbers as numbers, text safe from formula injection."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    shown = json_value(value)
    if is_number(value):
        return str(shown)
    text = shown if isinstance(shown, str) else json.dumps(shown, ensure_ascii=False)
    return "'" + text if text.startswith(_FORMULA_STARTS) else text


def csv_chunks(export: ExportedResult, note: str | None = None) -> Iterator[str]:
    """The CSV file, a row at a time: a byte-order mark (spreadsheets then read UTF-8), the header, the rows."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)  # RFC 4180: quoted where needed, CRLF line ends

    def line(cells: list[str]) -> str:
        buffer.seek(0)
        buffer.truncate()
        writer.writerow(cells)
        return buffer.getvalue()

    yield "\ufeff" + line([csv_cell(c) for c in export.columns])
    for row in export.rows:
        yield line([csv_cell(v) for v in row])
    if export.cut_note:
        yield line([note or export.cut_note])


def json_chunks(export: ExportedResult, note: str | None = None) -> Iterator[str]:
    """The JSON document, a row at a time: columns, rows as arrays, and whether it was cut."""
    head = json.dumps({"engine": export.engine, "columns": list(export.columns)}, ensure_ascii=False)
    yield head[:-1] + ', "rows": ['  # the object stays open for the rows
    for i, row in enumerate(export.rows):
        yield ("\n" if i == 0 else ",\n") + json.dumps([json_value(v) for v in row], ensure_ascii=False)
    tail: dict[str, Any] = {"truncated": export.truncated}
    if export.cut_note:
        tail["note"] = note or export.cut_note
    yield "\n], " + json.dumps(tail, ensure_ascii=False)[1:]


def export_chunks(export: ExportedResult, fmt: ExportFormat, note: str | None = None) -> Iterator[str]:
    """The file, chunk by chunk; `note`: the cut note as the reader's language says it (English if not given)."""
    return csv_chunks(export, note) if fmt == "csv" else json_chunks(export, note)
