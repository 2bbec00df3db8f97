"""The PostgreSQL engine through the real service: lessons, previews and commits, limits, the check."""

from __future__ import annotations

import os
import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from conftest import Observed
from pg_support import LIMITS, PgEnv, execute, fixtures, libpq_url, make_playground

from playground.backends.postgresql import PostgresBackend
from playground.config import ConfigError, Limits
from playground.errors import RefusedStatement, SandboxFull, TimeLimitExceeded, TokenSpent, UserError
from playground.script import Statement, parse_script
from playground.service import Playground, RunRequest

pytestmark = pytest.mark.postgresql
pg_env, new_visitor, shared_visitor, playground, unchecked = fixtures()

SAMPLE_ROWS = [(1, 1), (2, 4), (6, 8), (9, 10), (11, 12), (13, 14)]


@dataclass
class Growth:
    peak: int = 0  # bytes


@contextmanager
def resident_memory_growth() -> Iterator[Growth]:
    """How far this process's resident memory rose above where it started, sampled every few ms during the block.

    Resident memory, not Python's allocations: a result fetched whole lands in libpq's C buffers,
    which tracemalloc never sees. (ru_maxrss would not do either: it is the lifetime peak.)
    """
    page = os.sysconf("SC_PAGE_SIZE")

    def resident() -> int:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * page

    growth = Growth()
    baseline = resident()
    done = threading.Event()

    def sample() -> None:
        while True:
            growth.peak = max(growth.peak, resident() - baseline)
            if done.wait(0.005):
                return

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        yield growth
    finally:
        done.set()
        sampler.join()
        growth.peak = max(growth.peak, resident() - baseline)


def some_table(pg_env: PgEnv, visitor: str) -> list[tuple[int, int]]:
    return pg_env.query(visitor, "SELECT x, y FROM some_table ORDER BY x, y")


# -- the two lessons ----------------------------------------------------------------------


def test_lesson_one_insert_previews_then_commits(pg_env: PgEnv, playground: Playground, new_visitor) -> None:
    visitor = new_visitor()
    request = RunRequest('INSERT INTO "Users" ("Name", "Age") VALUES(:Name, :Age)', params={"Name": "Петр", "Age": 20})
    preview = playground.run(visitor, request)
    assert preview.status == "preview" and preview.token
    assert preview.run.counts == [1]
    assert pg_env.query(visitor, 'SELECT count(*) FROM "Users"') == [(2,)]  # rolled back

    committed = playground.commit(visitor, preview.token)
    assert committed.status == "committed" and committed.run.counts == [1]
    assert pg_env.query(visitor, 'SELECT "Name", "Age" FROM "Users" ORDER BY "Id"') == [
        ("Петр", 20),
        ("Василий", 26),
        ("Петр", 20),
    ]
    sent = committed.run.statements[0].sent
    assert sent is not None and "%(Name)s" in sent.statement  # bound, not pasted into the SQL


def test_lesson_two_select_with_a_parameter(playground: Playground, new_visitor) -> None:
    outcome = playground.run(
        new_visitor(), RunRequest("SELECT x, y FROM some_table WHERE y > :y ORDER BY x, y", params={"y": 6})
    )
    assert outcome.status == "ok" and outcome.token is None
    result = outcome.run.statements[0]
    assert result.columns == ("x", "y")
    assert result.rows == ((6, 8), (9, 10), (11, 12), (13, 14))
    assert result.rowcount == 4 and not result.truncated


def test_lesson_two_update_with_two_parameter_rows(pg_env: PgEnv, playground: Playground, new_visitor) -> None:
    visitor = new_visitor()
    request = RunRequest("UPDATE some_table SET y=:y WHERE x=:x", params=[{"x": 9, "y": 11}, {"x": 13, "y": 15}])
    preview = playground.run(visitor, request)
    assert preview.status == "preview" and preview.run.counts == [2]
    assert some_table(pg_env, visitor) == SAMPLE_ROWS
    playground.commit(visitor, preview.token)
    assert pg_env.query(visitor, "SELECT y FROM some_table WHERE x IN (9, 13) ORDER BY x") == [(11,), (15,)]


def test_executemany_count_is_the_sum_over_parameter_rows(playground: Playground, new_visitor) -> None:
    outcome = playground.run(
        new_visitor(), RunRequest("UPDATE some_table SET y = y + 1 WHERE x > :x", params=[{"x": 0}, {"x": 10}])
    )
    assert outcome.run.counts == [6 + 2]


# -- previews, commits, conflicts ---------------------------------------------------------


def test_ddl_preview_leaves_no_table_and_commit_creates_it(pg_env: PgEnv, playground: Playground, new_visitor) -> None:
    visitor = new_visitor()
    preview = playground.run(visitor, RunRequest("CREATE TABLE notes (id serial PRIMARY KEY, body text)"))
    assert preview.status == "preview"
    assert "notes" not in [t.name for t in playground.schema(visitor)]
    assert pg_env.query(visitor, "SELECT to_regclass('public.notes')") == [(None,)]
    playground.commit(visitor, preview.token)
    tables = {t.name: t for t in playground.schema(visitor)}
    assert [(c.name, c.type) for c in tables["notes"].columns] == [("id", "integer"), ("body", "text")]


