"""Every setting of the README's table takes effect with a valid value, read from the environment as the server reads it.

(That bad values are refused in one line is tests/test_cli.py's part.) Each test builds the app
from `Settings.from_env`, exactly what `playground serve` does in each worker, and looks at what a
visitor gets; the server's own settings (workers, host, port) are checked on a real server.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import psycopg2
import pytest
from flask import Flask
from flask.testing import FlaskClient
from server_support import HttpClient, live_server
from sqlalchemy.engine import make_url
from time_travel import age_sandbox, registered
from werkzeug.test import TestResponse

from playground import create_app
from playground.backends.sqlite import SqliteBackend
from playground.config import Limits, Settings
from playground.service import Playground
from playground.store import Store

COUNT_TO = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c LIMIT {n}) SELECT x FROM c"
RUNAWAY = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c"


def app_from_env(data_dir: Path, **env: str) -> Flask:
    """The app as a server worker builds it: settings from PLAYGROUND_* variables only."""
    return create_app(Settings.from_env({"PLAYGROUND_DATA_DIR": str(data_dir), **env}))


class Visitor:
    """One visitor through the JSON API (their own cookie, so their own sandbox)."""

    def __init__(self, client: FlaskClient) -> None:
        self.client = client
        self.csrf = client.get("/api/session").json["csrf_token"]

    def post(self, path: str, body: Any) -> TestResponse:
        return self.client.post(path, json=body, headers={"X-CSRFToken": self.csrf})

    def run(self, sql: str, params: Any = None) -> TestResponse:
        return self.post("/api/run", {"sql": sql} | ({} if params is None else {"params": params}))

    def error(self, response: TestResponse, status: int) -> str:
        assert response.status_code == status, (response.status_code, response.get_data(as_text=True))
        return str(response.json["error"]["message"])

    def ok(self, response: TestResponse) -> dict[str, Any]:
        assert response.status_code == 200, response.get_data(as_text=True)
        return dict(response.json)

    def commit(self, sql: str) -> None:
        preview = self.ok(self.run(sql))
        assert preview["status"] == "preview"
        assert self.ok(self.post("/api/commit", {"token": preview["token"]}))["status"] == "committed"

    def count(self) -> int:
        return int(self.ok(self.run("SELECT count(*) FROM some_table"))["statements"][0]["rows"][0][0])


def service(app: Flask) -> Playground:
    return app.extensions["playground"]  # type: ignore[no-any-return]


def test_data_dir_holds_the_sandboxes_the_bookkeeping_and_the_key(tmp_path: Path) -> None:
    data = tmp_path / "elsewhere"
    app = app_from_env(data)
    visitor = Visitor(app.test_client())
    assert visitor.count() == 6
    assert {p.name for p in data.iterdir()} >= {"playground.db", "secret_key", "sandboxes"}
    assert len(list(data.glob("sample-*.sqlite3"))) == 1  # named by the sample's hash (built once)
    assert len(list((data / "sandboxes" / "sqlite").glob("*.sqlite3"))) == 1


def test_secret_key_signs_the_session_so_servers_sharing_it_know_the_visitor(tmp_path: Path) -> None:
    key = secrets.token_hex(16)
    visitor = Visitor(app_from_env(tmp_path, PLAYGROUND_SECRET_KEY=key).test_client())
    visitor.commit("DELETE FROM some_table")
    assert not (tmp_path / "secret_key").exists()  # a configured key is used, none generated

    # Another server with the same key: the same visitor, so the same sandbox.
    assert carried_over(visitor, app_from_env(tmp_path, PLAYGROUND_SECRET_KEY=key)).count() == 0
    # A server with another key does not trust the cookie: a new visitor, with the sample.
    assert carried_over(visitor, app_from_env(tmp_path, PLAYGROUND_SECRET_KEY=secrets.token_hex(16))).count() == 6


def carried_over(visitor: Visitor, app: Flask) -> Visitor:
    """The visitor's browser, sending its session cookie to another server."""
    cookie = visitor.client.get_cookie("session")
    assert cookie is not None
    client = app.test_client()
    client.set_cookie(cookie.key, cookie.value)
    return Visitor(client)


def visitor_id(visitor: Visitor) -> str:
    with visitor.client.session_transaction() as session:
        return str(session["visitor"])


