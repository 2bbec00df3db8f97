"""Shared fixtures: settings over a temporary data folder, the service per engine, the Flask app and client.

Engine-aware tests take the `engine_name` fixture, parametrised over SQLite and PostgreSQL. The
PostgreSQL half reads PLAYGROUND_TEST_POSTGRES_URL; without it those cases skip with a visible
reason, except under CI=true, where an unset or unreachable PostgreSQL fails the run.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from bs4 import BeautifulSoup
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from playground import config, create_app
from playground.backends.base import Backend, Evidence
from playground.backends.sqlite import SqliteBackend
from playground.config import Limits, Settings
from playground.script import Statement
from playground.service import Playground
from playground.store import Store

ENGINES = ["sqlite", "postgresql"]


def postgres_url_or_skip() -> str:
    """The test PostgreSQL URL; skip (or, under CI=true, fail) when it is missing or unreachable."""
    url = os.environ.get("PLAYGROUND_TEST_POSTGRES_URL")
    in_ci = os.environ.get("CI", "").lower() == "true"
    if not url:
        if in_ci:
            pytest.fail("CI=true but PLAYGROUND_TEST_POSTGRES_URL is not set: the PostgreSQL half cannot be skipped")
        pytest.skip("PLAYGROUND_TEST_POSTGRES_URL is not set: PostgreSQL cases skipped")
    import sqlalchemy

    from playground.config import postgres_url

    try:
        engine = sqlalchemy.create_engine(postgres_url(url))
        with engine.connect():
            pass
        engine.dispose()
    except sqlalchemy.exc.OperationalError as e:
        message = f"PostgreSQL at PLAYGROUND_TEST_POSTGRES_URL is unreachable: {str(e.orig).strip().splitlines()[0]}"
        if in_ci:
            pytest.fail(message)
        pytest.skip(message)
    return url


@pytest.fixture(scope="session")
def postgres_url() -> str:
    return postgres_url_or_skip()


# Small limits, so that tests reach them quickly.
SMALL_LIMITS = Limits(max_rows=50, time_limit_ms=1000, max_sql_bytes=20_000, max_grid_rows=20)


@pytest.fixture
def limits() -> Limits:
    """The limits every layer of the service under test enforces; a test may parametrise others."""
    return SMALL_LIMITS


@pytest.fixture
def settings(tmp_path: Path, limits: Limits) -> Settings:
    return Settings(data_dir=tmp_path / "data", secret_key="test-secret", limits=limits)


@pytest.fixture(params=ENGINES)
def engine_name(request: pytest.FixtureRequest) -> str:
    if request.param == "postgresql":
        request.getfixturevalue("postgres_url")
    return str(request.param)


@pytest.fixture(scope="session")
def postgres_prefix(request: pytest.FixtureRequest) -> Iterator[str]:
    """One sandbox prefix for the test session (one template); everything under it is dropped at the end."""
    url = request.getfixturevalue("postgres_url")
    prefix = f"t{secrets.token_hex(3)}"
    yield prefix
    from playground.backends.postgresql import PostgresBackend

    backend = PostgresBackend(url, Limits(), sandbox_prefix=prefix)
    backend.drop_everything()
    backend.close()


def _backend(engine_name: str, settings: Settings, request: pytest.FixtureRequest) -> Backend:
    if engine_name == "sqlite":
        return SqliteBackend(settings.data_dir, settings.limits)
    from playground.backends.postgresql import PostgresBackend

    url = request.getfixturevalue("postgres_url")
    return PostgresBackend(url, settings.limits, sandbox_prefix=request.getfixturevalue("postgres_prefix"))


@pytest.fixture
def bookkeeping() -> str:
    """Where the service keeps tokens, the sandbox registry and the run log: a SQLite file of the test's own.

    test_contract.py overrides this with both "sqlite" and "postgresql" (production's arrangement,
    where PLAYGROUND_DATABASE_URL holds the bookkeeping too).
    """
    return "sqlite"


@pytest.fixture
def store(bookkeeping: str, settings: Settings, request: pytest.FixtureRequest) -> Iterator[Store]:
    """The bookkeeping store, empty: on PostgreSQL, in a schema of the test's own that is dropped afterwards."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    if bookkeeping == "sqlite":
        store = Store(f"sqlite:///{settings.data_dir / 'playground.db'}")
        yield store
        store.close()
        return
    import sqlalchemy

    url = request.getfixturevalue("postgres_url")
    schema = f"t{secrets.token_hex(4)}_books"
    admin = sqlalchemy.create_engine(config.postgres_url(url), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    # Every connection of the store finds (and creates) its tables in that schema.
    scoped = make_url(url).update_query_dict({"options": f"-csearch_path={schema}"})
    store = Store(scoped.render_as_string(hide_password=False))
    try:
        yield store
    finally:
        store.close()
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        admin.dispose()


@pytest.fixture
def playground(
    engine_name: str, settings: Settings, store: Store, request: pytest.FixtureRequest
) -> Iterator[Playground]:
    """The service on one engine, with its bookkeeping in the `store` fixture's database."""
    backend = _backend(engine_name, settings, request)
    service = Playground(settings, store, {engine_name: backend}, engine_name)
    yield service
    # Drop every sandbox the test made (PostgreSQL databases and roles outlive the test otherwise).
    for visitor in store.idle_sandboxes(engine_name, float("inf")):
        backend.drop_sandbox(visitor)
    close = getattr(backend, "close", None)
    if close:
        close()


@pytest.fixture
def visitor() -> str:
    return secrets.token_hex(16)


@pytest.fixture
def app(settings: Settings) -> Flask:
    """The Flask app on SQLite, with its data in the test's temporary folder."""
    return create_app(settings)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def csrf_token(client: FlaskClient) -> str:
    """The token every page carries in <meta name="csrf-token">."""
    page = BeautifulSoup(client.get("/").data, "html.parser")
    return str(page.select_one('meta[name="csrf-token"]')["content"])  # type: ignore[index]


@pytest.fixture
def token(client: FlaskClient) -> str:
    return csrf_token(client)


def reconfigured(service: Playground, **changes: Any) -> Playground:
    """The same store and backends under other settings, as a restarted server would have them.

    The limits cannot change this way: the backends enforce the ones they were built with
    (parametrise the `limits` fixture instead).
    """
    return Playground(replace(service.settings, **changes), service.store, service.backends, service.default_engine)


class Observed:
    """The real backend, calling `before_statement` as each statement is about to run (outside its time limit).

    For tests that must act at a known point of a run (between two statements, or while it is
    going) instead of guessing with sleeps. Nothing of the backend is replaced.
    """

    def __init__(self, backend: Backend, before_statement: Callable[[Statement], None]) -> None:
        self._backend = backend
        self._before_statement = before_statement

    def __getattr__(self, name: str) -> Any:
        return getattr(self._backend, name)

    @contextmanager
    def guard(self, session: Session, statement: Statement, *, deadline: float | None = None) -> Iterator[Evidence]:
        self._before_statement(statement)
        with self._backend.guard(session, statement, deadline=deadline) as evidence:
            yield evidence
