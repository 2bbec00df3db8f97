"""Hostile SQL with the statement check switched off: PostgreSQL's own privileges must hold.

Every run here goes through the real service over `Unchecked(backend)`, whose check() lets
everything through, so what stops each statement is the sandbox role's lack of privileges
(or the watchdog, for the time limit). Each test also checks that nothing changed.
"""

from __future__ import annotations

import os
import secrets
import time

import psycopg2
import pytest
from pg_support import LIMITS, PgEnv, fixtures

from playground.errors import RefusedStatement, TimeLimitExceeded, UserError
from playground.service import Playground, RunRequest

pytestmark = pytest.mark.postgresql
pg_env, new_visitor, shared_visitor, playground, unchecked = fixtures()

SAMPLE_ROWS = [(1, 1), (2, 4), (6, 8), (9, 10), (11, 12), (13, 14)]


def refused(service: Playground, visitor: str, sql: str) -> str:
    """Run SQL that the database must refuse for lack of privilege; the error's message."""
    with pytest.raises(RefusedStatement) as info:
        service.run(visitor, RunRequest(sql))
    assert "permission denied" in info.value.message
    return info.value.message


def intact(pg_env: PgEnv, visitor: str) -> None:
    assert pg_env.query(visitor, "SELECT x, y FROM some_table ORDER BY x") == SAMPLE_ROWS
    assert pg_env.query(visitor, 'SELECT count(*) FROM "Users"') == [(2,)]


def test_another_sandbox_database_is_out_of_reach(pg_env: PgEnv, unchecked: Playground, new_visitor) -> None:
    alice, bob = new_visitor(), new_visitor()
    for visitor in (alice, bob):
        unchecked.run(visitor, RunRequest("SELECT 1"))
    for database in (pg_env.backend.sandbox_name(bob), pg_env.backend.template, pg_env.admin_database):
        with pytest.raises(psycopg2.OperationalError, match=f'permission denied for database "{database}"'):
            pg_env.connect_as(alice, database=database)
    # From SQL, there is no way to open a connection at all (no dblink, no extension).
    with pytest.raises(UserError, match="function dblink"):
        unchecked.run(
            alice, RunRequest(f"SELECT * FROM dblink('dbname={pg_env.backend.sandbox_name(bob)}', 'SELECT 1')")
        )
    intact(pg_env, bob)


def test_other_sessions_are_invisible_and_cannot_be_signalled(
    pg_env: PgEnv, unchecked: Playground, new_visitor
) -> None:
    alice, bob = new_visitor(), new_visitor()
    for visitor in (alice, bob):
        unchecked.run(visitor, RunRequest("SELECT 1"))
    victims = [pg_env.connect_as(bob), psycopg2.connect(pg_env.admin_url.replace("+psycopg2", ""))]
    try:
        for victim in victims:
            with victim.cursor() as cur:
                cur.execute("SELECT pg_backend_pid(), 'a secret query text'")
                pid = cur.fetchone()[0]
            rows = unchecked.run(alice, RunRequest(f"SELECT query FROM pg_stat_activity WHERE pid = {pid}")).run
            assert rows.statements[0].rows in ((("<insufficient privilege>",),), ((None,),))
            for function in ("pg_terminate_backend", "pg_cancel_backend"):
                message = refused(unchecked, alice, f"SELECT {function}({pid})")
                assert "must be a member of the role" in message or "superuser" in message
            with victim.cursor() as cur:  # still alive
                cur.execute("SELECT 1")
                assert cur.fetchone() == (1,)
    finally:
        for victim in victims:
            victim.close()


