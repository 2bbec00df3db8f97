"""The limits that hold for a whole run, sent from outside: a real server (gunicorn, two workers) on both engines.

Issue 7's denial-of-service items: one SQLite C call outliving the time limit, TEMP tables past the
size cap, quadratic script reading, a run's total time and statement count, and one visitor
starving the others. Each test sends the reviewer's input over HTTP and asserts what a visitor
sees, and that nothing changed.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import Any

import pytest
from server_support import HttpClient, LiveServer, live_server

from playground.backends.postgresql import PostgresBackend
from playground.config import Limits

TIME_LIMIT_MS = 2000
ENGINES = ["sqlite", "postgresql"]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, postgres_url: str) -> Iterator[LiveServer]:
    """One server with both engines (PostgreSQL the default), under small limits."""
    prefix = f"lim{secrets.token_hex(3)}"
    env = {
        "PLAYGROUND_DATABASE_URL": postgres_url,
        "PLAYGROUND_POSTGRES_PREFIX": prefix,
        "PLAYGROUND_POSTGRES_SPARE_SANDBOXES": "0",
        "PLAYGROUND_TIME_LIMIT_MS": str(TIME_LIMIT_MS),
    }
    try:
        with live_server(tmp_path_factory.mktemp("limits"), workers=2, env=env) as running:
            yield running
    finally:
        backend = PostgresBackend(postgres_url, Limits(), sandbox_prefix=prefix)
        backend.drop_everything()
        backend.close()


def run(client: HttpClient, engine: str, sql: str, params: Any = None) -> Any:
    body: dict[str, Any] = {"sql": sql, "engine": engine}
    if params is not None:
        body["params"] = params
    return client.post_json("/api/run", body)


def error_of(reply: Any) -> str:
    assert reply.json["status"] == "error", reply.text
    return str(reply.json["error"]["message"])


def some_table(client: HttpClient, engine: str) -> list[list[Any]]:
    reply = run(client, engine, "SELECT x, y FROM some_table ORDER BY x")
    assert reply.status == 200, reply.text
    return reply.json["statements"][-1]["rows"]  # type: ignore[no-any-return]


# -- 1. one SQLite C call outliving the time limit ------------------------------------------


def test_a_printf_as_long_as_the_value_limit_allows_is_refused_at_once_and_changes_nothing(
    server: LiveServer,
) -> None:
    client = HttpClient(server.url).start()
    before = some_table(client, "sqlite")
    reply = run(client, "sqlite", "DELETE FROM some_table; SELECT length(printf('%.*c', 2147483647, 'x'))")
    assert reply.status == 413
    message = error_of(reply)
    assert message.startswith("Statement 2 (SELECT) failed: a value grew past 1,000,000 bytes")
    assert reply.json["error"]["statement"] == 2
    assert some_table(client, "sqlite") == before
    # Within the limit, printf is SQLite's own, to the byte.
    reply = run(
        client, "sqlite", "SELECT printf('%5.2f|%-3d|%.3c|%q', 1.5, 7, 'y', 'it''s'), length(printf('%.*c', 1000, 'x'))"
    )
    assert reply.json["statements"][0]["rows"] == [[" 1.50|7  |yyy|it''s", 1000]]
