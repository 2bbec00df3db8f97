"""Runs docker/postgres-init/10-playground-admin.sh, the compose file's init script, against a real PostgreSQL.

Used by tests/test_deployment.py and by .ci/container-test (the image against this machine's
PostgreSQL). Every name is the caller's own and everything is dropped afterwards, so that the
server other tests share is left as it was: the script's REVOKE on the maintenance database goes
to a database made for the purpose, never to the real `postgres`.
"""

from __future__ import annotations

import os
import secrets
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import psycopg2
from settings_support import ROOT
from sqlalchemy.engine import make_url

INIT_SCRIPT = ROOT / "docker" / "postgres-init" / "10-playground-admin.sh"


@dataclass(frozen=True)
class AdminRole:
    role: str
    database: str
    maintenance: str
    url: str  # what PLAYGROUND_DATABASE_URL would be


def make_admin_role(superuser_url: str) -> AdminRole:
    """Make the role as compose's PostgreSQL would on its first start, under names of its own."""
    suffix = secrets.token_hex(3)
    role, database, maintenance = f"tadmin_{suffix}", f"tplay_{suffix}", f"tmaint_{suffix}"
    password = f"pw-{secrets.token_hex(8)}"
    url = make_url(superuser_url)
    _as_superuser(superuser_url, f'CREATE DATABASE "{maintenance}"')
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PG", "POSTGRES_", "PLAYGROUND_"))}
    env |= {
        "PGHOST": url.host or "127.0.0.1",
        "PGPORT": str(url.port or 5432),
        "POSTGRES_USER": url.username or "postgres",
        "POSTGRES_DB": url.database or "postgres",
        "PLAYGROUND_ADMIN_PASSWORD": password,
        "PLAYGROUND_ADMIN_ROLE": role,
        "PLAYGROUND_ADMIN_DATABASE": database,
        "PLAYGROUND_MAINTENANCE_DATABASE": maintenance,
    }
    made = AdminRole(role, database, maintenance, "")
    done = subprocess.run([str(INIT_SCRIPT)], env=env, capture_output=True, text=True, timeout=60, check=False)
    if done.returncode != 0 or password in done.stdout + done.stderr:
        drop_admin_role(superuser_url, made)
        raise AssertionError(f"the init script failed or printed the password:\n{done.stdout}{done.stderr}")
    admin_url = url.set(username=role, password=password, database=database)
    return AdminRole(role, database, maintenance, admin_url.render_as_string(hide_password=False))


def drop_admin_role(superuser_url: str, made: AdminRole) -> None:
    """Drop the role, its grants and both databases (sandboxes of its own must be dropped first)."""
    statements = [f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)' for name in (made.database, made.maintenance)]
    _as_superuser(superuser_url, *statements)
    conn = psycopg2.connect(superuser_url)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (made.role,))
            exists = cur.fetchone() is not None
    finally:
        conn.close()
    if exists:
        # DROP OWNED takes its grants (pg_signal_backend, SET on temp_file_limit) with it.
        _as_superuser(superuser_url, f'DROP OWNED BY "{made.role}"', f'DROP ROLE "{made.role}"')


@contextmanager
def admin_role_made_by_the_init_script(superuser_url: str) -> Iterator[AdminRole]:
    made = make_admin_role(superuser_url)
    try:
        yield made
    finally:
        drop_admin_role(superuser_url, made)


def _as_superuser(superuser_url: str, *statements: str) -> None:
    conn = psycopg2.connect(superuser_url)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            for statement in statements:
                cur.execute(statement)
    finally:
        conn.close()
