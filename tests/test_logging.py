"""The server's log: JSON lines, one per request and one per run, with the sandbox id, the outcome and the
duration, and never a parameter value, the SQL text or a password; the level is a setting."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from server_support import HttpClient, LiveServer, live_server
from sqlalchemy.exc import StatementError

from playground.logs import JsonLines

SECRET_VALUE = "param-value-never-logged-5521"
SQL_LITERAL = "sql-literal-never-logged-0815"
INSERT = 'INSERT INTO "Users" ("Name", "Age") VALUES (:Name, :Age)'


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with live_server(tmp_path_factory.mktemp("logging"), workers=1) as running:
        yield running


def entries(server: LiveServer) -> list[dict[str, Any]]:
    """Every line of the server's output, each of which must be one JSON object."""
    lines = server.log().splitlines()
    assert lines
    return [json.loads(line) for line in lines]


def visitor_of(client: HttpClient, server: LiveServer) -> str:
    """The sandbox id inside the client's signed session cookie, read with the server's own key."""
    app = Flask("reader")
    app.secret_key = (server.data_dir / "secret_key").read_text().strip()
    serializer = app.session_interface.get_signing_serializer(app)  # type: ignore[attr-defined]
    cookie = next(c.value for c in client.cookies if c.name == "session")
    return str(serializer.loads(cookie)["visitor"])


def test_every_line_is_json_and_a_run_logs_its_request_and_its_outcome(server: LiveServer) -> None:
    client = HttpClient(server.url).start()
    run = client.post_json("/api/run", {"sql": f"SELECT '{SQL_LITERAL}' AS s, :v AS v", "params": {"v": SECRET_VALUE}})
    assert run.status == 200, run.text
    preview = client.post_json("/api/run", {"sql": INSERT, "params": {"Name": SECRET_VALUE, "Age": 3}})
    commit = client.post_json("/api/commit", {"token": preview.json["token"]})
    assert commit.json["status"] == "committed"
    refused = client.post_json("/api/run", {"sql": "SELECT :a", "params": {"a": SECRET_VALUE, "b": 1}})
    assert refused.status == 400
    sandbox = visitor_of(client, server)

    logged = entries(server)

    requests = [e for e in logged if e["logger"] == "playground.requests" and e["sandbox"] == sandbox]
    assert [(e["method"], e["path"], e["status"]) for e in requests] == [
        ("POST", "/api/run", 200),
        ("POST", "/api/run", 200),
        ("POST", "/api/commit", 200),
        ("POST", "/api/run", 400),
    ]
    assert all(isinstance(e["duration_ms"], float) and e["duration_ms"] >= 0 for e in requests)
    runs = [e for e in logged if e["logger"] == "playground.runs" and e["sandbox"] == sandbox]
    assert [(e["message"], e["engine"], e["outcome"], e["rowcount"]) for e in runs] == [
        ("run", "sqlite", "ok", 1),
        ("run", "sqlite", "preview", 1),
        ("commit", "sqlite", "committed", 1),
        ("run", "sqlite", "error", None),
    ]
    assert runs[-1]["error"] == "GridError"
    assert all(isinstance(e["duration_ms"], float) for e in runs)
    text = server.log()
    assert SECRET_VALUE not in text
    assert SQL_LITERAL not in text
    assert "Users" not in text


def test_the_editor_query_string_is_not_logged(server: LiveServer) -> None:
    client = HttpClient(server.url)
    reply = client.request("GET", f"/?sql=SELECT+:v&p.v={SECRET_VALUE}")
    assert reply.status == 200
    assert SECRET_VALUE in reply.text  # the page shows it back to its visitor...
    assert SECRET_VALUE not in server.log()  # ...and the log keeps only the path
    assert any(e.get("path") == "/" and e.get("method") == "GET" for e in entries(server))


def test_the_health_check_answers_for_this_server(server: LiveServer) -> None:
    port = server.url.rsplit(":", 1)[1]
    done = subprocess.run(
        [sys.executable, "-m", "playground.cli", "health"],
        env={"PLAYGROUND_PORT": port, "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"status": "ok", "checks": {"bookkeeping": "ok", "sqlite": "ok"}}


def test_the_log_says_whether_the_secret_key_was_generated_or_kept(tmp_path: Path) -> None:
    with live_server(tmp_path, workers=1) as first:
        said = [e["message"] for e in entries(first) if e["logger"] == "playground.server"]
        key = (first.data_dir / "secret_key").read_text()
    assert any("generated a secret key into the data folder" in m for m in said), said
    (tmp_path / "server.log").unlink()

    with live_server(tmp_path, workers=1) as second:
        said = [e["message"] for e in entries(second) if e["logger"] == "playground.server"]
    assert any("using the secret key kept in the data folder" in m for m in said), said
    assert (tmp_path / "data" / "secret_key").read_text() == key
    assert key not in (tmp_path / "server.log").read_text()


def test_the_log_level_is_a_setting(tmp_path: Path) -> None:
    with live_server(tmp_path, workers=1, env={"PLAYGROUND_LOG_LEVEL": "warning"}) as quiet:
        client = HttpClient(quiet.url).start()
        assert client.rows("SELECT 1") == [[1]]
        levels = {e["level"] for e in entries(quiet)}
        loggers = {e["logger"] for e in entries(quiet)}
    assert levels == {"warning"}  # the generated key is a warning; requests and runs are info
    assert "playground.requests" not in loggers


def test_a_database_error_in_the_log_shows_no_parameter_value() -> None:
    """An unexpected database error becomes a 500 whose traceback is logged: without the student's values."""
    try:
        try:
            raise ValueError("the driver failed")
        except ValueError as cause:
            raise StatementError("boom", "SELECT :v", {"v": SECRET_VALUE}, cause) from cause
    except StatementError:
        record = logging.LogRecord(
            "playground", logging.ERROR, __file__, 1, "Exception on /api/run", (), sys.exc_info()
        )
    line = json.loads(JsonLines().format(record))
    assert "SELECT :v" in line["exception"] and "parameters hidden" in line["exception"]
    assert SECRET_VALUE not in json.dumps(line)
