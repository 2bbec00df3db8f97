"""PostgreSQL: a private database and a private login role per visitor.

The boundary is PostgreSQL's own privilege system. Each visitor gets:

* a database `<prefix>_sb_<id>`, created by the admin role (which owns it) as a copy of a
  template database seeded with `playground/sample/postgresql.sql`;
* a login role of the same opaque name (`<id>` is an HMAC of the visitor id, so the names in
  the world-readable `pg_roles`/`pg_database` reveal nothing), NOSUPERUSER NOCREATEDB
  NOCREATEROLE NOREPLICATION NOBYPASSRLS, with a small CONNECTION LIMIT and a password derived
  from a secret kept in the admin database (so that every app process can log in as it);
* a NOLOGIN role `<prefix>_own_<id>` that owns the sample's tables in that database (and
  nothing anywhere else); the login role is its only member, so the student can ALTER, DROP
  and TRUNCATE the sample tables. (A non-superuser admin can only give objects to a role it is
  a member of: it is a member of the owner role for the moment of the hand-over, never of the
  login role.)
* CONNECT and TEMPORARY on its own database and nothing else: CONNECT is revoked from PUBLIC on
  every sandbox database and on the template. The template grants PUBLIC CREATE on the schema
  `public` (in a sandbox, only its role can connect), so the student creates its own tables.

Student SQL only ever runs on a connection logged in as that role. The admin URL is used only
to create, reset and drop sandboxes and the template; it connects to a sandbox database only
while creating it, before the sandbox role may. The admin role is never granted the login role.

Minimal privileges of the admin role (PLAYGROUND_DATABASE_URL / the admin URL):

    CREATE ROLE playground_admin LOGIN PASSWORD '...' CREATEROLE CREATEDB;   -- not SUPERUSER
    CREATE DATABASE playground OWNER playground_admin;   -- where the sandbox secret table lives
    REVOKE CONNECT ON DATABASE playground FROM PUBLIC;    -- recommended
    REVOKE CONNECT ON DATABASE postgres FROM PUBLIC;      -- recommended (sandbox roles can log in)
    -- optional, as a superuser:
    GRANT pg_signal_backend TO playground_admin;   -- Reset/drop end a running run at once
                                                   -- (otherwise they wait for it, up to ~10 s)
    GRANT SET ON PARAMETER temp_file_limit TO playground_admin;   -- per-sandbox temp-file cap
    -- or, cluster-wide: ALTER SYSTEM SET temp_file_limit = '1GB';

Limits a student cannot lift: `SET LOCAL statement_timeout` (and lock and idle timeouts) at the
start of every transaction, server-side startup options that override role defaults, and a
watchdog timer that cancels the running statement through libpq at the time limit, whatever
the session's settings say. Rows are streamed from a server-side cursor when the statement
allows it (a plain SELECT). A commit that leaves the database above `postgres_max_bytes` is
refused. Every run uses a fresh connection (NullPool).

The statement check (`check`) is a second layer: it parses each statement with PostgreSQL's
own parser (pglast) and refuses, with a clear message, what the playground does not offer.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

import psycopg2
import psycopg2.errors
import psycopg2.extensions
from pglast import ast, parser
from sqlalchemy import create_engine, event
from sqlalchemy.dialects.postgresql.psycopg2 import PGExecutionContext_psycopg2
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool

from ..config import ConfigError, Limits
from ..errors import RefusedStatement, SandboxFull, TimeLimitExceeded, UserError
from ..script import Statement
from ..sqltext import tokenize
from .base import Column, Evidence, Table, check_visitor_id, record_sent_statements

log = logging.getLogger("playground.postgresql")

_PREFIX = re.compile(r"[a-z][a-z0-9_]{0,19}")
_NAME = re.compile(r"[a-z][a-z0-9_]{0,62}")
# Sessions a sandbox role may hold at once: a run, a commit, the schema pane and one spare.
_ROLE_CONNECTION_LIMIT = 4
# The watchdog fires a little after statement_timeout, which normally ends the statement first.
_WATCHDOG_GRACE_S = 0.1
_STREAM_KEY = "playground.pg.stream"
# Changes whenever what _build_template does changes, so that old templates are not reused.
_TEMPLATE_RECIPE = "2"
_BASELINE_KEY = "playground.pg.tuples"


class SandboxBusy(UserError):
    """Too many runs at once on one sandbox."""

    status = 429


# -- the statement check ------------------------------------------------------------------

_TRANSACTION = "transaction control belongs to the playground (Run previews and rolls back; Commit commits)"
_ROLES = "roles belong to the playground"
_DATABASES = "databases belong to the playground"
_CODE = "it runs code on the server that the statement check cannot see into"
_SETTINGS = "settings belong to the playground's limits"

_REFUSED_STATEMENTS = {
    "TransactionStmt": _TRANSACTION,
    "AlterRoleStmt": _ROLES,
    "AlterRoleSetStmt": _ROLES,
    "CreateRoleStmt": _ROLES,
    "DropRoleStmt": _ROLES,
    "GrantRoleStmt": _ROLES,
    "ReassignOwnedStmt": _ROLES,
    "DropOwnedStmt": _ROLES,
    "AlterDatabaseStmt": _DATABASES,
    "AlterDatabaseSetStmt": _DATABASES,
    "AlterDatabaseRefreshCollStmt": _DATABASES,
    "CreatedbStmt": _DATABASES,
    "DropdbStmt": _DATABASES,
    "AlterSystemStmt": "server settings belong to the server's operator",
    "DoStmt": f"DO {_CODE}",
    "CreateFunctionStmt": f"a function or procedure {_CODE}",
    "CallStmt": f"CALL {_CODE}",
    "CopyStmt": "COPY reads and writes server files, programs or the client connection; use INSERT and SELECT",
    "ListenStmt": "LISTEN and NOTIFY signal other sessions",
    "UnlistenStmt": "LISTEN and NOTIFY signal other sessions",
    "NotifyStmt": "LISTEN and NOTIFY signal other sessions",
    "LoadStmt": "LOAD loads a shared library into the server",
    "DiscardStmt": "the playground manages the session's state",
    "VacuumStmt": "VACUUM and ANALYZE are maintenance for the server's operator",
    "CheckPointStmt": "CHECKPOINT is maintenance for the server's operator",
    "CreateExtensionStmt": "extensions install code into the database",
    "AlterExtensionStmt": "extensions install code into the database",
    "AlterExtensionContentsStmt": "extensions install code into the database",
    "GrantStmt": "privileges belong to the playground",
    "AlterDefaultPrivilegesStmt": "privileges belong to the playground",
    "PrepareStmt": "prepared statements and cursors belong to the playground",
    "ExecuteStmt": "prepared statements and cursors belong to the playground",
    "DeallocateStmt": "prepared statements and cursors belong to the playground",
    "DeclareCursorStmt": "prepared statements and cursors belong to the playground",
    "FetchStmt": "prepared statements and cursors belong to the playground",
    "ClosePortalStmt": "prepared statements and cursors belong to the playground",
}
_ALLOWED_STATEMENTS = frozenset(
    {
        "SelectStmt",
        "InsertStmt",
        "UpdateStmt",
        "DeleteStmt",
        "MergeStmt",
        "CreateStmt",
        "CreateTableAsStmt",
        "RefreshMatViewStmt",
        "ViewStmt",
        "IndexStmt",
        "AlterTableStmt",
        "DropStmt",
        "TruncateStmt",
        "RenameStmt",
        "CommentStmt",
        "CreateSeqStmt",
        "AlterSeqStmt",
        "CreateEnumStmt",
        "AlterEnumStmt",
        "CompositeTypeStmt",
        "CreateDomainStmt",
        "AlterDomainStmt",
        "CreateSchemaStmt",
        "AlterObjectSchemaStmt",
        "CreateStatsStmt",
        "CreateTrigStmt",
        "LockStmt",
        "ExplainStmt",
        "VariableShowStmt",
    }
)
# Objects that RENAME / COMMENT ON may name but that belong to the playground.
_SHARED_OBJECTS = {
    "OBJECT_DATABASE": _DATABASES,
    "OBJECT_ROLE": _ROLES,
    "OBJECT_TABLESPACE": "tablespaces belong to the server's operator",
}
_WRITES = frozenset({"InsertStmt", "UpdateStmt", "DeleteStmt", "MergeStmt"})

_FILES = "reads or writes files on the server"
_SIGNALS = "signals server processes"
_SQL_TEXT = "runs SQL text that the statement check cannot see"
_REFUSED_FUNCTIONS = {
    "set_config": _SETTINGS,
    "pg_read_file": _FILES,
    "pg_read_binary_file": _FILES,
    "pg_stat_file": _FILES,
    "pg_ls_dir": _FILES,
    "pg_ls_logdir": _FILES,
    "pg_ls_waldir": _FILES,
    "pg_ls_tmpdir": _FILES,
    "pg_ls_archive_statusdir": _FILES,
    "pg_ls_logicalsnapdir": _FILES,
    "pg_ls_logicalmapdir": _FILES,
    "pg_ls_replslotdir": _FILES,
    "pg_file_write": _FILES,
    "pg_file_rename": _FILES,
    "pg_file_unlink": _FILES,
    "pg_logdir_ls": _FILES,
    "lo_import": _FILES,
    "lo_export": _FILES,
    "pg_terminate_backend": _SIGNALS,
    "pg_cancel_backend": _SIGNALS,
    "pg_reload_conf": _SIGNALS,
    "pg_rotate_logfile": _SIGNALS,
    "pg_promote": _SIGNALS,
    "pg_log_backend_memory_contexts": _SIGNALS,
    "pg_notify": "LISTEN and NOTIFY signal other sessions",
    "query_to_xml": _SQL_TEXT,
    "query_to_xmlschema": _SQL_TEXT,
    "query_to_xml_and_xmlschema": _SQL_TEXT,
    "ts_stat": _SQL_TEXT,
}
_ADVISORY = "takes an advisory lock, and advisory locks are shared by every session of the server"
_REFUSED_FUNCTION_PREFIXES = {
    "pg_advisory_": _ADVISORY,
    "pg_try_advisory_": _ADVISORY,
    "dblink": "connects to other databases",
}


def _masked(sql: str) -> str:
    """The SQL with each `:name` parameter replaced by `$1` padded to the same length.

    `:name` is not PostgreSQL; `$1` is, wherever a value may stand. Offsets are unchanged.
    """
    return "".join("$1".ljust(len(t.text)) if t.kind == "param" else t.text for t in tokenize(sql, "postgresql"))


@lru_cache(maxsize=1024)
def _parse(sql: str) -> tuple[ast.RawStmt, ...]:
    """PostgreSQL's own parse of one statement's text (raises pglast's ParseError)."""
    return tuple(parser.parse_sql(_masked(sql)))


def _walk(node: Any) -> Iterator[ast.Node]:
    if isinstance(node, ast.Node):
        yield node
        for name in type(node).__slots__:
            yield from _walk(getattr(node, name, None))
    elif isinstance(node, list | tuple):
        for item in node:
            yield from _walk(item)


def _function_refusal(call: ast.FuncCall) -> str | None:
    name = (getattr(call.funcname[-1], "sval", "") or "").lower() if call.funcname else ""
    if name in _REFUSED_FUNCTIONS:
        return f"the function {name}() {_REFUSED_FUNCTIONS[name]}"
    if name == "ts_rewrite" and len(call.args or ()) == 2:
        return f"the function ts_rewrite(query, text) {_SQL_TEXT}"
    for prefix, reason in _REFUSED_FUNCTION_PREFIXES.items():
        if name.startswith(prefix):
            return f"the function {name}() {reason}"
    return None


def _statement_refusal(node: ast.Node) -> str | None:
    """Why this statement node (or anything inside it) is refused, or None."""
    for inner in _walk(node):
        kind = type(inner).__name__
        if kind == "VariableSetStmt":
            name = (inner.name or "").lower()
            if name in ("role", "session_authorization"):
                return "changing the role would step outside your sandbox's role"
            if name in ("transaction", "session characteristics"):
                return _TRANSACTION
            return f"{_SETTINGS} (SET and RESET are not available)"
        if kind in _REFUSED_STATEMENTS:
            return _REFUSED_STATEMENTS[kind]
        if kind.endswith("Stmt") and kind != "RawStmt" and kind not in _ALLOWED_STATEMENTS:
            words = re.sub(r"(?<=[a-z])(?=[A-Z])", " ", kind.removesuffix("Stmt")).upper()
            return f"{words} is not one of the statements this playground runs"
        if kind in ("RenameStmt", "CommentStmt"):
            objtype = getattr(inner, "renameType", None) or getattr(inner, "objtype", None)
            objname = getattr(objtype, "name", str(objtype))
            if objname in _SHARED_OBJECTS:
                return _SHARED_OBJECTS[objname]
        if kind == "FuncCall" and (reason := _function_refusal(inner)):
            return reason
    return None


def _streamable(node: ast.Node) -> bool:
    """A plain SELECT (no INTO, no data-modifying WITH): it can run as a server-side cursor."""
    if not isinstance(node, ast.SelectStmt) or node.intoClause is not None:
        return False
    return not any(type(n).__name__ in _WRITES for n in _walk(node))


class _StreamingContext(PGExecutionContext_psycopg2):
    """A server-side cursor only for statements the guard marked streamable.

    `stream_results` would otherwise wrap every statement in DECLARE CURSOR, which PostgreSQL
    accepts only for queries, and psycopg2 refuses for executemany.
    """

    def create_cursor(self) -> Any:
        if (
            self.execution_options.get("stream_results")
            and not self.executemany
            and self.root_connection.info.get(_STREAM_KEY)
        ):
            self._is_server_side = True
            return self.create_server_side_cursor()
        self._is_server_side = False
        return self.create_default_cursor()


# -- the backend --------------------------------------------------------------------------


class PostgresBackend:
    """Sandboxes as databases `<prefix>_sb_<id>` with login roles of the same name."""

    name = "postgresql"
    label = "PostgreSQL"

    def __init__(
        self, admin_url: str, limits: Limits, *, sandbox_prefix: str = "pgsb", sample_sql: str | None = None
    ) -> None:
        if not _PREFIX.fullmatch(sandbox_prefix):
            raise ConfigError(
                f"the PostgreSQL sandbox prefix must be 1-20 lowercase letters, digits or _, "
                f"starting with a letter, not {sandbox_prefix!r}"
            )
        self.limits = limits
        self.prefix = sandbox_prefix
        self.admin_url = _psycopg2_url(admin_url)
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
        self._engines: dict[str, Engine] = {}
        self._engines_lock = threading.Lock()
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
                f"cannot use the PostgreSQL admin URL {self._safe_url()}: {_first_line(e.orig or e)}"
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
        """Dispose of every engine (admin and sandboxes)."""
        with self._engines_lock:
            engines, self._engines = list(self._engines.values()), {}
        for engine in engines:
            engine.dispose()
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
                    f"({_first_line(e)}); let the admin role own its database"
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
        role = self.sandbox_name(visitor)
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
                log.info("old template %s not dropped: %s", name, _first_line(e))

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
            ):
                # Two processes making the same sandbox: "tuple concurrently updated" on a catalog
                # row both change, or one took back the admin's owner membership the other used.
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
        """Drop every sandbox, template and role of this prefix, and the secret table."""
        self.close_sandbox_engines()
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

    # -- running ------------------------------------------------------------------------

    @contextmanager
    def session(self, visitor: str) -> Iterator[Session]:
        name = self.sandbox_name(visitor)
        for attempt in range(4):
            session = Session(self._engine(name))
            try:
                session.connection()
            except DBAPIError as e:
                session.close()
                self._recover_connect(visitor, name, e, last=attempt == 3)
                continue
            try:
                yield session
            finally:
                session.close()
            return

    def _recover_connect(self, visitor: str, name: str, error: DBAPIError, *, last: bool) -> None:
        """Fix what made a sandbox connection fail, or raise the user-facing reason."""
        message = _first_line(error.orig or error)
        if "too many connections for role" in message:
            raise SandboxBusy("Too many runs at once on your sandbox; wait for one to finish and try again.") from None
        if last:
            raise error
        if "does not exist" in message or "not currently accepting connections" in message:
            time.sleep(0.1)
            self.ensure_sandbox(visitor)
        elif "password authentication failed" in message:
            with self._admin_cursor() as cur:
                self._repair_role(cur, name)
        else:
            raise error

    def _engine(self, name: str) -> Engine:
        with self._engines_lock:
            engine = self._engines.get(name)
            if engine is None:
                if len(self._engines) >= 256:
                    self._engines.pop(next(iter(self._engines))).dispose()
                engine = self._engines[name] = self._make_engine(name)
            return engine

    def close_sandbox_engines(self) -> None:
        with self._engines_lock:
            engines, self._engines = list(self._engines.values()), {}
        for engine in engines:
            engine.dispose()

    def _make_engine(self, name: str) -> Engine:
        limits = self.limits
        ms = int(limits.time_limit_ms)
        idle_ms = max(ms * 4, 60_000)
        # Startup options win over any default the role might have set on itself.
        options = " ".join(
            f"-c {k}={v}"
            for k, v in {
                "statement_timeout": ms,
                "lock_timeout": ms,
                "idle_in_transaction_session_timeout": idle_ms,
                "standard_conforming_strings": "on",
                "default_transaction_read_only": "off",
                "work_mem": "4MB",
                "maintenance_work_mem": "64MB",
                "temp_buffers": "8MB",
                "hash_mem_multiplier": "2",
            }.items()
        )
        engine = create_engine(
            self.admin_url.set(username=name, password=self._password(name), database=name),
            poolclass=NullPool,
            connect_args={"connect_timeout": 10, "application_name": "playground-sandbox", "options": options},
        )
        engine.dialect.execution_ctx_cls = _StreamingContext  # type: ignore[misc]

        @event.listens_for(engine, "begin")
        def _on_begin(conn: Any) -> None:
            raw = conn.connection.driver_connection
            with raw.cursor() as cur:
                cur.execute(
                    f"SET LOCAL statement_timeout = {ms}; SET LOCAL lock_timeout = {ms}; "
                    f"SET LOCAL idle_in_transaction_session_timeout = {idle_ms}; " + _AFTER_STATEMENT
                )
                conn.info[_BASELINE_KEY] = _Snapshot.of(cur.fetchall())

        record_sent_statements(engine)
        return engine

    def execution_options(self) -> dict[str, Any]:
        # Honoured only for statements the guard marks streamable (see _StreamingContext).
        return {"stream_results": True, "max_row_buffer": self.limits.max_rows + 1}

    @contextmanager
    def guard(self, session: Session, statement: Statement) -> Iterator[Evidence]:
        conn = session.connection()
        raw = conn.connection.driver_connection
        evidence = Evidence()
        try:
            node = _parse(statement.sql)[0].stmt
        except (parser.ParseError, IndexError):
            node = None
        # The dict itself: after a lost connection, Connection.info refuses to be read.
        info = conn.info
        info[_STREAM_KEY] = node is not None and _streamable(node)
        lock = threading.Lock()
        active = [True]

        def watchdog() -> None:
            with lock:
                if active[0]:
                    evidence.timed_out = True
                    raw.cancel()

        timer = threading.Timer(self.limits.time_limit_ms / 1000 + _WATCHDOG_GRACE_S, watchdog)
        timer.daemon = True
        timer.start()

        def stop() -> None:
            with lock:
                active[0] = False
            timer.cancel()
            info.pop(_STREAM_KEY, None)

        try:
            yield evidence
        except BaseException:
            stop()
            raise
        stop()
        self._after_statement(conn, raw, statement, evidence, plain_write=type(node).__name__ in _WRITES)

    def _after_statement(
        self, conn: Any, raw: Any, statement: Statement, evidence: Evidence, *, plain_write: bool
    ) -> None:
        """Read what the transaction did: an assigned transaction id means it wrote."""
        if raw.info.transaction_status != psycopg2.extensions.TRANSACTION_STATUS_INTRANS:
            raise RefusedStatement(
                f"{statement.label} is not allowed: it ended the playground's transaction ({_TRANSACTION}).",
                statement=statement.index,
            )
        try:
            with raw.cursor() as cur:
                cur.execute(_AFTER_STATEMENT)
                rows = cur.fetchall()
        except psycopg2.errors.QueryCanceled:
            raise TimeLimitExceeded(
                f"{statement.label} was stopped at the time limit ({self.limits.time_limit_ms:,} ms).",
                statement=statement.index,
            ) from None
        except psycopg2.Error as e:
            raise UserError(f"{statement.label} failed: {_message(e)}.", statement=statement.index) from None
        after = _Snapshot.of(rows)
        before = conn.info.get(_BASELINE_KEY) or _Snapshot(None, 0, 0)
        conn.info[_BASELINE_KEY] = after
        # This statement wrote if the transaction got its id now, or if any table's (catalogs
        # included: DDL) tuples changed since the previous statement; a data-changing command
        # counts as a write even when it matched no row (as on SQLite).
        evidence.wrote = (
            plain_write or (before.xid is None and after.xid is not None) or after.all_tuples != before.all_tuples
        )
        # INSERT/UPDATE/DELETE/MERGE: the driver's rowcount is the command's own count (summed
        # over an executemany). Anything else that wrote (a data-modifying WITH, a function,
        # CREATE TABLE AS): the rows of user tables the transaction's statistics say it changed.
        if evidence.wrote and not plain_write:
            evidence.changes = max(after.user_tuples - before.user_tuples, 0)

    def translate_error(self, exc: BaseException, evidence: Evidence) -> UserError | None:
        if evidence.refusal:
            return RefusedStatement(evidence.refusal)
        if evidence.timed_out or (isinstance(exc, psycopg2.errors.QueryCanceled) and "statement timeout" in str(exc)):
            return TimeLimitExceeded(
                f"stopped at the time limit ({self.limits.time_limit_ms:,} ms); nothing was changed"
            )
        if isinstance(exc, psycopg2.Error):
            message = _message(exc)
            code = exc.pgcode or ""
            if code == "42501":
                if "permission denied" not in message:
                    message = f"permission denied: {message}"
                return RefusedStatement(message)
            if code == "53400" or "temp_file_limit" in message:
                return SandboxFull(
                    f"it needed more temporary disk space than a sandbox may use ({message}); "
                    "sort or group fewer rows, or add a WHERE"
                )
            if code == "53100":
                return SandboxFull(f"the database server's disk is full ({message})")
            if code == "53300":
                return SandboxBusy(message)
            return UserError(message)
        if isinstance(exc, ValueError | TypeError | OverflowError):
            return UserError(str(exc))
        return None

    def check_before_commit(self, session: Session, visitor: str) -> None:
        raw = session.connection().connection.driver_connection
        with raw.cursor() as cur:
            cur.execute("SELECT pg_catalog.pg_database_size(pg_catalog.current_database())")
            size = cur.fetchone()[0]
        cap = self.limits.postgres_max_bytes
        if size > cap:
            raise SandboxFull(
                f"Your sandbox would be {size / 1e6:,.1f} MB, over its limit of {cap / 1e6:,.1f} MB; "
                "nothing was committed. Delete some rows or tables, or press Reset."
            )

    def schema(self, visitor: str) -> list[Table]:
        with self.session(visitor) as session:
            raw = session.connection().connection.driver_connection
            with raw.cursor() as cur:
                cur.execute(
                    "SELECT c.table_schema, c.table_name, c.column_name, "
                    "CASE WHEN c.data_type IN ('USER-DEFINED', 'ARRAY') THEN c.udt_name ELSE c.data_type END "
                    "FROM information_schema.columns c "
                    "JOIN information_schema.tables t "
                    "ON t.table_schema = c.table_schema AND t.table_name = c.table_name "
                    "WHERE c.table_schema NOT IN ('pg_catalog', 'information_schema') "
                    "AND c.table_schema NOT LIKE 'pg\\_temp\\_%' "
                    "AND c.table_schema NOT LIKE 'pg\\_toast%' "
                    "ORDER BY c.table_schema = 'public' DESC, c.table_schema, c.table_name, c.ordinal_position"
                )
                rows = cur.fetchall()
            session.rollback()
        tables: dict[str, list[Column]] = {}
        for schema_name, table, column, type_ in rows:
            key = table if schema_name == "public" else f"{schema_name}.{table}"
            tables.setdefault(key, []).append(Column(column, type_ or ""))
        return [Table(name, tuple(columns)) for name, columns in sorted(tables.items())]

    # -- the statement check ------------------------------------------------------------

    def split(self, sql: str) -> list[str]:
        """Cut after the `;` that ends each statement, as PostgreSQL's own parser sees them.

        `:name` parameters are masked as `$1` first (same length, so offsets hold). If the
        script does not parse, cut at every `;` outside literals and comments: `check` then
        reports the syntax error of the statement that has it.
        """
        semicolons = [
            t.start + i
            for t in tokenize(sql, "postgresql")
            if t.kind == "code"
            for i, ch in enumerate(t.text)
            if ch == ";"
        ]
        masked = _masked(sql)
        try:
            statements = parser.parse_sql(masked)
        except parser.ParseError:
            cuts = [s + 1 for s in semicolons]
        else:
            encoded = masked.encode("utf-8")
            cuts = []
            previous = 0
            for raw_statement in statements[1:]:
                start = len(encoded[: raw_statement.stmt_location].decode("utf-8"))
                before = [s for s in semicolons if previous <= s < start]
                cut = before[-1] + 1 if before else start
                cuts.append(cut)
                previous = cut
        bounds = [0, *cuts, len(sql)]
        return [sql[a:b] for a, b in zip(bounds, bounds[1:], strict=False) if b > a]

    def check(self, statement: Statement) -> None:
        try:
            statements = _parse(statement.sql)
        except parser.ParseError as e:
            raise UserError(f"{statement.label} failed: {e.args[0]}.", statement=statement.index) from None
        if len(statements) != 1:
            raise RefusedStatement(
                f"{statement.label} is not allowed: it holds {len(statements)} statements; "
                "end each one with a semicolon.",
                statement=statement.index,
            )
        reason = _statement_refusal(statements[0].stmt)
        if reason:
            raise RefusedStatement(f"{statement.label} is not allowed: {reason}.", statement=statement.index)


