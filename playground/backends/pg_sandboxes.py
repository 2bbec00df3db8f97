"""PostgreSQL sandboxes and their roles: made, repaired and dropped through the admin connection.

The sandbox model and the admin role's minimal privileges are described at the top of
`playground.backends.postgresql`. This module holds everything that uses the admin URL: the
deployment's secret (which names and passwords derive from), the template database built from
the sample, each sandbox's database, login role and NOLOGIN owner role, the hand-over of the
sample's objects to that owner, role repair, and dropping it all again.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from importlib import resources
from typing import Any

import psycopg2
import psycopg2.errors
import psycopg2.extensions
from sqlalchemy import create_engine
from sqlalchemy.engine import URL
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import NullPool

from ..config import ConfigError, Limits, postgres_url
from .base import check_visitor_id

log = logging.getLogger("playground.postgresql")

_PREFIX = re.compile(r"[a-z][a-z0-9_]{0,19}")
_NAME = re.compile(r"[a-z][a-z0-9_]{0,62}")
# Sessions a sandbox role may hold at once: a run, a commit, the schema pane and one spare.
_ROLE_CONNECTION_LIMIT = 4
# Changes whenever what _build_template does changes, so that old templates are not reused.
_TEMPLATE_RECIPE = "2"


class PgSandboxes:
    """Sandboxes as databases `<prefix>_sb_<id>` with login roles of the same name."""

    def __init__(
        self, admin_url: str, limits: Limits, sandbox_prefix: str = "pgsb", sample_sql: str | None = None
    ) -> None:
        if not _PREFIX.fullmatch(sandbox_prefix):
            raise ConfigError(
                f"the PostgreSQL sandbox prefix must be 1-20 lowercase letters, digits or _, "
                f"starting with a letter, not {sandbox_prefix!r}"
            )
        self.limits = limits
        self.prefix = sandbox_prefix
        self.admin_url = postgres_url(admin_url)
        self.sample_sql = (
            sample_sql
            if sample_sql is not None
            else resources.files("playground").joinpath("sample/postgresql.sql").read_text(encoding="utf-8")
        )
        self._admin = create_engine(
            self.admin_url,
            isolation_level="AUTOCOMMIT",
            pool_size=2,
            max_overflow=4,
            pool_pre_ping=True,
            connect_args={"connect_timeout": 10, "application_name": "playground-admin"},
        )
        self.can_set_temp_file_limit = False
        self.can_signal = False
        self.check_admin()
        self._secret = self._load_secret()
        self.template = self._ensure_template()

    # -- the admin connection -----------------------------------------------------------

    def check_admin(self) -> None:
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
                f"cannot use the PostgreSQL admin URL {self._safe_url()}: {first_line(e.orig or e)}"
            ) from None
        if version < 130000:
            raise ConfigError(f"PostgreSQL 13 or later is needed; {self._safe_url()} runs {version}")
        if not superuser and not (createrole and createdb):
            raise ConfigError(
                f"the PostgreSQL admin role {user!r} needs CREATEROLE and CREATEDB "
                f"(as a superuser: ALTER ROLE {user} CREATEROLE CREATEDB)"
            )
        self.can_set_temp_file_limit = bool(temp_limit)
        self.can_signal = bool(superuser or signal)

    def close(self) -> None:
        """Dispose of the admin engine."""
        self._admin.dispose()

    @contextmanager
    def _admin_cursor(self) -> Iterator[Any]:
        with self._admin.connect() as conn:
            raw = conn.connection.driver_connection
            with raw.cursor() as cur:
                yield cur

    def _safe_url(self) -> str:
        return self.admin_url.render_as_string(hide_password=True)

    def _load_secret(self) -> bytes:
        """The deployment's secret for names and passwords, kept in the admin database."""
        table = _ident(f"{self.prefix}_secret")
        for attempt in range(5):
            try:
                with self._admin_cursor() as cur:
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
            except psycopg2.errors.UniqueViolation:
                # Two processes creating the table at once: one of them loses a catalog race.
                if attempt == 4:
                    raise
            time.sleep(0.1)
        raise AssertionError("unreachable")

    # -- names --------------------------------------------------------------------------

    def sandbox_name(self, visitor: str) -> str:
        """The opaque name of the visitor's database and role."""
        digest = hmac.new(self._secret, f"sandbox:{check_visitor_id(visitor)}".encode(), hashlib.sha256)
        return f"{self.prefix}_sb_{digest.hexdigest()[:24]}"

    def _pattern(self, kinds: str) -> str:
        """A regular expression for the names this prefix generates (prefixes are [a-z0-9_])."""
        return f"^{self.prefix}_({kinds})_[0-9a-f]+$"

    def _password(self, role: str) -> str:
        return hmac.new(self._secret, f"password:{role}".encode(), hashlib.sha256).hexdigest()

    def sandbox_url(self, visitor: str, *, database: str | None = None) -> URL:
        """How the visitor's role logs in (to its own database unless told otherwise)."""
        return self.role_url(self.sandbox_name(visitor), database=database)

    def role_url(self, role: str, *, database: str | None = None) -> URL:
        """How sandbox role `role` logs in (to its own database unless told otherwise)."""
        return self.admin_url.set(username=role, password=self._password(role), database=database or role)

    # -- the template -------------------------------------------------------------------

    def _ensure_template(self) -> str:
        """The template database for this sample; built (under a temporary name) if missing."""
        digest = hashlib.sha256(f"{_TEMPLATE_RECIPE}\n{self.sample_sql}".encode()).hexdigest()
        name = f"{self.prefix}_tpl_{digest[:16]}"
        with self._admin_cursor() as cur:
            cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
            exists = cur.fetchone() is not None
        if not exists:
            self._build_template(name, digest)
        self._drop_old_templates(keep=name)
        return name

    def _build_template(self, name: str, digest: str) -> None:
        building = f"{self.prefix}_tmp_{secrets.token_hex(8)}"
        with self._admin_cursor() as cur:
            cur.execute(f"CREATE DATABASE {_ident(building)} TEMPLATE template0 ENCODING 'UTF8'")
            cur.execute(f"REVOKE ALL ON DATABASE {_ident(building)} FROM PUBLIC")
        try:
            seed = create_engine(
                self.admin_url.set(database=building),
                poolclass=NullPool,
                connect_args={"connect_timeout": 10, "application_name": "playground-admin"},
            )
            try:
                with seed.begin() as conn, conn.connection.driver_connection.cursor() as cur:
                    cur.execute(self.sample_sql)
                    # Only the sandbox's own role can connect to a sandbox: PUBLIC means that role.
                    cur.execute("GRANT USAGE, CREATE ON SCHEMA public TO PUBLIC")
            finally:
                seed.dispose()
            with self._admin_cursor() as cur:
                cur.execute(
                    f"COMMENT ON DATABASE {_ident(building)} IS %s",
                    (f"SQL Playground sandbox template, sample sha256:{digest}",),
                )
                try:
                    cur.execute(f"ALTER DATABASE {_ident(building)} RENAME TO {_ident(name)}")
                    return
                except psycopg2.errors.DuplicateDatabase:
                    pass  # another process built the same template a moment ago
        except BaseException:
            self._drop_database(building)
            raise
        self._drop_database(building)

    def _drop_old_templates(self, keep: str) -> None:
        """Templates of other samples and abandoned builds (best effort; they may be in use)."""
        with self._admin_cursor() as cur:
            cur.execute(
                "SELECT datname FROM pg_database WHERE datname ~ %s AND datname <> %s",
                (self._pattern("tpl"), keep),
            )
            old = [r[0] for r in cur.fetchall()]
        for name in old:
            try:
                with self._admin_cursor() as cur:
                    cur.execute(f"DROP DATABASE IF EXISTS {_ident(name)}")
            except psycopg2.Error as e:
                log.info("old template %s not dropped: %s", name, first_line(e))

    # -- sandboxes ----------------------------------------------------------------------

    def ensure_sandbox(self, visitor: str) -> bool:
        name = self.sandbox_name(visitor)
        created: list[bool] = []
        for attempt in range(5):
            try:
                self._ensure(name, created)
                return bool(created)
            except psycopg2.errors.InvalidCatalogName:
                # The template went away (another process rebuilt it for another sample).
                self.template = self._ensure_template()
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
        self._ensure(name, created)
        return bool(created)

    def _ensure(self, name: str, created: list[bool]) -> None:
        """Create what is missing of the sandbox; appends to `created` once it made the database.

        The sandbox is ready once its role may CONNECT to it, which is granted last.
        """
        ident, owner = _ident(name), _owner_of(name)
        with self._admin_cursor() as cur:
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
            self._ensure_role(cur, name)
            with suppress(psycopg2.errors.DuplicateObject, psycopg2.errors.UniqueViolation):
                cur.execute(f"CREATE ROLE {_ident(owner)} NOLOGIN NOINHERIT")
            if allow is None:
                try:
                    cur.execute(f"CREATE DATABASE {ident} TEMPLATE {_ident(self.template)} ALLOW_CONNECTIONS false")
                    created.append(True)
                except (psycopg2.errors.DuplicateDatabase, psycopg2.errors.UniqueViolation):
                    pass  # another process is creating it
            cur.execute(f"REVOKE ALL ON DATABASE {ident} FROM PUBLIC")
            cur.execute(f"ALTER DATABASE {ident} ALLOW_CONNECTIONS true")  # nobody else may CONNECT yet
            self._hand_over_sample(cur, name, owner)
            cur.execute(f"GRANT {_ident(owner)} TO {ident}")
            cur.execute(f"GRANT CONNECT, TEMPORARY ON DATABASE {ident} TO {ident}")

    def _hand_over_sample(self, cur: Any, name: str, owner: str) -> None:
        """Give the sample's objects to the sandbox's owner role, of which the sandbox role is a member.

        ALTER ... OWNER needs the admin to be a member of the new owner: it is, for this step only.
        (The sandbox role itself is never granted to the admin.)
        """
        cur.execute(f"GRANT {_ident(owner)} TO CURRENT_USER")
        try:
            conn = psycopg2.connect(
                self.admin_url.set(drivername="postgresql", database=name).render_as_string(hide_password=False),
                connect_timeout=10,
                application_name="playground-admin",
            )
            try:
                conn.autocommit = True
                with conn.cursor() as sandbox:
                    while statement := _next_hand_over(sandbox, owner):
                        try:
                            sandbox.execute(statement)
                        except psycopg2.errors.InsufficientPrivilege:
                            # Another process handed it over a moment ago, or this fails for real.
                            if _next_hand_over(sandbox, owner) == statement:
                                raise
            finally:
                conn.close()
        finally:
            cur.execute(f"REVOKE {_ident(owner)} FROM CURRENT_USER")

    def _ensure_role(self, cur: Any, name: str) -> None:
        ident = _ident(name)
        attributes = (
            f"LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE INHERIT NOREPLICATION NOBYPASSRLS "
            f"CONNECTION LIMIT {_ROLE_CONNECTION_LIMIT}"
        )
        # The server stores only a SCRAM verifier computed here: no password in its logs.
        verifier = psycopg2.extensions.encrypt_password(self._password(name), name, cur.connection, "scram-sha-256")
        try:
            cur.execute(f"CREATE ROLE {ident} {attributes} PASSWORD %s", (verifier,))
        except (psycopg2.errors.DuplicateObject, psycopg2.errors.UniqueViolation):
            self._repair_role(cur, name)
            return
        if self.can_set_temp_file_limit:
            cur.execute(f"ALTER ROLE {ident} SET temp_file_limit = %s", (self._temp_file_limit(),))

    def repair_role(self, name: str) -> None:
        """Undo what sandbox role `name` may have done to itself (its password, its defaults)."""
        with self._admin_cursor() as cur:
            self._repair_role(cur, name)

    def _repair_role(self, cur: Any, name: str) -> None:
        """Undo what the role may have done to itself (its password, its defaults)."""
        ident = _ident(name)
        verifier = psycopg2.extensions.encrypt_password(self._password(name), name, cur.connection, "scram-sha-256")
        cur.execute(
            # (Attributes only a superuser may change, a sandbox role cannot have changed either.)
            f"ALTER ROLE {ident} LOGIN NOCREATEDB NOCREATEROLE INHERIT "
            f"CONNECTION LIMIT {_ROLE_CONNECTION_LIMIT} PASSWORD %s",
            (verifier,),
        )
        cur.execute(f"ALTER ROLE {ident} RESET ALL")
        # PostgreSQL 15 lets a session user grant its own role: take back any grant to the admin.
        cur.execute(
            "SELECT 1 FROM pg_auth_members m JOIN pg_roles r ON r.oid = m.roleid "
            "WHERE r.rolname = %s AND m.member = (SELECT oid FROM pg_roles WHERE rolname = CURRENT_USER)",
            (name,),
        )
        if cur.fetchone():
            cur.execute(f"REVOKE {ident} FROM CURRENT_USER")
        if self.can_set_temp_file_limit:
            cur.execute(f"ALTER ROLE {ident} SET temp_file_limit = %s", (self._temp_file_limit(),))

    def _temp_file_limit(self) -> str:
        return f"{max(1024, self.limits.postgres_max_bytes // 1024)}kB"

    def reset_sandbox(self, visitor: str) -> None:
        name = self.sandbox_name(visitor)
        self._drop_database(name)
        with self._admin_cursor() as cur:
            cur.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (name,))
            if cur.fetchone() is not None:
                self._repair_role(cur, name)
        self.ensure_sandbox(visitor)

    def drop_sandbox(self, visitor: str) -> None:
        name = self.sandbox_name(visitor)
        self._drop_database(name)
        self._drop_role(name)
        self._drop_orphan_roles()

    def _drop_role(self, name: str) -> None:
        with self._admin_cursor() as cur:
            try:
                cur.execute(f"DROP ROLE IF EXISTS {_ident(name)}")
            except psycopg2.errors.DependentObjectsStillExist:
                # Another sandbox's role granted it a privilege; that grant goes when that
                # sandbox goes. Until then the role cannot log in; a later drop retries.
                cur.execute(f"ALTER ROLE {_ident(name)} NOLOGIN PASSWORD NULL")
            with suppress(psycopg2.errors.DependentObjectsStillExist):
                cur.execute(f"DROP ROLE IF EXISTS {_ident(_owner_of(name))}")

    def _drop_orphan_roles(self) -> None:
        with self._admin_cursor() as cur:
            cur.execute(
                "SELECT r.rolname FROM pg_roles r WHERE r.rolname ~ %s AND NOT r.rolcanlogin "
                "AND NOT EXISTS (SELECT 1 FROM pg_database d "
                "WHERE d.datname = regexp_replace(r.rolname, '_own_([0-9a-f]+)$', '_sb_\\1'))",
                (self._pattern("sb|own"),),
            )
            orphans = [r[0] for r in cur.fetchall()]
        for name in orphans:
            with self._admin_cursor() as cur, suppress(psycopg2.errors.DependentObjectsStillExist):
                cur.execute(f"DROP ROLE IF EXISTS {_ident(name)}")

    def _drop_database(self, name: str) -> None:
        """Drop a database, ending its sessions if the admin may, else waiting for them."""
        ident = _ident(name)
        with self._admin_cursor() as cur:
            try:
                cur.execute(f"ALTER DATABASE {ident} ALLOW_CONNECTIONS false")
            except psycopg2.errors.InvalidCatalogName:
                return
            if self.can_signal:
                cur.execute(f"DROP DATABASE IF EXISTS {ident} WITH (FORCE)")
                return
            # PostgreSQL itself waits up to 5 s for other sessions to end; a run ends at the
            # time limit, so a few rounds are enough.
            rounds = 2 + int(self.limits.time_limit_ms / 5000)
            for attempt in range(rounds):
                try:
                    cur.execute(f"DROP DATABASE IF EXISTS {ident}")
                    return
                except psycopg2.errors.ObjectInUse:
                    if attempt == rounds - 1:
                        raise

    def drop_everything(self) -> None:
        """Drop every sandbox, template and role of this prefix, and the secret table.

        Close the engines logged in as sandbox roles first (`PostgresBackend.drop_everything` does).
        """
        with self._admin_cursor() as cur:
            cur.execute("SELECT datname FROM pg_database WHERE datname ~ %s", (self._pattern("sb|tpl|tmp"),))
            databases = [r[0] for r in cur.fetchall()]
        for name in databases:
            self._drop_database(name)
        with self._admin_cursor() as cur:
            cur.execute("SELECT rolname FROM pg_roles WHERE rolname ~ %s ORDER BY rolname", (self._pattern("sb|own"),))
            roles = [r[0] for r in cur.fetchall()]
            for name in roles:
                cur.execute(f"DROP ROLE IF EXISTS {_ident(name)}")
            cur.execute(f"DROP TABLE IF EXISTS {_ident(f'{self.prefix}_secret')}")


