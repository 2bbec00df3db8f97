"""The optional Chinook sample: loaded into one engine's sandbox as the visitor, with the same names on both engines."""

from __future__ import annotations

import pytest

from playground.errors import UserError
from playground.samples import CHINOOK_TABLES, has_chinook, load_chinook
from playground.service import Playground, RunRequest


def _rows(playground: Playground, visitor: str, sql: str) -> list[tuple[object, ...]]:
    return list(playground.run(visitor, RunRequest(sql)).run.statements[-1].rows)


def test_chinook_loads_with_all_its_rows_beside_the_lessons_tables(playground: Playground, visitor: str) -> None:
    assert not has_chinook(playground, visitor)
    load_chinook(playground, visitor)
    assert has_chinook(playground, visitor)
    names = {t.name for t in playground.schema(visitor)}
    assert CHINOOK_TABLES | {"Users", "some_table"} <= names
    counts = _rows(
        playground,
        visitor,
        "SELECT (SELECT count(*) FROM track), (SELECT count(*) FROM invoice_line), (SELECT count(*) FROM customer)",
    )
    assert counts == [(3503, 2240, 59)]
    # Non-ASCII names survive, and a JOIN across the loaded tables works the same on both engines.
    assert _rows(playground, visitor, "SELECT first_name FROM customer WHERE customer_id = 1") == [("Luís",)]
    top = _rows(
        playground,
        visitor,
        "SELECT ar.name, count(*) AS albums FROM album al JOIN artist ar ON ar.artist_id = al.artist_id "
        "GROUP BY ar.name ORDER BY albums DESC, ar.name LIMIT 1",
    )
    assert top == [("Iron Maiden", 21)]


def test_loading_twice_says_so_and_reset_takes_it_away(playground: Playground, visitor: str) -> None:
    load_chinook(playground, visitor)
    with pytest.raises(UserError, match="already"):
        load_chinook(playground, visitor)
    playground.reset(visitor)
    assert not has_chinook(playground, visitor)


def test_every_example_runs_on_this_engine(playground: Playground, visitor: str) -> None:
    from playground.examples import EXAMPLES
    from playground.grid import ParameterGrid

    load_chinook(playground, visitor)
    for example in EXAMPLES:
        names = tuple(name for name, _ in example.values)
        height = max((len(cells) for _, cells in example.values), default=1)
        rows = tuple(tuple(cells[r] for _, cells in example.values) for r in range(height))
        grid = ParameterGrid(names, ("auto",) * len(names), rows)
        outcome = playground.run(visitor, RunRequest(example.sql, grid=grid))
        assert outcome.status in ("ok", "preview"), example.slug
        if example.slug == "chinook-transaction":
            ((genre, tracks),) = outcome.run.statements[-1].rows
            assert genre == "Baroque" and tracks > 0  # the SELECT sees what the statements before it did
