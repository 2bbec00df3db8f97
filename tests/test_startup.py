"""Start-up: many processes booting at once never take the server down (issue 13, part 1).

Every gunicorn worker builds the service when it boots, all at the same moment, and a worker that
fails to boot makes gunicorn stop the whole server. Shared objects (the bookkeeping tables, the
PostgreSQL secret and template, the SQLite sample) are made once under a lock and only read
afterwards; a fault a worker can wait out is retried instead of ending the server.
"""

from __future__ import annotations

import multiprocessing
import re
import secrets
from pathlib import Path
from typing import Any

import pytest
from pg_support import admin_deployment, execute, superuser_url
from server_support import HttpClient, live_server

from playground.config import ConfigError, Settings
from playground.errors import ServerBusy
from playground.startup import GAVE_UP_EXIT_CODE, boot_with_retries
from playground.wiring import build_playground

READY = re.compile(r"playground worker (\d+) ready")


def _build_at_once(args: tuple[Settings, Any]) -> str:
    """In a child process: what each gunicorn worker does when it boots, released with the others."""
    settings, barrier = args
    barrier.wait(timeout=60)
    try:
        build_playground(settings).close()
    except Exception as e:  # noqa: BLE001 - the test reports what each process met
        return f"{type(e).__name__}: {e}"
    return "ok"


@pytest.mark.postgresql
def test_processes_setting_up_a_new_deployment_at_once_all_succeed(tmp_path: Path) -> None:
    """No master went first: the secret table, the template and the bookkeeping tables are made by the processes racing."""
    su = superuser_url()
    context = multiprocessing.get_context("fork")
    processes = 6
    for round_ in range(3):
        with admin_deployment(su, f"t{secrets.token_hex(3)}") as deployment:
            settings = Settings(
                data_dir=tmp_path / f"round{round_}",
                database_url=deployment.url,
                postgres_prefix=deployment.prefix,
                secret_key="a-test-secret-key-of-32-characters",
            )
            with context.Manager() as manager:
                barrier = manager.Barrier(processes)
                with context.Pool(processes) as pool:
                    results = pool.map(_build_at_once, [(settings, barrier)] * processes)
            assert results == ["ok"] * processes, f"round {round_ + 1}: {results}"
            # One secret and one template, however many processes raced to make them.
            assert execute(su, f'SELECT count(*) FROM "{deployment.prefix}_secret"', database=deployment.database) == [
                (1,)
            ]
            templates = execute(
                su, "SELECT count(*) FROM pg_database WHERE datname LIKE %s", (f"{deployment.prefix}\\_tpl\\_%",)
            )
            assert templates == [(1,)]


@pytest.mark.postgresql
def test_many_workers_booting_at_once_keep_the_server_up(tmp_path: Path) -> None:
    """Each round starts a real server whose workers boot together on an existing deployment (what a HUP also does)."""
    su = superuser_url()
    workers = 8
    with admin_deployment(su, f"t{secrets.token_hex(3)}") as deployment:
        env = {
            "PLAYGROUND_DATABASE_URL": deployment.url,
            "PLAYGROUND_POSTGRES_PREFIX": deployment.prefix,
            "PLAYGROUND_SECRET_KEY": "a-test-secret-key-of-32-characters",
            # Eight workers fit a 100-connection server's budget only without kept sandbox connections.
            "PLAYGROUND_POSTGRES_IDLE_CONNECTIONS": "0",
        }
        for round_ in range(3):
            base = tmp_path / f"round{round_}"
            base.mkdir()
            with live_server(base, workers=workers, env=env) as server:
                ready = _wait_for_ready(server, workers)
                assert server.process.poll() is None, server.log()[-3000:]
                assert len(ready) == workers, server.log()[-3000:]
                assert "failed to boot" not in server.log()
                assert HttpClient(server.url).start().rows("SELECT 1") == [[1]]


def _wait_for_ready(server: Any, workers: int) -> set[str]:
    import time

    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and server.process.poll() is None:
        ready = set(READY.findall(server.log()))
        if len(ready) >= workers:
            return ready
        time.sleep(0.1)
    return set(READY.findall(server.log()))


def test_a_booting_worker_waits_out_a_fault_it_can_retry() -> None:
    attempts = []
    pauses: list[float] = []

    def build() -> str:
        attempts.append(1)
        if len(attempts) < 3:
            raise ServerBusy("the database has no free connection")
        return "app"

    assert boot_with_retries(build, sleep=pauses.append) == "app"
    assert len(attempts) == 3 and pauses == [0.1, 0.2]


def test_a_lasting_fault_ends_only_the_worker_with_an_ordinary_exit_code() -> None:
    """gunicorn stops the whole server for exit code 3 ("failed to boot"); any other code just replaces the worker."""

    def build() -> str:
        raise ServerBusy("the database has no free connection")

    with pytest.raises(SystemExit) as ended:
        boot_with_retries(build, patience_seconds=0.5, sleep=lambda _s: None)
    assert ended.value.code == GAVE_UP_EXIT_CODE != 3


def test_a_configuration_error_is_not_retried() -> None:
    attempts = []

    def build() -> str:
        attempts.append(1)
        raise ConfigError("the PostgreSQL URL is not a database URL")

    with pytest.raises(ConfigError):
        boot_with_retries(build, sleep=lambda _s: None)
    assert len(attempts) == 1


def test_sqlite_workers_booting_on_an_existing_data_folder_write_nothing(tmp_path: Path) -> None:
    """The sample is built once (its name carries its hash); a later boot only reads it."""
    settings = Settings(data_dir=tmp_path / "data", secret_key="a-test-secret-key-of-32-characters")
    build_playground(settings).close()
    samples = list(settings.data_dir.glob("sample-*.sqlite3"))
    assert len(samples) == 1
    before = samples[0].stat().st_mtime_ns, samples[0].stat().st_ino
    build_playground(settings).close()
    after = samples[0].stat().st_mtime_ns, samples[0].stat().st_ino
    assert after == before
    assert not list((settings.data_dir / "sandboxes" / "sqlite").glob("*.tmp"))
