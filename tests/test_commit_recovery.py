"""A commit cut short (kill -9) never leaves its token stuck (issue 13, part 3), on SQLite and PostgreSQL.

A commit records its token in the sandbox's own commit log, in the same transaction as the write.
Here a real process commits and is killed (SIGKILL, at a chosen point: before the sandbox
commits, or after it committed but before the bookkeeping heard of it); then the student's next
Commit must say truthfully whether the write was applied, and apply it (once) if it was not.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import signal
import threading
from typing import Any

import pytest
from pg_support import execute
from sqlalchemy import event, text
from sqlalchemy.engine import Engine

from playground.backends.sqlite import SqliteBackend
from playground.config import Settings
from playground.errors import AlreadyCommitted, CommitInProgress, RefusedStatement, TokenSpent, UserError
from playground.service import Playground, RunRequest
from playground.store import PENDING_WRITE_TTL, Store

INSERT = 'INSERT INTO "Users" ("Name", "Age") VALUES (:Name, :Age)'
BEFORE_THE_SANDBOX_COMMITS = "before the sandbox commits"
AFTER_THE_SANDBOX_COMMITTED = "after the sandbox committed"


def _commit_and_die(
    settings: Settings, engine: str, postgres: tuple[str, str] | None, visitor: str, token: str, when: str
) -> None:
    """In a process of its own (spawned): the service commits `token` and is killed at `when`."""
    if engine == "sqlite":
        backend: Any = SqliteBackend(settings.data_dir, settings.limits)
    else:
        from playground.backends.postgresql import PostgresBackend

        assert postgres is not None
        backend = PostgresBackend(postgres[0], settings.limits, sandbox_prefix=postgres[1])
    store = Store(f"sqlite:///{settings.data_dir / 'playground.db'}")
    service = Playground(settings, store, {engine: backend}, engine)

    def die() -> None:
        os.kill(os.getpid(), signal.SIGKILL)

    if when == BEFORE_THE_SANDBOX_COMMITS:

        @event.listens_for(Engine, "commit")
        def _before_commit(conn: Any) -> None:
            if conn.engine is not store.engine:
                die()

    else:

        @event.listens_for(store.engine, "before_cursor_execute")
        def _before_the_outcome(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
            # The claim sets used_at; the outcome written after the sandbox committed does not.
            if statement.startswith("UPDATE playground_pending_writes") and "used_at" not in statement:
                die()

    service.commit(visitor, token)
    os._exit(0)  # not reached: the process was killed


def commit_in_a_process_killed(
    playground: Playground, request: pytest.FixtureRequest, visitor: str, token: str, when: str
) -> None:
    engine = playground.default_engine
    postgres = None
    if engine == "postgresql":
        postgres = (request.getfixturevalue("postgres_url"), request.getfixturevalue("postgres_prefix"))
    context = multiprocessing.get_context("spawn")
    child = context.Process(target=_commit_and_die, args=(playground.settings, engine, postgres, visitor, token, when))
    child.start()
    child.join(timeout=120)
    assert child.exitcode == -signal.SIGKILL, f"the committing process ended with {child.exitcode}"


def preview(playground: Playground, visitor: str, name: str) -> str:
    outcome = playground.run(visitor, RunRequest(INSERT, params={"Name": name, "Age": 30}))
    assert outcome.status == "preview" and outcome.token
    return outcome.token


def count(playground: Playground, visitor: str, name: str) -> int:
    outcome = playground.run(visitor, RunRequest('SELECT count(*) FROM "Users" WHERE "Name" = :n', params={"n": name}))
    return int(outcome.run.statements[0].rows[0][0])


def outcome_in_the_store(playground: Playground, token: str) -> str | None:
    with playground.store.engine.connect() as conn:
        return conn.execute(
            text("SELECT outcome FROM playground_pending_writes WHERE token = :t"), {"t": token}
        ).scalar()


def test_a_commit_killed_before_it_applied_is_applied_by_the_next_commit(
    playground: Playground, visitor: str, request: pytest.FixtureRequest
) -> None:
    token = preview(playground, visitor, "Оля")
    commit_in_a_process_killed(playground, request, visitor, token, BEFORE_THE_SANDBOX_COMMITS)
    assert outcome_in_the_store(playground, token) == "committing"  # cut short: the bookkeeping cannot tell
    assert count(playground, visitor, "Оля") == 0

    committed = playground.commit(visitor, token)
    assert committed.status == "committed" and committed.run.rowcount == 1
    assert count(playground, visitor, "Оля") == 1
    with pytest.raises(TokenSpent, match="already committed"):
        playground.commit(visitor, token)
    assert count(playground, visitor, "Оля") == 1
    assert outcome_in_the_store(playground, token) == "committed"


def test_a_commit_killed_after_it_applied_is_reported_as_committed(
    playground: Playground, visitor: str, request: pytest.FixtureRequest
) -> None:
    token = preview(playground, visitor, "Ира")
    commit_in_a_process_killed(playground, request, visitor, token, AFTER_THE_SANDBOX_COMMITTED)
    assert outcome_in_the_store(playground, token) == "committing"
    assert count(playground, visitor, "Ира") == 1  # applied, though nobody was told

    with pytest.raises(AlreadyCommitted, match="already committed; nothing was applied again"):
        playground.commit(visitor, token)
    assert count(playground, visitor, "Ира") == 1
    assert outcome_in_the_store(playground, token) == "committed"  # settled for every later answer


def test_two_commits_of_a_cut_short_preview_apply_it_once(
    playground: Playground, visitor: str, request: pytest.FixtureRequest
) -> None:
    token = preview(playground, visitor, "Двое")
    commit_in_a_process_killed(playground, request, visitor, token, BEFORE_THE_SANDBOX_COMMITS)
    answers: list[str] = []
    barrier = threading.Barrier(2)

    def press() -> None:
        barrier.wait()
        try:
            answers.append(playground.commit(visitor, token).status)
        except (AlreadyCommitted, CommitInProgress) as e:
            answers.append(type(e).__name__)

    threads = [threading.Thread(target=press) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert answers.count("committed") == 1, answers
    assert count(playground, visitor, "Двое") == 1


def test_a_cut_short_commit_of_an_expired_preview_says_whether_it_was_applied(
    playground: Playground, visitor: str, request: pytest.FixtureRequest
) -> None:
    applied, not_applied = preview(playground, visitor, "Да"), preview(playground, visitor, "Нет")
    commit_in_a_process_killed(playground, request, visitor, applied, AFTER_THE_SANDBOX_COMMITTED)
    commit_in_a_process_killed(playground, request, visitor, not_applied, BEFORE_THE_SANDBOX_COMMITS)
    now = playground.store.clock()
    playground.store.clock = lambda: now + PENDING_WRITE_TTL + 60

    with pytest.raises(TokenSpent, match="already committed"):
        playground.commit(visitor, applied)
    with pytest.raises(TokenSpent, match="expired; it was not applied"):
        playground.commit(visitor, not_applied)
    assert (count(playground, visitor, "Да"), count(playground, visitor, "Нет")) == (1, 0)
    with pytest.raises(TokenSpent, match="expired; it was not applied"):
        playground.commit(visitor, not_applied)  # the answer stays the same


def test_the_commit_log_is_not_shown_in_the_schema(playground: Playground, visitor: str) -> None:
    playground.commit(visitor, preview(playground, visitor, "Схема"))
    names = [table.name for table in playground.schema(visitor)]
    assert names and not [name for name in names if "commits" in name], names


SQLITE_REACHES_FOR_THE_LOG = [
    "SELECT * FROM playground_commits",
    "SELECT count(*) FROM playground_commits",
    "INSERT INTO playground_commits VALUES ('x', 0)",
    "DELETE FROM playground_commits",
    "UPDATE playground_commits SET at = 0",
    "DROP TABLE playground_commits",
    "ALTER TABLE playground_commits ADD COLUMN y",
    "CREATE INDEX i ON playground_commits (at)",
    "CREATE TRIGGER t AFTER INSERT ON playground_commits BEGIN SELECT 1; END",
    "PRAGMA table_info(playground_commits)",
    "CREATE TABLE main.playground_commits (mark TEXT)",
]


@pytest.mark.parametrize("sql", SQLITE_REACHES_FOR_THE_LOG)
def test_a_student_cannot_reach_the_sqlite_commit_log(settings: Settings, sql: str) -> None:
    settings.data_dir.mkdir(parents=True)
    store = Store(f"sqlite:///{settings.data_dir / 'playground.db'}")
    service = Playground(settings, store, {"sqlite": SqliteBackend(settings.data_dir, settings.limits)}, "sqlite")
    visitor = "a" * 32
    if not sql.startswith("CREATE TABLE"):  # (making one of that name is refused before the first commit too)
        service.commit(visitor, preview(service, visitor, "Лог"))
    with pytest.raises(RefusedStatement, match="playground's own record of commits"):
        service.run(visitor, RunRequest(sql))
    store.close()


@pytest.mark.parametrize("engine_name", ["postgresql"], indirect=True)
def test_a_student_cannot_read_change_or_forge_the_postgresql_commit_log(playground: Playground, visitor: str) -> None:
    token = preview(playground, visitor, "Подлог")
    for sql in (
        "SELECT * FROM playground.commits",
        "DELETE FROM playground.commits",
        "UPDATE playground.commits SET at = now()",
        "TRUNCATE playground.commits",
        "DROP TABLE playground.commits",
        "ALTER TABLE playground.commits ADD COLUMN y int",
    ):
        with pytest.raises(UserError, match="permission denied|must be owner"):
            playground.run(visitor, RunRequest(sql))
    # Inserting is how a commit writes its mark; a student who writes one cannot write the right one.
    forged = [token, hashlib.sha256(f"commit:{token}".encode()).hexdigest()]
    forge = playground.run(
        visitor,
        RunRequest("INSERT INTO playground.commits (mark) VALUES (:a), (:b)", params={"a": forged[0], "b": forged[1]}),
    )
    assert forge.status == "preview" and forge.token
    assert playground.commit(visitor, forge.token).status == "committed"
    assert playground.commit(visitor, token).status == "committed"
    assert count(playground, visitor, "Подлог") == 1


@pytest.mark.parametrize("engine_name", ["postgresql"], indirect=True)
def test_a_postgresql_sandbox_made_before_the_commit_log_gets_it_on_its_first_commit(
    playground: Playground, visitor: str, postgres_url: str
) -> None:
    token = preview(playground, visitor, "Старый")
    sandbox = playground.backends["postgresql"].sandbox_name(visitor)  # type: ignore[attr-defined]
    execute(postgres_url, "DROP SCHEMA playground CASCADE", database=sandbox)
    assert playground.commit(visitor, token).status == "committed"
    assert count(playground, visitor, "Старый") == 1
    assert execute(postgres_url, "SELECT count(*) FROM playground.commits", database=sandbox) == [(1,)]
