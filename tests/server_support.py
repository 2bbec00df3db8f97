"""A real server for the end-to-end tests: `playground serve` (gunicorn) as a subprocess, and a small HTTP client.

Used by tests/test_server.py, tests/test_multiserver.py, tests/test_browser.py and others. The server
binds port 0 on 127.0.0.1 (the system picks a free port, so no other process can take it between our
choice and the bind), and the port is read from the kernel's table of its listening sockets; it has a data folder of the test's own
and is stopped (and, if it does not stop, killed by its own process group) when the `live_server`
block ends.
"""

from __future__ import annotations

import ctypes
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.cookiejar import CookieJar
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")

START_TIMEOUT = 30.0
_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """In the child before exec: SIGTERM when the test process dies, even when it is killed without cleanup."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        pass  # not Linux: the finally block below still stops the server


def serve_command(workers: int | None, *, address: bool = True) -> list[str]:
    """The installed `playground` script next to this Python, else the same CLI as a module; on any free port.

    `workers=None` and `address=False` leave those to the environment (PLAYGROUND_WORKERS, _HOST, _PORT).
    """
    script = Path(sys.executable).parent / "playground"
    command = [str(script)] if script.exists() else [sys.executable, "-m", "playground.cli"]
    command.append("serve")
    if address:
        command += ["--host", "127.0.0.1", "--port", "0"]
    if workers is not None:
        command += ["--workers", str(workers)]
    return command


def listening_ports(pid: int) -> set[int]:
    """The TCP ports process `pid` listens on, from the kernel's own tables (/proc): no log line to parse."""
    sockets = set()
    try:
        descriptors = list(Path(f"/proc/{pid}/fd").iterdir())
    except OSError:
        return set()
    for fd in descriptors:
        try:
            target = os.readlink(fd)
        except OSError:
            continue  # closed meanwhile
        if target.startswith("socket:["):
            sockets.add(target[len("socket:[") : -1])
    ports = set()
    for table in ("tcp", "tcp6"):
        try:
            lines = Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            local, state, inode = fields[1], fields[3], fields[9]
            if state == "0A" and inode in sockets:  # 0A: LISTEN
                ports.add(int(local.rsplit(":", 1)[1], 16))
    return ports


def child_pids(pid: int) -> list[int]:
    """The processes whose parent is `pid` (gunicorn's workers, for the master), from /proc."""
    children = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue  # gone meanwhile
        # The command name is in parentheses and may hold spaces; the fields after it are fixed.
        fields = stat[stat.rindex(")") + 2 :].split()
        state, parent = fields[0], int(fields[1])
        if parent == pid and state != "Z":
            children.append(int(entry.name))
    return sorted(children)


@dataclass
class LiveServer:
    process: subprocess.Popen[bytes]
    url: str
    data_dir: Path
    log_path: Path

    def workers(self) -> list[int]:
        return child_pids(self.process.pid)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def requests(self, method: str, path: str) -> int:
        """How many `method path` requests the server's request log (JSON lines) holds so far."""
        count = 0
        for line in self.log().splitlines():
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if isinstance(entry, dict) and entry.get("message") == "request":
                count += entry.get("method") == method and entry.get("path") == path
        return count

    def wait_for_workers(self, count: int, *, other_than: set[int] = frozenset(), timeout: float = 20.0) -> list[int]:
        """Until the master has `count` live workers, none of them in `other_than`."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            pids = self.workers()
            if len(pids) == count and not set(pids) & set(other_than):
                return pids
            time.sleep(0.05)
        raise AssertionError(f"the master has workers {self.workers()}, wanted {count} new ones\n{self.log()[-3000:]}")


def _wait_until_answering(process: subprocess.Popen[bytes], log_path: Path) -> str:
    """The server's address, once its master listens (on the port the system gave it) and it answers there."""
    deadline = time.monotonic() + START_TIMEOUT
    url = None
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with {process.returncode}:\n{log_path.read_text(errors='replace')}")
        if url is None:
            ports = listening_ports(process.pid)
            url = f"http://127.0.0.1:{min(ports)}" if ports else None
        if url is not None:
            try:
                with urllib.request.urlopen(url + "/api/session", timeout=2) as response:
                    if response.status == 200:
                        return url
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
        time.sleep(0.1)
    raise RuntimeError(
        f"the server did not answer within {START_TIMEOUT:.0f} s:\n{log_path.read_text(errors='replace')}"
    )


def stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the master (gunicorn stops its workers); SIGKILL to its process group if it lingers."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        # Not reaped yet, so the id is still ours; start_new_session gave the master a group of its own.
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=5)


@contextmanager
def live_server(base: Path, *, workers: int | None = 2, env: dict[str, str] | None = None) -> Iterator[LiveServer]:
    """`playground serve` on a free port with its data under `base` (and more PLAYGROUND_* settings in `env`).

    `workers=None` leaves the number of workers to the environment (PLAYGROUND_WORKERS) or the default;
    with PLAYGROUND_PORT in `env` (0 for a free port, on 127.0.0.1), so are the host and port.
    """
    data_dir = base / "data"
    log_path = base / "server.log"
    settings = env or {}
    env = {k: v for k, v in os.environ.items() if not k.startswith("PLAYGROUND_")}
    env |= {"PLAYGROUND_DATA_DIR": str(data_dir), "PLAYGROUND_THREADS": "2", "PYTHONUNBUFFERED": "1"} | settings
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            serve_command(workers, address="PLAYGROUND_PORT" not in settings),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            start_new_session=True,
            preexec_fn=_die_with_parent if sys.platform == "linux" else None,
        )
    try:
        url = _wait_until_answering(process, log_path)
        yield LiveServer(process, url, data_dir, log_path)
    finally:
        stop(process)


@dataclass
class Reply:
    status: int
    body: bytes
    content_type: str
    headers: Any = None  # the response's headers (an email.message.Message: .get(), .get_all())

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")

    @property
    def json(self) -> Any:
        return json.loads(self.body)


class HttpClient:
    """One visitor over real HTTP: a cookie jar (the session, so the sandbox) and the CSRF token."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.cookies = CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.cookies))
        self.csrf = ""

    def request(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        form: dict[str, str] | None = None,
        raw_json: bytes | None = None,
        raw_body: tuple[bytes, str] | None = None,
    ) -> Reply:
        """`raw_json`: a body sent as JSON byte for byte (JSON that json.dumps would refuse to write, or cannot);
        `raw_body`: any body, with its content type."""
        headers = {"X-CSRFToken": self.csrf} if self.csrf else {}
        data = None
        if raw_json is not None:
            raw_body = (raw_json, "application/json")
        if raw_body is not None:
            data, headers["Content-Type"] = raw_body
        elif json_body is not None:
            data = json.dumps(json_body).encode()
            headers["Content-Type"] = "application/json"
        elif form is not None:
            data = urllib.parse.urlencode(form).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        request = urllib.request.Request(self.base_url + path, data=data, method=method, headers=headers)
        try:
            with self.opener.open(request, timeout=20) as response:
                body = response.read()
                return Reply(response.status, body, response.headers.get("Content-Type", ""), response.headers)
        except urllib.error.HTTPError as e:
            with e:
                return Reply(e.code, e.read(), e.headers.get("Content-Type", ""), e.headers)

    def start(self) -> HttpClient:
        """Open a session: the cookie and the CSRF token that goes with it."""
        reply = self.request("GET", "/api/session")
        assert reply.status == 200, reply.text
        self.csrf = reply.json["csrf_token"]
        return self

    def twin(self, base_url: str) -> HttpClient:
        """The same visitor (cookies and CSRF token) with a connection of its own, to this or another server."""
        twin = HttpClient(base_url)
        for cookie in self.cookies:
            twin.cookies.set_cookie(cookie)
        twin.csrf = self.csrf
        return twin

    def post_json(self, path: str, body: Any) -> Reply:
        return self.request("POST", path, json_body=body)

    def post_raw_json(self, path: str, body: bytes) -> Reply:
        return self.request("POST", path, raw_json=body)

    def rows(self, sql: str) -> list[list[Any]]:
        reply = self.post_json("/api/run", {"sql": sql})
        assert reply.status == 200 and reply.json["status"] == "ok", reply.text
        return reply.json["statements"][-1]["rows"]


def at_once(calls: list[Callable[[], T]], *, timeout: float = 30.0) -> list[T]:
    """Run the calls in threads released together (a barrier); their results, in no particular order."""
    barrier = threading.Barrier(len(calls))
    results: list[T] = []

    def released(call: Callable[[], T]) -> None:
        barrier.wait(timeout=timeout)
        results.append(call())

    threads = [threading.Thread(target=released, args=(call,)) for call in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=timeout)
    return results
