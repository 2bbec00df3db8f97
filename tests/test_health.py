"""GET /healthz: 200 when the bookkeeping database and every engine answer, 503 naming what does not.

It never touches a sandbox, never runs SQL of a visitor's, and its answer names no setting (no
URL, host, port, role, folder or key), whatever failed.
"""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import Iterator
from dataclasses import replace

import pytest
from flask.testing import FlaskClient
from sqlalchemy.engine import make_url
from tcp_relay import TcpRelay

from playground import create_app
from playground.config import Settings

SQLITE_OK = {"status": "ok", "checks": {"bookkeeping": "ok", "sqlite": "ok"}}


def test_healthz_answers_ok_when_everything_is_reachable(client: FlaskClient) -> None:
    reply = client.get("/healthz")
    assert reply.status_code == 200
    assert reply.json == SQLITE_OK
    assert reply.headers["Cache-Control"] == "no-store"


def test_healthz_makes_no_session_no_sandbox_and_no_run(client: FlaskClient, settings: Settings) -> None:
    for _ in range(3):
        reply = client.get("/healthz")
        assert reply.status_code == 200
        assert "Set-Cookie" not in reply.headers
    assert list((settings.data_dir / "sandboxes" / "sqlite").glob("*.sqlite3")) == []
    with sqlite3.connect(settings.data_dir / "playground.db") as db:
        assert db.execute("SELECT count(*) FROM playground_runs").fetchone() == (0,)
        assert db.execute("SELECT count(*) FROM playground_sandboxes").fetchone() == (0,)


def test_healthz_is_503_when_the_data_folder_is_gone(client: FlaskClient, settings: Settings) -> None:
    assert client.get("/healthz").status_code == 200
    shutil.rmtree(settings.data_dir)  # a volume that was unmounted under the running server

    reply = client.get("/healthz")

    assert reply.status_code == 503
    assert reply.json["status"] == "unavailable"
    assert reply.json["checks"]["sqlite"] == "the SQLite engine is unreachable"
    assert "sqlite: the SQLite engine is unreachable" in reply.json["reason"]
    assert str(settings.data_dir) not in reply.text


@pytest.fixture
def relayed_postgres(postgres_url: str) -> Iterator[tuple[TcpRelay, str]]:
    """The test PostgreSQL behind a relay the test can cut; its URL with a password that must never be shown."""
    url = make_url(postgres_url)
    relay = TcpRelay((url.host or "127.0.0.1", url.port or 5432))
    # Trust authentication ignores the password; the app is given one all the same, to look for it.
    yield relay, url.set(host="127.0.0.1", port=relay.port, password="pw-never-shown-7781").render_as_string(False)
    relay.cut()


@pytest.mark.postgresql
def test_healthz_checks_postgresql_and_is_503_without_naming_a_setting(
    relayed_postgres: tuple[TcpRelay, str], settings: Settings, postgres_prefix: str
) -> None:
    relay, url = relayed_postgres
    app = create_app(replace(settings, database_url=url, postgres_prefix=postgres_prefix))
    client = app.test_client()
    try:
        healthy = client.get("/healthz")
        assert healthy.status_code == 200, healthy.text
        assert healthy.json == {"status": "ok", "checks": {"bookkeeping": "ok", "postgresql": "ok", "sqlite": "ok"}}

        relay.cut()
        broken = client.get("/healthz")

        assert broken.status_code == 503
        assert broken.json["checks"] == {
            "bookkeeping": "the bookkeeping database is unreachable",
            "postgresql": "the PostgreSQL engine is unreachable",
            "sqlite": "ok",
        }
        assert broken.json["reason"] == (
            "bookkeeping: the bookkeeping database is unreachable; postgresql: the PostgreSQL engine is unreachable"
        )
        for secret in ("pw-never-shown-7781", str(relay.port), "127.0.0.1", "postgres:", "test", postgres_prefix):
            assert secret not in broken.text, secret
        assert str(settings.data_dir) not in broken.text

        relay.restore()
        assert client.get("/healthz").status_code == 200  # and it recovers once PostgreSQL is back
    finally:
        app.extensions["playground"].close()
