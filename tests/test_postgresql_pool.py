"""The sandbox connections a process keeps between runs (backends/pg_pool.py): nothing carries over, resets and drops are clean, the role's limit holds."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg2
import pytest
from pg_support import LIMITS, PgEnv, execute, fixtures, libpq_url, make_playground

from playground.backends.pg_errors import SandboxBusy
from playground.backends.pg_roles import owner_of
from playground.backends.postgresql import PostgresBackend
from playground.config import Limits
from playground.service import Playground, RunRequest

pg_env, new_visitor, shared_visitor, playground, unchecked = fixtures()

pytestmark = pytest.mark.postgresql

SESSION = (
    "SELECT pg_backend_pid(), current_user, session_user, current_setting('search_path'), "
    "current_setting('work_mem'), (SELECT count(*) FROM pg_prepared_statements), "
    "to_regclass('pg_temp.kept') IS NULL, (SELECT count(*) FROM pg_listening_channels()), "
    "(SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid() "
    "AND mode = 'ExclusiveLock')"
)


def one_row(service: Playground, visitor: str, sql: str) -> tuple[Any, ...]:
    outcome = service.run(visitor, RunRequest(sql))
    assert outcome.status == "ok", outcome
    rows = outcome.run.statements[-1].rows
    assert len(rows) == 1
    return tuple(rows[0])


def test_a_kept_connection_carries_no_session_state_to_the_next_run(
    pg_env: PgEnv, unchecked: Playground, new_visitor
) -> None:
    """Past the statement check (as if it had a hole), a committed script changes everything a session holds."""
    visitor = new_visitor()
    name = pg_env.backend.sandbox_name(visitor)
    fresh = one_row(unchecked, visitor, SESSION)
    assert fresh[1:] == (name, name, '"$user", public', "4MB", 0, True, 0, 0)
    script = (
        "CREATE TEMP TABLE kept (x int); PREPARE kept_plan AS SELECT 1; SELECT pg_advisory_lock(42); "
        "LISTEN kept_channel; SET search_path TO pg_catalog; SET work_mem = '64MB'"
    )
    preview = unchecked.run(visitor, RunRequest(script))
    assert preview.status == "preview"
    assert unchecked.commit(visitor, preview.token).status == "committed"
    after = one_row(unchecked, visitor, SESSION)
    assert after[0] == fresh[0], "the run did not reuse the kept connection: this test shows nothing"
    assert after[1:] == fresh[1:]


def test_a_role_changed_and_a_transaction_left_open_on_a_kept_connection_are_undone(
    pg_env: PgEnv, playground: Playground, new_visitor
) -> None:
    visitor = new_visitor()
    name = pg_env.backend.sandbox_name(visitor)
    pid = one_row(playground, visitor, "SELECT pg_backend_pid()")[0]
    with pg_env.backend.session(visitor) as session:
        raw = session.connection().connection.driver_connection
        session.commit()
        raw.autocommit = True
        with raw.cursor() as cur:
            cur.execute(f"SET ROLE {owner_of(name)}")  # for the session, outside any transaction
            raw.autocommit = False
            cur.execute("DELETE FROM some_table")  # psycopg2 begins a transaction, and it stays open
    after = one_row(playground, visitor, "SELECT pg_backend_pid(), current_user, count(*) FROM some_table")
    assert after == (pid, name, 6)
    assert pg_env.query(visitor, "SELECT count(*) FROM some_table") == [(6,)]


@pytest.fixture
def other_process(pg_env: PgEnv, tmp_path: Path) -> Iterator[Playground]:
    """What another app process holds: a backend of its own, with its own kept connections."""
    backend = PostgresBackend(pg_env.admin_url, LIMITS, sandbox_prefix=pg_env.prefix)
    (tmp_path / "other").mkdir()
    service = make_playground(backend, tmp_path / "other")
    yield service
    service.store.close()
    backend.close()


@pytest.mark.parametrize("action", ["reset", "drop"])
def test_a_reset_or_drop_ends_kept_connections_and_the_next_runs_work_on_the_fresh_database(
    pg_env: PgEnv, playground: Playground, other_process: Playground, new_visitor, action: str
) -> None:
    visitor = new_visitor()
    playground.commit(visitor, playground.run(visitor, RunRequest("DELETE FROM some_table")).token)
    count = "SELECT pg_backend_pid(), count(*) FROM some_table"
    here, _ = one_row(playground, visitor, count)
    there, _ = one_row(other_process, visitor, count)
    assert one_row(playground, visitor, count) == (here, 0)  # both processes keep a connection
    assert one_row(other_process, visitor, count) == (there, 0)
    if action == "reset":
        playground.reset(visitor)
    else:
        pg_env.backend.drop_sandbox(visitor)  # as the sweep does
        assert pg_env.su(
            "SELECT count(*) FROM pg_database WHERE datname = %s", (pg_env.backend.sandbox_name(visitor),)
        ) == [(0,)]
    # Each process logs in anew, on the new database with the sample's six rows, without an error.
    pid, rows = one_row(other_process, visitor, count)
    assert rows == 6 and pid != there
    pid, rows = one_row(playground, visitor, count)
    assert rows == 6 and pid != here


def test_runs_past_the_roles_connection_limit_are_told_to_wait_with_connections_kept(
    pg_env: PgEnv, tmp_path: Path, new_visitor
) -> None:
    """Four runs at once hold the role's four connections (one of them kept from before): a fifth gets a 429."""
    limits = Limits(time_limit_ms=60_000, max_concurrent_runs=5)  # the visitor gate lets a fifth through
    backend = PostgresBackend(pg_env.admin_url, limits, sandbox_prefix=pg_env.prefix)
    service = make_playground(backend, tmp_path, limits)
    visitor = new_visitor()
    name = backend.sandbox_name(visitor)
    try:
        one_row(service, visitor, "SELECT 1")  # the sandbox exists, and a connection is kept
        # The superuser locks the table: runs that read it wait, each holding its connection.
        holder = psycopg2.connect(libpq_url(pg_env.superuser_url, database=name))
        try:
            with holder.cursor() as cur:
                cur.execute("LOCK TABLE some_table IN ACCESS EXCLUSIVE MODE")
            counts: list[Any] = []
            runs = [
                threading.Thread(
                    target=lambda: counts.append(one_row(service, visitor, "SELECT count(*) FROM some_table"))
                )
                for _ in range(4)
            ]
            for run in runs:
                run.start()
            waiting = "SELECT count(*) FROM pg_stat_activity WHERE usename = %s AND wait_event_type = 'Lock'"
            while execute(pg_env.superuser_url, waiting, (name,)) != [(4,)]:
                assert all(run.is_alive() for run in runs), counts
                time.sleep(0.05)
            with pytest.raises(SandboxBusy, match="Too many runs at once on your sandbox"):
                service.run(visitor, RunRequest("SELECT 1"))
        finally:
            holder.rollback()
            holder.close()
        for run in runs:
            run.join()
        assert counts == [(6,)] * 4
        assert one_row(service, visitor, "SELECT 1") == (1,)
    finally:
        service.store.close()
        backend.close()
