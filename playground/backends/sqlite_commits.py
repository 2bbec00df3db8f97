"""The commit log inside each SQLite sandbox: which previews this sandbox has committed.

A commit first writes its preview's mark into `playground_commits`, in the same transaction as
the student's statements: the mark is in the file if and only if the write was applied, whatever
happened to the process afterwards. A later commit of the same token therefore finds out from the
sandbox itself: the mark is there (already committed), or another connection is writing it now
(SQLite's write lock makes this one wait, then gives up: busy), or neither, and this commit is the
one that applies it.

The table is the playground's, not the student's: the authorizer refuses every statement of the
student's that names it (see `sqlite.py`), and the mark is a hash of the token, not the token.
"""

from __future__ import annotations

import hashlib
import sqlite3
import time

from ..errors import AlreadyCommitted, CommitInProgress
from ..faults import translate
from ..messages import _

COMMIT_LOG = "playground_commits"
# Marks of previews that can no longer be committed (tokens expire within hours) are let go.
_KEEP_SECONDS = 7 * 24 * 3600

BUSY = _(
    "Your sandbox is busy with another commit or run right now; nothing was applied by this request. "
    "Press Commit again in a moment."
)


def claim_commit(raw: sqlite3.Connection, token: str) -> None:
    """In the commit's transaction, before the statements: this token's mark, or why not."""
    mark = hashlib.sha256(f"commit:{token}".encode()).hexdigest()
    now = time.time()
    try:
        raw.execute(
            f"CREATE TABLE IF NOT EXISTS main.{COMMIT_LOG} (mark TEXT PRIMARY KEY, at REAL NOT NULL) WITHOUT ROWID"
        )
        raw.execute(f"INSERT INTO main.{COMMIT_LOG} (mark, at) VALUES (?, ?)", (mark, now))
        raw.execute(f"DELETE FROM main.{COMMIT_LOG} WHERE at < ?", (now - _KEEP_SECONDS,))
    except sqlite3.IntegrityError:
        raise AlreadyCommitted() from None
    except sqlite3.OperationalError as e:
        if "locked" in str(e) or "busy" in str(e):
            raise CommitInProgress(BUSY) from None
        fault = translate(e, _("your commit"))
        if fault is not None:
            raise fault from e
        raise
