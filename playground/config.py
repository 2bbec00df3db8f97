"""Settings: defaults, overridden by PLAYGROUND_* environment variables."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import os
import re
import secrets
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError


class ConfigError(Exception):
    """A setting that cannot be used; the message is one line for the operator."""


@dataclass(frozen=True)
class Limits:
    """What one run may use; enforced by the server, never by the browser."""

    max_rows: int = 1000
    time_limit_ms: int = 5000
    # A whole run (every statement of the script, every parameter row): its time, and its statements.
    run_time_limit_ms: int = 15_000
    max_statements: int = 500
    # One visitor (one sandbox, whatever the IP address): runs at once, and runs a minute with bursts.
    max_concurrent_runs: int = 2
    runs_per_minute: int = 120
    run_burst: int = 60
    max_sql_bytes: int = 100_000
    max_grid_rows: int = 1000
    max_value_bytes: int = 1_000_000
    # Values fetched for one statement's result, so that a few huge rows cannot fill the memory.
    max_result_bytes: int = 16_000_000
    # SQLite page cap per sandbox: 5,000 pages of 4 KiB = about 20 MB.
    sqlite_max_pages: int = 5000
    # PostgreSQL: a commit that leaves the sandbox database larger than this is refused.
    postgres_max_bytes: int = 50_000_000
    # A download (CSV, JSON) holds at most this many rows and about this many bytes of values.
    max_export_rows: int = 100_000
    max_export_bytes: int = 50_000_000


LOG_LEVELS = ("debug", "info", "warning", "error")
# PostgreSQL sandbox names start with it; they must stay plain identifiers under 63 characters.
SANDBOX_PREFIX = re.compile(r"[a-z][a-z0-9_]{0,19}")
_HOSTNAME = re.compile(
    r"(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*"
)
# Flask signs the session cookie with the key; a short one can be guessed offline.
MIN_SECRET_KEY_CHARS = 16


# The teacher's password: long enough that the login's rate limit makes guessing hopeless.
MIN_TEACHER_PASSWORD_CHARS = 8


@dataclass(frozen=True)
class TeacherPassword:
    """PLAYGROUND_TEACHER_PASSWORD, kept only as a salted scrypt hash; `matches` compares in constant time."""

    salt: bytes = field(repr=False)
    digest: bytes = field(repr=False)
    # The same in every worker process (a fixed salt), so that a session made by one is good in all.
    session_mark: bytes = field(repr=False)

    @classmethod
    def of(cls, password: str) -> TeacherPassword:
        salt = secrets.token_bytes(16)
        return cls(salt, _scrypt(password, salt), _scrypt(password, b"playground teacher session"))

    def matches(self, candidate: str) -> bool:
        return hmac.compare_digest(_scrypt(candidate, self.salt), self.digest)

    def fingerprint(self, key: str) -> str:
        """What a teacher session remembers of the password: a new password ends every teacher session."""
        return hmac.new(key.encode(), b"teacher:" + self.session_mark, hashlib.sha256).hexdigest()[:32]


def _scrypt(password: str, salt: bytes) -> bytes:
    # n=2**14: tens of milliseconds per login attempt, 16 MiB of memory.
    return hashlib.scrypt(password.encode("utf-8"), salt=salt, n=2**14, r=8, p=1, dklen=32)


@dataclass(frozen=True)
class ServerOptions:
    """Where and how `playground serve` listens."""

    host: str = "127.0.0.1"
    port: int = 5000
    workers: int | None = None  # None: 2 x the usable cores + 1
    threads: int = 4


@dataclass(frozen=True)
class Settings:
    """Everything the playground reads from its environment."""

    data_dir: Path = Path("instance")
    secret_key: str | None = None
    database_url: str | None = None
    # Names of PostgreSQL sandbox databases and roles start with this (several playgrounds, or a
    # test run, can share one server without touching each other's sandboxes).
    postgres_prefix: str = "pgsb"
    # PostgreSQL sandboxes made ahead of time, so that a class arriving at once does not wait.
    postgres_spare_sandboxes: int = 5
    # Sandbox connections each worker keeps open between runs (0: log in for every run).
    postgres_idle_connections: int = 4
    sandbox_ttl_seconds: int = 24 * 3600
    max_sandboxes: int = 500
    # The run log is written in batches, at most this many seconds after a run (and at shutdown).
    run_log_flush_seconds: int = 2
    limits: Limits = field(default_factory=Limits)
    server: ServerOptions = field(default_factory=ServerOptions)
    log_level: str = "info"
    # The teacher's dashboard (/teacher) is on only with a password; its hash differs per process
    # (a random salt), so it takes no part in comparing settings.
    teacher_password: TeacherPassword | None = field(default=None, compare=False)
    # A teacher who logged in stays logged in this long (then logs in again).
    teacher_session_minutes: int = 240
    # Reached only over HTTPS (a TLS proxy in front): the session cookie is marked Secure.
    https: bool = False

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Read PLAYGROUND_* variables; unknown values raise ConfigError with a one-line reason."""
        env = os.environ if env is None else env
        limits = Limits(
            max_rows=_int(env, "PLAYGROUND_MAX_ROWS", Limits.max_rows),
            time_limit_ms=_int(env, "PLAYGROUND_TIME_LIMIT_MS", Limits.time_limit_ms),
            run_time_limit_ms=_int(env, "PLAYGROUND_RUN_TIME_LIMIT_MS", Limits.run_time_limit_ms),
            max_statements=_int(env, "PLAYGROUND_MAX_STATEMENTS", Limits.max_statements),
            max_concurrent_runs=_int(env, "PLAYGROUND_MAX_CONCURRENT_RUNS", Limits.max_concurrent_runs),
            runs_per_minute=_int(env, "PLAYGROUND_RUNS_PER_MINUTE", Limits.runs_per_minute),
            run_burst=_int(env, "PLAYGROUND_RUN_BURST", Limits.run_burst),
            max_sql_bytes=_int(env, "PLAYGROUND_MAX_SQL_BYTES", Limits.max_sql_bytes),
            max_grid_rows=_int(env, "PLAYGROUND_MAX_GRID_ROWS", Limits.max_grid_rows),
            max_value_bytes=_int(env, "PLAYGROUND_MAX_VALUE_BYTES", Limits.max_value_bytes),
            max_result_bytes=_int(env, "PLAYGROUND_MAX_RESULT_BYTES", Limits.max_result_bytes),
            sqlite_max_pages=_int(env, "PLAYGROUND_SQLITE_MAX_PAGES", Limits.sqlite_max_pages),
            postgres_max_bytes=_int(env, "PLAYGROUND_POSTGRES_MAX_BYTES", Limits.postgres_max_bytes),
            max_export_rows=_int(env, "PLAYGROUND_MAX_EXPORT_ROWS", Limits.max_export_rows),
            max_export_bytes=_int(env, "PLAYGROUND_MAX_EXPORT_BYTES", Limits.max_export_bytes),
        )
        server = ServerOptions(
            host=_host(env, "PLAYGROUND_HOST", ServerOptions.host),
            # 0: any free port (the startup line says which).
            port=_int(env, "PLAYGROUND_PORT", ServerOptions.port, minimum=0, maximum=65535),
            workers=_int(env, "PLAYGROUND_WORKERS", 0) or None,
            threads=_int(env, "PLAYGROUND_THREADS", ServerOptions.threads),
        )
        settings = cls(
            data_dir=Path(env.get("PLAYGROUND_DATA_DIR") or "instance"),
            secret_key=_secret_key(env, "PLAYGROUND_SECRET_KEY"),
            database_url=_database_url(env, "PLAYGROUND_DATABASE_URL"),
            postgres_prefix=_prefix(env, "PLAYGROUND_POSTGRES_PREFIX", cls.postgres_prefix),
            postgres_spare_sandboxes=_int(
                env, "PLAYGROUND_POSTGRES_SPARE_SANDBOXES", cls.postgres_spare_sandboxes, minimum=0
            ),
            postgres_idle_connections=_int(
                env, "PLAYGROUND_POSTGRES_IDLE_CONNECTIONS", cls.postgres_idle_connections, minimum=0
            ),
            sandbox_ttl_seconds=_int(env, "PLAYGROUND_SANDBOX_TTL", cls.sandbox_ttl_seconds),
            max_sandboxes=_int(env, "PLAYGROUND_MAX_SANDBOXES", cls.max_sandboxes),
            run_log_flush_seconds=_int(env, "PLAYGROUND_RUN_LOG_FLUSH_SECONDS", cls.run_log_flush_seconds),
            limits=limits,
            server=server,
            log_level=_choice(env, "PLAYGROUND_LOG_LEVEL", cls.log_level, LOG_LEVELS),
            teacher_password=_teacher_password(env, "PLAYGROUND_TEACHER_PASSWORD"),
            teacher_session_minutes=_int(
                env, "PLAYGROUND_TEACHER_SESSION_MINUTES", cls.teacher_session_minutes, maximum=7 * 24 * 60
            ),
            https=_choice(env, "PLAYGROUND_HTTPS", "false", ("true", "false")) == "true",
        )
        return replace(settings, **overrides)

    def check_data_dir(self) -> None:
        """Raise ConfigError unless the data folder exists (or can be made) and takes new files."""
        try:
            self.data_dir.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryFile(dir=self.data_dir):
                pass
        except OSError as e:
            raise ConfigError(
                f"PLAYGROUND_DATA_DIR {str(self.data_dir)!r} cannot hold the playground's files: {e.strerror or e}"
            ) from None

    def resolved_secret_key(self) -> str:
        """The configured key, or one generated once and kept in the data folder."""
        if self.secret_key:
            return self.secret_key
        self.data_dir.mkdir(parents=True, exist_ok=True)
        path = self.data_dir / "secret_key"
        try:
            # O_EXCL: when several workers start at once, exactly one writes the key.
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(fd, "w") as f:
                f.write(secrets.token_hex(32))
        key = ""
        for _ in range(50):
            key = path.read_text().strip()
            if key:
                break
            time.sleep(0.01)
        if not key:
            raise ConfigError(f"{path} is empty; delete it or set PLAYGROUND_SECRET_KEY")
        return key