def test_max_rows_cuts_each_result(tmp_path: Path) -> None:
    visitor = Visitor(app_from_env(tmp_path, PLAYGROUND_MAX_ROWS="3").test_client())
    (statement,) = visitor.ok(visitor.run(COUNT_TO.format(n=10)))["statements"]
    assert statement["rows"] == [[1], [2], [3]] and statement["truncated"] is True
    (statement,) = visitor.ok(visitor.run(COUNT_TO.format(n=3)))["statements"]
    assert statement["rows"] == [[1], [2], [3]] and statement["truncated"] is False


def test_time_limit_ms_stops_a_statement_and_says_so(tmp_path: Path) -> None:
    visitor = Visitor(app_from_env(tmp_path, PLAYGROUND_TIME_LIMIT_MS="700").test_client())
    assert "stopped at the time limit (700 ms)" in visitor.error(visitor.run(RUNAWAY), 422)


def test_the_limits_are_one_object_that_the_service_and_every_backend_read(tmp_path: Path) -> None:
    app = app_from_env(tmp_path / "app", PLAYGROUND_TIME_LIMIT_MS="4321")
    assert {name: b.limits for name, b in service(app).backends.items()} == {"sqlite": service(app).settings.limits}
    assert service(app).settings.limits.time_limit_ms == 4321

    # A service cannot be built over a backend that enforces other limits, nor be given others later.
    settings = Settings(data_dir=tmp_path, limits=Limits(time_limit_ms=5000))
    store = Store(f"sqlite:///{tmp_path / 'playground.db'}")
    try:
        with pytest.raises(ValueError, match="the sqlite backend enforces other limits"):
            Playground(settings, store, {"sqlite": SqliteBackend(tmp_path, Limits(time_limit_ms=1000))}, "sqlite")
        one = Playground(settings, store, {"sqlite": SqliteBackend(tmp_path, settings.limits)}, "sqlite")
        with pytest.raises(AttributeError):
            one.settings = replace(settings, limits=Limits(time_limit_ms=1000))  # type: ignore[misc]
        with pytest.raises(ValueError, match="other settings than its playground's"):
            create_app(replace(settings, limits=Limits(max_sql_bytes=10)), playground=one)
    finally:
        store.close()


def test_max_sql_bytes_bounds_the_sql(tmp_path: Path) -> None:
    visitor = Visitor(app_from_env(tmp_path, PLAYGROUND_MAX_SQL_BYTES="200").test_client())
    fits = "SELECT 1 -- " + "x" * (200 - len("SELECT 1 -- "))
    assert len(fits.encode()) == 200
    visitor.ok(visitor.run(fits))
    assert "the limit is 200 bytes" in visitor.error(visitor.run(fits + "x"), 413)


def test_max_grid_rows_bounds_the_parameter_rows(tmp_path: Path) -> None:
    visitor = Visitor(app_from_env(tmp_path, PLAYGROUND_MAX_GRID_ROWS="3").test_client())
    insert = "INSERT INTO some_table (x, y) VALUES (:x, 0)"
    assert visitor.ok(visitor.run(insert, [{"x": i} for i in range(3)]))["rowcount"] == 3
    assert "At most 3 parameter rows" in visitor.error(visitor.run(insert, [{"x": i} for i in range(4)]), 400)


def test_max_value_bytes_bounds_each_value(tmp_path: Path) -> None:
    visitor = Visitor(app_from_env(tmp_path, PLAYGROUND_MAX_VALUE_BYTES="16").test_client())
    assert visitor.ok(visitor.run("SELECT :v AS v", {"v": "x" * 16}))["statements"][0]["rows"] == [["x" * 16]]
    assert "longer than 16 bytes" in visitor.error(visitor.run("SELECT :v AS v", {"v": "x" * 17}), 400)


def test_max_result_bytes_cuts_a_result_of_big_values(tmp_path: Path) -> None:
    visitor = Visitor(app_from_env(tmp_path, PLAYGROUND_MAX_RESULT_BYTES="5000").test_client())
    sql = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c LIMIT 20) SELECT x, zeroblob(1000) FROM c"
    (statement,) = visitor.ok(visitor.run(sql))["statements"]
    assert statement["truncated"] is True
    assert 5 <= len(statement["rows"]) <= 6  # about 5,000 bytes of values, far below the 1,000-row cap


def test_sqlite_max_pages_caps_the_sandbox_file(tmp_path: Path) -> None:
    visitor = Visitor(app_from_env(tmp_path, PLAYGROUND_SQLITE_MAX_PAGES="40").test_client())
    visitor.commit("CREATE TABLE small (b); INSERT INTO small VALUES (zeroblob(10000))")
    message = visitor.error(visitor.run("CREATE TABLE big (b); INSERT INTO big VALUES (zeroblob(400000))"), 413)
    assert "reached its size limit" in message
    assert visitor.count() == 6


