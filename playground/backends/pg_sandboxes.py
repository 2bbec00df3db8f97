"""PostgreSQL sandboxes: made, reset and dropped through the admin connection.

The sandbox model and the admin role's minimal privileges are described at the top of
`playground.backends.postgresql`. This module holds the deployment's secret (which names and
passwords derive from), each sandbox's name and login URL, and the sandbox's lifecycle:
creating its database from the template, resetting it, dropping it, and dropping everything of
this prefix. It uses `pg_admin` (the admin connection), `pg_template` (the template database)
and `pg_roles` (the sandbox's login and owner roles, and the hand-over of the sample).
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import re
import secrets
import time
from collections.abc import Callable, Iterable
from importlib import resources
from typing import Any

import psycopg2
import psycopg2.errors
from sqlalchemy.engine import URL

from ..config import SANDBOX_PREFIX, ConfigError, Limits, postgres_url
from .base import check_visitor_id
from .pg_admin import PgAdmin, ident
from .pg_commits import CREATE_LOG
from .pg_errors import first_line
from .pg_roles import PgRoles, owner_of
from .pg_spares import SpareSandboxes
from .pg_template import ensure_template


class PgSandboxes:
    """Sandboxes as databases `<prefix>_sb_<id>` with login roles of the same name."""

    def __init__(
        self,
        admin_url: str,
        limits: Limits,
        sandbox_prefix: str = "pgsb",
        sample_sql: str | None = None,
        *,
        spare_sandboxes: int = 0,
        starting_point: Callable[[], str | None] = lambda: None,
    ) -> None:
        # The teacher's starting data (a template database of this prefix), or None for the sample's;
        # asked only when a sandbox is made (every worker sees the same answer).
        self.starting_point = starting_point
        if not SANDBOX_PREFIX.fullmatch(sandbox_prefix):
            raise ConfigError(
                f"the PostgreSQL sandbox prefix must be 1-20 lowercase letters, digits or _, "
                f"starting with a letter, not {sandbox_prefix!r}"
            )
        self.limits = limits
        self.prefix = sandbox_prefix
        url = postgres_url(admin_url)
        self.sample_sql = (
            sample_sql
            if sample_sql is not None
            else resources.files("playground").joinpath("sample/postgresql.sql").read_text(encoding="utf-8")
        )
        self.admin = PgAdmin(url, limits, sandbox_prefix)
        self._secret = self._load_secret()
        self.roles = PgRoles(self.admin, self._password)
        self.template = ensure_template(self.admin, self.sample_sql)
        self.spares = SpareSandboxes(
            self.admin,
            spare_sandboxes,
            template=self.current_template,
            make=self._make_spare,
            drop=self._drop_spare,
            password=self._password,
        )

    def current_template(self) -> str:
        """What new sandboxes are copied from: the teacher's starting data if set (and there), else the sample's template."""
        name = self.starting_point()
        if name and re.fullmatch(self.admin.pattern("cls"), name):
            with self.admin.cursor() as cur:
                cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
                if cur.fetchone() is not None:
                    return name
        return self.template

    # -- the admin connection (see pg_admin) ----------------------------------------------

    @property
    def admin_url(self) -> URL:
        return self.admin.url

    def check_admin(self) -> None:
        """Raise ConfigError (one line) unless the admin URL connects as a role that can make sandboxes."""
        self.admin.check()

    def close(self) -> None:
        """Dispose of the admin engine."""
        self.admin.close()

    def _load_secret(self) -> bytes:
        """The deployment's secret for names and passwords, kept in the admin database.

        Read without a lock (all a worker does once it exists); made by one process at a time,
        under the setup lock: several processes changing the table's privileges at once make
        PostgreSQL fail one of them ("tuple concurrently updated").
        """
        table = ident(f"{self.prefix}_secret")
        with self.admin.cursor() as cur:
            secret = _read_secret(cur, table)
        if secret is not None:
            return secret
        try:
            with self.admin.setup_lock(), self.admin.cursor() as cur:
                secret = _read_secret(cur, table)
                if secret is not None:
                    return secret
                cur.execute(f"CREATE TABLE IF NOT EXISTS {table} (id int PRIMARY KEY, secret text NOT NULL)")
                cur.execute(f"REVOKE ALL ON {table} FROM PUBLIC")
                cur.execute(
                    f"INSERT INTO {table} (id, secret) VALUES (1, %s) ON CONFLICT (id) DO NOTHING",
                    (secrets.token_hex(32),),
                )
                cur.execute(f"SELECT secret FROM {table} WHERE id = 1")
                return bytes.fromhex(cur.fetchone()[0])
        except psycopg2.errors.InsufficientPrivilege as e:
            raise ConfigError(
                f"the PostgreSQL admin role cannot keep the sandbox secret in its database "
                f"({first_line(e)}); let the admin role own its database"
            ) from None

    # -- names --------------------------------------------------------------------------

    def sandbox_name(self, visitor: str) -> str:
        """The opaque name of the visitor's database and role."""
        digest = hmac.new(self._secret, f"sandbox:{check_visitor_id(visitor)}".encode(), hashlib.sha256)
        return f"{self.prefix}_sb_{digest.hexdigest()[:24]}"

    def commit_mark(self, token: str) -> str:
        """What a sandbox's commit log keeps for a commit token: nothing the student can compute (see pg_commits)."""
        return hmac.new(self._secret, f"commit:{token}".encode(), hashlib.sha256).hexdigest()

    def _password(self, role: str) -> str:
        return hmac.new(self._secret, f"password:{role}".encode(), hashlib.sha256).hexdigest()

    def sandbox_url(self, visitor: str, *, database: str | None = None) -> URL:
        """How the visitor's role logs in (to its own database unless told otherwise)."""
        return self.role_url(self.sandbox_name(visitor), database=database)

    def role_url(self, role: str, *, database: str | None = None) -> URL:
        """How sandbox role `role` logs in (to its own database unless told otherwise)."""
        return self.admin_url.set(username=role, password=self._password(role), database=database or role)

    # -- sandboxes ----------------------------------------------------------------------

    def exists(self, visitor: str) -> bool:
        """Whether the visitor's sandbox database is there (ready or not)."""
        with self.admin.cursor() as cur:
            cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (self.sandbox_name(visitor),))
            return cur.fetchone() is not None

    def add_commit_log(self, name: str) -> None:
        """The commit log, in a sandbox made from a template that did not have it yet."""
        self.admin.run_in(name, CREATE_LOG)

    def ensure_sandbox(self, visitor: str, *, from_sample: bool = False) -> bool:
        name = self.sandbox_name(visitor)
        created: list[bool] = []
        for attempt in range(5):
            try:
                self._ensure(name, created, claim=not from_sample, from_sample=from_sample)
                return bool(created)
            except psycopg2.errors.InvalidCatalogName:
                # The template went away (another process rebuilt it for another sample).
                self.template = ensure_template(self.admin, self.sample_sql)
            except (
                psycopg2.errors.InternalError_,
                psycopg2.errors.ObjectInUse,
                psycopg2.errors.InsufficientPrivilege,
                psycopg2.errors.UniqueViolation,
            ):
                # Two processes making the same sandbox: "tuple concurrently updated" on a catalog
                # row both change, one took back the admin's owner membership the other used, or
                # both granted the same membership at once (a duplicate pg_auth_members row).
                if attempt == 4:
                    raise
            time.sleep(0.05 * (attempt + 1))
        self._ensure(name, created, claim=not from_sample, from_sample=from_sample)
        return bool(created)

    def _ensure(
        self,
        name: str,
        created: list[bool],
        *,
        claim: bool = True,
        from_sample: bool = False,
        template: str | None = None,
    ) -> None:
        """Create what is missing of the sandbox; appends to `created` once it made the database.

        The sandbox is ready once its role may CONNECT to it, which is granted last.
        """
        quoted, owner = ident(name), owner_of(name)
        with self.admin.cursor() as cur:
            cur.execute(
                "SELECT d.datallowconn, r.rolcanlogin, "
                "CASE WHEN d.oid IS NOT NULL AND r.oid IS NOT NULL "
                "THEN has_database_privilege(r.oid, d.oid, 'CONNECT') END "
                "FROM (SELECT 1) one LEFT JOIN pg_database d ON d.datname = %s "
                "LEFT JOIN pg_roles r ON r.rolname = %s",
                (name, name),
            )
            allow, can_login, can_connect = cur.fetchone()
        if allow and can_login and can_connect:
            return
        # Outside that cursor: claiming a spare takes admin connections of its own, and the admin
        # pool is small (connections.py), so one thread must never hold two of them.
        if claim and allow is None and can_login is None and self.spares.claim(name):
            created.append(True)  # a spare made ahead of time is now this visitor's
            return
        with self.admin.cursor() as cur:
            self.roles.ensure(cur, name)
            if allow is None:
                try:
                    if template is None:
                        template = self.template if from_sample else self.current_template()
                    cur.execute(f"CREATE DATABASE {quoted} TEMPLATE {ident(template)} ALLOW_CONNECTIONS false")
                    created.append(True)
                except (psycopg2.errors.DuplicateDatabase, psycopg2.errors.UniqueViolation):
                    pass  # another process is creating it
            cur.execute(f"REVOKE ALL ON DATABASE {quoted} FROM PUBLIC")
            cur.execute(f"ALTER DATABASE {quoted} ALLOW_CONNECTIONS true")  # nobody else may CONNECT yet
            self.roles.hand_over_sample(cur, name, owner)
            cur.execute(f"GRANT {ident(owner)} TO {quoted}")
            cur.execute(f"GRANT CONNECT, TEMPORARY ON DATABASE {quoted} TO {quoted}")

    def _make_spare(self, name: str, template: str) -> None:
        """A complete sandbox under `name` (a random one no visitor id maps to), copied from `template`."""
        self._ensure(name, [], claim=False, template=template)

    def repair_role(self, name: str) -> None:
        """Undo what sandbox role `name` may have done to itself (its password, its defaults)."""
        with self.admin.cursor() as cur:
            self.roles.repair(cur, name)

    def reset_sandbox(self, visitor: str) -> None:
        name = self.sandbox_name(visitor)
        self._end_idle_sessions(name)
        self.admin.drop_database(name)
        with self.admin.cursor() as cur:
            cur.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (name,))
            if cur.fetchone() is not None:
                self.roles.repair(cur, name)
        self.ensure_sandbox(visitor)

    def drop_sandbox(self, visitor: str) -> None:
        self._drop_by_name(self.sandbox_name(visitor))
        self.roles.drop_orphans()

    def sandbox_sizes(self, visitors: Iterable[str]) -> dict[str, int]:
        """Bytes of each visitor's sandbox database that exists (PostgreSQL's own count)."""
        by_name = {self.sandbox_name(v): v for v in visitors}
        if not by_name:
            return {}
        with self.admin.cursor() as cur:
            cur.execute(
                "SELECT datname, pg_catalog.pg_database_size(oid) FROM pg_database WHERE datname = ANY(%s)",
                (list(by_name),),
            )
            return {by_name[name]: int(size) for name, size in cur.fetchall()}

    # -- the teacher's starting data (playground/classroom.py) --------------------------------

    def make_sample_sandbox(self, visitor: str) -> None:
        """The visitor's sandbox becomes a copy of the sample's template (where starting data is staged)."""
        name = self.sandbox_name(visitor)
        self.admin.drop_database(name)
        with self.admin.cursor() as cur:
            cur.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (name,))
            if cur.fetchone() is not None:
                self.roles.repair(cur, name)
        self.ensure_sandbox(visitor, from_sample=True)

    def capture_starting_data(self, visitor: str) -> str:
        """A template database copied from the visitor's sandbox, its objects the admin's (as the sample's are).

        New sandboxes are made from it as from the sample's template: the hand-over gives each one's
        objects to its own owner role. The admin is a member of the sandbox's two roles only while it
        takes their objects over (REASSIGN OWNED needs that), and the sandbox is dropped afterwards.
        """
        name = self.sandbox_name(visitor)
        owner = owner_of(name)
        target = f"{self.prefix}_cls_{secrets.token_hex(8)}"
        with self.admin.cursor() as cur:
            for attempt in range(20):
                try:
                    cur.execute(f"CREATE DATABASE {ident(target)} TEMPLATE {ident(name)}")
                    break
                except psycopg2.errors.ObjectInUse:
                    if attempt == 19:  # the sandbox's last session is still closing
                        raise
                    time.sleep(0.1)
            cur.execute(f"REVOKE ALL ON DATABASE {ident(target)} FROM PUBLIC")
            cur.execute(f"GRANT {ident(owner)}, {ident(name)} TO CURRENT_USER")
        try:
            conn = psycopg2.connect(
                self.admin.url.set(drivername="postgresql", database=target).render_as_string(hide_password=False),
                connect_timeout=10,
                application_name="playground-admin",
            )
            try:
                with conn, conn.cursor() as cur:
                    cur.execute(f"REASSIGN OWNED BY {ident(owner)}, {ident(name)} TO CURRENT_USER")
                    cur.execute(f"DROP OWNED BY {ident(owner)}, {ident(name)}")
                    cur.execute("TRUNCATE playground.commits")
            finally:
                conn.close()
        except BaseException:
            self.admin.drop_database(target)
            raise
        finally:
            with self.admin.cursor() as cur:
                cur.execute(f"REVOKE {ident(owner)}, {ident(name)} FROM CURRENT_USER")
        with self.admin.cursor() as cur:
            cur.execute(f"COMMENT ON DATABASE {ident(target)} IS %s", ("SQL Playground starting data (a template)",))
        return target

    def discard_starting_data(self, keep: str | None) -> None:
        """Starting data templates other than `keep` (best effort: one being copied right now stays for later)."""
        with self.admin.cursor() as cur:
            cur.execute("SELECT datname FROM pg_database WHERE datname ~ %s", (self.admin.pattern("cls"),))
            names = [r[0] for r in cur.fetchall() if r[0] != keep]
        for name in names:
            with contextlib.suppress(psycopg2.Error):
                self.admin.drop_database(name)
        self.spares.top_up()  # spares of the old starting data are dropped and made anew

    def _drop_by_name(self, name: str) -> None:
        self._end_idle_sessions(name)
        self.admin.drop_database(name)

    def _drop_spare(self, name: str) -> None:
        """A spare's database and its two roles (a random name: nobody will ask for them again)."""
        self._drop_by_name(name)
        self.roles.drop(name)

    def _end_idle_sessions(self, name: str) -> None:
        """Before a drop: end the idle connections app processes keep for this sandbox (pg_pool).

        With the right to signal, DROP DATABASE ... WITH (FORCE) ends them; without it, the drop
        would wait for them, so the sandbox's role ends its own idle sessions (a role may end
        its own backends). Best effort: a run going on meanwhile is waited for, as before.
        """
        if self.admin.can_signal:
            return
        try:
            conn = psycopg2.connect(
                self.role_url(name).set(drivername="postgresql").render_as_string(hide_password=False),
                connect_timeout=10,
                application_name="playground-admin",
            )
        except psycopg2.Error:
            return  # no such database any more, or the role's connections are all in use
        try:
            conn.autocommit = True
            with conn.cursor() as cur:
                cur.execute(
                    "SELECT pg_catalog.pg_terminate_backend(a.pid) FROM pg_catalog.pg_stat_activity a "
                    "WHERE a.usename = current_user AND a.datname = pg_catalog.current_database() "
                    "AND a.pid <> pg_catalog.pg_backend_pid() AND a.state = 'idle' "
                    "AND a.backend_type = 'client backend'"
                )
        except psycopg2.Error:
            pass
        finally:
            conn.close()
        self.roles.drop(name)

    def drop_everything(self) -> None:
        """Drop every sandbox, template and role of this prefix, and the secret table.

        Close the engines logged in as sandbox roles first (`PostgresBackend.drop_everything` does).
        """
        self.spares.stop()
        # Another process may still be making a spare: list again until no database and no role
        # of the prefix is left (a role cannot go while a database holds objects it owns).
        for attempt in range(5):
            with self.admin.cursor() as cur:
                cur.execute(
                    "SELECT datname FROM pg_database WHERE datname ~ %s", (self.admin.pattern("sb|tpl|tmp|cls"),)
                )
                databases = [r[0] for r in cur.fetchall()]
            for name in databases:
                self.admin.drop_database(name)
            try:
                with self.admin.cursor() as cur:
                    cur.execute(
                        "SELECT rolname FROM pg_roles WHERE rolname ~ %s ORDER BY rolname",
                        (self.admin.pattern("sb|own"),),
                    )
                    for (name,) in cur.fetchall():
                        cur.execute(f"DROP ROLE IF EXISTS {ident(name)}")
                    cur.execute(f"DROP TABLE IF EXISTS {ident(f'{self.prefix}_secret')}")
                return
            except psycopg2.errors.DependentObjectsStillExist:
                if attempt == 4:
                    raise


def _read_secret(cur: Any, table: str) -> bytes | None:
    """The secret, or None while its table or row does not exist yet (autocommit: a failed read ends nothing)."""
    try:
        cur.execute(f"SELECT secret FROM {table} WHERE id = 1")
    except (psycopg2.errors.UndefinedTable, psycopg2.errors.InsufficientPrivilege):
        return None
    row = cur.fetchone()
    return bytes.fromhex(row[0]) if row else None
