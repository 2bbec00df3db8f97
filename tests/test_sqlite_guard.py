"""Hostile SQL on SQLite: SQLite's own authorizer and limits are the boundary; each refusal leaves nothing behind."""

from __future__ import annotations

import sqlite3
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event

from playground.backends.sqlite import SqliteBackend
from playground.config import Settings
from playground.errors import RefusedStatement, SandboxFull, TimeLimitExceeded, UserError, ValueTooBig
from playground.script import Statement
from playground.service import Playground, RunRequest
from playground.store import Store


class AuthorizerOnly(SqliteBackend):
    """The SQLite backend with its keyword check switched off: only SQLite's own boundary remains."""

    def check(self, statement: Statement) -> None:
        return None


def make_playground(settings: Settings, backend_class: type[SqliteBackend] = SqliteBackend) -> Playground:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    backend = backend_class(settings.data_dir, settings.limits)
    store = Store(f"sqlite:///{settings.data_dir / 'playground.db'}")
    return Playground(settings, store, {"sqlite": backend}, "sqlite")


@pytest.fixture(params=["with the keyword check", "authorizer only"])
def guarded(request: pytest.FixtureRequest, settings: Settings) -> Playground:
    backend_class = SqliteBackend if request.param == "with the keyword check" else AuthorizerOnly
    return make_playground(settings, backend_class)


VISITOR = "a" * 32


def run(pg: Playground, sql: str, params: Any = None) -> Any:
    return pg.run(VISITOR, RunRequest(sql, params=params))


def count_rows(pg: Playground) -> int:
    return int(run(pg, "SELECT count(*) FROM some_table").run.statements[0].rows[0][0])


@pytest.mark.parametrize(
    ("sql", "reason"),
    [
        ("BEGIN", "transaction control"),
        ("begin immediate", "transaction control"),
        ("DELETE FROM some_table; COMMIT", "transaction control"),
        ("DELETE FROM some_table; END TRANSACTION", "transaction control"),
        ("/* sneaky */ ROLLBACK", "transaction control"),
        ("SAVEPOINT s1", "transaction control"),
        ("DELETE FROM some_table; RELEASE s1", "transaction control"),
        ("DETACH DATABASE other", "outside your sandbox"),
        ("PRAGMA writable_schema = 1", "PRAGMA writable_schema"),
        ("PRAGMA query_only = 1", "PRAGMA query_only"),
        ("PRAGMA journal_mode = OFF", "PRAGMA journal_mode"),
        ("PRAGMA max_page_count = 100000000", "PRAGMA max_page_count"),
        ("PRAGMA temp_store_directory = '/tmp'", "PRAGMA temp_store_directory"),
        ("PRAGMA foreign_keys = OFF", "PRAGMA foreign_keys"),
        ("PRAGMA database_list", "PRAGMA database_list"),
        ("SELECT load_extension('/usr/lib/x.so')", "load_extension"),
        ("CREATE VIRTUAL TABLE f USING fts3(body)", "module 'fts3'"),
        ("CREATE VIRTUAL TABLE f USING fts4(body)", "module 'fts4'"),
        ("SELECT fts3_tokenizer('simple')", "fts3_tokenizer"),
        ("SELECT fts3_tokenizer(:name, :pointer)", "fts3_tokenizer"),
    ],
)
def test_refused_statements_name_the_reason_and_change_nothing(guarded: Playground, sql: str, reason: str) -> None:
    # With a crafted pointer value, fts3_tokenizer crashes the process on Debian's SQLite build.
    params = {"name": "simple", "pointer": "\x01" * 8} if ":name" in sql else None
    with pytest.raises(RefusedStatement, match="is not allowed") as refusal:
        run(guarded, sql, params)
    assert reason in refusal.value.message
    assert refusal.value.message.startswith("Statement ")
    assert count_rows(guarded) == 6


@pytest.mark.parametrize(
    "sql_for",
    [
        lambda p: f"ATTACH DATABASE '{p}' AS other",
        lambda p: f"ATTACH '{p}' AS other; CREATE TABLE other.t(a)",
        lambda p: f"ATTACH 'file:{p}?mode=rwc' AS other",
        lambda p: f"VACUUM INTO '{p}'",
    ],
)
def test_nothing_reaches_the_filesystem(guarded: Playground, tmp_path: Path, sql_for: Any) -> None:
    target = tmp_path / "escaped.db"
    with pytest.raises(UserError):
        run(guarded, sql_for(target))
    assert not target.exists()


def test_vacuum_is_refused_with_its_name(settings: Settings) -> None:
    with pytest.raises(RefusedStatement, match=r"Statement 1 \(VACUUM\) is not allowed"):
        run(make_playground(settings), "VACUUM")


@pytest.mark.parametrize(
    "sql",
    [
        'PRAGMA table_info("Users")',
        "PRAGMA table_xinfo(some_table)",
        "SELECT name FROM pragma_table_info('Users')",
        "PRAGMA user_version",
        "PRAGMA integrity_check",
    ],
)
def test_pragmas_that_only_read_are_allowed(guarded: Playground, sql: str) -> None:
    outcome = run(guarded, sql)
    assert outcome.status == "ok"
    assert outcome.run.statements[0].rows


