"""Where in a statement the database says an error is, in characters of the statement as typed.

PostgreSQL gives a position (`diag.statement_position`, 1-based characters) in the query it
received, which psycopg2 built from our statement with each parameter replaced by a literal: the
literals are rebuilt here so that the position maps back onto what the student typed. SQLite's
Python module gives no offset; its messages name the token instead (`near "SELEC"`, `no such
column: Nmae`), which is found in the statement outside literals and comments.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

from .backends.base import SentEntry
from .sqltext import Dialect, Token, tokenize

_SQLITE_NAMED = re.compile(
    r'near "(?P<near>.*?)": syntax error'
    r"|no such (?:column|table|function): (?P<name>\S+)"
    r"|ambiguous column name: (?P<ambiguous>\S+)"
)


def error_offset(
    exc: BaseException,
    sql: str,
    dialect: Dialect,
    sent: Sequence[SentEntry],
    literal: Callable[[Any], str] | None = None,
) -> int | None:
    """The 0-based character offset in `sql` (one statement, as typed) that the error points at, or None."""
    if dialect == "postgresql":
        return _postgresql_offset(exc, sql, sent, literal)
    return _sqlite_offset(str(exc), sql)


def _postgresql_offset(
    exc: BaseException, sql: str, sent: Sequence[SentEntry], literal: Callable[[Any], str] | None
) -> int | None:
    raw_position = getattr(getattr(exc, "diag", None), "statement_position", None)
    query = getattr(getattr(exc, "cursor", None), "query", None)
    if not raw_position or not query:
        return None
    received = query.decode("utf-8", "replace") if isinstance(query, bytes) else str(query)
    position = int(raw_position) - 1
    tokens = tokenize(sql, "postgresql")
    if not any(t.kind == "param" for t in tokens):
        return _within(received, sql, position, tokens, {})
    if literal is None:
        return None
    # An executemany stops at the failing parameter set: the one whose literals rebuild the query.
    for entry in sent:
        for parameters in entry.parameters if entry.executemany else [entry.parameters]:
            if not isinstance(parameters, dict):
                continue
            try:
                literals = {t.text: literal(parameters[t.text[1:]]) for t in tokens if t.kind == "param"}
            except Exception:  # noqa: BLE001 - a value the driver cannot quote again: no position
                return None
            found = _within(received, sql, position, tokens, literals)
            if found is not None:
                return found
    return None


def _within(received: str, sql: str, position: int, tokens: list[Token], literals: dict[str, str]) -> int | None:
    """Map `position` in `received` back to `sql`, if `received` holds `sql` with these literals."""
    rebuilt = "".join(literals.get(t.text, t.text) if t.kind == "param" else t.text for t in tokens)
    # A server-side cursor sends "DECLARE ... FOR <query>"; the statement also keeps its own spacing.
    start = received.find(rebuilt)
    if start < 0:
        return None
    offset = position - start
    if offset < 0:
        return None
    consumed = 0
    for token in tokens:
        length = len(literals[token.text]) if token.kind == "param" else len(token.text)
        if offset < consumed + length:
            return token.start if token.kind == "param" else token.start + offset - consumed
        consumed += length
    return len(sql)


def _sqlite_offset(message: str, sql: str) -> int | None:
    match = _SQLITE_NAMED.search(message)
    if not match:
        return None
    tokens = tokenize(sql, "sqlite")
    if match.group("near") is not None:
        return _find(tokens, match.group("near"), unique=not re.fullmatch(r"\w+", match.group("near")))
    name = (match.group("name") or match.group("ambiguous") or "").split(".")[-1]
    return _find(tokens, name, unique=False)


def _find(tokens: list[Token], word: str, *, unique: bool) -> int | None:
    """Where `word` first stands in the code (a bare word, or a quoted name); with `unique`, only if once."""
    if not word:
        return None
    found: list[int] = []
    pattern = re.compile(rf"(?<![\w$]){re.escape(word)}(?![\w$])" if re.fullmatch(r"\w+", word) else re.escape(word))
    for token in tokens:
        if token.kind == "code":
            found.extend(token.start + m.start() for m in pattern.finditer(token.text))
        elif token.kind == "identifier" and token.text[1:-1].replace('""', '"') == word:
            found.append(token.start)
    if not found or (unique and len(found) > 1):
        return None
    return min(found)
