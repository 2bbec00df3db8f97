"""The container stage's checks through the HTTP API of a running image (called by .ci/container-test).

    container_smoke.py first URL STATE   a query, a preview and its commit; the visitor is saved to STATE
    container_smoke.py again URL STATE   the same visitor (cookie) on a new container: the commit is still there
    container_smoke.py postgres URL      the PostgreSQL engine: a query, a preview and its commit
    container_smoke.py log FILE          every line of the container's log is JSON and holds no parameter value
    container_smoke.py admin-role STATE  makes the compose init script's admin role on this machine's PostgreSQL
                                         (PLAYGROUND_TEST_POSTGRES_URL) under names of its own; prints its URL
    container_smoke.py drop-admin-role STATE   drops the sandboxes of PLAYGROUND_POSTGRES_PREFIX, the role, its databases

It reuses the tests' HTTP client (tests/server_support.py): one visitor, its cookie jar and CSRF token.
"""

from __future__ import annotations

import json
import os
import pickle
import sys
from dataclasses import asdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from server_support import HttpClient  # noqa: E402

SUPERUSER_URL = os.environ.get("PLAYGROUND_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
MARKER = "container-smoke-value-3141"
INSERT = 'INSERT INTO "Users" ("Name", "Age") VALUES (:Name, :Age)'
NAMES = 'SELECT "Name" FROM "Users" ORDER BY "Id"'


def check(condition: bool, what: str) -> None:
    if not condition:
        raise SystemExit(f"container smoke: FAILED: {what}")
    print(f"container smoke: ok: {what}")


def query_preview_commit(client: HttpClient, engine: str) -> str:
    """The tutorial's query, then an INSERT previewed (nothing written) and committed (written once)."""
    reply = client.post_json(
        "/api/run", {"sql": "SELECT x, y FROM some_table WHERE y > :y ORDER BY x", "params": {"y": 6}}
    )
    check(reply.status == 200 and reply.json["engine"] == engine, f"a query runs on {engine}")
    check(reply.json["statements"][0]["rows"] == [[6, 8], [9, 10], [11, 12], [13, 14]], "the query's rows")
    preview = client.post_json("/api/run", {"sql": INSERT, "params": {"Name": MARKER, "Age": 7}})
    check(preview.status == 200 and preview.json["status"] == "preview", "an INSERT is a preview with a token")
    check([r[0] for r in client.rows(NAMES)] == ["Петр", "Василий"], "the preview wrote nothing")
    commit = client.post_json("/api/commit", {"token": preview.json["token"]})
    check(commit.status == 200 and commit.json["status"] == "committed", "the preview commits")
    check([r[0] for r in client.rows(NAMES)] == ["Петр", "Василий", MARKER], "the committed row is there, once")
    return str(preview.json["token"])


def main(command: str, *args: str) -> None:
    if command == "first":
        url, state = args
        client = HttpClient(url).start()
        token = query_preview_commit(client, "sqlite")
        Path(state).write_bytes(pickle.dumps({"cookies": list(client.cookies), "csrf": client.csrf, "token": token}))
    elif command == "again":
        url, state = args
        saved = pickle.loads(Path(state).read_bytes())
        client = HttpClient(url)
        for cookie in saved["cookies"]:
            client.cookies.set_cookie(cookie)
        client.csrf = saved["csrf"]
        check([r[0] for r in client.rows(NAMES)] == ["Петр", "Василий", MARKER], "the commit survived in the volume")
        replay = client.post_json("/api/commit", {"token": saved["token"]})
        check(replay.status == 410, "the spent token is still refused (the bookkeeping survived too)")
    elif command == "postgres":
        (url,) = args
        health = HttpClient(url).request("GET", "/healthz")
        check(health.status == 200 and health.json["checks"].get("postgresql") == "ok", "/healthz checks PostgreSQL")
        query_preview_commit(HttpClient(url).start(), "postgresql")
    elif command == "log":
        (path,) = args
        entries = [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]
        check(any(e.get("logger") == "playground.runs" for e in entries), "the log has run lines (JSON)")
        check(MARKER not in Path(path).read_text(), "no parameter value in the log")
    elif command == "admin-role":
        (state,) = args
        from admin_role_support import make_admin_role

        made = make_admin_role(SUPERUSER_URL)
        Path(state).write_text(json.dumps(asdict(made)))
        print(made.url)
    elif command == "drop-admin-role":
        (state,) = args
        from admin_role_support import AdminRole, drop_admin_role

        from playground.backends.postgresql import PostgresBackend
        from playground.config import Limits

        made = AdminRole(**json.loads(Path(state).read_text()))
        backend = PostgresBackend(SUPERUSER_URL, Limits(), sandbox_prefix=os.environ["PLAYGROUND_POSTGRES_PREFIX"])
        backend.drop_everything()  # the sandboxes of the container's prefix, before their owner goes
        backend.close()
        drop_admin_role(SUPERUSER_URL, made)
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main(*sys.argv[1:])
