"""What a process reuses between runs (parsed SQL, engines, SQLite connections), and that no run sees another's leftovers."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event

from playground.backends.engine_cache import EngineCache
from playground.backends.sqlite import SqliteBackend
from playground.config import Settings
from playground.errors import UserError
from playground.script import Script
from playground.service import Playground, RunRequest
from playground.store import Store


@pytest.fixture
def two_processes(settings: Settings) -> Iterator[tuple[Playground, Playground]]:
    """Two services over the same data folder and bookkeeping, as two worker processes have them."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    services = []
    for _ in range(2):
        store = Store(f"sqlite:///{settings.data_dir / 'playground.db'}")
        services.append(
            Playground(settings, store, {"sqlite": SqliteBackend(settings.data_dir, settings.limits)}, "sqlite")
        )
    yield services[0], services[1]
    for service in services:
        service.close()


def count_rows(service: Playground, visitor: str) -> int:
    return service.run(visitor, RunRequest("SELECT count(*) FROM some_table")).run.statements[0].rows[0][0]


def test_a_sandbox_connection_is_set_up_once_and_reused(
    two_processes: tuple[Playground, Playground], visitor: str
) -> None:
    service, _ = two_processes
    backend = service.backends["sqlite"]
    assert isinstance(backend, SqliteBackend)
    service.run(visitor, RunRequest("SELECT 1"))
    connects: list[Any] = []
    event.listen(backend._engines.get(str(backend.path(visitor))), "connect", lambda *a: connects.append(a))
    for _ in range(3):
        assert count_rows(service, visitor) == 6
    assert connects == []


def test_a_reset_by_another_process_is_seen_by_the_next_run(
    two_processes: tuple[Playground, Playground], visitor: str
) -> None:
    first, second = two_processes
    first.commit(visitor, first.run(visitor, RunRequest("DELETE FROM some_table WHERE x > 1")).token)  # type: ignore[arg-type]
    assert count_rows(first, visitor) == 1  # the first process keeps a connection to the sandbox file
    second.reset(visitor)  # which the second replaces with a fresh copy of the sample
    assert count_rows(first, visitor) == 6


def test_temporary_objects_do_not_outlive_the_run_that_committed_them(
    two_processes: tuple[Playground, Playground], visitor: str
) -> None:
    service, _ = two_processes
    preview = service.run(visitor, RunRequest("CREATE TEMP TABLE scratch (x)"))
    assert preview.status == "preview" and preview.token
    assert service.commit(visitor, preview.token).status == "committed"
    with pytest.raises(UserError, match="no such table"):
        service.run(visitor, RunRequest("SELECT * FROM temp.scratch"))


def test_the_same_sql_is_parsed_once(two_processes: tuple[Playground, Playground], visitor: str) -> None:
    service, _ = two_processes
    sql = "SELECT x, y FROM some_table WHERE y > :y"
    assert service.parameters_of(sql, "sqlite") == ("y",)
    backend = service.backends["sqlite"]
    first: Script = service._parse(sql, backend)
    service.run(visitor, RunRequest(sql, params={"y": 6}))
    assert service._parse(sql, backend) is first
    # Errors are not kept: a bad script is refused every time.
    for _ in range(2):
        with pytest.raises(UserError):
            service.parameters_of("SELECT ?", "sqlite")


def test_the_engine_cache_is_bounded_and_disposes_what_it_lets_go(tmp_path: Path) -> None:
    from sqlalchemy import create_engine
    from sqlalchemy.engine import Engine

    disposed: list[str] = []

    def make(key: str) -> Engine:
        engine = create_engine(f"sqlite:///{tmp_path / key}")
        engine.dispose = lambda *a, key=key, **k: disposed.append(key)  # type: ignore[method-assign]
        return engine

    cache = EngineCache(make, size=2)
    a = cache.get("a")
    cache.get("b")
    assert cache.get("a") is a  # made once
    cache.get("c")  # "b" is the least recently used
    assert disposed == ["b"] and len(cache) == 2
    cache.discard("a")
    assert disposed == ["b", "a"]


def test_the_result_table_renders_every_value_as_the_cell_filter_does() -> None:
    import datetime as dt
    from decimal import Decimal

    from playground.web.present import cell_class, cell_html, result_rows_html

    rows = (
        (1, "a<b & 'c' \"d\"", None, 2.5),
        (True, b"\x01\xff", float("nan"), Decimal("1.50")),
        (dt.date(2020, 1, 2), "", -3, float("-inf")),
        (10**30, "Петр", dt.datetime(2020, 1, 2, 3, 4, 5), "NULL"),
        ("x" * 500, "a\nb\nc\nd\ne", "a\nb\nc", False),  # clipped, clipped, shown whole
    )

    def cell(value: object) -> str:
        css = cell_class(value)
        return (f'<td class="{css}">' if css else "<td>") + str(cell_html(value)) + "</td>"

    expected = "".join("<tr>" + "".join(cell(v) for v in row) + "</tr>\n" for row in rows)
    assert str(result_rows_html(rows)) == expected
    assert "<td>NULL</td>" in expected and 'class="null"' in expected  # the text NULL is not SQL NULL