def test_replayed_commit_is_refused(pg_env: PgEnv, playground: Playground, new_visitor) -> None:
    visitor = new_visitor()
    preview = playground.run(visitor, RunRequest("DELETE FROM some_table WHERE x = :x", params={"x": 1}))
    playground.commit(visitor, preview.token)
    with pytest.raises(TokenSpent):
        playground.commit(visitor, preview.token)
    assert len(some_table(pg_env, visitor)) == 5


def test_commit_after_the_data_changed_is_a_conflict(pg_env: PgEnv, playground: Playground, new_visitor) -> None:
    visitor = new_visitor()
    delete = playground.run(visitor, RunRequest("DELETE FROM some_table WHERE y > :y", params={"y": 9}))
    assert delete.run.counts == [3]
    insert = playground.run(visitor, RunRequest("INSERT INTO some_table VALUES (20, 20)"))
    playground.commit(visitor, insert.token)

    outcome = playground.commit(visitor, delete.token)
    assert outcome.status == "conflict" and outcome.token and outcome.token != delete.token
    assert outcome.run.counts == [4]
    assert "Nothing was committed" in outcome.notes[0]
    assert len(some_table(pg_env, visitor)) == 7  # the delete was not applied


def test_write_inside_a_select_is_a_preview_counted_by_rows_changed(
    pg_env: PgEnv, playground: Playground, new_visitor
) -> None:
    visitor = new_visitor()
    outcome = playground.run(
        visitor,
        RunRequest(
            "WITH d AS (DELETE FROM some_table WHERE x > :x RETURNING *) SELECT count(*) FROM d", params={"x": 5}
        ),
    )
    assert outcome.status == "preview"
    result = outcome.run.statements[0]
    assert result.rows == ((4,),) and result.wrote and result.rowcount == 4
    assert some_table(pg_env, visitor) == SAMPLE_ROWS
    playground.commit(visitor, outcome.token)
    assert some_table(pg_env, visitor) == [(1, 1), (2, 4)]


def test_reads_are_results_not_previews(playground: Playground, new_visitor) -> None:
    outcome = playground.run(
        new_visitor(), RunRequest("SELECT :x::int + 1 AS answer, 10 % 3 AS m, 'a:b' AS s", params={"x": "41"})
    )
    assert outcome.status == "ok"
    assert outcome.run.statements[0].rows == ((42, 1, "a:b"),)


def test_reset_restores_the_sample_and_drop_removes_database_and_role(
    pg_env: PgEnv, playground: Playground, new_visitor
) -> None:
    visitor = new_visitor()
    preview = playground.run(visitor, RunRequest("DELETE FROM some_table; CREATE TABLE mine (a int)"))
    playground.commit(visitor, preview.token)
    assert some_table(pg_env, visitor) == []
    playground.reset(visitor)
    assert some_table(pg_env, visitor) == SAMPLE_ROWS
    assert "mine" not in [t.name for t in playground.schema(visitor)]

    name = pg_env.backend.sandbox_name(visitor)
    pg_env.backend.drop_sandbox(visitor)
    assert pg_env.su("SELECT 1 FROM pg_database WHERE datname = %s", (name,)) == []
    assert pg_env.su("SELECT 1 FROM pg_roles WHERE rolname = %s", (name,)) == []


def test_the_student_owns_the_sample_tables(pg_env: PgEnv, playground: Playground, new_visitor) -> None:
    visitor = new_visitor()
    preview = playground.run(visitor, RunRequest('ALTER TABLE some_table ADD COLUMN z int; DROP TABLE "Users"'))
    playground.commit(visitor, preview.token)
    assert [t.name for t in playground.schema(visitor)] == ["some_table"]
    assert pg_env.query(visitor, "SELECT count(*) FROM some_table WHERE z IS NULL") == [(6,)]
    playground.reset(visitor)
    assert sorted(t.name for t in playground.schema(visitor)) == ["Users", "some_table"]


def test_visitors_are_isolated(pg_env: PgEnv, playground: Playground, new_visitor) -> None:
    alice, bob = new_visitor(), new_visitor()
    preview = playground.run(alice, RunRequest("CREATE TABLE secrets (s text); INSERT INTO secrets VALUES ('alice')"))
    playground.commit(alice, preview.token)
    assert "secrets" in [t.name for t in playground.schema(alice)]
    assert "secrets" not in [t.name for t in playground.schema(bob)]
    with pytest.raises(UserError, match='relation "secrets" does not exist'):
        playground.run(bob, RunRequest("SELECT * FROM secrets"))
    assert pg_env.backend.sandbox_name(alice) != pg_env.backend.sandbox_name(bob)


# -- sequences: what a run does not commit leaves them as they were -----------------------

