"""Spare PostgreSQL sandboxes: made ahead of time, claimed whole by an arriving visitor, boundary intact."""

from __future__ import annotations

import secrets
import threading
from collections.abc import Iterator
from pathlib import Path

import pg_support
import psycopg2.errors
import pytest
from pg_support import LIMITS, PgEnv, execute, make_playground
from server_support import at_once

from playground.backends.postgresql import PostgresBackend
from playground.service import RunRequest

pg_env, new_visitor, shared_visitor, playground, unchecked = pg_support.fixtures()

pytestmark = pytest.mark.postgresql


@pytest.fixture
def with_spares(pg_env: PgEnv) -> Iterator[PostgresBackend]:
    """A backend of its own prefix that keeps two spare sandboxes ready."""
    backend = PostgresBackend(pg_env.admin_url, LIMITS, sandbox_prefix=f"{pg_env.prefix}s", spare_sandboxes=2)
    try:
        yield backend
    finally:
        backend.sandboxes.spares.wait(60)
        backend.drop_everything()
        backend.close()


def spares(pg_env: PgEnv, backend: PostgresBackend) -> list[str]:
    rows = pg_env.su(
        "SELECT datname FROM pg_database WHERE datname LIKE %s "
        "AND shobj_description(oid, 'pg_database') LIKE 'SQL Playground spare sandbox%%' ORDER BY datname",
        (f"{backend.prefix}\\_sb\\_%",),
    )
    return [r[0] for r in rows]


def ready(backend: PostgresBackend) -> None:
    backend.sandboxes.spares.top_up()
    backend.sandboxes.spares.wait(60)


def test_an_arriving_visitor_gets_a_spare_sandbox_whole(
    pg_env: PgEnv, with_spares: PostgresBackend, tmp_path: Path
) -> None:
    ready(with_spares)
    before = spares(pg_env, with_spares)
    assert len(before) == 2
    visitor = secrets.token_hex(16)
    assert with_spares.ensure_sandbox(visitor) is True
    name = with_spares.sandbox_name(visitor)
    after = spares(pg_env, with_spares)
    assert name not in after and len(set(before) - set(after)) == 1  # one spare became the visitor's
    claimed = (set(before) - set(after)).pop()
    # Nothing is left under the spare's name: its database and both roles were renamed.
    assert pg_env.su(
        "SELECT count(*) FROM pg_roles WHERE rolname IN (%s, %s)", (claimed, claimed.replace("_sb_", "_own_"))
    ) == [(0,)]
    # The visitor's role logs in with the visitor's password and has the sample, as its owner.
    service = make_playground(with_spares, tmp_path)
    try:
        outcome = service.run(visitor, RunRequest('SELECT "Name" FROM "Users" ORDER BY "Id"'))
        assert [r[0] for r in outcome.run.statements[0].rows] == ["Петр", "Василий"]
        preview = service.run(visitor, RunRequest('ALTER TABLE "Users" ADD COLUMN note text'))
        assert preview.status == "preview"
    finally:
        service.store.close()
    # ... and nothing else: CONNECT on its own database only, not on the spares, the template or others.
    others = pg_env.su(
        "SELECT count(*) FROM pg_database d WHERE d.datname <> %s AND d.datname LIKE %s "
        "AND has_database_privilege(%s, d.oid, 'CONNECT')",
        (name, f"{with_spares.prefix}\\_%", name),
    )
    assert others == [(0,)]
    ready(with_spares)
    assert len(spares(pg_env, with_spares)) == 2  # topped up again
    with_spares.drop_sandbox(visitor)


def test_two_visitors_arriving_at_once_for_one_spare_both_get_a_sandbox(
    pg_env: PgEnv, with_spares: PostgresBackend
) -> None:
    ready(with_spares)
    other = PostgresBackend(pg_env.admin_url, LIMITS, sandbox_prefix=with_spares.prefix, spare_sandboxes=2)
    visitors = [secrets.token_hex(16) for _ in range(4)]
    try:
        created = at_once(
            [lambda v=v, b=b: b.ensure_sandbox(v) for v, b in zip(visitors, [with_spares, other] * 2, strict=True)]
        )
        assert created == [True] * 4
        for visitor in visitors:
            users = execute(
                pg_env.superuser_url, 'SELECT count(*) FROM "Users"', database=with_spares.sandbox_name(visitor)
            )
            assert users == [(2,)]
    finally:
        other.sandboxes.spares.wait(60)
        for visitor in visitors:
            with_spares.drop_sandbox(visitor)
        other.close()


