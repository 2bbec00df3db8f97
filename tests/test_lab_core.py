"""The injection lab's core (playground/lab.py) with no web app: the cases the presets do not reach, on both engines.

Each case is a value typed into the lab on a sandbox arranged for it (through the service, as a
visitor would: run, then commit), and the sentence it must get. Afterwards the sandbox is as it was.
"""

from __future__ import annotations

import pytest

from playground.lab import LabValueError, run_lab
from playground.service import Playground, RunRequest

USERS = 'SELECT "Id", "Name", "Age" FROM "Users" ORDER BY "Id"'
SOME_TABLE = "SELECT x, y FROM some_table ORDER BY x"


def committed(playground: Playground, visitor: str, sql: str) -> None:
    outcome = playground.run(visitor, RunRequest(sql))
    assert outcome.token is not None
    playground.commit(visitor, outcome.token)


def contents(playground: Playground, visitor: str) -> tuple[object, ...]:
    return tuple(playground.evaluate(visitor, RunRequest(sql)).statements[0].rows for sql in (USERS, SOME_TABLE))


@pytest.mark.parametrize(
    ("value", "said"),
    [
        (
            "'; UPDATE some_table SET y = 0; --",
            "The formatted SQL would change 6 rows: the value added an UPDATE of its own. It was rolled back, "
            "so nothing was changed.",
        ),
        (
            "'; INSERT INTO some_table SELECT x, y FROM some_table WHERE 1 = 0; --",
            "The formatted SQL ran an INSERT of its own, which inserted no row; it was rolled back.",
        ),
        (
            "'; INSERT INTO some_table VALUES (100, 100); --",
            "The formatted SQL would insert 1 row: the value added an INSERT of its own. It was rolled back, "
            "so nothing was inserted.",
        ),
        (
            '\'; DELETE FROM "Users" WHERE 1 = 0; --',
            "The formatted SQL ran a DELETE of its own, which found no row to delete this time; it was rolled back.",
        ),
        (
            "x' OR 'a' = 'b",
            "Both queries returned the same 0 rows, but only by chance: the quote in the value ended the formatted "
            "text early, and the rest of the value became SQL.",
        ),
    ],
)
def test_what_the_formatted_side_would_do_is_said_and_undone(
    playground: Playground, visitor: str, value: str, said: str
) -> None:
    before = contents(playground, visitor)
    run = run_lab(playground, visitor, value)
    assert run.formatted.error is None
    assert run.explanation[0] == said
    assert contents(playground, visitor) == before
    assert run.users_before == run.users_after == 2


def test_the_same_count_of_other_rows_is_told_apart(playground: Playground, visitor: str) -> None:
    """A user named like an attack: bound finds that user, formatted finds Василий instead (one row each)."""
    value = "Z' OR \"Name\" = 'Василий' --"
    committed(
        playground, visitor, "INSERT INTO \"Users\" (\"Name\", \"Age\") VALUES ('Z'' OR \"Name\" = ''Василий'' --', 30)"
    )
    run = run_lab(playground, visitor, value)
    assert [row[1] for row in run.bound.rows] == [value]
    assert [row[1] for row in run.formatted.rows] == ["Василий"]
    assert run.explanation == (
        "The formatted query returned 1 row, but not the bound one's: the value became part of the SQL.",
    )


def test_a_sandbox_without_users_says_so_instead_of_comparing(playground: Playground, visitor: str) -> None:
    committed(playground, visitor, 'DROP TABLE "Users"')
    run = run_lab(playground, visitor, "Василий")
    assert run.bound.error is not None and run.formatted.error is not None
    assert run.explanation[0].startswith("The bound lookup failed as well")
    assert run.users_before is None and run.unchanged_note is None


def test_a_value_neither_side_could_take_is_refused_before_anything_runs(playground: Playground, visitor: str) -> None:
    for value in ("a\x00b", "x" * 501):
        with pytest.raises(LabValueError):
            run_lab(playground, visitor, value)
    assert run_lab(playground, visitor, "x" * 500).formatted.error is None