def test_copy_cannot_touch_server_files_or_programs(pg_env: PgEnv, unchecked: Playground, new_visitor) -> None:
    visitor = new_visitor()
    target = f"/tmp/playground-{secrets.token_hex(8)}"
    message = refused(unchecked, visitor, f"COPY some_table TO '{target}'")
    assert "pg_write_server_files" in message
    refused(unchecked, visitor, f"COPY (SELECT 1) TO PROGRAM 'touch {target}'")
    refused(unchecked, visitor, f"COPY some_table FROM PROGRAM 'touch {target}'")
    message = refused(unchecked, visitor, "COPY some_table FROM '/etc/hostname'")
    assert "pg_read_server_files" in message
    assert not os.path.exists(target)
    intact(pg_env, visitor)


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT pg_read_file('/etc/passwd')",
        "SELECT pg_read_binary_file('/etc/passwd')",
        "SELECT pg_ls_dir('.')",
        "SELECT pg_stat_file('postgresql.conf')",
        "SELECT pg_ls_logdir()",
        "SELECT lo_import('/etc/passwd')",
        "SELECT lo_export(lo_from_bytea(0, 'x'::bytea), '/tmp/playground-lo-export')",
        "SELECT pg_reload_conf()",
        "SELECT pg_rotate_logfile()",
    ],
)
def test_server_file_and_process_functions_are_denied(
    pg_env: PgEnv, unchecked: Playground, shared_visitor, sql: str
) -> None:
    visitor = shared_visitor
    message = refused(unchecked, visitor, sql)
    assert "permission denied for function" in message
    assert not os.path.exists("/tmp/playground-lo-export")
    assert pg_env.query(visitor, "SELECT count(*) FROM pg_largeobject_metadata") == [(0,)]
    intact(pg_env, visitor)


def test_extensions_cannot_be_created(pg_env: PgEnv, unchecked: Playground, new_visitor) -> None:
    visitor = new_visitor()
    available = {name for (name,) in pg_env.su("SELECT name FROM pg_available_extensions")}
    candidates = [n for n in ("pgcrypto", "hstore", "citext", "dblink", "file_fdw", "adminpack") if n in available]
    if not candidates:
        reason = "the server has no contrib extensions installed to try (Debian: postgresql-contrib)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true but {reason}", pytrace=False)
        pytest.skip(reason)
    for name in candidates:
        message = refused(unchecked, visitor, f"CREATE EXTENSION {name}")
        assert f'permission denied to create extension "{name}"' in message
    assert pg_env.query(visitor, "SELECT extname FROM pg_extension") == [("plpgsql",)]


def test_server_settings_cannot_be_changed(pg_env: PgEnv, unchecked: Playground, new_visitor) -> None:
    visitor = new_visitor()
    unchecked.run(visitor, RunRequest("SELECT 1"))
    before = pg_env.su("SELECT name, setting FROM pg_file_settings ORDER BY sourcefile, sourceline")
    # The playground's transaction stops ALTER SYSTEM before the privilege check does...
    with pytest.raises(UserError, match="ALTER SYSTEM cannot run inside a transaction block|permission denied"):
        unchecked.run(visitor, RunRequest("ALTER SYSTEM SET work_mem = '1GB'"))
    # ...and outside a transaction the role itself is refused.
    conn = pg_env.connect_as(visitor)
    try:
        with pytest.raises(psycopg2.errors.InsufficientPrivilege, match="permission denied|must be superuser"):
            conn.cursor().execute("ALTER SYSTEM SET work_mem = '1GB'")
        with pytest.raises(psycopg2.errors.InsufficientPrivilege, match="permission denied"):
            conn.cursor().execute("CREATE DATABASE sneaky")
    finally:
        conn.close()
    assert pg_env.su("SELECT name, setting FROM pg_file_settings ORDER BY sourcefile, sourceline") == before


@pytest.mark.parametrize(
    ("sql", "fragment"),
    [
        ("SET ROLE postgres", "permission denied to set role"),
        ("SET SESSION AUTHORIZATION postgres", "permission denied to set session authorization"),
        ("ALTER ROLE CURRENT_USER SUPERUSER", "permission denied"),
        ("ALTER ROLE CURRENT_USER CREATEDB", "permission denied"),
        ("CREATE ROLE sneaky", "permission denied to create role"),
        ("CREATE SCHEMA sneaky", "permission denied for database"),
        ("CREATE FUNCTION f() RETURNS int LANGUAGE c AS 'libc', 'abs'", "permission denied for language c"),
        ("ALTER SCHEMA public OWNER TO CURRENT_USER", "must be owner of schema public"),
        ("GRANT pg_read_server_files TO CURRENT_USER", "admin option"),
        ("DROP SCHEMA public CASCADE", "must be owner of schema public"),
    ],
)
def test_escalations_are_denied(pg_env: PgEnv, unchecked: Playground, shared_visitor, sql: str, fragment: str) -> None:
    visitor = shared_visitor
    with pytest.raises(RefusedStatement) as info:
        unchecked.run(visitor, RunRequest(sql))
    assert fragment in info.value.message
    intact(pg_env, visitor)


