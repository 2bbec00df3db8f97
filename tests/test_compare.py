"""Compare: the same SQL on SQLite and PostgreSQL, differences marked, a write committed on neither."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from playground.backends.postgresql import PostgresBackend
from playground.backends.sqlite import SqliteBackend
from playground.compare import compare
from playground.config import Settings
from playground.grid import ParameterGrid
from playground.service import Playground, RunRequest
from playground.store import Store


@pytest.fixture
def both(settings: Settings, postgres_url: str, postgres_prefix: str, visitor: str) -> Iterator[Playground]:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    pg = PostgresBackend(postgres_url, settings.limits, sandbox_prefix=postgres_prefix)
    store = Store(f"sqlite:///{settings.data_dir / 'book.db'}")
    service = Playground(
        settings, store, {"postgresql": pg, "sqlite": SqliteBackend(settings.data_dir, settings.limits)}, "postgresql"
    )
    yield service
    pg.drop_sandbox(visitor)
    pg.close()
    store.engine.dispose()


def test_dialect_differences_are_marked_cell_by_cell(both: Playground, visitor: str) -> None:
    sql = "SELECT 7 / 2 AS a, 7 / 2.0 AS b, 1 = 1 AS c, 'x' || 'y' AS d"
    comparison = compare(both, visitor, RunRequest(sql))
    assert comparison.left.engine == "sqlite" and comparison.right.engine == "postgresql"
    difference = comparison.difference(1)
    assert difference is not None and comparison.differs
    # 7/2 is 3 on both; 7/2.0 is 3.5 on both; 1 = 1 is 1 on SQLite and true on PostgreSQL; || agrees.
    assert difference.cells == frozenset({(0, 2)})
    assert not difference.columns and not difference.row_counts_differ


def test_the_same_answer_is_not_a_difference(both: Playground, visitor: str) -> None:
    grid = ParameterGrid(("y",), ("auto",), (("6",),))
    comparison = compare(both, visitor, RunRequest("SELECT x, y FROM some_table WHERE y > :y ORDER BY x", grid=grid))
    assert not comparison.differs


def test_an_error_on_one_side_only_is_a_difference(both: Playground, visitor: str) -> None:
    comparison = compare(both, visitor, RunRequest('SELECT "Nmae" FROM "Users"'))
    assert comparison.right.error is not None and "Nmae" in comparison.right.error
    assert comparison.error_differs == (comparison.left.error is None)
    assert comparison.differs or comparison.left.error is not None


def test_a_write_is_previewed_on_both_and_committed_on_neither(both: Playground, visitor: str) -> None:
    comparison = compare(both, visitor, RunRequest("DELETE FROM some_table WHERE x > 6"))
    assert comparison.left.outcome and comparison.right.outcome
    assert comparison.left.outcome.status == comparison.right.outcome.status == "preview"
    assert comparison.left.outcome.token != comparison.right.outcome.token
    for engine in ("sqlite", "postgresql"):
        count = both.run(visitor, RunRequest("SELECT count(*) FROM some_table", engine=engine)).run.statements[0].rows
        assert count == ((6,),)
    # Committing one side leaves the other as it was.
    both.commit(visitor, comparison.right.outcome.token)
    counts = {
        e: both.run(visitor, RunRequest("SELECT count(*) FROM some_table", engine=e)).run.statements[0].rows[0][0]
        for e in ("sqlite", "postgresql")
    }
    assert counts == {"sqlite": 6, "postgresql": 3}


def test_compare_needs_both_engines(tmp_path: Path, settings: Settings, visitor: str) -> None:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    store = Store(f"sqlite:///{tmp_path / 'b.db'}")
    only = Playground(settings, store, {"sqlite": SqliteBackend(settings.data_dir, settings.limits)}, "sqlite")
    with pytest.raises(Exception, match="needs both SQLite and PostgreSQL"):
        compare(only, visitor, RunRequest("SELECT 1"))
