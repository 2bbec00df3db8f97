"""Stopping a real server (gunicorn, SIGTERM) while a commit is running: the commit finishes and is answered;
a worker killed in the middle of one leaves nothing behind. Nothing is ever half-committed.

PostgreSQL makes the moment deterministic: the test holds a lock on a table the commit's second
statement writes, so the commit waits, its first statement already done, for as long as the test
wants. (The statement time limit is set far above the test's own timeouts.)
"""

from __future__ import annotations

import os
import secrets
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg2
import pytest
from pg_support import own_bookkeeping
from server_support import HttpClient, LiveServer, Reply, live_server
from sqlalchemy.engine import make_url

pytestmark = pytest.mark.postgresql

# Two statements: the first is done before the second waits for the test's lock.
SCRIPT = 'INSERT INTO some_table (x, y) VALUES (100, 200); UPDATE "Users" SET "Age" = "Age" + 1'
WAIT = 30.0


@pytest.fixture
def setup(tmp_path: Path, postgres_url: str) -> Iterator[tuple[dict[str, str], str]]:
    prefix = f"sd{secrets.token_hex(3)}"
    with own_bookkeeping(postgres_url, prefix) as admin_url:
        env = {
            "PLAYGROUND_SECRET_KEY": secrets.token_hex(16),
            "PLAYGROUND_DATABASE_URL": admin_url,
            "PLAYGROUND_POSTGRES_PREFIX": prefix,
            "PLAYGROUND_TIME_LIMIT_MS": "600000",
            # The visitor's sandbox is the prefix's only database (no spares made ahead of time).
            "PLAYGROUND_POSTGRES_SPARE_SANDBOXES": "0",
        }
        yield env, prefix


def until(condition: Callable[[], Any], what: str) -> Any:
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        if value := condition():
            return value
        time.sleep(0.05)
    raise AssertionError(f"waited {WAIT:.0f} s for {what}")


def sandbox_database(postgres_url: str, prefix: str) -> str:
    with psycopg2.connect(postgres_url) as conn, conn.cursor() as cur:
        cur.execute("SELECT datname FROM pg_database WHERE datname LIKE %s", (f"{prefix}\\_sb\\_%",))
        (name,) = cur.fetchone()
    conn.close()
    return str(name)


def query(postgres_url: str, database: str, sql: str) -> list[tuple[Any, ...]]:
    conn = psycopg2.connect(make_url(postgres_url).set(database=database).render_as_string(False))
    try:
        with conn.cursor() as cur:
            cur.execute(sql)
            return cur.fetchall()
    finally:
        conn.close()


@contextmanager
def commit_waiting_on_a_lock(
    server: LiveServer, client: HttpClient, postgres_url: str, prefix: str
) -> Iterator[tuple[Callable[[], None], list[Reply | BaseException], threading.Thread]]:
    """A commit of SCRIPT in flight, its INSERT done and its UPDATE waiting; yields the lock's release."""
    preview = client.post_json("/api/run", {"sql": SCRIPT})
    assert preview.json["status"] == "preview", preview.text
    database = sandbox_database(postgres_url, prefix)
    holder = psycopg2.connect(make_url(postgres_url).set(database=database).render_as_string(False))
    with holder.cursor() as cur:
        cur.execute('LOCK TABLE "Users" IN ACCESS EXCLUSIVE MODE')
    answers: list[Reply | BaseException] = []

    def commit() -> None:
        try:
            answers.append(client.post_json("/api/commit", {"token": preview.json["token"]}))
        except BaseException as e:  # noqa: BLE001 - a dropped connection is an answer too
            answers.append(e)

    thread = threading.Thread(target=commit)
    thread.start()
    until(
        lambda: query(
            postgres_url,
            database,
            f"SELECT count(*) FROM pg_stat_activity WHERE datname = '{database}' AND wait_event_type = 'Lock'",
        )[0][0],
        "the commit to wait for the lock",
    )
    try:
        yield holder.rollback, answers, thread
    finally:
        holder.rollback()
        holder.close()
        thread.join(timeout=WAIT)


def worker_is_stopping(server: LiveServer) -> bool:
    """The worker has had its SIGTERM: it accepts nothing new and is finishing what is in flight."""
    return "stopping: the requests in flight finish first" in server.log()


def test_a_commit_in_flight_finishes_when_the_server_is_stopped(
    tmp_path: Path, setup: tuple[dict[str, str], str], postgres_url: str
) -> None:
    env, prefix = setup
    with live_server(tmp_path, workers=1, env=env) as server:
        client = HttpClient(server.url).start()
        with commit_waiting_on_a_lock(server, client, postgres_url, prefix) as (release, answers, thread):
            server.process.send_signal(signal.SIGTERM)
            until(lambda: worker_is_stopping(server), "the worker to receive its SIGTERM")
            assert answers == [] and server.process.poll() is None  # the commit is still in flight
            release()
            thread.join(timeout=WAIT)
        (answer,) = answers
        assert isinstance(answer, Reply), answer
        assert answer.status == 200 and answer.json["status"] == "committed", answer.text
        assert server.process.wait(timeout=WAIT) == 0
        log = server.log()
    assert "Handling signal: term" in log

    with live_server(tmp_path, workers=1, env=env) as again:
        same = client.twin(again.url)
        assert same.rows("SELECT count(*) FROM some_table WHERE x = 100 AND y = 200") == [[1]]
        assert same.rows('SELECT "Age" FROM "Users" ORDER BY "Id"') == [[21], [27]]


def test_a_worker_killed_in_the_middle_of_a_commit_leaves_nothing_committed(
    tmp_path: Path, setup: tuple[dict[str, str], str], postgres_url: str
) -> None:
    env, prefix = setup
    with live_server(tmp_path, workers=1, env=env) as server:
        client = HttpClient(server.url).start()
        database = ""
        with commit_waiting_on_a_lock(server, client, postgres_url, prefix) as (release, answers, thread):
            database = sandbox_database(postgres_url, prefix)
            (worker,) = server.workers()
            # What the master does to a worker that outlives the shutdown grace, or the kernel to one out of memory.
            os.kill(worker, signal.SIGKILL)
            thread.join(timeout=WAIT)
            release()
        (answer,) = answers
        assert isinstance(answer, BaseException) or answer.status >= 500, answer

        # The dead worker's transaction ends without COMMIT once its backend notices; then nothing of it is left.
        until(
            lambda: (
                not query(
                    postgres_url,
                    database,
                    f"SELECT 1 FROM pg_stat_activity WHERE datname = '{database}' AND pid <> pg_backend_pid()",
                )
            ),
            "the killed worker's database session to end",
        )
        assert query(postgres_url, database, "SELECT count(*) FROM some_table WHERE x = 100") == [(0,)]
        assert query(postgres_url, database, 'SELECT "Age" FROM "Users" ORDER BY "Id"') == [(20,), (26,)]

        # The server goes on: the same script previews and commits on a new worker, once.
        server.wait_for_workers(1, other_than={worker})
        token = client.post_json("/api/run", {"sql": SCRIPT}).json["token"]
        assert client.post_json("/api/commit", {"token": token}).json["status"] == "committed"
        assert client.rows("SELECT count(*) FROM some_table WHERE x = 100") == [[1]]