def test_the_time_limit_cannot_be_lifted(pg_env: PgEnv, unchecked: Playground, new_visitor) -> None:
    """Each pg_sleep(3600) ends in the time limit's own error, however the session's settings were changed.

    (The test's own timeout is what a lifted limit would run into.)
    """
    visitor = new_visitor()
    unchecked.run(visitor, RunRequest("SELECT 1"))  # the sandbox exists before any clock starts
    limit = LIMITS.time_limit_ms / 1000
    for sql in (
        "SET statement_timeout = 0; SELECT pg_sleep(3600)",
        "SELECT set_config('statement_timeout', '0', false), pg_sleep(3600)",
        "RESET ALL; SET lock_timeout = 0; SELECT pg_sleep(3600)",
    ):
        started = time.monotonic()
        with pytest.raises(TimeLimitExceeded, match=r"time limit \(1,500 ms\)"):
            unchecked.run(visitor, RunRequest(sql))
        assert time.monotonic() - started >= limit  # not a failure of some other kind before the limit
    # A role default the student commits for itself does not lift it either...
    preview = unchecked.run(visitor, RunRequest("ALTER ROLE CURRENT_USER SET statement_timeout = 0"))
    unchecked.commit(visitor, preview.token)
    name = pg_env.backend.sandbox_name(visitor)
    settings = "SELECT count(*) FROM pg_db_role_setting s JOIN pg_roles r ON r.oid = s.setrole WHERE r.rolname = %s"
    assert pg_env.su(settings, (name,)) == [(1,)]
    started = time.monotonic()
    with pytest.raises(TimeLimitExceeded, match=r"time limit \(1,500 ms\)"):
        unchecked.run(visitor, RunRequest("SELECT pg_sleep(3600)"))
    assert time.monotonic() - started >= limit
    # ...and Reset takes it away.
    unchecked.reset(visitor)
    assert pg_env.su(settings, (name,)) == [(0,)]


def test_ending_the_transaction_is_reported_not_previewed(pg_env: PgEnv, unchecked: Playground, new_visitor) -> None:
    visitor = new_visitor()
    with pytest.raises(RefusedStatement, match="ended the playground's transaction"):
        unchecked.run(visitor, RunRequest("ROLLBACK; DELETE FROM some_table"))
    intact(pg_env, visitor)
    # COMMIT is the statement check's to refuse: once the server has committed, the guard can
    # only report it (the preview's rows are then in the sandbox).
    with pytest.raises(RefusedStatement, match="ended the playground's transaction"):
        unchecked.run(visitor, RunRequest("DELETE FROM some_table WHERE x = 1; COMMIT"))
    assert len(pg_env.query(visitor, "SELECT * FROM some_table")) == 5


def test_a_role_that_changes_its_password_is_repaired(pg_env: PgEnv, unchecked: Playground, new_visitor) -> None:
    visitor = new_visitor()
    preview = unchecked.run(visitor, RunRequest("ALTER ROLE CURRENT_USER PASSWORD 'mine now'"))
    unchecked.commit(visitor, preview.token)
    outcome = unchecked.run(visitor, RunRequest("SELECT count(*) FROM some_table"))
    assert outcome.run.statements[0].rows == ((6,),)


def test_killing_its_own_session_is_a_user_error(pg_env: PgEnv, unchecked: Playground, new_visitor) -> None:
    visitor = new_visitor()
    with pytest.raises(UserError, match="terminating connection|closed|canceling"):
        unchecked.run(visitor, RunRequest("DELETE FROM some_table; SELECT pg_terminate_backend(pg_backend_pid())"))
    intact(pg_env, visitor)
