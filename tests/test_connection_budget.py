"""PostgreSQL connections budgeted as a whole, and a clear 503 when the database refuses one (issue 13, part 2)."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from pg_support import AdminDeployment, admin_deployment, execute, superuser_url

from playground import create_app
from playground.config import ConfigError, Settings
from playground.connections import ConnectionBudget, ServerSlots, workers_that_fit

INSERT = 'INSERT INTO "Users" ("Name", "Age") VALUES (:Name, :Age)'
DEFAULT_SERVER = ServerSlots(max_connections=100, reserved=3, role_limit=-1, database_limit=-1)


def test_the_budget_counts_every_connection_of_every_worker() -> None:
    budget = ConnectionBudget(workers=5, threads=4)
    # Per worker: a sandbox connection per thread, the bookkeeping pool, the admin pool, its hand-over
    # and the spare sandboxes' maker.
    assert budget.per_worker == 4 + 2 + 5
    assert budget.total == 5 * 11 + 3
    budget.check(DEFAULT_SERVER)


def test_a_budget_past_max_connections_is_refused_in_one_line() -> None:
    """The issue's server: 17 workers (8 cores) x 4 threads against PostgreSQL's default max_connections."""
    with pytest.raises(ConfigError) as refused:
        ConnectionBudget(workers=17, threads=4).check(DEFAULT_SERVER)
    message = str(refused.value)
    assert "\n" not in message
    assert "17 workers x (4 threads + 2 bookkeeping + 5 admin) + 3 = 190" in message
    assert "allows 97 (max_connections 100 - 3 reserved)" in message


def test_the_admin_role_and_database_limits_count_too() -> None:
    with pytest.raises(ConfigError, match="admin role may hold 10 connections"):
        ConnectionBudget(workers=3, threads=4).check(ServerSlots(100, 3, role_limit=10, database_limit=-1))
    with pytest.raises(ConfigError, match="admin database takes 5 connections"):
        ConnectionBudget(workers=3, threads=4).check(ServerSlots(100, 3, role_limit=-1, database_limit=5))


def test_workers_not_asked_for_are_as_many_as_fit() -> None:
    assert workers_that_fit(17, 4, DEFAULT_SERVER) == 8  # 8 x 11 + 3 = 91 <= 97 < 9 x 11 + 3
    assert workers_that_fit(5, 4, DEFAULT_SERVER) == 5
    assert workers_that_fit(5, 4, ServerSlots(10, 3, -1, -1)) == 0


@pytest.fixture(scope="module")
def deployment() -> Iterator[AdminDeployment]:
    with admin_deployment(superuser_url(), f"t{secrets.token_hex(3)}") as made:
        yield made


def serve(tmp_path: Path, deployment: AdminDeployment, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PLAYGROUND_")}
    env |= {
        "PLAYGROUND_DATA_DIR": str(tmp_path / "data"),
        "PLAYGROUND_DATABASE_URL": deployment.url,
        "PLAYGROUND_POSTGRES_PREFIX": deployment.prefix,
        "PLAYGROUND_SECRET_KEY": "a-test-secret-key-of-32-characters",
    }
    return subprocess.run(
        [sys.executable, "-m", "playground.cli", "serve", "--port", "1", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.postgresql
def test_serve_refuses_workers_the_server_cannot_hold(tmp_path: Path, deployment: AdminDeployment) -> None:
    done = serve(tmp_path, deployment, "--workers", "300", "--threads", "4")
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("playground: the PostgreSQL connection budget does not fit: 300 workers x")
    assert "max_connections" in lines[0] and "Traceback" not in done.stderr


@pytest.fixture
def client(tmp_path: Path, deployment: AdminDeployment) -> Iterator[FlaskClient]:
    settings = Settings(
        data_dir=tmp_path / "data",
        secret_key="a-test-secret-key-of-32-characters",
        database_url=deployment.url,
        postgres_prefix=deployment.prefix,
    )
    app = create_app(settings)
    with app.test_client() as client:
        page = client.get("/api/session")
        client.environ_base["HTTP_X_CSRFTOKEN"] = page.get_json()["csrf_token"]
        yield client
    app.extensions["playground"].close()


def refuse_connections(database: str, refused: bool) -> None:
    """As the superuser: PostgreSQL refuses every new connection to that database ("too many connections").

    And ends the ones open now: the app keeps connections between runs (backends/pg_pool.py), which
    would otherwise serve the next run without asking for a new one.
    """
    execute(superuser_url(), f'ALTER DATABASE "{database}" CONNECTION LIMIT {0 if refused else -1}')
    if refused:
        execute(
            superuser_url(),
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
            (database,),
        )
        # pg_terminate_backend only signals: until a backend has gone, its kept connection may still
        # look alive to the app, and the next run would meet "terminating connection" (the server
        # away) instead of the refusal this test is about. Wait until none is left.
        deadline = time.monotonic() + 60
        while execute(
            superuser_url(),
            "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
            (database,),
        ) != [(0,)]:
            assert time.monotonic() < deadline, f"backends of {database} still there after 60 s"
            time.sleep(0.05)


def names(client: FlaskClient) -> list[str]:
    reply = client.post("/api/run", json={"sql": 'SELECT "Name" FROM "Users" ORDER BY "Id"'})
    assert reply.status_code == 200, reply.get_json()
    return [row[0] for row in reply.get_json()["statements"][0]["rows"]]


@pytest.mark.postgresql
def test_a_refused_connection_is_a_503_that_says_try_again_and_the_commit_settles_after(
    client: FlaskClient, deployment: AdminDeployment
) -> None:
    assert names(client) == ["Петр", "Василий"]
    token = client.post("/api/run", json={"sql": INSERT, "params": {"Name": "Ждан", "Age": 5}}).get_json()["token"]
    playground = client.application.extensions["playground"]
    sandbox = playground.backends["postgresql"].sandbox_name(_visitor(client))
    refuse_connections(sandbox, True)
    try:
        run = client.post("/api/run", json={"sql": "SELECT 1"})
        commit = client.post("/api/commit", json={"token": token})
        page = client.post("/run", data={"sql": "SELECT 1", "rows": "1", "action": "run"}, follow_redirects=True)
    finally:
        refuse_connections(sandbox, False)
    for reply in (run, commit):
        assert reply.status_code == 503, reply.get_data(as_text=True)
        assert reply.headers["Retry-After"]
        assert (
            "busy" in reply.get_json()["error"]["message"]
            and "try again" in reply.get_json()["error"]["message"].lower()
        )
    assert page.status_code == 503 and "busy" in page.get_data(as_text=True)
    # The commit's outcome is not left unknown: the next press applies it, once.
    again = client.post("/api/commit", json={"token": token})
    assert again.status_code == 200, again.get_json()
    assert names(client) == ["Петр", "Василий", "Ждан"]
    assert client.post("/api/commit", json={"token": token}).status_code == 410


@pytest.mark.postgresql
def test_a_bookkeeping_database_that_refuses_connections_is_a_503(
    client: FlaskClient, deployment: AdminDeployment
) -> None:
    token = client.post("/api/run", json={"sql": INSERT, "params": {"Name": "Злата", "Age": 6}}).get_json()["token"]
    playground = client.application.extensions["playground"]
    playground.store.engine.dispose()  # its pooled connections go; new ones are refused
    refuse_connections(deployment.database, True)
    try:
        commit = client.post("/api/commit", json={"token": token})
    finally:
        refuse_connections(deployment.database, False)
    assert commit.status_code == 503, commit.get_json()
    assert "nothing was changed" in commit.get_json()["error"]["message"]
    assert client.post("/api/commit", json={"token": token}).status_code == 200
    assert names(client).count("Злата") == 1


def _visitor(client: FlaskClient) -> str:
    with client.session_transaction() as session:
        return str(session["visitor"])
