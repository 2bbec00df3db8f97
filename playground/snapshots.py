"""The editor as an action left it, kept in the bookkeeping database under a random id.

After Run, Commit, Discard or Reset the browser is sent to `GET /editor/<id>` (Post/Redirect/Get),
which shows that page again from here: on reload, on Back, on any worker process or server that
shares the bookkeeping database, and without running anything. A snapshot belongs to one visitor;
each visitor's newest `KEEP_PER_VISITOR` are kept, for at most `max_age_seconds`.
"""

from __future__ import annotations

import json
import re
import secrets
import time
import zlib
from typing import Any

from sqlalchemy import Column, Float, LargeBinary, MetaData, String, Table, and_, delete, insert, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError

# What secrets.token_urlsafe makes.
_ID_SHAPE = re.compile(r"[A-Za-z0-9_-]{1,64}")

KEEP_PER_VISITOR = 50

_metadata = MetaData()
snapshots = Table(
    "playground_editor_snapshots",
    _metadata,
    Column("id", String(32), primary_key=True),
    Column("visitor", String(64), nullable=False, index=True),
    Column("created_at", Float, nullable=False, index=True),
    Column("body", LargeBinary, nullable=False),  # zlib-compressed JSON: results repeat themselves a lot
)


class EditorSnapshots:
    """Keep and load page snapshots (JSON objects) per visitor."""

    def __init__(self, engine: Engine, *, max_age_seconds: float) -> None:
        self.engine = engine
        self.max_age_seconds = max_age_seconds
        for _ in range(5):  # several workers start at once: a lost race to create the table is no error
            try:
                _metadata.create_all(engine)
                return
            except (IntegrityError, OperationalError, ProgrammingError):
                time.sleep(0.2)
        _metadata.create_all(engine)

    def keep(self, visitor: str, page: dict[str, Any]) -> str:
        """Store the page; its id. Older snapshots of the visitor (past the newest 50) and expired ones go."""
        snapshot_id = secrets.token_urlsafe(16)
        now = time.time()
        body = zlib.compress(json.dumps(page, ensure_ascii=False, separators=(",", ":")).encode(), 1)
        with self.engine.begin() as conn:
            conn.execute(insert(snapshots).values(id=snapshot_id, visitor=visitor, created_at=now, body=body))
            oldest_kept = (
                select(snapshots.c.created_at)
                .where(snapshots.c.visitor == visitor)
                .order_by(snapshots.c.created_at.desc())
                .offset(KEEP_PER_VISITOR - 1)
                .limit(1)
                .scalar_subquery()
            )
            conn.execute(
                delete(snapshots).where(and_(snapshots.c.visitor == visitor, snapshots.c.created_at < oldest_kept))
            )
            conn.execute(delete(snapshots).where(snapshots.c.created_at < now - self.max_age_seconds))
        return snapshot_id

    def load(self, visitor: str, snapshot_id: str) -> dict[str, Any] | None:
        """The visitor's page under this id; None if there is none (unknown, expired, or someone else's)."""
        if not _ID_SHAPE.fullmatch(snapshot_id):
            return None  # not an id this class made: no lookup (a NUL would not even reach PostgreSQL)
        with self.engine.connect() as conn:
            body = conn.execute(
                select(snapshots.c.body).where(snapshots.c.id == snapshot_id, snapshots.c.visitor == visitor)
            ).scalar_one_or_none()
        if body is None:
            return None
        page = json.loads(zlib.decompress(body))
        return page if isinstance(page, dict) else None
