"""Shared PostgreSQL fixtures for tests/test_postgresql_*.py (a plain module the tests import).

PLAYGROUND_TEST_POSTGRES_URL names a role that may create roles and databases (a superuser in
practice, e.g. postgresql://postgres@127.0.0.1:5432/test). Without it the tests skip, saying
why; with CI=true a missing or unreachable server fails them instead.

A test module binds the fixtures with `pg_env, new_visitor, shared_visitor, playground, unchecked = fixtures()`.
The backend under test never uses that URL: each test session creates a NON-superuser admin
role (LOGIN CREATEROLE CREATEDB) owning its own admin database, under a unique prefix, and
drops every database and role it made at the end. The superuser URL is used only to set that
up, to tear it down, and to look at sandboxes from outside.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg2
import pytest
from sqlalchemy.engine import make_url

from playground.backends.postgresql import PostgresBackend
from playground.config import Limits, Settings
from playground.service import Playground
from playground.store import Store

ENV = "PLAYGROUND_TEST_POSTGRES_URL"
LIMITS = Limits(time_limit_ms=1500)


def libpq_url(url: str, **changes: Any) -> str:
    """A URL libpq itself accepts (no SQLAlchemy driver suffix), with changed parts."""
    return make_url(url).set(drivername="postgresql", **changes).render_as_string(hide_password=False)


def superuser_url() -> str:
    """The test server's URL; skip (or, on CI, fail) visibly when there is none."""
    url = os.environ.get(ENV)
    on_ci = os.environ.get("CI", "").lower() == "true"
    if not url:
        reason = f"{ENV} is not set: the PostgreSQL tests need a server (postgresql://user@host:port/db)"
        if on_ci:
            pytest.fail(f"CI=true but {reason}", pytrace=False)
        pytest.skip(reason)
    try:
        psycopg2.connect(libpq_url(url), connect_timeout=5).close()
    except psycopg2.Error as e:
        reason = f"PostgreSQL at {make_url(url).render_as_string()} is unreachable: {str(e).strip().splitlines()[0]}"
        if on_ci:
            pytest.fail(f"CI=true but {reason}", pytrace=False)
        pytest.skip(reason)
    return url


def execute(url: str, sql: str, params: Any = None, *, database: str | None = None) -> list[tuple[Any, ...]]:
    """Run one statement in autocommit on `url` (optionally another database); its rows, if any."""
    conn = psycopg2.connect(libpq_url(url, **({"database": database} if database else {})), connect_timeout=5)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute(sql, params)
            return cur.fetchall() if cur.description else []
    finally:
        conn.close()


@dataclass
class PgEnv:
    superuser_url: str
    admin_url: str  # the non-superuser admin role's URL, as the backend gets it
    admin_role: str
    admin_database: str
    prefix: str
    backend: PostgresBackend

    def query(self, visitor: str, sql: str, params: Any = None) -> list[tuple[Any, ...]]:
        """Look inside a visitor's sandbox from outside (as the superuser)."""
        return execute(self.superuser_url, sql, params, database=self.backend.sandbox_name(visitor))

    def su(self, sql: str, params: Any = None) -> list[tuple[Any, ...]]:
        return execute(self.superuser_url, sql, params)

    def connect_as(self, visitor: str, *, database: str | None = None) -> Any:
        """A psycopg2 connection logged in as the visitor's sandbox role (autocommit)."""
        conn = psycopg2.connect(
            libpq_url(self.backend.sandbox_url(visitor, database=database).render_as_string(hide_password=False)),
            connect_timeout=5,
        )
        conn.autocommit = True
        return conn


@dataclass(frozen=True)
class AdminDeployment:
    """A non-superuser admin role owning its own admin database, as the README tells a school to make."""

    url: str
    role: str
    database: str
    prefix: str


@contextmanager
def admin_deployment(su: str, prefix: str) -> Iterator[AdminDeployment]:
    """Make the admin role and database for `prefix`; afterwards drop everything the prefix owns (as `su`)."""
    role = database = f"{prefix}_admin"
    password = secrets.token_hex(16)
    execute(su, f'CREATE ROLE "{role}" LOGIN CREATEROLE CREATEDB PASSWORD %s', (password,))
    try:
        execute(su, f'CREATE DATABASE "{database}" OWNER "{role}"')
        execute(su, f'REVOKE CONNECT ON DATABASE "{database}" FROM PUBLIC')
        yield AdminDeployment(
            libpq_url(su, username=role, password=password, database=database), role, database, prefix
        )
    finally:
        drop_leftovers(su, prefix)


