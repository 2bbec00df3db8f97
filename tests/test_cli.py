"""The `playground` command refuses a bad configuration at start, in one line naming the setting, without a traceback."""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from settings_support import settings_read_by_the_code
from time_travel import age_sandbox

from playground.config import Settings
from playground.wiring import build_playground


def run_cli(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("PLAYGROUND_")}
    clean |= {"PLAYGROUND_DATA_DIR": str(tmp_path / "data")} | env
    return subprocess.run(
        [sys.executable, "-m", "playground.cli", *args],
        env=clean,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


# A value each setting cannot take, and what the one line says about it. Every setting the code
# reads has one here (test_every_setting_has_a_bad_value_case).
BAD_VALUES: dict[str, tuple[str, str]] = {
    "PLAYGROUND_DATA_DIR": ("{tmp}/a-file/data", "PLAYGROUND_DATA_DIR"),
    "PLAYGROUND_SECRET_KEY": ("short", "PLAYGROUND_SECRET_KEY must be at least 16 characters long"),
    "PLAYGROUND_DATABASE_URL": (
        "mysql://root@127.0.0.1/test",
        "PLAYGROUND_DATABASE_URL: the PostgreSQL URL must start with postgresql://",
    ),
    "PLAYGROUND_POSTGRES_PREFIX": ("Drop Table", "PLAYGROUND_POSTGRES_PREFIX must be 1-20 lowercase letters"),
    "PLAYGROUND_MAX_ROWS": ("many", "PLAYGROUND_MAX_ROWS must be a whole number"),
    "PLAYGROUND_TIME_LIMIT_MS": ("-5", "PLAYGROUND_TIME_LIMIT_MS must be positive"),
    "PLAYGROUND_MAX_SQL_BYTES": ("1e5", "PLAYGROUND_MAX_SQL_BYTES must be a whole number"),
    "PLAYGROUND_MAX_GRID_ROWS": ("0", "PLAYGROUND_MAX_GRID_ROWS must be positive"),
    "PLAYGROUND_MAX_VALUE_BYTES": ("1MB", "PLAYGROUND_MAX_VALUE_BYTES must be a whole number"),
    "PLAYGROUND_MAX_RESULT_BYTES": ("lots", "PLAYGROUND_MAX_RESULT_BYTES must be a whole number"),
    "PLAYGROUND_MAX_EXPORT_ROWS": ("0", "PLAYGROUND_MAX_EXPORT_ROWS must be positive"),
    "PLAYGROUND_MAX_EXPORT_BYTES": ("many", "PLAYGROUND_MAX_EXPORT_BYTES must be a whole number"),
    "PLAYGROUND_SANDBOX_TTL": ("1d", "PLAYGROUND_SANDBOX_TTL must be a whole number"),
    "PLAYGROUND_MAX_SANDBOXES": ("-1", "PLAYGROUND_MAX_SANDBOXES must be positive"),
    "PLAYGROUND_SQLITE_MAX_PAGES": ("0", "PLAYGROUND_SQLITE_MAX_PAGES must be positive"),
    "PLAYGROUND_POSTGRES_MAX_BYTES": ("50 MB", "PLAYGROUND_POSTGRES_MAX_BYTES must be a whole number"),
    "PLAYGROUND_HOST": ("exa mple;rm", "PLAYGROUND_HOST must be an IP address or a host name"),
    "PLAYGROUND_PORT": ("70000", "PLAYGROUND_PORT must be at most 65535"),
    "PLAYGROUND_WORKERS": ("four", "PLAYGROUND_WORKERS must be a whole number"),
    "PLAYGROUND_THREADS": ("0", "PLAYGROUND_THREADS must be positive"),
    "PLAYGROUND_LOG_LEVEL": ("verbose", "PLAYGROUND_LOG_LEVEL must be one of debug, info, warning, error"),
    "PLAYGROUND_RUN_LOG_FLUSH_SECONDS": ("2.5", "PLAYGROUND_RUN_LOG_FLUSH_SECONDS must be a whole number"),
    "PLAYGROUND_POSTGRES_SPARE_SANDBOXES": ("-1", "PLAYGROUND_POSTGRES_SPARE_SANDBOXES must be at least 0"),
    "PLAYGROUND_RUN_TIME_LIMIT_MS": ("15s", "PLAYGROUND_RUN_TIME_LIMIT_MS must be a whole number"),
    "PLAYGROUND_MAX_STATEMENTS": ("0", "PLAYGROUND_MAX_STATEMENTS must be positive"),
    "PLAYGROUND_MAX_CONCURRENT_RUNS": ("two", "PLAYGROUND_MAX_CONCURRENT_RUNS must be a whole number"),
    "PLAYGROUND_RUNS_PER_MINUTE": ("0", "PLAYGROUND_RUNS_PER_MINUTE must be positive"),
    "PLAYGROUND_RUN_BURST": ("-5", "PLAYGROUND_RUN_BURST must be positive"),
    "PLAYGROUND_POSTGRES_IDLE_CONNECTIONS": ("-1", "PLAYGROUND_POSTGRES_IDLE_CONNECTIONS must be at least 0"),
    "PLAYGROUND_TEACHER_PASSWORD": ("hunter2", "PLAYGROUND_TEACHER_PASSWORD must be at least 8 characters long"),
    "PLAYGROUND_TEACHER_SESSION_MINUTES": ("2h", "PLAYGROUND_TEACHER_SESSION_MINUTES must be a whole number"),
    "PLAYGROUND_HTTPS": ("yes", "PLAYGROUND_HTTPS must be one of true, false, not 'yes'"),
}


def test_every_setting_has_a_bad_value_case() -> None:
    assert settings_read_by_the_code() <= set(BAD_VALUES)


@pytest.mark.parametrize("name", sorted(BAD_VALUES))
def test_serve_refuses_a_bad_value_in_one_line_naming_the_setting(tmp_path: Path, name: str) -> None:
    (tmp_path / "a-file").write_text("not a folder")
    value, message = BAD_VALUES[name]

    done = run_cli(tmp_path, "serve", **{name: value.format(tmp=tmp_path)})

    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [done.stderr.strip()], done.stderr
    assert done.stderr.startswith(f"playground: {message}"), done.stderr
    assert "Traceback" not in done.stderr
    assert done.stdout == ""


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"PLAYGROUND_DATABASE_URL": "postgresql://nobody@127.0.0.1:1/db"}, "PLAYGROUND_DATABASE_URL: cannot use"),
        ({"PLAYGROUND_DATABASE_URL": "not a url"}, "PLAYGROUND_DATABASE_URL: the PostgreSQL URL is not a database URL"),
    ],
)
def test_serve_refuses_an_unusable_database_in_one_line(tmp_path: Path, env: dict[str, str], message: str) -> None:
    done = run_cli(tmp_path, "serve", "--port", "1", **env)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith(f"playground: {message}")


