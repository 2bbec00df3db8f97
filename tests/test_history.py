"""History: the visitor's last runs from the run log, newest first, reopened in the editor, cleared only on request."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from bs4 import BeautifulSoup
from flask.testing import FlaskClient
from sqlalchemy import func, select

from playground import history
from playground.errors import UserError
from playground.grid import ParameterGrid
from playground.run_log import RunRecord
from playground.service import Playground, RunRequest
from playground.store import Store, runs

UPDATE = "UPDATE some_table SET y=:y WHERE x=:x"
TWO_ROWS = ParameterGrid(("y", "x"), ("auto", "auto"), (("11", "9"), ("15", "13")))


def _logged(store: Store) -> int:
    with store.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(runs)).scalar_one())


def test_runs_and_commits_come_back_newest_first_with_their_grid(
    playground: Playground, visitor: str, engine_name: str
) -> None:
    playground.run(visitor, RunRequest("SELECT 1 AS one", engine_name))
    preview = playground.run(visitor, RunRequest(UPDATE, engine_name, grid=TWO_ROWS))
    assert preview.token
    playground.commit(visitor, preview.token)
    entries = history.recent(playground.store, visitor)
    assert [(e.action, e.outcome, e.sql) for e in entries] == [
        ("commit", "committed", UPDATE),
        ("run", "preview", UPDATE),
        ("run", "ok", "SELECT 1 AS one"),
    ]
    assert entries[0].grid == TWO_ROWS and entries[0].engine == engine_name and entries[0].rowcount == 2


def test_a_failed_run_is_in_history_with_its_error(playground: Playground, visitor: str) -> None:
    with pytest.raises(UserError):
        playground.run(visitor, RunRequest("SELEC 1"))
    (entry,) = history.recent(playground.store, visitor)
    assert entry.outcome == "error" and entry.sql == "SELEC 1" and entry.error


def test_history_keeps_the_last_50_and_only_the_visitors_own(playground: Playground, visitor: str) -> None:
    for i in range(55):
        playground.run(visitor, RunRequest(f"SELECT {i}"))
    playground.run("f" * 32, RunRequest("SELECT 'someone else'"))
    entries = history.recent(playground.store, visitor)
    assert len(entries) == 50 and entries[0].sql == "SELECT 54" and entries[-1].sql == "SELECT 5"
    assert history.entry(playground.store, "f" * 32, entries[0].id) is None
    assert history.entry(playground.store, visitor, entries[0].id) == entries[0]


def test_a_plain_run_writes_nothing_and_reading_history_writes_this_processs_batch(
    playground: Playground, visitor: str
) -> None:
    before = _logged(playground.store)
    playground.run(visitor, RunRequest("SELECT 1"))
    assert _logged(playground.store) == before  # still in the process's batch
    assert [e.sql for e in history.recent(playground.store, visitor)] == ["SELECT 1"]
    assert _logged(playground.store) == before + 1


def test_a_run_of_another_process_shows_once_that_process_writes_its_batch(
    playground: Playground, visitor: str, settings: object
) -> None:
    other_worker = Store(str(playground.store.engine.url))
    try:
        other_worker.log_run(RunRecord(visitor, "sqlite", "run", "ok", "SELECT 2", work='{"sql": "SELECT 2"}'))
        assert history.recent(playground.store, visitor) == []
        other_worker.run_log.flush()  # what its timer does within run_log.FLUSH_SECONDS
        assert [e.sql for e in history.recent(playground.store, visitor)] == ["SELECT 2"]
    finally:
        other_worker.close()


def test_clearing_hides_that_engines_history_so_far(playground: Playground, visitor: str, engine_name: str) -> None:
    playground.run(visitor, RunRequest("SELECT 'before'"))
    history.clear(playground.store, visitor, engine_name)
    playground.run(visitor, RunRequest("SELECT 'after'"))
    assert [e.sql for e in history.recent(playground.store, visitor)] == ["SELECT 'after'"]
    history.clear(playground.store, visitor, "other-engine")
    assert [e.sql for e in history.recent(playground.store, visitor)] == ["SELECT 'after'"]


def test_an_older_bookkeeping_database_gets_the_new_column(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as conn:
        conn.execute(
            "CREATE TABLE playground_runs (id INTEGER PRIMARY KEY, at FLOAT NOT NULL, visitor VARCHAR(64) NOT NULL, "
            "engine VARCHAR(20) NOT NULL, action VARCHAR(20) NOT NULL, sql TEXT, parameter_rows INTEGER, "
            "outcome VARCHAR(20) NOT NULL, rowcount INTEGER, elapsed_ms FLOAT, error TEXT)"
        )
        conn.execute(
            "INSERT INTO playground_runs (at, visitor, engine, action, outcome) VALUES (1, 'v', 'sqlite', 'run', 'ok')"
        )
    conn.close()
    store = Store(f"sqlite:///{path}")
    try:
        assert history.recent(store, "v") == []  # the old line has no work to reopen
        with sqlite3.connect(path) as conn:
            assert "work" in [row[1] for row in conn.execute("PRAGMA table_info(playground_runs)")]
        conn.close()
    finally:
        store.close()


# -- the pages ------------------------------------------------------------------------------------


def _run_page(client: FlaskClient, token: str, sql: str, cells: dict[str, str] | None = None) -> None:
    fields = {"csrf_token": token, "sql": sql, "action": "run", "rows": "1"}
    for i, (name, value) in enumerate((cells or {}).items()):
        fields |= {f"col-{i}": name, f"cell-0-{i}": value}
    assert client.post("/run", data=fields).status_code in (200, 302, 303)


def test_the_history_page_lists_runs_and_one_click_reopens_one_without_running_it(
    client: FlaskClient, token: str
) -> None:
    _run_page(client, token, "SELECT x, y FROM some_table WHERE y > :y", {"y": "6"})
    page = BeautifulSoup(client.get("/history").data, "html.parser")
    links = page.select("#history-entries a.history-open")
    assert [a.get_text(strip=True) for a in links] == ["SELECT x, y FROM some_table WHERE y > :y"]
    reopened = BeautifulSoup(client.get(str(links[0]["href"])).data, "html.parser")
    assert reopened.select_one("textarea#sql").get_text() == "SELECT x, y FROM some_table WHERE y > :y"  # type: ignore[union-attr]
    assert reopened.select_one("#cell-0-0")["value"] == "6"  # type: ignore[index]
    assert reopened.select_one("#outcome") is None  # nothing ran
    assert client.get("/history/999999").status_code == 404


def test_reset_clears_history_only_when_asked(client: FlaskClient, token: str) -> None:
    _run_page(client, token, "SELECT 'kept'")
    client.post("/reset", data={"csrf_token": token, "engine": "sqlite", "confirm": "yes"})
    assert client.get("/api/history").get_json()["entries"][0]["sql"] == "SELECT 'kept'"
    client.post("/reset", data={"csrf_token": token, "engine": "sqlite", "clear_history": "1", "confirm": "yes"})
    assert client.get("/api/history").get_json()["entries"] == []
