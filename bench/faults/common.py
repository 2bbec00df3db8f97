"""What every fault scenario shares: findings, students over real HTTP, PostgreSQL deployments.

The real server and its HTTP client come from tests/server_support.py, and the PostgreSQL admin
deployment (a non-superuser admin role owning its own database) from tests/pg_support.py, so the
scenarios drive the server exactly as the tests do.
"""

from __future__ import annotations

import os
import pwd
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))

from pg_support import AdminDeployment, admin_deployment, execute, libpq_url  # noqa: E402
from server_support import HttpClient, LiveServer, Reply, at_once, live_server, serve_command, stop  # noqa: E402

__all__ = [
    "AdminDeployment",
    "Findings",
    "HttpClient",
    "LiveServer",
    "Load",
    "Reply",
    "Student",
    "admin_deployment",
    "at_once",
    "execute",
    "libpq_url",
    "live_server",
    "postgres_env",
    "private_postgres",
    "serve_command",
    "stop",
    "wait_for",
]

INSERT = 'INSERT INTO "Users" ("Name", "Age") VALUES (:Name, :Age)'


@dataclass
class Findings:
    """What one scenario saw; a problem is anything lost, doubled, left unknown or answered with a 500."""

    name: str
    problems: list[str] = field(default_factory=list)

    def say(self, text: str) -> None:
        print(f"[{self.name}] {text}", flush=True)

    def problem(self, text: str) -> None:
        self.problems.append(text)
        self.say(f"PROBLEM: {text}")

    def expect(self, ok: bool, text: str) -> bool:
        if not ok:
            self.problem(text)
        return ok


class Student:
    """One visitor over real HTTP; connection errors (a killed worker, a refused connection) come back as status 0."""

    def __init__(self, url: str, name: str) -> None:
        self.client = HttpClient(url)
        self.name = name

    def call(self, method: str, path: str, body: Any = None) -> Reply:
        try:
            if body is None:
                return self.client.request(method, path)
            return self.client.request(method, path, json_body=body)
        except (urllib.error.URLError, ConnectionError, TimeoutError, OSError) as e:
            return Reply(0, str(e).encode(), "")

    def start(self) -> Student:
        reply = self.call("GET", "/api/session")
        if reply.status == 200:
            self.client.csrf = reply.json["csrf_token"]
        return self

    def run(self, sql: str, params: Any = None) -> Reply:
        body: dict[str, Any] = {"sql": sql}
        if params is not None:
            body["params"] = params
        return self.call("POST", "/api/run", body)

    def commit(self, token: str) -> Reply:
        return self.call("POST", "/api/commit", {"token": token})

    def count(self, name: str) -> int | None:
        """How many rows of "Users" carry this name, or None if the server could not say."""
        reply = self.run('SELECT count(*) FROM "Users" WHERE "Name" = :n', {"n": name})
        if reply.status != 200:
            return None
        return int(reply.json["statements"][0]["rows"][0][0])


def message(reply: Reply) -> str:
    """The error message of a reply: the API's JSON, a page's message or title, or the start of the text."""
    if reply.content_type.startswith("application/json"):
        try:
            return str(reply.json["error"]["message"])
        except (KeyError, TypeError, ValueError):
            return reply.text[:200]
    if reply.content_type.startswith("text/html"):
        from bs4 import BeautifulSoup

        page = BeautifulSoup(reply.text, "html.parser")
        shown = page.select_one(".error, .message, h1") or page.title
        return " ".join(shown.get_text().split())[:200] if shown else "(an HTML page)"
    return " ".join(reply.text.split())[:200]


def settle_commit(student: Student, token: str, *, tries: int = 20) -> Reply:
    """Press Commit until the answer is definitive (not 'busy, try again', not a dropped connection)."""
    reply = student.commit(token)
    for _ in range(tries):
        if reply.status not in (0, 502, 503):
            return reply
        time.sleep(0.5)
        reply = student.commit(token)
    return reply


class Load:
    """Students in threads doing `work` until stopped; every answer's status is counted."""

    def __init__(self, url: str, students: int, work: Callable[[Student, int], list[Reply]]) -> None:
        self.url = url
        self.students = [Student(url, f"load{n}") for n in range(students)]
        self.work = work
        self.statuses: Counter[int] = Counter()
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._loop, args=(s,), daemon=True) for s in self.students]

    def __enter__(self) -> Load:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=60)

    def _loop(self, student: Student) -> None:
        student.start()
        n = 0
        while not self._stop.is_set():
            replies = self.work(student, n)
            for reply in replies:
                with self._lock:
                    self.statuses[reply.status] += 1
                    if reply.status == 0 or reply.status >= 500:
                        self.errors.append(f"{reply.status}: {message(reply)[:160]}")
            if any(reply.status == 0 for reply in replies):
                time.sleep(0.1)  # the server is away: ask again soon, not in a tight loop
            n += 1

    @property
    def answered(self) -> int:
        return sum(self.statuses.values())


def wait_for(condition: Callable[[], Any], *, timeout: float, every: float = 0.1) -> Any:
    """Poll until `condition()` is truthy (its value) or the time is up (None)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(every)
    return None


def postgres_env(deployment: AdminDeployment) -> dict[str, str]:
    """The settings of a playground server on that deployment."""
    return {
        "PLAYGROUND_DATABASE_URL": deployment.url,
        "PLAYGROUND_POSTGRES_PREFIX": deployment.prefix,
        "PLAYGROUND_SECRET_KEY": secrets.token_hex(16),
    }


def new_prefix() -> str:
    return f"f{secrets.token_hex(3)}"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def private_postgres(*, max_connections: int) -> Iterator[str]:
    """A PostgreSQL server of our own (initdb in a temporary folder) with a small max_connections; its superuser URL.

    The machine's shared server is never exhausted on purpose: other people's tests run on it.
    """
    bindir = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: int(p.parent.name))[-1]
    base = Path(tempfile.mkdtemp(prefix="playground-faults-pg-"))
    as_postgres: list[str] = []
    if os.geteuid() == 0:  # initdb refuses to run as root
        user = pwd.getpwnam("postgres")
        os.chown(base, user.pw_uid, user.pw_gid)
        as_postgres = ["runuser", "-u", "postgres", "--"]
    data = base / "data"
    port = free_port()
    subprocess.run(
        [*as_postgres, str(bindir / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres", "--no-sync"],
        check=True,
        capture_output=True,
    )
    options = (
        f"-p {port} -k {base} -c listen_addresses=127.0.0.1 -c max_connections={max_connections} "
        "-c fsync=off -c superuser_reserved_connections=3"
    )
    subprocess.run(
        [*as_postgres, str(bindir / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(base / "log"), "-w", "start"],
        check=True,
        capture_output=True,
    )
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(
            [*as_postgres, str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
            check=False,
            capture_output=True,
        )
        shutil.rmtree(base, ignore_errors=True)