LESSON_1_INSERT = RunRequest(
    'INSERT INTO "Users" ("Name", "Age") VALUES(:Name, :Age)', params={"Name": "Петр", "Age": 20}
)


def users_sequence(pg_env: PgEnv, visitor: str) -> tuple[int, bool]:
    """The state of "Users"."Id"'s sequence: (last_value, is_called)."""
    return pg_env.query(visitor, 'SELECT last_value, is_called FROM "Users_Id_seq"')[0]


def last_id(pg_env: PgEnv, visitor: str) -> int:
    return pg_env.query(visitor, 'SELECT max("Id") FROM "Users"')[0][0]


def execute_on(conn: Any, sql: str) -> list[tuple[Any, ...]]:
    with conn.cursor() as cur:
        cur.execute(sql)
        return cur.fetchall()


def test_previews_give_back_the_ids_they_took(pg_env: PgEnv, playground: Playground, new_visitor) -> None:
    visitor = new_visitor()
    pg_env.backend.ensure_sandbox(visitor)
    before = users_sequence(pg_env, visitor)
    playground.run(visitor, LESSON_1_INSERT)
    preview = playground.run(visitor, LESSON_1_INSERT)
    assert users_sequence(pg_env, visitor) == before
    playground.commit(visitor, preview.token)
    assert last_id(pg_env, visitor) == 3
    # A committed insert keeps its id: the next one gets the next value.
    playground.commit(visitor, playground.run(visitor, LESSON_1_INSERT).token)
    assert last_id(pg_env, visitor) == 4
    assert users_sequence(pg_env, visitor) == (4, True)


def test_a_preview_with_returning_shows_the_id_the_commit_gets(
    pg_env: PgEnv, playground: Playground, new_visitor
) -> None:
    visitor = new_visitor()
    request = RunRequest('INSERT INTO "Users" ("Name") VALUES (:Name) RETURNING "Id"', params={"Name": "Анна"})
    preview = playground.run(visitor, request)
    assert preview.status == "preview" and preview.run.statements[0].rows == ((3,),)
    assert playground.run(visitor, request).run.statements[0].rows == ((3,),)
    committed = playground.commit(visitor, preview.token)
    assert committed.run.statements[0].rows == ((3,),)
    assert pg_env.query(visitor, 'SELECT "Id", "Name" FROM "Users" WHERE "Id" > 2') == [(3, "Анна")]


def test_a_conflicting_commit_gives_back_the_ids_it_took(pg_env: PgEnv, playground: Playground, new_visitor) -> None:
    visitor = new_visitor()
    copy = RunRequest('INSERT INTO "Users" ("Name") SELECT x::text FROM some_table WHERE x > :x', params={"x": 5})
    preview = playground.run(visitor, copy)
    assert preview.run.counts == [4]
    playground.commit(visitor, playground.run(visitor, RunRequest("DELETE FROM some_table WHERE x = 13")).token)
    conflict = playground.commit(visitor, preview.token)
    assert conflict.status == "conflict" and conflict.run.counts == [3]
    playground.commit(visitor, conflict.token)
    assert pg_env.query(visitor, 'SELECT "Id", "Name" FROM "Users" WHERE "Id" > 2 ORDER BY "Id"') == [
        (3, "6"),
        (4, "9"),
        (5, "11"),
    ]


def test_a_run_that_fails_half_way_gives_back_the_ids_it_took(
    pg_env: PgEnv, playground: Playground, new_visitor
) -> None:
    visitor = new_visitor()
    pg_env.backend.ensure_sandbox(visitor)
    before = users_sequence(pg_env, visitor)
    with pytest.raises(UserError, match="division by zero"):
        playground.run(visitor, RunRequest("INSERT INTO \"Users\" (\"Name\") VALUES ('x'), ('y'); SELECT 1 / 0"))
    outcome = playground.run(visitor, RunRequest("SELECT nextval('\"Users_Id_seq\"')"))
    assert outcome.run.statements[0].rows == ((3,),)
    assert users_sequence(pg_env, visitor) == before
    playground.commit(visitor, playground.run(visitor, LESSON_1_INSERT).token)
    assert last_id(pg_env, visitor) == 3


def test_a_previewed_table_with_a_serial_column_leaves_nothing(
    pg_env: PgEnv, playground: Playground, new_visitor
) -> None:
    visitor = new_visitor()
    pg_env.backend.ensure_sandbox(visitor)
    sequences = "SELECT count(*) FROM pg_sequence"
    assert pg_env.query(visitor, sequences) == [(1,)]
    before = users_sequence(pg_env, visitor)
    preview = playground.run(
        visitor,
        RunRequest(
            "CREATE TABLE notes (id serial PRIMARY KEY, body text); INSERT INTO notes (body) VALUES ('a'), ('b'); "
            'INSERT INTO "Users" ("Name") SELECT body FROM notes'
        ),
    )
    assert preview.status == "preview"
    assert pg_env.query(visitor, sequences) == [(1,)]
    assert users_sequence(pg_env, visitor) == before