# What the guard reads after each statement, as the sandbox role, in the same transaction.
# Everything is schema-qualified (a student may create look-alikes in `public`), and
# standard_conforming_strings is put back on so that the next statement's text means to the
# server what it meant to the parser that split and checked it.
_AFTER_STATEMENT = (
    "SELECT one.xid, s.schemaname, s.n_tup_ins, s.n_tup_upd, s.n_tup_del FROM "
    "(SELECT pg_catalog.pg_current_xact_id_if_assigned() AS xid, "
    "pg_catalog.set_config('standard_conforming_strings', 'on', false) AS scs) one "
    "LEFT JOIN pg_catalog.pg_stat_xact_all_tables s ON true"
)
_SYSTEM_SCHEMAS = ("pg_catalog", "information_schema", "pg_toast")


@dataclass(frozen=True)
class _Snapshot:
    """The transaction's id (if it has one) and the tuples it changed so far."""

    xid: str | None
    all_tuples: int  # every table, system catalogs included
    user_tuples: int  # the student's tables (temporary ones included)

    @classmethod
    def of(cls, rows: list[tuple[Any, ...]]) -> _Snapshot:
        all_tuples = user_tuples = 0
        for _xid, schema, *counts in rows:
            n = sum(c or 0 for c in counts)
            all_tuples += n
            if schema and not schema.startswith(_SYSTEM_SCHEMAS):
                user_tuples += n
        return cls(rows[0][0] if rows else None, all_tuples, user_tuples)


def _psycopg2_url(url: str) -> URL:
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise ConfigError("the PostgreSQL admin URL is not a database URL") from None
    if parsed.get_backend_name() != "postgresql":
        raise ConfigError(f"the PostgreSQL admin URL must start with postgresql://, not {parsed.drivername}://")
    if "+" in parsed.drivername and parsed.drivername != "postgresql+psycopg2":
        # The guard uses psycopg2 itself (cancel, error classes).
        raise ConfigError(f"the PostgreSQL admin URL must use the psycopg2 driver, not {parsed.drivername}")
    return parsed.set(drivername="postgresql+psycopg2")


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


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    for prefix in ("FATAL:", "ERROR:"):
        text = text.removeprefix(prefix).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _message(exc: psycopg2.Error) -> str:
    """The database's message (its first line), with its DETAIL and HINT, without a final period."""
    diag = getattr(exc, "diag", None)
    primary = getattr(diag, "message_primary", None) or _first_line(exc)
    parts = [primary.rstrip(".")]
    for extra in (getattr(diag, "message_detail", None), getattr(diag, "message_hint", None)):
        if extra:
            parts.append(extra.strip().rstrip("."))
    return ". ".join(parts)
