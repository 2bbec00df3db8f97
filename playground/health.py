"""Is this server able to serve? The bookkeeping database and every configured engine, reached.

The checks open a connection and run `SELECT 1` (or, for SQLite, make a file in the sandboxes
folder and open the sample); they never touch a visitor's sandbox or run a student's SQL. The
reasons they give are fixed phrases: what went wrong in detail (which can name hosts and
folders) goes to the process log only.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import text

from .logs import event
from .service import Playground

log = logging.getLogger("playground.health")


@dataclass(frozen=True)
class Check:
    """One dependency: its name and, if it failed, a phrase that names no setting."""

    name: str
    problem: str | None = None

    @property
    def ok(self) -> bool:
        return self.problem is None


@dataclass(frozen=True)
class Health:
    checks: tuple[Check, ...]

    @property
    def ok(self) -> bool:
        return all(check.ok for check in self.checks)

    @property
    def reason(self) -> str | None:
        """The failed checks, in one line; None when all is well."""
        problems = [f"{check.name}: {check.problem}" for check in self.checks if not check.ok]
        return "; ".join(problems) or None


def check_health(playground: Playground) -> Health:
    """Reach the bookkeeping database and every engine; a failure is a Check with a problem."""
    checks = [_check("bookkeeping", "the bookkeeping database is unreachable", lambda: _ping_store(playground))]
    for name, backend in playground.backends.items():
        checks.append(_check(name, f"the {backend.label} engine is unreachable", backend.ping))
    return Health(tuple(checks))


def _ping_store(playground: Playground) -> None:
    with playground.store.engine.connect() as conn:
        conn.execute(text("SELECT 1")).scalar_one()


def _check(name: str, problem: str, ping: Callable[[], object]) -> Check:
    try:
        ping()
    except Exception as e:  # noqa: BLE001 - any failure to reach it is the answer, not a crash
        detail = str(e).strip().splitlines()[0] if str(e).strip() else ""
        event(log, "health check failed", level=logging.WARNING, check=name, error=type(e).__name__, detail=detail)
        return Check(name, problem)
    return Check(name)