def test_a_sequence_that_never_handed_out_a_value_is_given_back_too(
    pg_env: PgEnv, playground: Playground, new_visitor
) -> None:
    """pg_sequence_last_value() is NULL then: the sequence itself is read (its name quoted, % and all)."""
    visitor = new_visitor()
    playground.commit(visitor, playground.run(visitor, RunRequest('CREATE TABLE "50%s" (id serial, s text)')).token)
    playground.commit(visitor, playground.run(visitor, RunRequest('ALTER SEQUENCE "50%s_id_seq" RESTART 7')).token)
    insert = RunRequest('INSERT INTO "50%s" (s) VALUES (:s)', params={"s": "x"})
    playground.run(visitor, insert)
    preview = playground.run(visitor, insert)
    assert pg_env.query(visitor, 'SELECT last_value, is_called FROM "50%s_id_seq"') == [(7, False)]
    playground.commit(visitor, preview.token)
    assert pg_env.query(visitor, 'SELECT id FROM "50%s"') == [(7,)]


def test_another_open_connection_keeps_the_ids_a_preview_took(
    pg_env: PgEnv, playground: Playground, new_visitor
) -> None:
    """It may commit a value taken after the preview's: setting the sequence back could repeat that value."""
    visitor = new_visitor()
    pg_env.backend.ensure_sandbox(visitor)
    other = pg_env.connect_as(visitor)
    try:
        other.autocommit = False
        with other.cursor() as cur:
            cur.execute("SELECT 1")  # an idle transaction, which has taken nothing yet
            playground.run(visitor, LESSON_1_INSERT)  # takes 3
            cur.execute('INSERT INTO "Users" ("Name") VALUES (\'other\') RETURNING "Id"')
            assert cur.fetchone() == (4,)
        preview = playground.run(visitor, LESSON_1_INSERT)  # takes 5
        other.commit()
    finally:
        other.close()
    assert users_sequence(pg_env, visitor) == (5, True)  # not set back to 2 (which would repeat 4)
    playground.commit(visitor, preview.token)
    assert pg_env.query(visitor, 'SELECT "Id", "Name" FROM "Users" WHERE "Id" > 2 ORDER BY "Id"') == [
        (4, "other"),
        (6, "Петр"),
    ]


def test_a_connection_that_came_and_went_during_a_preview_keeps_its_ids(
    pg_env: PgEnv, tmp_path: Path, new_visitor
) -> None:
    """Opened after the preview began and closed before it ended: the count of sessions shows it."""
    visitor = new_visitor()
    pg_env.backend.ensure_sandbox(visitor)
    taken: list[object] = []

    def between_the_statements(statement: Statement) -> None:
        if statement.index != 2:
            return
        # The preview's first statement took 3; another session takes 4, commits it and goes.
        conn = pg_env.connect_as(visitor)
        try:
            assert execute_on(conn, 'SELECT last_value FROM "Users_Id_seq"') == [(3,)]
            taken.append(execute_on(conn, 'INSERT INTO "Users" ("Name") VALUES (\'other\') RETURNING "Id"'))
        finally:
            conn.close()

    service = make_playground(Observed(pg_env.backend, between_the_statements), tmp_path)
    try:
        preview = service.run(visitor, RunRequest('INSERT INTO "Users" ("Name") VALUES (\'preview\'); SELECT 1'))
    finally:
        service.store.close()
    assert taken == [[(4,)]]
    assert preview.status == "preview"
    assert users_sequence(pg_env, visitor) == (4, True)  # not set back to 2 (which would repeat 4)
    playground = make_playground(pg_env.backend, tmp_path)
    playground.commit(visitor, playground.run(visitor, LESSON_1_INSERT).token)
    playground.store.close()
    assert last_id(pg_env, visitor) == 5


# -- limits -------------------------------------------------------------------------------


def test_sleep_ends_at_the_time_limit(playground: Playground, new_visitor) -> None:
    """pg_sleep(3600) ends in the time limit's error, not before the limit (a lifted limit meets the test timeout)."""
    visitor = new_visitor()
    playground.run(visitor, RunRequest("SELECT 1"))  # the sandbox exists before the clock starts
    started = time.monotonic()
    with pytest.raises(TimeLimitExceeded, match=r"time limit \(1,500 ms\)"):
        playground.run(visitor, RunRequest("SELECT pg_sleep(3600)"))
    assert time.monotonic() - started >= LIMITS.time_limit_ms / 1000


# The web process may hold a few MB more during a run; a result fetched whole (100,000,000 rows, or
# whatever arrived before the time limit) is hundreds of MB.
FLAT_MEMORY_BYTES = 50_000_000