def postgres_url(url: str) -> URL:
    """A PostgreSQL URL for psycopg2, the driver the playground is built on.

    SQLAlchemy 2.1 maps a bare postgresql:// to psycopg 3; the lessons (and our guard, which uses
    psycopg2's cancel() and error classes) mean psycopg2.
    """
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise ConfigError("the PostgreSQL URL is not a database URL") from None
    if parsed.get_backend_name() != "postgresql":
        raise ConfigError(f"the PostgreSQL URL must start with postgresql://, not {parsed.drivername}://")
    if "+" in parsed.drivername and parsed.drivername != "postgresql+psycopg2":
        raise ConfigError(f"the PostgreSQL URL must use the psycopg2 driver, not {parsed.drivername}")
    return parsed.set(drivername="postgresql+psycopg2")


def _int(env: Mapping[str, str], name: str, default: int, *, minimum: int = 1, maximum: int | None = None) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, not {raw!r}") from None
    if value < minimum:
        raise ConfigError(f"{name} must be {'positive' if minimum == 1 else f'at least {minimum}'}, not {value}")
    if maximum is not None and value > maximum:
        raise ConfigError(f"{name} must be at most {maximum}, not {value}")
    return value


def _choice(env: Mapping[str, str], name: str, default: str, choices: tuple[str, ...]) -> str:
    raw = (env.get(name) or "").strip().lower()
    if not raw:
        return default
    if raw not in choices:
        raise ConfigError(f"{name} must be one of {', '.join(choices)}, not {env[name]!r}")
    return raw