@pytest.mark.parametrize(
    ("create", "insert", "query", "expected"),
    [
        (
            "CREATE VIRTUAL TABLE docs USING fts5(body)",
            "INSERT INTO docs(body) VALUES ('bound parameters are safe'), ('string formatting is not')",
            "SELECT body FROM docs WHERE docs MATCH 'safe'",
            [("bound parameters are safe",)],
        ),
        (
            "CREATE VIRTUAL TABLE boxes USING rtree(id, minx, maxx)",
            "INSERT INTO boxes VALUES (1, 0, 10), (2, 20, 30)",
            "SELECT id FROM boxes WHERE minx <= 5 AND maxx >= 5",
            [(1,)],
        ),
    ],
)
def test_allowed_virtual_table_modules_work(
    guarded: Playground, create: str, insert: str, query: str, expected: Any
) -> None:
    guarded.commit(VISITOR, run(guarded, f"{create}; {insert}").token)
    assert [tuple(r) for r in run(guarded, query).run.statements[0].rows] == expected


def test_pysqlite_defaults_would_commit_ddl_behind_a_rollback(tmp_path: Path) -> None:
    """Why the playground emits its own BEGIN: with the driver's defaults, CREATE TABLE survives a rollback."""
    path = tmp_path / "plain.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE t (a)")
    conn.rollback()
    conn.close()
    assert sqlite3.connect(path).execute("SELECT name FROM sqlite_master").fetchall() == [("t",)]


def test_previewed_ddl_never_reaches_the_sandbox_file(settings: Settings) -> None:
    pg = make_playground(settings)
    run(pg, "CREATE TABLE scratch (a); CREATE INDEX scratch_a ON scratch (a); DROP TABLE some_table")
    path = pg.backends["sqlite"].path(VISITOR)  # type: ignore[attr-defined]
    names = sorted(r[0] for r in sqlite3.connect(path).execute("SELECT name FROM sqlite_master"))
    assert names == ["Users", "some_table", "sqlite_sequence"]


def test_temp_tables_do_not_survive_a_run(settings: Settings) -> None:
    pg = make_playground(settings)
    pg.commit(VISITOR, run(pg, "CREATE TEMP TABLE scratch (a)").token)
    with pytest.raises(UserError, match="no such table"):
        run(pg, "SELECT * FROM scratch")


def test_the_size_cap_refuses_a_growing_sandbox_and_keeps_it_intact(settings: Settings) -> None:
    pg = make_playground(replace(settings, limits=replace(settings.limits, sqlite_max_pages=20)))
    with pytest.raises(SandboxFull, match="size limit"):
        run(pg, "CREATE TABLE big (b); INSERT INTO big VALUES (randomblob(500000))")
    assert count_rows(pg) == 6


def test_huge_values_are_bounded_by_sqlite_limits(settings: Settings) -> None:
    pg = make_playground(settings)
    with pytest.raises(ValueTooBig, match="a value grew past 1,000,000 bytes"):
        run(pg, "SELECT length(randomblob(2000000000))")


class WithOneLongCall(SqliteBackend):
    """SQLite with a function `stall()`: one C call (as a huge printf or instr is) that outlives the time limit."""

    def _make_engine(self, path: str) -> Any:
        engine = super()._make_engine(path)
        stall_seconds = self.limits.time_limit_ms / 1000 * 3

        @event.listens_for(engine, "connect")
        def _add_stall(dbapi_connection: sqlite3.Connection, _record: Any) -> None:
            dbapi_connection.create_function("stall", 0, lambda: time.sleep(stall_seconds) or 1)

        return engine


def test_the_watchdog_stops_a_statement_whose_one_c_call_outlived_the_time_limit(settings: Settings) -> None:
    """The progress handler gets no turn inside one call, and `SELECT stall()` has too few steps for it after."""
    pg = make_playground(settings, WithOneLongCall)
    with pytest.raises(TimeLimitExceeded, match=r"Statement 2 \(SELECT\) failed: stopped at the time limit"):
        run(pg, "DELETE FROM some_table; SELECT stall()")
    assert count_rows(pg) == 6
    # The alarm of a finished statement never reaches the next one on the same connection.
    assert run(pg, "SELECT 1").run.statements[0].rows == ((1,),)


def test_printf_within_the_value_limit_is_sqlites_own(settings: Settings) -> None:
    pg = make_playground(settings)
    sql = "SELECT printf('%d|%5s|%-5s|%.2c|%%|%Q', 3, 'ab', 'cd', 'z', NULL), format('%.1f', 2.5), printf(NULL)"
    assert run(pg, sql).run.statements[0].rows == (("3|   ab|cd   |zz|%|NULL", "2.5", None),)
    with pytest.raises(ValueTooBig, match="a value grew past"):
        run(pg, "SELECT printf('%*d', 2000000, 1)")


RUNAWAY = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c) SELECT count(*) FROM c"


def test_the_time_limit_holds_for_every_statement_and_for_what_a_view_or_trigger_runs(settings: Settings) -> None:
    pg = make_playground(settings)
    with pytest.raises(TimeLimitExceeded, match=r"Statement 2 \(WITH\) failed: stopped at the time limit") as info:
        run(pg, f"DELETE FROM some_table; {RUNAWAY}")
    assert info.value.statement == 2
    # Work hidden in a view, and in a trigger that reads it, is stopped just the same.
    pg.commit(VISITOR, run(pg, f"CREATE VIEW forever AS {RUNAWAY}").token)
    with pytest.raises(TimeLimitExceeded):
        run(pg, "SELECT * FROM forever")
    trigger = "CREATE TRIGGER slow AFTER INSERT ON some_table BEGIN SELECT * FROM forever; END"
    pg.commit(VISITOR, run(pg, trigger).token)
    with pytest.raises(TimeLimitExceeded):
        run(pg, "INSERT INTO some_table VALUES (100, 100)")
    assert count_rows(pg) == 6


def test_visitor_ids_cannot_name_paths(settings: Settings) -> None:
    pg = make_playground(settings)
    with pytest.raises(ValueError, match="not a visitor id"):
        pg.backends["sqlite"].ensure_sandbox("../../etc/passwd")