def test_row_cap_streams_from_a_server_side_cursor(playground: Playground, new_visitor) -> None:
    visitor = new_visitor()
    playground.run(visitor, RunRequest("SELECT 1"))  # the sandbox exists before anything is measured
    with resident_memory_growth() as growth:
        outcome = playground.run(visitor, RunRequest("SELECT generate_series(1, 100000000) AS n"))
    result = outcome.run.statements[0]
    assert len(result.rows) == LIMITS.max_rows and result.truncated
    assert result.rows[-1] == (LIMITS.max_rows,)
    assert growth.peak < FLAT_MEMORY_BYTES, f"the process grew by {growth.peak:,} bytes"


def test_set_returning_function_in_from_ends_at_the_time_limit_with_flat_memory(
    playground: Playground, new_visitor
) -> None:
    """PostgreSQL materializes a function scan (`FROM generate_series(...)`) before its first row.

    So the cursor cannot return the first rows early: the statement ends at the time limit,
    and the app's memory stays flat because nothing is fetched.
    """
    visitor = new_visitor()
    playground.run(visitor, RunRequest("SELECT 1"))
    with resident_memory_growth() as growth, pytest.raises(TimeLimitExceeded, match="time limit"):
        # Ten billion rows: no server materializes them within the time limit.
        playground.run(visitor, RunRequest("SELECT * FROM generate_series(1, 10000000000)"))
    assert growth.peak < FLAT_MEMORY_BYTES, f"the process grew by {growth.peak:,} bytes"


def test_commit_over_the_size_cap_is_refused(pg_env: PgEnv, tmp_path, new_visitor) -> None:
    visitor = new_visitor()
    pg_env.backend.ensure_sandbox(visitor)
    (size,) = pg_env.query(visitor, "SELECT pg_database_size(current_database())")[0]
    limits = Limits(time_limit_ms=5000, postgres_max_bytes=size + 1_000_000)
    backend = PostgresBackend(pg_env.admin_url, limits, sandbox_prefix=pg_env.prefix)
    try:
        service = make_playground(backend, tmp_path, limits)
        small = service.run(visitor, RunRequest("INSERT INTO some_table VALUES (100, 100)"))
        assert service.commit(visitor, small.token).status == "committed"
        big = service.run(visitor, RunRequest("INSERT INTO some_table SELECT g, g FROM generate_series(1, 200000) g"))
        assert big.run.counts == [200000]
        with pytest.raises(SandboxFull, match="nothing was committed"):
            service.commit(visitor, big.token)
    finally:
        backend.close()
    assert len(some_table(pg_env, visitor)) == 7


def test_temp_file_limit_is_a_user_error_that_names_it(pg_env: PgEnv, playground: Playground, new_visitor) -> None:
    """A sort that spills past temp_file_limit: the server's cap on temporary files, not a full sandbox."""
    visitor = new_visitor()
    pg_env.backend.ensure_sandbox(visitor)
    # The test admin may not SET temp_file_limit (the backend then leaves it alone); the superuser may.
    pg_env.su(f"ALTER ROLE \"{pg_env.backend.sandbox_name(visitor)}\" SET temp_file_limit = '1MB'")
    with pytest.raises(
        UserError,
        match=r"^Statement 1 \(SELECT\) failed: the statement needed more temporary disk space than this server "
        r"allows \(temp_file_limit = 1024kB\); sort or group fewer rows, or add a WHERE\.$",
    ) as info:
        playground.run(visitor, RunRequest("SELECT g FROM generate_series(1, 2000000) g ORDER BY g DESC"))
    assert type(info.value) is UserError and info.value.status == 400


# -- errors -------------------------------------------------------------------------------


def test_syntax_error_is_a_user_error_and_nothing_runs(pg_env: PgEnv, playground: Playground, new_visitor) -> None:
    visitor = new_visitor()
    with pytest.raises(UserError, match=r'Statement 2 \(SELEC\) failed: syntax error at or near "SELEC"') as info:
        playground.run(visitor, RunRequest('DELETE FROM some_table; SELEC 1; DELETE FROM "Users"'))
    assert not isinstance(info.value, RefusedStatement)
    assert info.value.statement == 2
    assert some_table(pg_env, visitor) == SAMPLE_ROWS


def test_database_errors_carry_the_database_message(playground: Playground, new_visitor) -> None:
    visitor = new_visitor()
    with pytest.raises(
        UserError, match=r"Statement 1 \(INSERT\) failed: duplicate key value .*Key \(\"Id\"\)=\(1\) already exists\.$"
    ):
        playground.run(visitor, RunRequest('INSERT INTO "Users" ("Id", "Name") VALUES (1, \'x\')'))
    with pytest.raises(UserError, match=r"Statement 2 \(SELECT\) failed: division by zero\.$"):
        playground.run(visitor, RunRequest("SELECT 1; SELECT 1 / (x - x) FROM some_table"))
    with pytest.raises(UserError, match="invalid input syntax for type integer"):
        playground.run(visitor, RunRequest("SELECT :x::int", params={"x": "nope"}))