def test_without_spares_a_sandbox_is_made_on_arrival(pg_env: PgEnv, new_visitor) -> None:  # type: ignore[no-untyped-def]
    visitor = new_visitor()
    assert pg_env.backend.sandboxes.spares.keep == 0
    assert pg_env.backend.ensure_sandbox(visitor) is True
    assert pg_env.query(visitor, 'SELECT count(*) FROM "Users"') == [(2,)]


def spare_comments(pg_env: PgEnv, backend: PostgresBackend) -> list[str]:
    rows = pg_env.su(
        "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname LIKE %s ORDER BY datname",
        (f"{backend.prefix}\\_sb\\_%",),
    )
    return [r[0] for r in rows if r[0] and r[0].startswith("SQL Playground spare")]


@pytest.fixture
def with_starting_data(pg_env: PgEnv) -> Iterator[tuple[PostgresBackend, list[str | None]]]:
    """A backend keeping one spare, whose starting data the test sets (as the teacher's dashboard does)."""
    starting: list[str | None] = [None]
    backend = PostgresBackend(
        pg_env.admin_url,
        LIMITS,
        sandbox_prefix=f"{pg_env.prefix}t",
        spare_sandboxes=1,
        starting_point=lambda: starting[0],
    )
    try:
        yield backend, starting
    finally:
        backend.sandboxes.spares.stop()
        backend.drop_everything()
        backend.close()


def test_a_top_up_asked_for_after_the_last_count_is_not_lost(
    pg_env: PgEnv, with_starting_data: tuple[PostgresBackend, list[str | None]]
) -> None:
    """New starting data set while the spares thread is finishing: its spares are still made anew."""
    backend, starting = with_starting_data
    spares_of = backend.sandboxes.spares
    stage = secrets.token_hex(16)
    backend.ensure_sandbox(stage)
    new_template = backend.capture_starting_data(stage)
    backend.drop_sandbox(stage)
    ready(backend)  # the stage claimed the spare; another is made from the sample still
    assert spare_comments(pg_env, backend) == [f"SQL Playground spare sandbox from {backend.template}"]
    old = spares(pg_env, backend)
    # The thread asks for the template, then counts: the teacher's change lands in between, and
    # `top_up` (what the dashboard calls) returns while that thread is still running.
    asked = spares_of._template

    def template_then_the_teacher_changes_it() -> str:
        current = asked()
        if starting[0] is None:
            starting[0] = new_template
            teacher = threading.Thread(target=spares_of.top_up)
            teacher.start()
            teacher.join()
        return current

    spares_of._template = template_then_the_teacher_changes_it  # type: ignore[method-assign]
    ready(backend)
    spares_of.wait(60)
    assert spare_comments(pg_env, backend) == [f"SQL Playground spare sandbox from {new_template}"]
    # The old spare went whole: its database and both its roles.
    assert pg_env.su(
        "SELECT count(*) FROM pg_roles WHERE rolname IN (%s, %s)", (old[0], old[0].replace("_sb_", "_own_"))
    ) == [(0,)]


def test_a_spare_that_fails_to_be_made_is_tried_again_and_leaves_nothing_half_made(
    pg_env: PgEnv, with_starting_data: tuple[PostgresBackend, list[str | None]]
) -> None:
    backend, _ = with_starting_data
    spares_of = backend.sandboxes.spares
    make = spares_of._make
    failed: list[str] = []

    def fails_once_half_way(name: str, template: str) -> None:
        make(name, template)  # the database and roles exist; the comment that makes it a spare does not
        if not failed:
            failed.append(name)
            raise psycopg2.errors.InternalError_("tuple concurrently updated")

    spares_of._make = fails_once_half_way  # type: ignore[method-assign]
    ready(backend)
    assert len(failed) == 1
    assert len(spare_comments(pg_env, backend)) == 1  # the second attempt made it
    assert failed[0] not in spares(pg_env, backend)
    assert pg_env.su(
        "SELECT count(*) FROM pg_database WHERE datname = %s UNION ALL "
        "SELECT count(*) FROM pg_roles WHERE rolname IN (%s, %s)",
        (failed[0], failed[0], failed[0].replace("_sb_", "_own_")),
    ) == [(0,), (0,)]
