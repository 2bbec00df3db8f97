"""Optional samples a visitor loads into their own sandbox: the Chinook music store.

Every sandbox starts from the lessons' sample (`sample/<engine>.sql`). Chinook (`sample/chinook/`,
MIT, by Luis Rocha) is a real teaching database of 11 tables and about 15,600 rows; a visitor
loads it on demand, into the sandbox of one engine, where it stays until Reset. It is loaded as
the visitor (on PostgreSQL, as the sandbox's own role), in one transaction, so it counts against
the sandbox's size cap like anything else the visitor commits.

The upstream PostgreSQL script is shipped unchanged and adapted here at load time (see
sample/chinook/README.md), so that both engines have the same names and the same examples run
on both.
"""

from __future__ import annotations

import gzip
import re
from functools import lru_cache
from importlib import resources
from typing import TYPE_CHECKING

from .errors import ClassReadOnly, UserError
from .messages import N_, Message
from .sqltext import Dialect, tokenize

if TYPE_CHECKING:
    from .service import Playground

CHINOOK = "chinook"
CHINOOK_TABLES = frozenset(
    {
        "album",
        "artist",
        "customer",
        "employee",
        "genre",
        "invoice",
        "invoice_line",
        "media_type",
        "playlist",
        "playlist_track",
        "track",
    }
)
ALREADY_LOADED = N_("Chinook is already in your %(engine)s sandbox.")
IN_THE_WAY = N_("Your %(engine)s sandbox already has a table named %(table)s; press Reset before loading Chinook.")

_SKIPPED = re.compile(r"^\s*(DROP DATABASE|CREATE DATABASE|\\c\b)", re.IGNORECASE)
_ADD_CONSTRAINT = re.compile(r"^\s*ALTER TABLE \w+ ADD CONSTRAINT", re.IGNORECASE)
_ROWS_PER_INSERT = 100
_SLASHED_DATE = re.compile(r"'(\d{4})/(\d{1,2})/(\d{1,2})'")


@lru_cache(maxsize=2)
def chinook_statements(dialect: Dialect) -> tuple[str, ...]:
    """The Chinook script as statements this engine runs as they are."""
    packed = resources.files("playground").joinpath("sample/chinook/Chinook_PostgreSql.sql.gz").read_bytes()
    script = gzip.decompress(packed).decode("utf-8")
    statements = []
    for statement in _split(script):
        if _SKIPPED.match(statement):
            continue
        if dialect == "sqlite":
            if _ADD_CONSTRAINT.match(statement):
                continue
            statement = _for_sqlite(statement)
        statements.extend(_batched(statement))
    return tuple(statements)


def has_chinook(playground: Playground, visitor: str, engine: str | None = None) -> bool:
    names = {t.name for t in playground.schema(visitor, engine)}
    return names >= CHINOOK_TABLES


def load_chinook(playground: Playground, visitor: str, engine: str | None = None) -> str:
    """Add Chinook's tables to the visitor's sandbox on this engine (committed); returns the engine's name."""
    backend = playground.backend(engine)
    if playground.store.class_is_read_only():
        raise ClassReadOnly()
    names = {t.name for t in playground.schema(visitor, backend.name)}  # also makes the sandbox ready
    if names >= CHINOOK_TABLES:
        raise UserError(Message(ALREADY_LOADED, {"engine": backend.label}))
    if clash := sorted(CHINOOK_TABLES & names):
        raise UserError(Message(IN_THE_WAY, {"engine": backend.label, "table": clash[0]}))
    with backend.session(visitor) as session:
        # The driver's own cursor, without parameters: the script's text goes to the database as it is.
        cursor = session.connection().connection.driver_connection.cursor()  # type: ignore[union-attr]
        try:
            for statement in chinook_statements(backend.name):  # type: ignore[arg-type]
                cursor.execute(statement)
        finally:
            cursor.close()
        backend.check_before_commit(session, visitor)
        session.commit()
    return backend.name


def _split(script: str) -> list[str]:
    """Statements end with `;` at the end of a line outside literals and comments (the script's own layout)."""
    statements: list[str] = []
    start = 0
    for token in tokenize(script, "postgresql"):
        if token.kind != "code":
            continue
        for match in re.finditer(r";[ \t]*(\r?\n|$)", token.text):
            end = token.start + match.start() + 1
            if script[start:end].strip(" \t\r\n;"):
                statements.append(_without_comments(script[start:end]))
            start = end
    return [s for s in statements if s]


def _batched(statement: str) -> list[str]:
    """A long multi-row INSERT as several of at most _ROWS_PER_INSERT rows each.

    The upstream script inserts a whole table per statement (up to 89 KB); a sandbox connection
    refuses statements longer than its SQL length limit, which is set for students' SQL.
    """
    tokens = tokenize(statement, "postgresql")
    values_at = next(
        (t.start + m.end() for t in tokens if t.kind == "code" for m in [re.search(r"\bVALUES\b", t.text)] if m), None
    )
    if not statement.upper().startswith("INSERT") or values_at is None:
        return [statement]
    head, rows, depth, row_start = statement[:values_at], [], 0, values_at
    for token in tokens:
        if token.kind != "code" or token.start + len(token.text) <= values_at:
            continue
        for i, ch in enumerate(token.text):
            at = token.start + i
            if at < values_at:
                continue
            if ch == "(":
                depth += 1
            elif ch == ")":
                depth -= 1
            elif ch in ",;" and depth == 0:
                rows.append(statement[row_start:at].strip())
                row_start = at + 1
    if statement[row_start:].strip(" \t\r\n;"):
        rows.append(statement[row_start:].strip(" \t\r\n;"))
    return [
        head + " " + ",\n".join(rows[i : i + _ROWS_PER_INSERT]) + ";" for i in range(0, len(rows), _ROWS_PER_INSERT)
    ]


def _without_comments(statement: str) -> str:
    kept = [t.text for t in tokenize(statement, "postgresql") if t.kind != "comment"]
    return "".join(kept).strip()


def _for_sqlite(statement: str) -> str:
    """N'text' → 'text' (SQLite has no national strings); '2021/11/7' → '2021-11-07 00:00:00'."""
    parts = []
    for token in tokenize(statement, "postgresql"):
        text = token.text
        if token.kind == "code" and re.search(r"(?<![\w])N$", text):
            text = text[:-1]
        elif token.kind == "string":
            text = _SLASHED_DATE.sub(lambda m: f"'{m[1]}-{int(m[2]):02d}-{int(m[3]):02d} 00:00:00'", text)
        parts.append(text)
    return "".join(parts)