# -- the statement check ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sql", "reason"),
    [
        ("BEGIN", "transaction control"),
        ("START TRANSACTION", "transaction control"),
        ("COMMIT", "transaction control"),
        ("END", "transaction control"),
        ("ROLLBACK", "transaction control"),
        ("ABORT", "transaction control"),
        ("SAVEPOINT s", "transaction control"),
        ("RELEASE SAVEPOINT s", "transaction control"),
        ("PREPARE TRANSACTION 'x'", "transaction control"),
        ("COMMIT AND CHAIN", "transaction control"),
        ("SET statement_timeout = 0", "settings belong"),
        ("SET LOCAL work_mem = '1GB'", "settings belong"),
        ("RESET ALL", "settings belong"),
        ("SET ROLE postgres", "changing the role"),
        ("SET SESSION AUTHORIZATION postgres", "changing the role"),
        ("SET TRANSACTION ISOLATION LEVEL SERIALIZABLE", "transaction control"),
        ("ALTER ROLE CURRENT_USER SET statement_timeout = 0", "roles belong"),
        ("ALTER USER CURRENT_USER PASSWORD 'x'", "roles belong"),
        ("CREATE ROLE r", "roles belong"),
        ("ALTER DATABASE x SET work_mem = '1GB'", "databases belong"),
        ("ALTER DATABASE x RENAME TO y", "databases belong"),
        ("CREATE DATABASE x", "databases belong"),
        ("ALTER SYSTEM SET work_mem = '1GB'", "server settings"),
        ("DO $$ BEGIN PERFORM 1; END $$", "DO it runs code"),
        ("COPY some_table TO '/tmp/x'", "COPY reads and writes"),
        ("COPY some_table FROM PROGRAM 'id'", "COPY reads and writes"),
        ("LISTEN ch", "LISTEN and NOTIFY"),
        ("NOTIFY ch", "LISTEN and NOTIFY"),
        ("SELECT pg_notify('ch', 'x')", "LISTEN and NOTIFY"),
        ("LOAD 'plpgsql'", "shared library"),
        ("DISCARD ALL", "session's state"),
        ("VACUUM some_table", "VACUUM and ANALYZE"),
        ("ANALYZE some_table", "VACUUM and ANALYZE"),
        ("CREATE EXTENSION pgcrypto", "extensions install code"),
        ("CREATE FUNCTION f() RETURNS int LANGUAGE sql AS 'SELECT 1'", "function or procedure"),
        ("GRANT SELECT ON some_table TO PUBLIC", "privileges belong"),
        ("PREPARE p AS SELECT 1", "prepared statements"),
        ("SELECT pg_advisory_lock(1)", "advisory lock"),
        ("SELECT x FROM some_table WHERE pg_try_advisory_xact_lock(x)", "advisory lock"),
        ("SELECT set_config('statement_timeout', '0', false)", "set_config() settings belong"),
        ("WITH c AS (SELECT pg_catalog.set_config('work_mem', '1GB', true)) SELECT * FROM c", "set_config()"),
        ("CREATE TABLE t (a text DEFAULT set_config('work_mem', '1GB', false))", "set_config()"),
        ("EXPLAIN ANALYZE SELECT pg_advisory_lock(1)", "advisory lock"),
        ("SELECT query_to_xml('SELECT 1', true, true, '')", "runs SQL text"),
        ("SELECT pg_read_file('/etc/passwd')", "reads or writes files"),
        ("SELECT lo_import('/etc/passwd')", "reads or writes files"),
        ("SELECT pg_terminate_backend(1)", "signals server processes"),
        ("CHECKPOINT", "maintenance"),
        ("CREATE TABLESPACE ts LOCATION '/tmp'", "CREATE TABLE SPACE is not one of the statements"),
        ("CREATE SCHEMA s GRANT SELECT ON TABLES TO PUBLIC", "privileges belong"),
    ],
)
def test_check_refuses_with_a_reason(
    pg_env: PgEnv, playground: Playground, shared_visitor, sql: str, reason: str
) -> None:
    visitor = shared_visitor
    keyword = sql.split()[0].upper()
    with pytest.raises(RefusedStatement) as info:
        playground.run(visitor, RunRequest(f"DELETE FROM some_table; {sql}"))
    message = info.value.message
    assert message.startswith(f"Statement 2 ({keyword}) is not allowed: ")
    assert reason in message
    assert info.value.statement == 2
    assert some_table(pg_env, visitor) == SAMPLE_ROWS


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT * FROM some_table",
        "TABLE some_table",
        "VALUES (1), (2)",
        "EXPLAIN SELECT * FROM some_table",
        "EXPLAIN ANALYZE DELETE FROM some_table",
        "SHOW work_mem",
        "CREATE TABLE t (a int PRIMARY KEY, b text)",
        "CREATE TEMP TABLE t (a int)",
        "CREATE TABLE t AS SELECT * FROM some_table",
        "SELECT * INTO t FROM some_table",
        "CREATE VIEW v AS SELECT x FROM some_table",
        "CREATE INDEX ON some_table (x)",
        "ALTER TABLE some_table ADD COLUMN z int",
        "DROP TABLE IF EXISTS t",
        "TRUNCATE some_table",
        "CREATE TYPE mood AS ENUM ('ok', 'sad')",
        "CREATE SEQUENCE s",
        "COMMENT ON TABLE some_table IS 'x'",
        "MERGE INTO some_table t USING (VALUES (1, 2)) v(x, y) ON t.x = v.x WHEN MATCHED THEN UPDATE SET y = v.y",
        "LOCK TABLE some_table IN SHARE MODE",
        "SELECT $$ ; COMMIT; $$, E'\\' ; BEGIN', 'it''s; fine' -- ; ROLLBACK",
    ],
)
def test_check_allows_ordinary_sql(pg_env: PgEnv, sql: str) -> None:
    for statement in parse_script(sql, "postgresql", pg_env.backend.split, max_bytes=10_000).statements:
        pg_env.backend.check(statement)


