"""A preview's count for each grid row of an executemany, counted in a second transaction that is rolled back."""

from __future__ import annotations

from playground.describe import describe_row
from playground.grid import ParameterGrid
from playground.per_row import RowCount, counts_per_row
from playground.service import Playground, RunRequest


def test_each_grid_row_of_an_update_has_its_own_count(playground: Playground, visitor: str) -> None:
    grid = ParameterGrid(("y", "x"), ("auto", "auto"), (("11", "9"), ("15", "13"), ("0", "99")))
    outcome = playground.run(visitor, RunRequest("UPDATE some_table SET y=:y WHERE x=:x", grid=grid))
    assert outcome.run.rowcount == 2
    assert counts_per_row(playground, visitor, outcome) == (RowCount(1, 1, 1), RowCount(1, 2, 1), RowCount(1, 3, 0))
    # Counting changed nothing: the sandbox is as it was, and the preview still commits.
    assert playground.run(visitor, RunRequest("SELECT y FROM some_table WHERE x IN (9, 13) ORDER BY x")).run.statements[
        0
    ].rows == ((10,), (14,))
    assert outcome.token and playground.commit(visitor, outcome.token).run.rowcount == 2


def test_rows_count_in_the_order_the_executemany_runs_them(playground: Playground, visitor: str) -> None:
    grid = ParameterGrid(("lo",), ("auto",), (("5",), ("1",)))
    outcome = playground.run(visitor, RunRequest("DELETE FROM some_table WHERE y > :lo", grid=grid))
    # Row 1 removes y = 8, 10, 12, 14; row 2 finds only y = 4 left above 1.
    assert counts_per_row(playground, visitor, outcome) == (RowCount(1, 1, 4), RowCount(1, 2, 1))


def test_the_lessons_insert_counts_one_row_per_grid_row(playground: Playground, visitor: str) -> None:
    grid = ParameterGrid(("Name", "Age"), ("auto", "auto"), (("Петр", "20"), ("Василий", "26")))
    outcome = playground.run(visitor, RunRequest('INSERT INTO "Users" ("Name", "Age") VALUES(:Name, :Age)', grid=grid))
    assert counts_per_row(playground, visitor, outcome) == (RowCount(1, 1, 1), RowCount(1, 2, 1))
    assert outcome.token
    committed = playground.commit(visitor, outcome.token)
    ids = playground.run(visitor, RunRequest('SELECT "Id" FROM "Users" ORDER BY "Id"')).run.statements[0].rows
    assert committed.run.rowcount == 2 and ids == ((1,), (2,), (3,), (4,))  # counting took no ids


def test_one_grid_row_or_a_query_has_nothing_to_split(playground: Playground, visitor: str) -> None:
    one = playground.run(
        visitor, RunRequest("DELETE FROM some_table WHERE x = :x", grid=ParameterGrid(("x",), ("auto",), (("1",),)))
    )
    assert counts_per_row(playground, visitor, one) == ()
    query = playground.run(visitor, RunRequest("SELECT 1"))
    assert counts_per_row(playground, visitor, query) == ()


def test_row_sentences() -> None:
    assert describe_row("UPDATE some_table SET y=:y WHERE x=:x", "sqlite", 2, 1) == "Grid row 2 changes 1 row."
    assert describe_row("DELETE FROM t WHERE a = :a", "sqlite", 1, 0) == "Grid row 1 removes no row."
    assert describe_row('INSERT INTO "Users" VALUES (:a)', "postgresql", 3, 2) == "Grid row 3 adds 2 rows."