def test_a_busy_port_stops_serve_in_one_line_that_says_how_to_choose_another(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = run_cli(tmp_path, "serve", "--port", str(port))
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert lines == [
        f"playground: port {port} on 127.0.0.1 is already in use (another server?); stop it, or choose another "
        "port with --port (or PLAYGROUND_HOST, PLAYGROUND_PORT)"
    ], done.stderr
    # Nothing claimed to be serving, and gunicorn never started.
    assert "SQL Playground on" not in done.stdout + done.stderr
    assert "gunicorn" not in done.stdout + done.stderr


def test_an_address_that_is_not_this_machines_stops_serve_in_one_line(tmp_path: Path) -> None:
    done = run_cli(tmp_path, "serve", "--host", "192.0.2.1", "--port", "5999")  # TEST-NET-1: never local
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "playground: 192.0.2.1 is not an address of this machine; choose one with --host (0.0.0.0: every address) "
        "(or PLAYGROUND_HOST, PLAYGROUND_PORT)"
    ]


def test_a_secret_key_that_is_too_short_is_not_repeated(tmp_path: Path) -> None:
    done = run_cli(tmp_path, "serve", PLAYGROUND_SECRET_KEY="hunter2-abc")
    assert done.returncode == 2
    assert "hunter2" not in done.stderr


def test_empty_settings_take_the_defaults(tmp_path: Path) -> None:
    """Compose passes every setting, empty when .env leaves it out; empty means the default."""
    empty = {name: "" for name in BAD_VALUES if name != "PLAYGROUND_DATA_DIR"}
    done = run_cli(tmp_path, "sweep", **empty)
    assert done.returncode == 0, done.stderr


def test_sweep_drops_the_sandboxes_idle_past_the_ttl_and_keeps_the_others(tmp_path: Path) -> None:
    data = tmp_path / "data"
    service = build_playground(Settings.from_env({"PLAYGROUND_DATA_DIR": str(data)}))
    idle, recent = secrets.token_hex(16), secrets.token_hex(16)
    for visitor in (idle, recent):
        service.schema(visitor)  # a sandbox each, as a first page view makes it
    age_sandbox(service.store, idle, "sqlite", 700)
    service.close()
    files = data / "sandboxes" / "sqlite"
    assert {p.stem for p in files.glob("*.sqlite3")} == {idle, recent}

    # Idle for 700 s is not idle under the default TTL of a day...
    done = run_cli(tmp_path, "sweep")
    assert (done.returncode, done.stdout.strip()) == (0, "dropped 0 idle sandbox(es)"), done.stderr
    # ...but it is under PLAYGROUND_SANDBOX_TTL=600; the recent one stays.
    done = run_cli(tmp_path, "sweep", PLAYGROUND_SANDBOX_TTL="600")
    assert (done.returncode, done.stdout.strip()) == (0, "dropped 1 idle sandbox(es)"), done.stderr
    assert {p.stem for p in files.glob("*.sqlite3")} == {recent}
    done = run_cli(tmp_path, "sweep", PLAYGROUND_SANDBOX_TTL="600")
    assert done.stdout.strip() == "dropped 0 idle sandbox(es)"


def test_health_says_so_when_no_server_answers(tmp_path: Path) -> None:
    done = run_cli(tmp_path, "health", PLAYGROUND_PORT="1")
    assert done.returncode == 1
    assert "no answer from http://127.0.0.1:1/healthz" in done.stderr