@pytest.mark.parametrize(
    ("sql", "chunks"),
    [
        ("SELECT 1; SELECT 2", ["SELECT 1;", " SELECT 2"]),
        ("SELECT 'a;b'; SELECT \"c;d\"", ["SELECT 'a;b';", ' SELECT "c;d"']),
        ("SELECT $$;$$; SELECT $t$ $$; $t$", ["SELECT $$;$$;", " SELECT $t$ $$; $t$"]),
        ("SELECT E'\\';'; SELECT 2", ["SELECT E'\\';';", " SELECT 2"]),
        (
            "SELECT 1 -- ; no\n; /* ; /* nested ; */ */ SELECT 2;",
            ["SELECT 1 -- ; no\n;", " /* ; /* nested ; */ */ SELECT 2;"],
        ),
        ("SELECT :x::int; SELECT :долгота;;SELECT 'ü'", ["SELECT :x::int;", " SELECT :долгота;;", "SELECT 'ü'"]),
        ("SELECT 1;\n-- the end\n", ["SELECT 1;\n-- the end\n"]),
        ("SELEC 1; SELECT 2", ["SELEC 1;", " SELECT 2"]),  # does not parse: every `;` outside literals
    ],
)
def test_split_follows_postgresql_grammar(pg_env: PgEnv, sql: str, chunks: list[str]) -> None:
    assert pg_env.backend.split(sql) == chunks


def test_parameters_survive_the_split_and_the_check(playground: Playground, new_visitor) -> None:
    outcome = playground.run(
        new_visitor(),
        RunRequest(
            "SELECT :a::int * 2 AS a, $$:b$$ AS literal; SELECT x FROM some_table WHERE x = :b ORDER BY x",
            params={"a": "21", "b": 6},
        ),
    )
    assert [s.rows for s in outcome.run.statements] == [((42, ":b"),), ((6,),)]


# -- sandboxes and the admin role ---------------------------------------------------------


def test_admin_role_is_not_a_superuser_and_owns_no_student_role(
    pg_env: PgEnv, playground: Playground, new_visitor
) -> None:
    visitor = new_visitor()
    playground.run(visitor, RunRequest("SELECT 1"))
    name = pg_env.backend.sandbox_name(visitor)
    owner_role = name.replace("_sb_", "_own_")
    assert pg_env.su(
        "SELECT rolsuper, rolcreaterole, rolcreatedb FROM pg_roles WHERE rolname = %s", (pg_env.admin_role,)
    ) == [(False, True, True)]
    role = pg_env.su(
        "SELECT rolsuper, rolcreatedb, rolcreaterole, rolreplication, rolbypassrls, rolcanlogin, rolconnlimit "
        "FROM pg_roles WHERE rolname = %s",
        (name,),
    )
    assert role == [(False, False, False, False, False, True, 4)]
    memberships = pg_env.su(
        "SELECT g.rolname, m.rolname FROM pg_auth_members a JOIN pg_roles g ON g.oid = a.roleid "
        "JOIN pg_roles m ON m.oid = a.member WHERE %s IN (g.rolname, m.rolname) OR %s IN (g.rolname, m.rolname)",
        (name, owner_role),
    )
    # The login role is a member of its owner role only; nobody (the admin included) is a member of either.
    assert memberships == [(owner_role, name)]
    owners = pg_env.query(
        visitor, "SELECT DISTINCT pg_get_userbyid(relowner) FROM pg_class WHERE relnamespace = 'public'::regnamespace"
    )
    assert owners == [(owner_role,)]
    owner, acl = pg_env.su("SELECT pg_get_userbyid(datdba), datacl::text FROM pg_database WHERE datname = %s", (name,))[
        0
    ]
    assert owner == pg_env.admin_role
    assert f"{name}=Tc/" in acl
    assert "c" not in public_privileges(acl)
    (template_acl,) = pg_env.su("SELECT datacl::text FROM pg_database WHERE datname = %s", (pg_env.backend.template,))[
        0
    ]
    assert template_acl is not None and "c" not in public_privileges(template_acl)


