"""The PostgreSQL admin connection: checking the admin role, cursors, dropping databases.

Everything the playground does through the admin URL (the secret, the template, sandboxes and
their roles: see `pg_sandboxes`, `pg_template`, `pg_roles`) goes through one `PgAdmin`. The names
it runs SQL on are names the playground generated; `ident` quotes them and refuses anything else.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg2
import psycopg2.errors
from sqlalchemy import create_engine
from sqlalchemy.engine import URL
from sqlalchemy.exc import DBAPIError

from ..config import ConfigError, Limits
from ..connections import ADMIN_POOL, POOL_TIMEOUT_SECONDS, ServerSlots
from ..startup import lock_key
from .pg_errors import first_line

_NAME = re.compile(r"[a-z][a-z0-9_]{0,62}")


class PgAdmin:
    """The admin role's engine, what that role may do, and the admin-only operations the others share."""

    def __init__(self, url: URL, limits: Limits, prefix: str) -> None:
        self.url = url
        self.limits = limits
        self.prefix = prefix
        self._admin = create_engine(
            url,
            isolation_level="AUTOCOMMIT",
            # Small: its connections count in the server's connection budget (see connections.py).
            pool_size=ADMIN_POOL.size,
            max_overflow=ADMIN_POOL.overflow,
            pool_timeout=POOL_TIMEOUT_SECONDS,
            pool_pre_ping=True,
            connect_args={"connect_timeout": 10, "application_name": "playground-admin"},
        )
        self.can_set_temp_file_limit = False
        self.can_signal = False
        self.server_version = 0
        self.check()

    def check(self) -> None:
        """Raise ConfigError (one line) unless the admin URL connects as a role that can make sandboxes."""
        try:
            with self._admin.connect() as conn:
                row = conn.exec_driver_sql(
                    "SELECT current_user, r.rolsuper, r.rolcreaterole, r.rolcreatedb, "
                    "current_setting('server_version_num')::int, "
                    "pg_has_role('pg_signal_backend', 'USAGE') "
                    "FROM pg_roles r WHERE r.rolname = current_user"
                ).one()
                user, superuser, createrole, createdb, version, signal = row
                temp_limit = superuser or (
                    version >= 150000
                    and conn.exec_driver_sql("SELECT has_parameter_privilege('temp_file_limit', 'SET')").scalar_one()
                )
        except DBAPIError as e:
            raise ConfigError(
                f"cannot use the PostgreSQL admin URL {self.safe_url()}: {first_line(e.orig or e)}"
            ) from None
        if version < 130000:
            raise ConfigError(f"PostgreSQL 13 or later is needed; {self.safe_url()} runs {version}")
        if not superuser and not (createrole and createdb):
            raise ConfigError(
                f"the PostgreSQL admin role {user!r} needs CREATEROLE and CREATEDB "
                f"(as a superuser: ALTER ROLE {user} CREATEROLE CREATEDB)"
            )
        self.can_set_temp_file_limit = bool(temp_limit)
        self.can_signal = bool(superuser or signal)
        self.server_version = version

    def connection_slots(self) -> ServerSlots:
        """How many connections the server lets this deployment have (see connections.py)."""
        with self.cursor() as cur:
            cur.execute(
                "SELECT current_setting('max_connections')::int, "
                "current_setting('superuser_reserved_connections')::int "
                "+ coalesce(current_setting('reserved_connections', true)::int, 0), "
                "r.rolconnlimit, d.datconnlimit FROM pg_roles r, pg_database d "
                "WHERE r.rolname = current_user AND d.datname = current_database()"
            )
            return ServerSlots(*cur.fetchone())

    def close(self) -> None:
        """Dispose of the admin engine."""
        self._admin.dispose()

    @contextmanager
    def cursor(self) -> Iterator[Any]:
        """A psycopg2 cursor on an admin connection (autocommit)."""
        with self._admin.connect() as conn:
            raw = conn.connection.driver_connection
            with raw.cursor() as cur:
                yield cur

    @contextmanager
    def setup_lock(self) -> Iterator[None]:
        """One process at a time makes what the prefix's processes share (the secret, the template).

        A session advisory lock on a connection of its own, outside the pool (which may be a single
        connection that the work under the lock needs): closing it releases the lock, and so does
        the death of the process that holds it.
        """
        conn = psycopg2.connect(
            self.url.set(drivername="postgresql").render_as_string(hide_password=False),
            connect_timeout=10,
            application_name="playground-admin",
        )
        try:
            conn.autocommit = True
            with conn.cursor() as cur:
                cur.execute("SET lock_timeout = '120s'")
                cur.execute("SELECT pg_catalog.pg_advisory_lock(%s)", (lock_key(f"playground:{self.prefix}:setup"),))
            yield
        finally:
            conn.close()

    def run_in(self, database: str, sql: str) -> None:
        """Run `sql` as the admin role in another database (a sandbox), in one transaction, one process at a time."""
        conn = psycopg2.connect(
            self.url.set(drivername="postgresql", database=database).render_as_string(hide_password=False),
            connect_timeout=10,
            application_name="playground-admin",
        )
        try:
            with conn, conn.cursor() as cur:
                cur.execute("SELECT pg_catalog.pg_advisory_xact_lock(%s)", (lock_key(f"playground:{database}"),))
                cur.execute(sql)
        finally:
            conn.close()

    def safe_url(self) -> str:
        return self.url.render_as_string(hide_password=True)

    def pattern(self, kinds: str) -> str:
        """A regular expression for the names this prefix generates (prefixes are [a-z0-9_])."""
        return f"^{self.prefix}_({kinds})_[0-9a-f]+$"

    def drop_database(self, name: str) -> None:
        """Drop a database, ending its sessions if the admin may, else waiting for them."""
        quoted = ident(name)
        with self.cursor() as cur:
            try:
                cur.execute(f"ALTER DATABASE {quoted} ALLOW_CONNECTIONS false")
            except psycopg2.errors.InvalidCatalogName:
                return
            if self.can_signal:
                cur.execute(f"DROP DATABASE IF EXISTS {quoted} WITH (FORCE)")
                return
            # PostgreSQL itself waits up to 5 s for other sessions to end; a run ends at the
            # time limit, so a few rounds are enough.
            rounds = 2 + int(self.limits.time_limit_ms / 5000)
            for attempt in range(rounds):
                try:
                    cur.execute(f"DROP DATABASE IF EXISTS {quoted}")
                    return
                except psycopg2.errors.ObjectInUse:
                    if attempt == rounds - 1:
                        raise


def ident(name: str) -> str:
    """A name we generated, double-quoted; anything else is a bug."""
    if not _NAME.fullmatch(name):
        raise ValueError(f"not a generated name: {name!r}")
    return f'"{name}"'
