"""The PostgreSQL template database every sandbox is copied from.

It is seeded with the sample SQL and named by a hash of the sample and of the recipe below
(`<prefix>_tpl_<hash>`), so every app process with the same sample finds the same template, and a
changed sample gets a new one. It is built under a temporary name (`<prefix>_tmp_<random>`) and
renamed when complete; templates of other samples and abandoned builds are dropped.
"""

from __future__ import annotations

import hashlib
import logging
import secrets

import psycopg2
import psycopg2.errors
from sqlalchemy import create_engine
from sqlalchemy.pool import NullPool

from .pg_admin import PgAdmin, ident
from .pg_commits import CREATE_LOG
from .pg_errors import first_line

log = logging.getLogger("playground.postgresql")

# Changes whenever what _build_template does changes, so that old templates are not reused.
_TEMPLATE_RECIPE = "3"  # 3: the commit log (pg_commits)


def ensure_template(admin: PgAdmin, sample_sql: str) -> str:
    """The template database for this sample; built (under a temporary name, by one process at a time) if missing."""
    digest = hashlib.sha256(f"{_TEMPLATE_RECIPE}\n{sample_sql}".encode()).hexdigest()
    name = f"{admin.prefix}_tpl_{digest[:16]}"
    if _exists(admin, name) and not _old_templates(admin, keep=name):
        return name  # what every worker of a running deployment sees: two reads, no lock, no write
    with admin.setup_lock():
        if not _exists(admin, name):
            _build_template(admin, sample_sql, name, digest)
        _drop_old_templates(admin, keep=name)
    return name


def _exists(admin: PgAdmin, name: str) -> bool:
    with admin.cursor() as cur:
        cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
        return cur.fetchone() is not None


def _build_template(admin: PgAdmin, sample_sql: str, name: str, digest: str) -> None:
    building = f"{admin.prefix}_tmp_{secrets.token_hex(8)}"
    with admin.cursor() as cur:
        cur.execute(f"CREATE DATABASE {ident(building)} TEMPLATE template0 ENCODING 'UTF8'")
        cur.execute(f"REVOKE ALL ON DATABASE {ident(building)} FROM PUBLIC")
    try:
        seed = create_engine(
            admin.url.set(database=building),
            poolclass=NullPool,
            connect_args={"connect_timeout": 10, "application_name": "playground-admin"},
        )
        try:
            with seed.begin() as conn, conn.connection.driver_connection.cursor() as cur:
                cur.execute(sample_sql)
                # Only the sandbox's own role can connect to a sandbox: PUBLIC means that role.
                cur.execute("GRANT USAGE, CREATE ON SCHEMA public TO PUBLIC")
                cur.execute(CREATE_LOG)
        finally:
            seed.dispose()
        with admin.cursor() as cur:
            cur.execute(
                f"COMMENT ON DATABASE {ident(building)} IS %s",
                (f"SQL Playground sandbox template, sample sha256:{digest}",),
            )
            try:
                cur.execute(f"ALTER DATABASE {ident(building)} RENAME TO {ident(name)}")
                return
            except psycopg2.errors.DuplicateDatabase:
                pass  # another process built the same template a moment ago
    except BaseException:
        admin.drop_database(building)
        raise
    admin.drop_database(building)


def _old_templates(admin: PgAdmin, keep: str) -> list[str]:
    """Templates of other samples (or recipes) of this prefix."""
    with admin.cursor() as cur:
        cur.execute(
            "SELECT datname FROM pg_database WHERE datname ~ %s AND datname <> %s",
            (admin.pattern("tpl"), keep),
        )
        return [r[0] for r in cur.fetchall()]


def _drop_old_templates(admin: PgAdmin, keep: str) -> None:
    """Templates of other samples (best effort; they may be in use)."""
    for name in _old_templates(admin, keep):
        try:
            with admin.cursor() as cur:
                cur.execute(f"DROP DATABASE IF EXISTS {ident(name)}")
        except psycopg2.Error as e:
            log.info("old template %s not dropped: %s", name, first_line(e))