def public_privileges(acl: str) -> str:
    """The privileges an ACL such as `{=Tc/admin,admin=CTc/admin}` gives PUBLIC."""
    return "".join(item[1:].split("/")[0] for item in acl.strip("{}").split(",") if item.startswith("="))


def test_a_second_process_logs_in_as_the_same_sandbox_role(pg_env: PgEnv, tmp_path, new_visitor) -> None:
    visitor = new_visitor()
    pg_env.backend.ensure_sandbox(visitor)
    other = PostgresBackend(pg_env.admin_url, LIMITS, sandbox_prefix=pg_env.prefix)
    try:
        assert other.sandbox_name(visitor) == pg_env.backend.sandbox_name(visitor)
        assert other.ensure_sandbox(visitor) is False
        outcome = make_playground(other, tmp_path).run(
            visitor, RunRequest("SELECT current_user, count(*) FROM some_table")
        )
        assert outcome.run.statements[0].rows == ((pg_env.backend.sandbox_name(visitor), 6),)
    finally:
        other.close()


def test_concurrent_creation_does_not_crash(pg_env: PgEnv, new_visitor) -> None:
    visitor = new_visitor()
    backends = [pg_env.backend, PostgresBackend(pg_env.admin_url, LIMITS, sandbox_prefix=pg_env.prefix)]
    results: list[object] = []

    def create(backend: PostgresBackend) -> None:
        try:
            results.append(backend.ensure_sandbox(visitor))
        except Exception as e:  # noqa: BLE001 - reported below
            results.append(e)

    try:
        threads = [threading.Thread(target=create, args=(b,)) for b in backends * 2]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        backends[1].close()
    assert sorted(map(repr, results)) == ["False", "False", "False", "True"], results
    assert some_table(pg_env, visitor) == SAMPLE_ROWS


def test_template_follows_the_sample(pg_env: PgEnv, tmp_path: Path) -> None:
    """Under a prefix of its own: the shared backend's template is never replaced under the other tests."""
    prefix = f"{pg_env.prefix}_tpl"
    first = PostgresBackend(pg_env.admin_url, LIMITS, sandbox_prefix=prefix)
    sample = "CREATE TABLE only_here (a int); INSERT INTO only_here VALUES (42);"
    visitor, later = secrets.token_hex(16), secrets.token_hex(16)
    try:
        other = PostgresBackend(pg_env.admin_url, LIMITS, sandbox_prefix=prefix, sample_sql=sample)
        try:
            assert other.template != first.template
            (comment,) = pg_env.su(
                "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = %s", (other.template,)
            )[0]
            assert "sha256:" in comment
            service = make_playground(other, tmp_path)
            outcome = service.run(visitor, RunRequest("SELECT a FROM only_here"))
            service.store.close()
            assert outcome.run.statements[0].rows == ((42,),)
        finally:
            other.close()
        # The first backend's template was replaced as "old"; it rebuilds its own when needed.
        assert pg_env.su("SELECT 1 FROM pg_database WHERE datname = %s", (first.template,)) == []
        first.ensure_sandbox(later)
        assert (
            execute(pg_env.superuser_url, "SELECT x, y FROM some_table ORDER BY x", database=first.sandbox_name(later))
            == SAMPLE_ROWS
        )
    finally:
        first.drop_everything()
        first.close()


def test_check_admin_reports_one_line(pg_env: PgEnv) -> None:
    with pytest.raises(ConfigError) as info:
        PostgresBackend(libpq_url(pg_env.admin_url, port=1), LIMITS, sandbox_prefix=pg_env.prefix)
    assert "cannot use the PostgreSQL admin URL" in str(info.value) and "\n" not in str(info.value)
    with pytest.raises(ConfigError) as info:
        PostgresBackend(
            libpq_url(pg_env.admin_url, username=f"{pg_env.prefix}_nobody"), LIMITS, sandbox_prefix=pg_env.prefix
        )
    assert "does not exist" in str(info.value) and "\n" not in str(info.value)

    weak = f"{pg_env.prefix}_weak"
    execute(pg_env.superuser_url, f"CREATE ROLE \"{weak}\" LOGIN PASSWORD 'w' CREATEDB")
    execute(pg_env.superuser_url, f'GRANT CONNECT ON DATABASE "{pg_env.admin_database}" TO "{weak}"')
    try:
        with pytest.raises(ConfigError, match="needs CREATEROLE and CREATEDB") as info:
            PostgresBackend(
                libpq_url(pg_env.admin_url, username=weak, password="w"), LIMITS, sandbox_prefix=pg_env.prefix
            )
        assert "\n" not in str(info.value)
    finally:
        execute(pg_env.superuser_url, f'REVOKE CONNECT ON DATABASE "{pg_env.admin_database}" FROM "{weak}"')
        execute(pg_env.superuser_url, f'DROP ROLE "{weak}"')
    with pytest.raises(ConfigError, match="prefix"):
        PostgresBackend(pg_env.admin_url, LIMITS, sandbox_prefix="Bad-Prefix")
