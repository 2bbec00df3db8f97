"""The `playground` command refuses a bad configuration at start, in one line, without a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest


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


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"PLAYGROUND_DATABASE_URL": "postgresql://nobody@127.0.0.1:1/db"}, "PostgreSQL"),
        ({"PLAYGROUND_DATABASE_URL": "mysql://root@127.0.0.1/test"}, "must start with postgresql://"),
        ({"PLAYGROUND_DATABASE_URL": "not a url"}, "not a database URL"),
        ({"PLAYGROUND_MAX_ROWS": "many"}, "PLAYGROUND_MAX_ROWS must be a whole number"),
        ({"PLAYGROUND_TIME_LIMIT_MS": "-5"}, "PLAYGROUND_TIME_LIMIT_MS must be positive"),
    ],
)
def test_serve_refuses_bad_settings_in_one_line(tmp_path: Path, env: dict[str, str], message: str) -> None:
    done = run_cli(tmp_path, "serve", "--port", "1", **env)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("playground: ")
    assert message in lines[0]
    assert "Traceback" not in done.stderr


def test_sweep_reports_what_it_dropped(tmp_path: Path) -> None:
    done = run_cli(tmp_path, "sweep")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "dropped 0 idle sandbox(es)"
