"""How long reading a script takes (splitting it and reading its parameters), by shape and size, on both engines.

    python -m bench.script_reading            # the table for 25, 50 and 100 KB
    python -m bench.script_reading --before   # also SQLite's former (quadratic) splitter
    python -m bench.script_reading --max-statements 0   # without the statement limit

Nothing runs and no server is needed: this is what /api/parameters (and every run) does before
anything reaches a database. Issue 7 item 3: the review measured 14-16 s (SQLite, a trigger body
of 99,800 `;`) and 5-7 s (PostgreSQL, `SELECT 1;` x 11,100) for 100 KB.
"""

from __future__ import annotations

import argparse
import contextlib
import sqlite3
import time
from collections.abc import Callable

from playground.backends.pg_statements import split_statements
from playground.backends.sqlite_split import split as sqlite_split
from playground.config import Limits
from playground.errors import UserError
from playground.script import parse_script
from playground.sqltext import tokenize

SHAPES: dict[str, tuple[str, str]] = {
    "trigger body of `;`": ("sqlite", "CREATE TRIGGER x AFTER INSERT ON some_table BEGIN " + ";" * 200_000),
    "SELECT 1; (SQLite)": ("sqlite", "SELECT 1;" * 23_000),
    "SELECT :a; (SQLite)": ("sqlite", "SELECT :a;" * 20_000),
    "SELECT 1; (PostgreSQL)": ("postgresql", "SELECT 1;" * 23_000),
    "`;` only (PostgreSQL)": ("postgresql", ";" * 200_000),
    "SELECT :a + 1; (PostgreSQL)": ("postgresql", "SELECT :a + 1;" * 15_000),
}
SIZES = (25_000, 50_000, 100_000)


def _sqlite_before(sql: str) -> list[str]:
    """The splitter before issue 7: `sqlite3_complete` on the statement so far, at every `;`."""
    chunks, start = [], 0
    for token in tokenize(sql, "sqlite"):
        if token.kind != "code":
            continue
        for i, ch in enumerate(token.text):
            end = token.start + i + 1
            if ch == ";" and sqlite3.complete_statement(sql[start:end]):
                chunks.append(sql[start:end])
                start = end
    chunks.append(sql[start:])
    return chunks


def _seconds(dialect: str, split: Callable[[str], list[str]], sql: str, max_statements: int | None) -> float:
    started = time.perf_counter()
    # A script past the statement limit is refused as soon as the reading reaches it.
    with contextlib.suppress(UserError):
        parse_script(sql, dialect, split, max_bytes=200_000, max_statements=max_statements)  # type: ignore[arg-type]
    return time.perf_counter() - started


def main() -> None:
    arguments = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    arguments.add_argument("--before", action="store_true", help="also time SQLite's former splitter")
    arguments.add_argument(
        "--max-statements",
        type=int,
        default=Limits().max_statements,
        help="the statement limit (default: the playground's default; 0: none)",
    )
    options = arguments.parse_args()
    max_statements = options.max_statements or None
    print(f"| shape | {' | '.join(f'{size // 1000} KB' for size in SIZES)} |")
    print(f"|---|{'---:|' * len(SIZES)}")
    for name, (dialect, text) in SHAPES.items():
        split = sqlite_split if dialect == "sqlite" else split_statements
        times = [_seconds(dialect, split, text[:size], max_statements) for size in SIZES]
        print(f"| {name} | {' | '.join(f'{t * 1000:,.0f} ms' for t in times)} |")
        if options.before and dialect == "sqlite":
            times = [_seconds(dialect, _sqlite_before, text[:size], max_statements) for size in SIZES]
            print(f"| {name}, before | {' | '.join(f'{t * 1000:,.0f} ms' for t in times)} |")


if __name__ == "__main__":
    main()
