"""SQLite sandbox files: the sample they are copied from, and making, replacing and removing them.

A file appears whole or not at all: it is written under a temporary name in the same folder and
renamed into place. A write that fails (the disk is full) removes its temporary file, leaves
whatever was there before as it was, and says so (a 507 naming the cause). The sample is built
once per sample text (its file name carries the text's hash), by one process at a time under a
file lock; a worker that finds it just uses it, so a server boots without writing anything.
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
import shutil
import sqlite3
import tempfile
import time
from collections.abc import Callable
from importlib import resources
from pathlib import Path

from ..faults import translate
from ..messages import _
from ..startup import file_lock
from .base import check_visitor_id
from .sqlite_commits import COMMIT_LOG

STARTING_FILE = re.compile(r"starting-[0-9a-f]{16}\.sqlite3")

# Temporary files older than this were left by a process that died while writing them.
_ABANDONED_SECONDS = 600


class SandboxFiles:
    """`<data>/sandboxes/sqlite/<visitor>.sqlite3`, each a copy of `<data>/sample-<hash>.sqlite3`."""

    def __init__(self, data_dir: Path, starting_point: Callable[[], str | None] = lambda: None) -> None:
        self.data_dir = data_dir
        # The teacher's starting data (a file name in the data folder), or None for the sample;
        # asked only when a sandbox is made or reset (every worker sees the same answer).
        self.starting_point = starting_point
        self.root = data_dir / "sandboxes" / "sqlite"
        self.root.mkdir(parents=True, exist_ok=True)
        script = resources.files("playground").joinpath("sample/sqlite.sql").read_text(encoding="utf-8")
        self.sample_path = data_dir / f"sample-{hashlib.sha256(script.encode()).hexdigest()[:16]}.sqlite3"
        if not self.sample_path.exists():
            with file_lock(data_dir / "sample.setup-lock"):
                if not self.sample_path.exists():
                    _write_whole(self.sample_path, lambda tmp: _build(tmp, script), _("the sample database"))
        self._remove_abandoned()

    def path(self, visitor: str) -> Path:
        return self.root / f"{check_visitor_id(visitor)}.sqlite3"

    def exists(self, visitor: str) -> bool:
        return self.path(visitor).exists()

    def ensure(self, visitor: str) -> bool:
        """Copy the sample for a visitor who has no sandbox yet; True if it was made."""
        path = self.path(visitor)
        if path.exists():
            return False
        self.replace(visitor)
        return True

    def replace(self, visitor: str, *, from_sample: bool = False) -> None:
        """The visitor's sandbox becomes a fresh copy of the starting data (another process sees the old file or the new one).

        `from_sample`: of the built-in sample, whatever starting data the teacher set.
        """
        source = self.sample_path if from_sample else self.source()
        _write_whole(self.path(visitor), lambda tmp: shutil.copyfile(source, tmp), _("your sandbox"))

    def source(self) -> Path:
        """What new and reset sandboxes are copies of: the teacher's starting data, else the sample."""
        name = self.starting_point()
        if name and STARTING_FILE.fullmatch(name) and (self.data_dir / name).is_file():
            return self.data_dir / name
        return self.sample_path

    def capture(self, visitor: str) -> str:
        """Copy the visitor's sandbox as new starting data (without its commit log); its file name."""
        name = f"starting-{secrets.token_hex(8)}.sqlite3"

        def copy(tmp: str) -> None:
            source = sqlite3.connect(f"{self.path(visitor).resolve().as_uri()}?mode=ro", uri=True)
            target = sqlite3.connect(tmp)
            try:
                source.backup(target)  # a consistent copy, whatever the WAL holds
                with target:
                    target.execute(f"DROP TABLE IF EXISTS main.{COMMIT_LOG}")
                target.execute("VACUUM")
            finally:
                source.close()
                target.close()

        _write_whole(self.data_dir / name, copy, _("the starting data"))
        return name

    def remove_starting_data(self, keep: str | None) -> None:
        """Starting data files other than `keep` (best effort: a copy in progress holds its own descriptor)."""
        for path in self.data_dir.glob("starting-*.sqlite3"):
            if path.name != keep:
                path.unlink(missing_ok=True)

    def remove(self, visitor: str) -> None:
        path = self.path(visitor)
        for suffix in ("", "-journal", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)

    def _remove_abandoned(self) -> None:
        """Temporary files of writes cut short by a crash (a write that fails removes its own)."""
        old = time.time() - _ABANDONED_SECONDS
        for leftover in self.root.glob("tmp*.tmp"):
            try:
                if leftover.stat().st_mtime < old:
                    leftover.unlink()
            except FileNotFoundError:
                pass


def _write_whole(target: Path, write: Callable[[str], object], what: str) -> None:
    """`write(tmp)` to a temporary file beside `target`, then rename it into place; on failure, remove it."""
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(dir=target.parent, suffix=".tmp")
        os.close(fd)
        write(tmp)
        os.replace(tmp, target)
        tmp = None
    except Exception as e:
        fault = translate(e, what)
        if fault is None:
            raise
        raise fault from e
    finally:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)


def _build(path: str, script: str) -> None:
    conn = sqlite3.connect(path)
    try:
        with conn:
            conn.executescript(script)
    finally:
        conn.close()
