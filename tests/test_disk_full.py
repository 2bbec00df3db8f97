"""SQLite with the data folder's disk full (issue 13, part 4): reads and pages keep working, writes get a clear 507,
nothing half-made is left behind, and everything comes back by itself when space returns.

The data folder is a real small filesystem (a tmpfs, or an ext4 image on a loop device), filled
by a file; this needs root (CI runs as root). Where nothing can be mounted, the tests skip and say why.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from bs4 import BeautifulSoup
from disk_support import CannotMount, fill, small_filesystem
from flask import Flask
from flask.testing import FlaskClient

from playground import create_app
from playground.config import Settings

INSERT = 'INSERT INTO "Users" ("Name", "Age") VALUES (:Name, :Age)'


@pytest.fixture
def full_disk_app(tmp_path: Path) -> Iterator[Flask]:
    try:
        with small_filesystem(tmp_path / "data", megabytes=16):
            app = create_app(
                Settings(
                    data_dir=tmp_path / "data",
                    secret_key="a-test-secret-key-of-32-characters",
                    run_log_flush_seconds=3600,
                )
            )
            yield app
            app.extensions["playground"].close()
    except CannotMount as e:
        pytest.skip(f"no small filesystem can be mounted here: {e}")


def student(app: Flask) -> FlaskClient:
    client = app.test_client()
    client.environ_base["HTTP_X_CSRFTOKEN"] = client.get("/api/session").get_json()["csrf_token"]
    return client


def names(client: FlaskClient) -> list[str]:
    reply = client.post("/api/run", json={"sql": 'SELECT "Name" FROM "Users" ORDER BY "Id"'})
    assert reply.status_code == 200, reply.get_json()
    return [row[0] for row in reply.get_json()["statements"][0]["rows"]]


def half_made(data: Path) -> list[str]:
    folder = data / "sandboxes" / "sqlite"
    return [p.name for p in folder.iterdir() if p.suffix == ".tmp" or p.stat().st_size == 0]


def test_a_full_disk_keeps_reads_refuses_writes_clearly_and_recovers(full_disk_app: Flask) -> None:
    data = Path(full_disk_app.extensions["playground.settings"].data_dir)
    ann, bob = student(full_disk_app), student(full_disk_app)
    assert names(ann) == names(bob) == ["Петр", "Василий"]
    token = ann.post("/api/run", json={"sql": INSERT, "params": {"Name": "Аня", "Age": 1}}).get_json()["token"]
    filler = fill(data)

    # Reads and pages keep working, also in a worker that has not seen ann lately (it would
    # write her sandbox's "last used" time, and cannot).
    assert names(ann) == ["Петр", "Василий"]
    other_worker = create_app(full_disk_app.extensions["playground.settings"])
    with other_worker.test_client() as again:
        again.set_cookie("session", ann.get_cookie("session").value)  # type: ignore[union-attr]
        again.environ_base["HTTP_X_CSRFTOKEN"] = ann.environ_base["HTTP_X_CSRFTOKEN"]
        assert names(again) == ["Петр", "Василий"]
        assert again.get("/").status_code == 200
    assert ann.get("/api/schema").status_code == 200
    assert ann.get("/").status_code == 200
    newcomer = student(full_disk_app)
    page = newcomer.get("/")
    assert page.status_code == 200
    assert "disk is full" in BeautifulSoup(page.data, "html.parser").get_text()

    # Writes, a commit, a new sandbox and a reset: 507, saying why, with nothing changed.
    answers = {
        "preview": ann.post("/api/run", json={"sql": INSERT, "params": {"Name": "Полный", "Age": 2}}),
        "commit": ann.post("/api/commit", json={"token": token}),
        "new sandbox": newcomer.post("/api/run", json={"sql": "SELECT 1"}),
        "reset": bob.post("/api/reset", json={}),
    }
    for what, reply in answers.items():
        assert reply.status_code == 507, (what, reply.get_json())
        assert "disk is full" in reply.get_json()["error"]["message"], what
        assert "nothing was changed" in reply.get_json()["error"]["message"], what
    assert names(bob) == ["Петр", "Василий"]
    assert names(ann) == ["Петр", "Василий"]
    assert half_made(data) == []

    # Space comes back: the same requests work, the preview commits once.
    filler.unlink()
    other_worker.extensions["playground"].close()  # its run log lines are written now
    committed = ann.post("/api/commit", json={"token": token})
    assert committed.status_code == 200, committed.get_json()
    assert names(ann) == ["Петр", "Василий", "Аня"]
    assert ann.post("/api/commit", json={"token": token}).status_code == 410
    assert newcomer.post("/api/run", json={"sql": "SELECT 1"}).status_code == 200
    assert bob.post("/api/reset", json={}).status_code == 200
    assert half_made(data) == []


def test_run_log_lines_wait_for_space_and_are_written_when_it_returns(full_disk_app: Flask) -> None:
    data = Path(full_disk_app.extensions["playground.settings"].data_dir)
    ann = student(full_disk_app)
    names(ann)
    store = full_disk_app.extensions["playground"].store
    filler = fill(data)
    names(ann)
    with pytest.raises(Exception, match="disk is full"):
        store.run_log.flush()
    assert store.run_log.pending() >= 1
    filler.unlink()
    store.run_log.flush()
    assert len(store.recent_runs(visitor=None)) >= 2
