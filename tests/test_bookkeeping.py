"""The bookkeeping stays off the hot path: no write of ours on a plain run, a batched run log, a coarse touch.

Speed itself is measured in bench/; these tests pin the mechanisms down by counting what reaches
the bookkeeping database (SQLAlchemy's own events on the store's engine) and by driving the
clocks the service reads.
"""

from __future__ import annotations

import signal
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from conftest import reconfigured
from server_support import HttpClient, live_server, stop
from sqlalchemy import event, text

from playground.housekeeping import RecentSandboxes, touch_interval
from playground.run_log import RunLogBuffer, RunRecord
from playground.service import Playground, RunRequest
from playground.store import Store

SELECT = "SELECT x, y FROM some_table WHERE y > :y ORDER BY x, y"


@dataclass
class Seen:
    """Statements and commits on the bookkeeping database while counting."""

    statements: list[str] = field(default_factory=list)
    commits: int = 0

    @property
    def writes(self) -> list[str]:
        return [s for s in self.statements if s.split(None, 1)[0].upper() in {"INSERT", "UPDATE", "DELETE"}]


@contextmanager
def bookkeeping_seen(store: Store) -> Iterator[Seen]:
    seen = Seen()

    def on_statement(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.statements.append(statement)

    def on_commit(_conn: Any) -> None:
        seen.commits += 1

    event.listen(store.engine, "before_cursor_execute", on_statement)
    event.listen(store.engine, "commit", on_commit)
    try:
        yield seen
    finally:
        event.remove(store.engine, "before_cursor_execute", on_statement)
        event.remove(store.engine, "commit", on_commit)


def test_a_plain_run_does_not_touch_the_bookkeeping_database(playground: Playground, visitor: str) -> None:
    playground.run(visitor, RunRequest(SELECT, params={"y": 6}))  # the first run registers the sandbox
    with bookkeeping_seen(playground.store) as seen:
        for _ in range(3):
            outcome = playground.run(visitor, RunRequest(SELECT, params={"y": 6}))
            assert outcome.status == "ok" and outcome.run.rowcount == 4
        with pytest.raises(Exception, match="syntax"):
            playground.run(visitor, RunRequest("SELEC 1"))
    assert seen.statements == [] and seen.commits == 0
    # ... and the lines are still logged, once the batch is written.
    logged = playground.store.recent_runs(visitor=visitor)
    assert [r["outcome"] for r in logged[:5]] == ["error", "ok", "ok", "ok", "ok"]


def test_a_preview_writes_only_its_commit_token(playground: Playground, visitor: str) -> None:
    playground.run(visitor, RunRequest("SELECT 1"))
    with bookkeeping_seen(playground.store) as seen:
        preview = playground.run(visitor, RunRequest("DELETE FROM some_table WHERE x = :x", params={"x": 1}))
    assert preview.status == "preview"
    assert len(seen.writes) == 1 and seen.writes[0].startswith("INSERT INTO playground_pending_writes")
    assert seen.commits == 1
    # The token is in the database at once: another process could commit it now.
    with playground.store.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM playground_pending_writes")).scalar_one() == 1


def test_the_batched_run_log_is_written_when_the_store_closes(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'book.db'}", run_log_flush_seconds=3600)
    for n in range(3):
        store.log_run(RunRecord("a" * 32, "sqlite", "run", "ok", f"SELECT {n}"))
    with store.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM playground_runs")).scalar_one() == 0  # not yet
    store.close()
    with sqlite3.connect(tmp_path / "book.db") as conn:
        assert [r[0] for r in conn.execute("SELECT sql FROM playground_runs ORDER BY id")] == [
            "SELECT 0",
            "SELECT 1",
            "SELECT 2",
        ]


def test_a_server_that_stops_writes_its_batched_run_log(tmp_path: Path) -> None:
    env = {"PLAYGROUND_RUN_LOG_FLUSH_SECONDS": "3600"}  # nothing is written by the timer in this test
    with live_server(tmp_path, workers=1, env=env) as server:
        client = HttpClient(server.url).start()
        assert client.rows("SELECT 'written at shutdown'") == [["written at shutdown"]]
        with sqlite3.connect(server.data_dir / "playground.db") as conn:
            assert conn.execute("SELECT count(*) FROM playground_runs").fetchone() == (0,)
        server.process.send_signal(signal.SIGTERM)
        stop(server.process)
        assert server.process.returncode == 0, server.log()[-2000:]
    with sqlite3.connect(server.data_dir / "playground.db") as conn:
        assert conn.execute("SELECT sql, outcome FROM playground_runs").fetchall() == [
            ("SELECT 'written at shutdown'", "ok")
        ]


def test_run_log_lines_wait_for_an_absent_database_up_to_a_bound() -> None:
    written: list[list[str | None]] = []
    down = [True]

    def write(records: Any) -> None:
        if down[0]:
            raise OSError("the database is away")
        written.append([r.sql for r in records])

    buffer = RunLogBuffer(write, flush_seconds=3600, max_pending=3)
    for n in range(5):
        buffer.record(RunRecord("a" * 32, "sqlite", "run", "ok", str(n)))
    with pytest.raises(OSError):
        buffer.flush()
    assert buffer.pending() == 3 and buffer.dropped == 2  # the oldest lines went first
    down[0] = False
    buffer.flush()
    assert written == [["2", "3", "4"]]
    buffer.close()


class Clocks:
    """The wall clock the store writes and the monotonic clock the process remembers touches by."""

    def __init__(self) -> None:
        self.now = 1_000_000.0

    def wall(self) -> float:
        return self.now

    def monotonic(self) -> float:
        return self.now


def test_a_coarse_touch_still_keeps_a_sandbox_in_use_from_being_swept(playground: Playground, visitor: str) -> None:
    clocks = Clocks()
    playground = reconfigured(playground, sandbox_ttl_seconds=240)  # touches: once a minute
    playground.store.clock = clocks.wall
    playground.sandboxes.recent = RecentSandboxes(touch_interval(240), clock=clocks.monotonic)  # 60 s
    engine = playground.default_engine

    def use_at(t: float) -> list[str]:
        clocks.now = 1_000_000.0 + t
        with bookkeeping_seen(playground.store) as seen:
            assert playground.run(visitor, RunRequest("SELECT 1")).status == "ok"
        return seen.writes

    def sweep_at(t: float) -> list[tuple[str, str]]:
        clocks.now = 1_000_000.0 + t
        return playground.sweep_idle_sandboxes(force=True)

    use_at(0)  # registers it
    assert use_at(30) == []  # touched less than a minute ago by this process: no write
    assert use_at(59) == []
    assert [w.split()[0] for w in use_at(61)] == ["UPDATE"]  # a minute on: "last used" moves to 61
    assert use_at(200) != []  # and again at 200
    # In use every few minutes, never idle for the TTL: every sweep keeps it.
    assert sweep_at(230) == [] and sweep_at(439) == []
    # Idle for longer than the TTL since its last touch: swept.
    assert sweep_at(441) == [(visitor, engine)]
    # The visitor comes back: this process forgot its touch with the sweep, so the sandbox is made anew.
    with bookkeeping_seen(playground.store) as seen:
        assert playground.run(visitor, RunRequest("SELECT count(*) FROM some_table")).run.statements[0].rows == ((6,),)
    assert any(w.startswith("INSERT INTO playground_sandboxes") for w in seen.writes)


def test_the_sweep_keeps_a_sandbox_whose_visitor_came_back_after_the_list_was_read(
    playground: Playground, visitor: str
) -> None:
    clocks = Clocks()
    playground.store.clock = clocks.wall
    playground.run(visitor, RunRequest("SELECT 1"))
    engine = playground.default_engine
    idle_since = clocks.now + 10  # the sweep's list says idle ...
    assert visitor in playground.store.idle_sandboxes(engine, idle_since)
    clocks.now += 20
    assert playground.store.touch_sandbox(visitor, engine)  # ... the visitor runs meanwhile ...
    assert not playground.store.forget_sandbox(visitor, engine, idle_since=idle_since)  # ... so it stays
    assert playground.store.touch_sandbox(visitor, engine)
