"""The schema panel: each table of the visitor's sandbox with its columns and its number of rows.

Row counts are read in one query, as the visitor (through `Playground.evaluate`: the sandbox's
own boundary and time limit, always rolled back), and each count stops at ROW_COUNT_CAP rows so
that a huge table costs no more than a small one.

Every editor page shows the panel, and reading it costs more than a lesson's query, so a process
keeps the last panel of each sandbox together with the engine's `data_version` of the sandbox,
read before the panel was: the panel is shown again only while that version is unchanged (no
write committed, no reset), and engines without one (PostgreSQL) read it every time.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .backends.base import Column
from .errors import UserError

if TYPE_CHECKING:
    from .service import Playground

ROW_COUNT_CAP = 10_000
_KEPT_PANELS = 1024


@dataclass(frozen=True)
class TableSummary:
    name: str
    columns: tuple[Column, ...]
    rows: int | None  # None when the count could not be read
    more: bool = False  # the table has more than `rows` (the count stopped at the cap)


class _Panels:
    """The last panel of each sandbox this process showed, with the version it was read at (LRU)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._kept: OrderedDict[tuple[str, str], tuple[Any, list[TableSummary]]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple[str, str], version: Any) -> list[TableSummary] | None:
        with self._lock:
            kept = self._kept.get(key)
            if kept is None or kept[0] != version:
                return None
            self._kept.move_to_end(key)
            return list(kept[1])

    def put(self, key: tuple[str, str], version: Any, panel: list[TableSummary]) -> None:
        with self._lock:
            self._kept[key] = (version, list(panel))
            self._kept.move_to_end(key)
            while len(self._kept) > self.size:
                self._kept.popitem(last=False)


_panels = _Panels(_KEPT_PANELS)


def summarise(playground: Playground, visitor: str, engine: str | None = None) -> list[TableSummary]:
    """The visitor's tables with their columns and row counts."""
    backend = playground.backend(engine)
    version_of = getattr(backend, "data_version", None)
    version = version_of(visitor) if version_of is not None else None
    key = (backend.name, visitor)
    if version is not None:
        kept = _panels.get(key, version)
        if kept is not None:
            playground.sandboxes.ready(visitor, backend)  # as reading it would: registered, in use
            return kept
    panel = _summarise(playground, visitor, backend.name)
    if version is not None and all(t.rows is not None for t in panel):
        _panels.put(key, version, panel)
    return panel


def _summarise(playground: Playground, visitor: str, name: str) -> list[TableSummary]:
    tables = playground.schema(visitor, name)
    if not tables:
        return []
    from .service import RunRequest  # the service imports nothing of this module

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
