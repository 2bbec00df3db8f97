"""The benchmark's table: users(id, name, age, email), 100,000 rows, an index on age; the same rows on every system.

The rows are computed, not random, so that every system (each playground sandbox, the floors,
Datasette) holds exactly the same data: row i is ('user<i>', 18 + (i * 7919) % 60, 'user<i>@example.org').
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

ROWS = 100_000
AGES = (18, 77)  # every age in this range is present

_CREATE = "CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT NOT NULL, age INTEGER NOT NULL, email TEXT NOT NULL)"
_INDEX = "CREATE INDEX users_age ON users (age)"

# One script per engine; as student SQL it runs through the playground's own API (preview, commit).
SCRIPT = {
    "sqlite": (
        f"{_CREATE};\n"
        f"WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {ROWS}) "
        "INSERT INTO users (id, name, age, email) "
        "SELECT i, 'user' || i, 18 + (i * 7919) % 60, 'user' || i || '@example.org' FROM n;\n"
        f"{_INDEX};\nANALYZE users;"
    ),
    "postgresql": (
        "CREATE TABLE users (id integer PRIMARY KEY, name text NOT NULL, age integer NOT NULL, email text NOT NULL);\n"
        "INSERT INTO users (id, name, age, email) "
        "SELECT i, 'user' || i, 18 + (i * 7919) % 60, 'user' || i || '@example.org' "
        f"FROM generate_series(1, {ROWS}) AS i;\n"
        f"{_INDEX};"
    ),
}


def build_sqlite(path: Path) -> Path:
    """A SQLite file with the table, for the floor and Datasette."""
    path.unlink(missing_ok=True)
    with sqlite3.connect(path) as conn:
        conn.executescript(SCRIPT["sqlite"])
    conn.close()
    return path


def build_postgresql(url: str) -> None:
    """The table in the PostgreSQL database at `url` (dropped first), for the PostgreSQL floor."""
    import psycopg2

    conn = psycopg2.connect(url)
    try:
        with conn, conn.cursor() as cur:
            cur.execute("DROP TABLE IF EXISTS users")
            cur.execute(SCRIPT["postgresql"])
            cur.execute("ANALYZE users")
    finally:
        conn.close()