def _owner_of(name: str) -> str:
    """The owner role of sandbox `<prefix>_sb_<hex>`: `<prefix>_own_<hex>`."""
    head, _, digest = name.rpartition("_sb_")
    return f"{head}_own_{digest}"


_HAND_OVER = (
    # Tables first (a table takes its serial sequences along), then sequences, types, routines.
    "SELECT CASE c.relkind WHEN 'S' THEN 2 ELSE 1 END, format('ALTER %%s %%I OWNER TO %%I', CASE c.relkind WHEN 'v' THEN 'VIEW' "
    "WHEN 'm' THEN 'MATERIALIZED VIEW' WHEN 'S' THEN 'SEQUENCE' WHEN 'f' THEN 'FOREIGN TABLE' "
    "ELSE 'TABLE' END, c.relname, %s) FROM pg_class c WHERE c.relnamespace = 'public'::regnamespace "
    "AND c.relowner = (SELECT oid FROM pg_roles WHERE rolname = current_user) "
    "AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f') "
    "UNION ALL SELECT 3, format('ALTER %%s %%I OWNER TO %%I', CASE t.typtype WHEN 'd' THEN 'DOMAIN' "
    "ELSE 'TYPE' END, t.typname, %s) FROM pg_type t WHERE t.typnamespace = 'public'::regnamespace "
    "AND t.typowner = (SELECT oid FROM pg_roles WHERE rolname = current_user) "
    "AND (t.typtype IN ('e', 'd', 'r') OR (t.typtype = 'c' AND (SELECT relkind FROM pg_class "
    "WHERE oid = t.typrelid) = 'c')) "
    "UNION ALL SELECT 4, format('ALTER ROUTINE %%s OWNER TO %%I', p.oid::regprocedure, %s) "
    "FROM pg_proc p WHERE p.pronamespace = 'public'::regnamespace "
    "AND p.proowner = (SELECT oid FROM pg_roles WHERE rolname = current_user) "
    "ORDER BY 1 LIMIT 1"
)


def _next_hand_over(cur: Any, owner: str) -> str | None:
    """The next ALTER ... OWNER TO the sample still needs (the admin's objects in `public`)."""
    cur.execute(_HAND_OVER, (owner, owner, owner))
    row = cur.fetchone()
    return row[1] if row else None


def _ident(name: str) -> str:
    """A name we generated, double-quoted; anything else is a bug."""
    if not _NAME.fullmatch(name):
        raise ValueError(f"not a generated name: {name!r}")
    return f'"{name}"'


def first_line(exc: BaseException) -> str:
    """The first line of an error's text, without libpq's FATAL:/ERROR: prefix."""
    text = str(exc).strip()
    for prefix in ("FATAL:", "ERROR:"):
        text = text.removeprefix(prefix).strip()
    return text.splitlines()[0] if text else type(exc).__name__
