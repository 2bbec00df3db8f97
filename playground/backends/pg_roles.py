"""Each PostgreSQL sandbox's two roles: made, repaired, handed the sample, and dropped.

A sandbox `<prefix>_sb_<id>` has a login role of the same name (the student's sessions log in as
it) and a NOLOGIN owner role `<prefix>_own_<id>` that owns the sample's objects in that database;
the login role is its only member. The admin is a member of the owner role only while it hands
the sample over, and is never granted the login role (see `playground.backends.postgresql`).
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import suppress
from typing import Any

import psycopg2
import psycopg2.errors
import psycopg2.extensions

from .pg_admin import PgAdmin, ident

# Sessions a sandbox role may hold at once: a run, a commit, the schema pane and one spare.
_ROLE_CONNECTION_LIMIT = 4


class PgRoles:
    """The sandbox roles, through the admin connection; `password(role)` is how a role logs in."""

    def __init__(self, admin: PgAdmin, password: Callable[[str], str]) -> None:
        self.admin = admin
        self._password = password

    def ensure(self, cur: Any, name: str) -> None:
        """Create sandbox `name`'s login role (or repair it) and its owner role, if missing."""
        self._ensure_login_role(cur, name)
        with suppress(psycopg2.errors.DuplicateObject, psycopg2.errors.UniqueViolation):
            cur.execute(f"CREATE ROLE {ident(owner_of(name))} NOLOGIN NOINHERIT")

    def _ensure_login_role(self, cur: Any, name: str) -> None:
        quoted = ident(name)
        attributes = (
            f"LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE INHERIT NOREPLICATION NOBYPASSRLS "
            f"CONNECTION LIMIT {_ROLE_CONNECTION_LIMIT}"
        )
        # The server stores only a SCRAM verifier computed here: no password in its logs.
        verifier = psycopg2.extensions.encrypt_password(self._password(name), name, cur.connection, "scram-sha-256")
        try:
            cur.execute(f"CREATE ROLE {quoted} {attributes} PASSWORD %s", (verifier,))
        except (psycopg2.errors.DuplicateObject, psycopg2.errors.UniqueViolation):
            self.repair(cur, name)
            return
        if self.admin.can_set_temp_file_limit:
            cur.execute(f"ALTER ROLE {quoted} SET temp_file_limit = %s", (self._temp_file_limit(),))

    def repair(self, cur: Any, name: str) -> None:
        """Undo what the role may have done to itself (its password, its defaults)."""
        quoted = ident(name)
        verifier = psycopg2.extensions.encrypt_password(self._password(name), name, cur.connection, "scram-sha-256")
        cur.execute(
            # (Attributes only a superuser may change, a sandbox role cannot have changed either.)
            f"ALTER ROLE {quoted} LOGIN NOCREATEDB NOCREATEROLE INHERIT "
            f"CONNECTION LIMIT {_ROLE_CONNECTION_LIMIT} PASSWORD %s",
            (verifier,),
        )
        cur.execute(f"ALTER ROLE {quoted} RESET ALL")
        # PostgreSQL 15 lets a session user grant its own role: take back any grant to the admin.
        cur.execute(
            "SELECT 1 FROM pg_auth_members m JOIN pg_roles r ON r.oid = m.roleid "
            "WHERE r.rolname = %s AND m.member = (SELECT oid FROM pg_roles WHERE rolname = CURRENT_USER)",
            (name,),
        )
        if cur.fetchone():
            cur.execute(f"REVOKE {quoted} FROM CURRENT_USER")
        if self.admin.can_set_temp_file_limit:
            cur.execute(f"ALTER ROLE {quoted} SET temp_file_limit = %s", (self._temp_file_limit(),))

    def _temp_file_limit(self) -> str:
        return f"{max(1024, self.admin.limits.postgres_max_bytes // 1024)}kB"

    def hand_over_sample(self, cur: Any, name: str, owner: str) -> None:
        """Give the sample's objects to the sandbox's owner role, of which the sandbox role is a member.

        ALTER ... OWNER needs the admin to be a member of the new owner: it is, for this step only.
        (The sandbox role itself is never granted to the admin.)
        """
        cur.execute(f"GRANT {ident(owner)} TO CURRENT_USER")
        try:
            conn = psycopg2.connect(
                self.admin.url.set(drivername="postgresql", database=name).render_as_string(hide_password=False),
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
            cur.execute(f"REVOKE {ident(owner)} FROM CURRENT_USER")

    def drop(self, name: str) -> None:
        """Drop sandbox `name`'s login role and its owner role (its database is gone already)."""
        with self.admin.cursor() as cur:
            try:
                cur.execute(f"DROP ROLE IF EXISTS {ident(name)}")
            except psycopg2.errors.DependentObjectsStillExist:
                # Another sandbox's role granted it a privilege; that grant goes when that
                # sandbox goes. Until then the role cannot log in; a later drop retries.
                cur.execute(f"ALTER ROLE {ident(name)} NOLOGIN PASSWORD NULL")
            with suppress(psycopg2.errors.DependentObjectsStillExist):
                cur.execute(f"DROP ROLE IF EXISTS {ident(owner_of(name))}")

    def drop_orphans(self) -> None:
        """Drop the NOLOGIN roles of this prefix whose sandbox database is gone (left by `drop`)."""
        with self.admin.cursor() as cur:
            cur.execute(
                "SELECT r.rolname FROM pg_roles r WHERE r.rolname ~ %s AND NOT r.rolcanlogin "
                "AND NOT EXISTS (SELECT 1 FROM pg_database d "
                "WHERE d.datname = regexp_replace(r.rolname, '_own_([0-9a-f]+)$', '_sb_\\1'))",
                (self.admin.pattern("sb|own"),),
            )
            orphans = [r[0] for r in cur.fetchall()]
        for name in orphans:
            with self.admin.cursor() as cur, suppress(psycopg2.errors.DependentObjectsStillExist):
                cur.execute(f"DROP ROLE IF EXISTS {ident(name)}")


def owner_of(name: str) -> str:
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
