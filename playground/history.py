"""History: the visitor's last runs (SQL, grid, engine, outcome, time), newest first, to reopen.

Built on the run log, not beside it: every run and commit already leaves a log line, and that
line carries the run's work (its SQL, grid and engine), so History costs a plain run no write of
its own. The log is written in batches per process (run_log.py), so before reading, this process
writes what it holds; a run served a moment ago by another worker process shows once that worker
writes its batch, within `run_log.FLUSH_SECONDS` (the page says so and asks again).

History lives as long as the sandbox; Reset clears it only when the visitor asks, by a
"clear-history" line for that engine: entries older than the newest such line are not shown
(the operator's log keeps them).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, exists, select
from sqlalchemy.orm import aliased

from .grid import ParameterGrid
from .run_log import FLUSH_SECONDS, RunRecord
from .service import RunRequest
from .store import Store, runs

HISTORY_LENGTH = 50
CLEAR_ACTION = "clear-history"
_HISTORY_ACTIONS = ("run", "commit")


@dataclass(frozen=True)
class HistoryEntry:
    """One run or commit as History shows it and reopens it."""

    id: int
    at: float  # seconds since the epoch
    engine: str
    action: str  # run or commit
    outcome: str  # ok, preview, committed, conflict, error, refused
    sql: str
    grid: ParameterGrid
    rowcount: int | None
    elapsed_ms: float | None
    error: str | None


def recent(store: Store, visitor: str, limit: int = HISTORY_LENGTH) -> list[HistoryEntry]:
    """The visitor's newest runs and commits that can be reopened, after their engine's last clearing."""
    store.run_log.flush()  # this process's own pending lines first
    cleared = aliased(runs)
    query = (
        select(runs)
        .where(
            runs.c.visitor == visitor,
            runs.c.action.in_(_HISTORY_ACTIONS),
            runs.c.work.is_not(None),
            ~exists().where(
                and_(
                    cleared.c.visitor == runs.c.visitor,
                    cleared.c.engine == runs.c.engine,
                    cleared.c.action == CLEAR_ACTION,
                    cleared.c.at >= runs.c.at,
                )
            ),
        )
        .order_by(runs.c.at.desc(), runs.c.id.desc())
        .limit(limit)
    )
    with store.engine.connect() as conn:
        return [_entry(row._mapping) for row in conn.execute(query)]


def entry(store: Store, visitor: str, entry_id: int) -> HistoryEntry | None:
    """One of the visitor's own entries (another visitor's id finds nothing)."""
    store.run_log.flush()
    query = select(runs).where(runs.c.id == entry_id, runs.c.visitor == visitor, runs.c.work.is_not(None))
    with store.engine.connect() as conn:
        row = conn.execute(query).one_or_none()
    return _entry(row._mapping) if row is not None else None


def clear(store: Store, visitor: str, engine: str) -> None:
    """Hide the visitor's History on this engine so far; written at once, so that every process sees it."""
    store.log_run(RunRecord(visitor, engine, CLEAR_ACTION, "cleared", at=store.clock()))
    store.run_log.flush()


def refresh_after_seconds() -> float:
    """How long a run served by another process may take to appear."""
    return FLUSH_SECONDS


def _entry(row: Any) -> HistoryEntry:
    work = RunRequest.from_json(json.loads(row["work"]))
    grid = work.grid if work.grid is not None else ParameterGrid.from_params(work.params)
    return HistoryEntry(
        id=row["id"],
        at=row["at"],
        engine=row["engine"],
        action=row["action"],
        outcome=row["outcome"],
        sql=work.sql,
        grid=grid,
        rowcount=row["rowcount"],
        elapsed_ms=row["elapsed_ms"],
        error=row["error"],
    )