def test_max_sandboxes_turns_new_visitors_away_with_a_503(tmp_path: Path) -> None:
    app = app_from_env(tmp_path, PLAYGROUND_MAX_SANDBOXES="2")
    first, second, third = (Visitor(app.test_client()) for _ in range(3))
    assert first.count() == 6 and second.count() == 6
    assert "as many sandboxes as it is configured for" in third.error(third.run("SELECT 1"), 503)
    assert first.count() == 6


def test_sandbox_ttl_decides_what_is_idle_and_how_long_the_session_lasts(tmp_path: Path) -> None:
    app = app_from_env(tmp_path, PLAYGROUND_SANDBOX_TTL="600")
    idle, recent = Visitor(app.test_client()), Visitor(app.test_client())
    assert idle.count() == 6 and recent.count() == 6
    store = service(app).store
    age_sandbox(store, visitor_id(idle), "sqlite", 700)  # idle past 600 s (not past the default day)
    age_sandbox(store, visitor_id(recent), "sqlite", 500)
    assert service(app).sweep_idle_sandboxes(force=True) == [(visitor_id(idle), "sqlite")]
    assert registered(store, "sqlite") == {visitor_id(recent)}

    # The session cookie lives as long as a sandbox may idle.
    cookie = app.test_client().get("/").headers["Set-Cookie"]  # the first page makes the visitor
    expires = parsedate_to_datetime(cookie.split("Expires=")[1].split(";")[0])
    assert 540 <= (expires - datetime.now(UTC)).total_seconds() <= 600


# -- PostgreSQL: the admin URL, the prefix, the size cap --------------------------------------------


@pytest.fixture
def admin_database_url(postgres_url: str) -> Iterator[str]:
    """A database of the test's own on the test server, as an operator's admin database: its bookkeeping is its own."""
    name = f"t{secrets.token_hex(4)}_settings"
    server = make_url(postgres_url)
    admin = psycopg2.connect(server.set(drivername="postgresql").render_as_string(hide_password=False))
    admin.autocommit = True
    try:
        with admin.cursor() as cur:
            cur.execute(f'CREATE DATABASE "{name}"')
        yield server.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


def test_database_url_prefix_and_postgres_max_bytes(tmp_path: Path, admin_database_url: str) -> None:
    prefix = f"ts{secrets.token_hex(3)}"
    app = app_from_env(
        tmp_path,
        PLAYGROUND_DATABASE_URL=admin_database_url,
        PLAYGROUND_POSTGRES_PREFIX=prefix,
        PLAYGROUND_POSTGRES_MAX_BYTES="12000000",
    )
    backend = service(app).backend("postgresql")
    try:
        visitor = Visitor(app.test_client())
        body = visitor.ok(visitor.run("SELECT current_database() AS db, pg_database_size(current_database()) AS size"))
        assert body["engine"] == "postgresql"  # the default engine once PostgreSQL is configured
        database, size = body["statements"][0]["rows"][0]
        assert database.startswith(f"{prefix}_sb_")
        assert size < 12_000_000
        # A commit that would take the sandbox past the cap is refused; a small one is not.
        visitor.commit("INSERT INTO some_table VALUES (100, 100)")
        big = visitor.ok(visitor.run("INSERT INTO some_table SELECT g, g FROM generate_series(1, 200000) g"))
        message = visitor.error(visitor.post("/api/commit", {"token": big["token"]}), 413)
        assert "over its limit of 12 MB" in message
        assert visitor.count() == 7
    finally:
        backend.drop_everything()  # type: ignore[attr-defined]
        service(app).close()


# -- the server's own settings --------------------------------------------------------------------


def test_workers_host_and_port_come_from_the_environment(tmp_path: Path) -> None:
    env = {"PLAYGROUND_WORKERS": "3", "PLAYGROUND_HOST": "127.0.0.1", "PLAYGROUND_PORT": "0"}
    with live_server(tmp_path, workers=None, env=env) as server:
        assert server.url.startswith("http://127.0.0.1:")
        assert len(server.wait_for_workers(3)) == 3
        # Port 0 took a free port, and the server's own startup line says which.
        assert f"SQL Playground on {server.url}/ (data in " in server.log()
        assert HttpClient(server.url).start().rows("SELECT 1") == [[1]]
