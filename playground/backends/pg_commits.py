"""The commit log inside each PostgreSQL sandbox: which previews this sandbox has committed.

A commit first inserts its preview's mark into `playground.commits`, in the same transaction as
the student's statements: the mark is in the database if and only if the write was applied,
whatever happened to the web process afterwards. A later commit of the same token finds out from
the sandbox itself. Its INSERT of the same mark waits on the first one's (PostgreSQL's unique
index) up to the lock timeout, and then finds the mark committed (already applied), or the first
transaction gone (rolled back, or its process died: this commit is the one that applies it), or
still running (busy: try again in a moment).

The schema `playground` belongs to the admin role, in every sandbox database (the template has
it; a sandbox made before it gets it on its first commit). The sandbox role may only INSERT into
the table: it cannot read, change or delete a mark, and a mark is an HMAC of the token under the
deployment's secret, which the student cannot compute, so it cannot forge one either.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import psycopg2.errors

from ..errors import AlreadyCommitted, CommitInProgress
from ..messages import _

SCHEMA = "playground"
# Run by the admin role in a sandbox (or template) database; idempotent.
CREATE_LOG = (
    "CREATE SCHEMA IF NOT EXISTS playground; "
    "CREATE TABLE IF NOT EXISTS playground.commits (mark text PRIMARY KEY, at timestamptz NOT NULL DEFAULT now()); "
    "REVOKE ALL ON SCHEMA playground FROM PUBLIC; GRANT USAGE ON SCHEMA playground TO PUBLIC; "
    # In a sandbox, PUBLIC is its own role: the only other role that may connect (see postgresql.py).
    "REVOKE ALL ON playground.commits FROM PUBLIC; GRANT INSERT ON playground.commits TO PUBLIC"
)

BUSY = _(
    "Your sandbox is busy with another commit of this preview right now; nothing was applied by this "
    "request. Press Commit again in a moment."
)


def claim_commit(raw: Any, mark: str, add_log: Callable[[], None]) -> None:
    """In the commit's transaction (as the sandbox role), before the statements: this mark, or why not.

    `add_log` makes the log in a sandbox that predates it (through the admin role); the INSERT is
    tried under a savepoint so that the transaction goes on after that first failure.
    """
    with raw.cursor() as cur:
        for first in (True, False):
            cur.execute("SAVEPOINT playground_commit")
            try:
                cur.execute("INSERT INTO playground.commits (mark) VALUES (%s)", (mark,))
            except (psycopg2.errors.UndefinedTable, psycopg2.errors.InvalidSchemaName):
                if not first:
                    raise
                cur.execute("ROLLBACK TO SAVEPOINT playground_commit")
                add_log()
                continue
            except psycopg2.errors.UniqueViolation:
                raise AlreadyCommitted() from None
            except (psycopg2.errors.LockNotAvailable, psycopg2.errors.QueryCanceled):
                raise CommitInProgress(BUSY) from None
            cur.execute("RELEASE SAVEPOINT playground_commit")
            return
