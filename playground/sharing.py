"""Share links: the SQL, every grid row, the column types and the engine, in an address.

A link opens the editor pre-filled on the visitor's own sandbox and never runs anything (a GET
never executes SQL). The work travels in the query string (`sql`, `engine`, `p.NAME` once per
grid row, `t.NAME` for a column whose type is not "auto"), so most links need no storage at all.
Work too large for an address that chat programs and servers keep whole is stored in the
bookkeeping database under a short id derived from its content (`/s/<id>`): sharing the same
work twice gives the same link, and stores it once.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import urlencode

from sqlalchemy import Column, Float, MetaData, String, Table, Text, insert, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from .errors import UserError
from .grid import COLUMN_TYPES, ParameterGrid
from .messages import N_, Message

# Longer addresses are cut by some chat programs and refused by some servers (gunicorn's request
# line limit is 4,094 bytes); past this length the work is stored instead.
MAX_LINK_LENGTH = 2000
MAX_SHARED_BYTES = 2_000_000
# Base32 of a digest, lower case (see `keep`).
_SHARE_ID_SHAPE = re.compile(r"[a-z2-7]{1,64}")
TOO_LARGE = N_("This work is too large to share (%(size)s bytes; at most %(limit)s). Share a smaller grid.")

_metadata = MetaData()
shared_links = Table(
    "playground_shared_links",
    _metadata,
    Column("id", String(16), primary_key=True),
    Column("created_at", Float, nullable=False),
    Column("work", Text, nullable=False),  # SharedWork.to_json()
)


class ShareTooLarge(UserError):
    status = 413


class QueryArgs(Protocol):
    """A query string's arguments, each possibly repeated (werkzeug's MultiDict)."""

    def getlist(self, key: str) -> list[str]: ...


@dataclass(frozen=True)
class SharedWork:
    """What a link carries: the SQL, the engine and the whole grid."""

    sql: str
    engine: str
    grid: ParameterGrid

    def query_args(self) -> list[tuple[str, str]]:
        args = [("sql", self.sql), ("engine", self.engine)]
        for c, name in enumerate(self.grid.columns):
            kind = self.grid.type_of(name)
            if kind != "auto":
                args.append((f"t.{name}", kind))
            args.extend((f"p.{name}", cells[c] if c < len(cells) else "") for cells in self.grid.rows)
        return args

    def to_json(self) -> str:
        grid = {
            "columns": list(self.grid.columns),
            "types": list(self.grid.types),
            "rows": [list(r) for r in self.grid.rows],
        }
        return json.dumps({"sql": self.sql, "engine": self.engine, "grid": grid}, ensure_ascii=False, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> SharedWork:
        data = json.loads(text)
        grid = data["grid"]
        return cls(
            data["sql"],
            data["engine"],
            ParameterGrid(tuple(grid["columns"]), tuple(grid["types"]), tuple(tuple(r) for r in grid["rows"]) or ((),)),
        )


def grid_from_query(args: QueryArgs, names: Sequence[str], *, max_rows: int) -> ParameterGrid:
    """The grid a link (or an Example) describes, for the SQL's parameters `names`."""
    columns = [args.getlist(f"p.{name}")[:max_rows] for name in names]
    height = max((len(c) for c in columns), default=1) or 1
    rows = tuple(tuple(c[r] if r < len(c) else "" for c in columns) for r in range(height))
    types = tuple(next(iter(args.getlist(f"t.{name}")), "auto") for name in names)
    types = tuple(t if t in COLUMN_TYPES else "auto" for t in types)
    return ParameterGrid(tuple(names), types, rows)


def link_for(work: SharedWork, links: SharedLinks, *, editor_path: str, stored_path: Callable[[str], str]) -> str:
    """`editor_path?query` when it fits in an address, else the stored work's short path."""
    inline = f"{editor_path}?{urlencode(work.query_args())}"
    if len(inline) <= MAX_LINK_LENGTH:
        return inline
    return stored_path(links.save(work))


class SharedLinks:
    """Stored links for work too large for an address, in the bookkeeping database."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        _metadata.create_all(engine)

    def save(self, work: SharedWork) -> str:
        """Store the work (once, whatever the number of times it is shared) and return its id."""
        text = work.to_json()
        size = len(text.encode())
        if size > MAX_SHARED_BYTES:
            raise ShareTooLarge(Message(TOO_LARGE, {"size": size, "limit": MAX_SHARED_BYTES}))
        share_id = base64.b32encode(hashlib.sha256(text.encode()).digest()).decode()[:12].lower()
        try:
            with self.engine.begin() as conn:
                conn.execute(insert(shared_links).values(id=share_id, created_at=time.time(), work=text))
        except IntegrityError:
            pass  # shared before: same content, same id
        return share_id

    def load(self, share_id: str) -> SharedWork | None:
        if not _SHARE_ID_SHAPE.fullmatch(share_id):
            return None  # not an id `keep` made: no lookup (a NUL would not even reach PostgreSQL)
        with self.engine.connect() as conn:
            text = conn.execute(select(shared_links.c.work).where(shared_links.c.id == share_id)).scalar_one_or_none()
        return SharedWork.from_json(text) if text is not None else None
