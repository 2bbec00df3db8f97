"""Two app servers, one PostgreSQL: they share only the secret key and the admin URL, and behave as one.

Each server is a real `playground serve` (gunicorn) with a data folder of its own, so nothing a
visitor needs can come from a server's memory or disk: a preview made on one is committed on the
other, and a replayed commit is refused by both.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest
from pg_support import own_bookkeeping
from server_support import HttpClient, LiveServer, at_once, live_server

INSERT = 'INSERT INTO "Users" ("Name", "Age") VALUES (:Name, :Age)'


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory, postgres_url: str) -> Iterator[tuple[LiveServer, LiveServer]]:
    prefix = f"ms{secrets.token_hex(3)}"
    with own_bookkeeping(postgres_url, prefix) as admin_url:
        shared = {
            "PLAYGROUND_SECRET_KEY": secrets.token_hex(16),
            "PLAYGROUND_DATABASE_URL": admin_url,
            "PLAYGROUND_POSTGRES_PREFIX": prefix,
        }
        with (
            live_server(tmp_path_factory.mktemp("a"), workers=1, env=shared) as a,
            live_server(tmp_path_factory.mktemp("b"), workers=1, env=shared) as b,
        ):
            yield a, b


def visitor_on(server: LiveServer) -> HttpClient:
    return HttpClient(server.url).start()


def on(client: HttpClient, server: LiveServer) -> HttpClient:
    """The same visitor (cookie and CSRF token) talking to another server."""
    client.base_url = server.url
    return client


def names(client: HttpClient) -> list[str]:
    return [row[0] for row in client.rows('SELECT "Name" FROM "Users" ORDER BY "Id"')]


def test_runs_go_to_postgresql_by_default(servers: tuple[LiveServer, LiveServer]) -> None:
    a, _ = servers
    reply = visitor_on(a).post_json("/api/run", {"sql": "SELECT current_setting('server_version_num')::int > 0"})
    assert reply.status == 200, reply.text
    assert reply.json["engine"] == "postgresql"


def test_a_preview_on_one_server_commits_on_the_other_once(servers: tuple[LiveServer, LiveServer]) -> None:
    a, b = servers
    client = visitor_on(a)
    preview = client.post_json("/api/run", {"sql": INSERT, "params": {"Name": "Ольга", "Age": 33}})
    assert preview.status == 200 and preview.json["status"] == "preview", preview.text
    token = preview.json["token"]

    committed = on(client, b).post_json("/api/commit", {"token": token})
    assert committed.status == 200, committed.text
    assert committed.json["status"] == "committed"

    for server in (a, b):
        replay = on(client, server).post_json("/api/commit", {"token": token})
        assert replay.status == 410, replay.text
        assert "already committed" in replay.json["error"]["message"]
    assert names(on(client, a)) == ["Петр", "Василий", "Ольга"]
    assert names(on(client, b)) == ["Петр", "Василий", "Ольга"]


def test_simultaneous_commits_on_both_servers_apply_once(servers: tuple[LiveServer, LiveServer]) -> None:
    a, b = servers
    client = visitor_on(a)
    token = client.post_json("/api/run", {"sql": INSERT, "params": {"Name": "Ян", "Age": 40}}).json["token"]
    racers = [client.twin(server.url) for server in (a, b, a, b)]
    statuses = at_once(
        [lambda racer=racer: racer.post_json("/api/commit", {"token": token}).status for racer in racers]
    )
    assert sorted(statuses) == [200, 410, 410, 410]
    assert names(client).count("Ян") == 1


def test_a_page_preview_on_one_server_commits_on_the_other(servers: tuple[LiveServer, LiveServer]) -> None:
    from bs4 import BeautifulSoup

    a, b = servers
    client = visitor_on(a)
    fields = {"csrf_token": client.csrf, "sql": INSERT, "rows": "1", "action": "run", "engine": "postgresql"}
    fields |= {"col-0": "Name", "cell-0-0": "Анна", "col-1": "Age", "cell-0-1": "30"}
    page = BeautifulSoup(client.request("POST", "/run", form=fields).text, "html.parser")
    token = str(page.select_one('form[action="/commit"] input[name="token"]')["value"])  # type: ignore[index]

    committed = on(client, b).request("POST", "/commit", form={"csrf_token": client.csrf, "token": token})
    assert committed.status == 200
    assert "Committed" in committed.text
    assert on(client, a).request("POST", "/commit", form={"csrf_token": client.csrf, "token": token}).status == 410
    assert names(client).count("Анна") == 1
