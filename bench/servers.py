"""The servers the benchmark drives, each under gunicorn with the same workers and threads.

`playground serve` runs gunicorn with gthread workers (PLAYGROUND_WORKERS x PLAYGROUND_THREADS);
the floor runs under the same settings; Datasette (an ASGI app) runs the same number of worker
processes with gunicorn's uvicorn worker class.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class ServerSettings:
    workers: int
    threads: int


@dataclass
class Server:
    name: str
    url: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def pids(self) -> list[int]:
        """The master and its workers (for memory readings)."""
        return [self.process.pid, *_children(self.process.pid)]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.append(int(entry.name))
    return found


def rss_bytes(pids: list[int]) -> int:
    """Resident memory of these processes, summed (proportional set size where the kernel offers it)."""
    total = 0
    for pid in pids:
        try:
            rollup = Path(f"/proc/{pid}/smaps_rollup").read_text()
        except OSError:
            continue
        for line in rollup.splitlines():
            if line.startswith("Pss:"):
                total += int(line.split()[1]) * 1024
                break
    return total


def _gunicorn(settings: ServerSettings, port: int, app: str, worker_class: str = "gthread") -> list[str]:
    command = [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}", "--workers", str(settings.workers)]
    command += ["--worker-class", worker_class, "--access-logfile", "-", "--error-logfile", "-"]
    if worker_class == "gthread":
        command += ["--threads", str(settings.threads)]
    return [*command, app]


@contextmanager
def started(
    name: str, command: list[str], env: dict[str, str], log_dir: Path, ready_path: str, root: Path = ROOT
) -> Iterator[Server]:
    port = int(command[command.index("--port") + 1]) if "--port" in command else None
    if port is None:
        bind = command[command.index("--bind") + 1]
        port = int(bind.rsplit(":", 1)[1])
    log_path = log_dir / f"{name}.log"
    with open(log_path, "ab") as log:
        process = subprocess.Popen(
            command,
            env={**os.environ, **env, "PYTHONPATH": str(root)},
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=root,
            start_new_session=True,
        )
    server = Server(name, f"http://127.0.0.1:{port}", process, log_path)
    try:
        _wait(server, ready_path)
        yield server
    finally:
        _stop(process)


def playground(
    settings: ServerSettings, log_dir: Path, env: dict[str, str], root: Path = ROOT
) -> AbstractContextManager[Server]:
    """`playground serve` from the checkout at `root` (another commit's, to measure before and after)."""
    port = free_port()
    command = [sys.executable, "-m", "playground.cli", "serve", "--host", "127.0.0.1", "--port", str(port)]
    command += ["--workers", str(settings.workers), "--threads", str(settings.threads)]
    return started("playground", command, env, log_dir, "/api/session", root)


def floor(
    settings: ServerSettings, log_dir: Path, database: str, name: str = "floor"
) -> AbstractContextManager[Server]:
    command = _gunicorn(settings, free_port(), "bench.floor_app:create_app()")
    return started(name, command, {"BENCH_FLOOR_DATABASE": database}, log_dir, "/w1?id=1")


def datasette(settings: ServerSettings, log_dir: Path, database: Path) -> AbstractContextManager[Server]:
    command = _gunicorn(settings, free_port(), "bench.datasette_app:create_app()", "uvicorn_worker.UvicornWorker")
    return started("datasette", command, {"BENCH_DATASETTE_DATABASE": str(database)}, log_dir, "/bench.json")


def _wait(server: Server, path: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"{server.name} exited:\n{server.log_path.read_text(errors='replace')[-3000:]}")
        try:
            with urllib.request.urlopen(server.url + path, timeout=5) as reply:
                if reply.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{server.name} did not answer in {timeout:.0f} s")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=5)
