"""A real server: `playground serve` (gunicorn, two worker processes) on a free port with its own data folder.

Tests that kill workers get a server of their own, so that no test depends on what another did to
the shared one.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
from bs4 import BeautifulSoup
from server_support import HttpClient, LiveServer, at_once, live_server

INSERT = 'INSERT INTO "Users" ("Name", "Age") VALUES (:Name, :Age)'


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with live_server(tmp_path_factory.mktemp("server"), workers=2) as running:
        yield running


@pytest.fixture
def own_server(tmp_path: Path) -> Iterator[LiveServer]:
    """A server for one test, which may kill its workers."""
    with live_server(tmp_path, workers=2) as running:
        yield running


def names(client: HttpClient) -> list[str]:
    return [row[0] for row in client.rows('SELECT "Name" FROM "Users" ORDER BY "Id"')]


def test_the_editor_and_its_assets_are_served(server: LiveServer) -> None:
    client = HttpClient(server.url)
    page = client.request("GET", "/")
    assert page.status == 200 and page.content_type.startswith("text/html")
    soup = BeautifulSoup(page.text, "html.parser")
    assert soup.select_one('meta[name="csrf-token"]')["content"]  # type: ignore[index]
    assert soup.select_one("textarea#sql") is not None
    linked = [str(t["src"]) for t in soup.select("script[src]")] + [str(t["href"]) for t in soup.select("link[href]")]
    for name in ("js/grid.", "css/playground."):
        (url,) = [u for u in linked if u.startswith(f"/assets/{name}")]
        assert client.request("GET", url).status == 200
    assert len(server.wait_for_workers(2)) == 2


def test_a_page_preview_is_committed_by_a_later_request_and_a_resend_is_refused(server: LiveServer) -> None:
    client = HttpClient(server.url)
    page = BeautifulSoup(client.request("GET", "/").text, "html.parser")
    csrf = str(page.select_one('meta[name="csrf-token"]')["content"])  # type: ignore[index]
    fields = {"csrf_token": csrf, "sql": INSERT, "rows": "1", "action": "run"}
    fields |= {"col-0": "Name", "cell-0-0": "Ольга", "col-1": "Age", "cell-0-1": "33"}
    preview = client.request("POST", "/run", form=fields)
    assert preview.status == 200
    soup = BeautifulSoup(preview.text, "html.parser")
    assert soup.select_one("#preview-rowcount").get_text() == "1 row"  # type: ignore[union-attr]
    token = str(soup.select_one('form[action="/commit"] input[name="token"]')["value"])  # type: ignore[index]

    committed = client.request("POST", "/commit", form={"csrf_token": csrf, "token": token})
    assert committed.status == 200
    assert "Committed" in BeautifulSoup(committed.text, "html.parser").select_one(".committed").get_text()  # type: ignore[union-attr]
    resent = client.request("POST", "/commit", form={"csrf_token": csrf, "token": token})
    assert resent.status == 410
    client.csrf = csrf
    assert names(client) == ["Петр", "Василий", "Ольга"]


def test_a_preview_survives_its_worker_and_commits_exactly_once(own_server: LiveServer) -> None:
    """The preview's worker is gone before the commit: the token lives in the shared store, not in a process."""
    server = own_server
    client = HttpClient(server.url).start()
    preview = client.post_json("/api/run", {"sql": INSERT, "params": {"Name": "Ян", "Age": 40}})
    assert preview.status == 200 and preview.json["status"] == "preview"
    token = preview.json["token"]

    old = server.wait_for_workers(2)
    for pid in old:
        os.kill(pid, signal.SIGKILL)
    server.wait_for_workers(2, other_than=set(old))

    commit = client.post_json("/api/commit", {"token": token})
    assert commit.status == 200, commit.text
    assert commit.json["status"] == "committed"
    replay = client.post_json("/api/commit", {"token": token})
    assert replay.status == 410 and replay.json["status"] == "error"
    assert names(client) == ["Петр", "Василий", "Ян"]


def test_two_simultaneous_commits_of_one_preview_apply_once(server: LiveServer) -> None:
    client = HttpClient(server.url).start()
    token = client.post_json("/api/run", {"sql": INSERT, "params": {"Name": "Двойной", "Age": 2}}).json["token"]

    def commit() -> int:
        return client.post_json("/api/commit", {"token": token}).status

    statuses = at_once([commit] * 4)
    # One applies it; the others are refused as spent (410), or turned away before they touch the
    # token when the visitor already has two runs going (429, PLAYGROUND_MAX_CONCURRENT_RUNS).
    assert sorted(statuses)[0] == 200 and set(sorted(statuses)[1:]) <= {410, 429}, statuses
    assert names(client).count("Двойной") == 1


def test_the_service_keeps_answering_when_a_worker_is_killed(own_server: LiveServer) -> None:
    server = own_server
    client = HttpClient(server.url).start()
    before = server.wait_for_workers(2)
    victim = before[0]
    os.kill(victim, signal.SIGKILL)

    # Every request is answered, during and after the replacement of the dead worker.
    for i in range(20):
        reply = client.post_json("/api/run", {"sql": "SELECT :i AS i", "params": {"i": i}})
        assert reply.status == 200, reply.text
        assert reply.json["statements"][0]["rows"] == [[i]]
    after = server.wait_for_workers(2, other_than={victim})
    assert before[1] in after  # the other worker was left alone
    assert server.process.poll() is None

    # Writes still preview and commit, and the visitor's sandbox is intact.
    token = client.post_json("/api/run", {"sql": INSERT, "params": {"Name": "После", "Age": 1}}).json["token"]
    assert client.post_json("/api/commit", {"token": token}).json["status"] == "committed"
    assert names(client) == ["Петр", "Василий", "После"]


def test_the_data_lives_in_the_data_folder(server: LiveServer) -> None:
    client = HttpClient(server.url).start()
    client.rows("SELECT 1")
    assert (server.data_dir / "playground.db").is_file()
    assert (server.data_dir / "secret_key").is_file()
    sandboxes = list((server.data_dir / "sandboxes" / "sqlite").glob("*.sqlite3"))
    assert len(sandboxes) >= 1
    assert all(Path(p).stat().st_size > 0 for p in sandboxes)