def _host(env: Mapping[str, str], name: str, default: str) -> str:
    raw = (env.get(name) or "").strip()
    if not raw:
        return default
    try:
        ipaddress.ip_address(raw)
    except ValueError:
        if not _HOSTNAME.fullmatch(raw):
            raise ConfigError(f"{name} must be an IP address or a host name, not {raw!r}") from None
    return raw


def _secret_key(env: Mapping[str, str], name: str) -> str | None:
    raw = env.get(name) or None
    if raw is not None and len(raw) < MIN_SECRET_KEY_CHARS:
        # The value itself is never repeated: it is a secret, even when it is a bad one.
        raise ConfigError(
            f"{name} must be at least {MIN_SECRET_KEY_CHARS} characters long (it has {len(raw)}); "
            "leave it unset to have one generated"
        )
    return raw


def _teacher_password(env: Mapping[str, str], name: str) -> TeacherPassword | None:
    raw = env.get(name) or None
    if raw is None:
        return None
    if len(raw) < MIN_TEACHER_PASSWORD_CHARS or not raw.strip():
        # Never repeated: it is a secret, even when it is a bad one.
        raise ConfigError(
            f"{name} must be at least {MIN_TEACHER_PASSWORD_CHARS} characters long (it has {len(raw)}); "
            "leave it unset to turn the teacher's dashboard off"
        )
    return TeacherPassword.of(raw)


def _database_url(env: Mapping[str, str], name: str) -> str | None:
    raw = env.get(name) or None
    if raw is not None:
        try:
            postgres_url(raw)
        except ConfigError as e:
            raise ConfigError(f"{name}: {e}") from None
    return raw


def _prefix(env: Mapping[str, str], name: str, default: str) -> str:
    raw = env.get(name) or default
    if not SANDBOX_PREFIX.fullmatch(raw):
        raise ConfigError(f"{name} must be 1-20 lowercase letters, digits or _, starting with a letter, not {raw!r}")
    return raw