@contextmanager
def own_bookkeeping(su: str, prefix: str) -> Iterator[str]:
    """The superuser URL on a bookkeeping database of the prefix's own; afterwards everything of the prefix goes.

    A server under test keeps its sandbox registry in the URL's database. On the shared `test`
    database that registry holds every other run's sandboxes too, and the sandbox cap counts them.
    """
    database = f"{prefix}_admin"
    execute(su, f'CREATE DATABASE "{database}"')
    try:
        yield libpq_url(su, database=database)
    finally:
        backend = PostgresBackend(libpq_url(su, database=database), Limits(), sandbox_prefix=prefix)
        try:
            backend.drop_everything()
        finally:
            backend.close()
            drop_leftovers(su, prefix)


@pytest.fixture(scope="session", name="pg_env")
def _pg_env() -> Iterator[PgEnv]:
    su = superuser_url()
    with admin_deployment(su, f"t{secrets.token_hex(4)}") as deployment:
        backend = PostgresBackend(deployment.url, LIMITS, sandbox_prefix=deployment.prefix)
        try:
            yield PgEnv(su, deployment.url, deployment.role, deployment.database, deployment.prefix, backend)
        finally:
            try:
                backend.drop_everything()
            finally:
                backend.close()


def drop_leftovers(su: str, prefix: str) -> None:
    """Whatever the prefix still owns on the server (databases, then roles, its admin last), as the superuser."""
    for (name,) in execute(su, "SELECT datname FROM pg_database WHERE datname LIKE %s", (f"{prefix}\\_%",)):
        execute(su, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    for (name,) in execute(
        su,
        "SELECT rolname FROM pg_roles WHERE rolname LIKE %s ORDER BY rolname = %s",
        (f"{prefix}\\_%", f"{prefix}_admin"),
    ):
        execute(su, f'DROP ROLE IF EXISTS "{name}"')


@pytest.fixture(name="new_visitor")
def _new_visitor(pg_env: PgEnv) -> Iterator[Callable[[], str]]:
    """Make visitor ids; their sandboxes are dropped after the test."""
    made: list[str] = []

    def make() -> str:
        visitor = secrets.token_hex(16)
        made.append(visitor)
        return visitor

    yield make
    for visitor in made:
        pg_env.backend.drop_sandbox(visitor)


def make_playground(backend: Any, tmp_path: Path, limits: Limits = LIMITS) -> Playground:
    """The real service, with its bookkeeping in a SQLite file and this one engine."""
    settings = Settings(data_dir=tmp_path, limits=limits)
    return Playground(settings, Store(f"sqlite:///{tmp_path / 'store.sqlite3'}"), {"postgresql": backend}, "postgresql")


@pytest.fixture(scope="module", name="shared_visitor")
def _shared_visitor(pg_env: PgEnv) -> Iterator[str]:
    """One visitor for a module's tests that must leave the sandbox as it was (refusals)."""
    visitor = secrets.token_hex(16)
    yield visitor
    pg_env.backend.drop_sandbox(visitor)


@pytest.fixture(name="playground")
def _playground(pg_env: PgEnv, tmp_path: Path) -> Iterator[Playground]:
    service = make_playground(pg_env.backend, tmp_path)
    yield service
    service.store.close()


class Unchecked:
    """The backend with its statement check switched off: only PostgreSQL's own boundary remains."""

    def __init__(self, backend: PostgresBackend) -> None:
        self._backend = backend

    def __getattr__(self, name: str) -> Any:
        return getattr(self._backend, name)

    def check(self, statement: Any) -> None:
        pass


@pytest.fixture(name="unchecked")
def _unchecked(pg_env: PgEnv, tmp_path: Path) -> Iterator[Playground]:
    """The real service over the backend without its statement check."""
    service = make_playground(Unchecked(pg_env.backend), tmp_path)
    yield service
    service.store.close()


def fixtures() -> tuple[Any, ...]:
    """The fixtures, for a test module to bind at its top level (this is not a conftest):

    pg_env, new_visitor, shared_visitor, playground, unchecked = pg_support.fixtures()
    """
    return _pg_env, _new_visitor, _shared_visitor, _playground, _unchecked
