"""A write's preview in plain words: "This UPDATE changes 2 rows of some_table."

And the warning nobody may miss: an UPDATE or DELETE without WHERE changes every row of its
table. The statement is read with the playground's own scanner (literals, quoted names and
comments are never mistaken for keywords), and only the words at the top level count: a WHERE
inside a sub-query does not limit the UPDATE around it.

Every sentence a person reads is here, whole, one per case, so that a translation can follow.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .sqltext import Dialect, tokenize

# (one row, several rows): whole sentences, in the present for a preview and the past once committed.
_PREVIEW = {
    "UPDATE": ("This UPDATE changes 1 row of {table}.", "This UPDATE changes {count:,} rows of {table}."),
    "DELETE": ("This DELETE removes 1 row from {table}.", "This DELETE removes {count:,} rows from {table}."),
    "INSERT": ("This INSERT adds 1 row to {table}.", "This INSERT adds {count:,} rows to {table}."),
}
_COMMITTED = {
    "UPDATE": ("This UPDATE changed 1 row of {table}.", "This UPDATE changed {count:,} rows of {table}."),
    "DELETE": ("This DELETE removed 1 row from {table}.", "This DELETE removed {count:,} rows from {table}."),
    "INSERT": ("This INSERT added 1 row to {table}.", "This INSERT added {count:,} rows to {table}."),
}
_NO_CHANGE = {
    "UPDATE": "This UPDATE changes no row of {table}: no row matches.",
    "DELETE": "This DELETE removes no row from {table}: no row matches.",
    "INSERT": "This INSERT adds no row to {table}.",
}
_EVERY_ROW = {
    "UPDATE": "This UPDATE has no WHERE: it changes every row of {table}.",
    "DELETE": "This DELETE has no WHERE: it removes every row of {table}.",
}

# One grid row of an executemany: (none, one row, several rows).
_PER_ROW = {
    "UPDATE": (
        "Grid row {row} changes no row.",
        "Grid row {row} changes 1 row.",
        "Grid row {row} changes {count:,} rows.",
    ),
    "DELETE": (
        "Grid row {row} removes no row.",
        "Grid row {row} removes 1 row.",
        "Grid row {row} removes {count:,} rows.",
    ),
    "INSERT": ("Grid row {row} adds no row.", "Grid row {row} adds 1 row.", "Grid row {row} adds {count:,} rows."),
}
_PER_ROW_OTHER = (
    "Grid row {row} changes no row.",
    "Grid row {row} changes 1 row.",
    "Grid row {row} changes {count:,} rows.",
)

_WORD = re.compile(r"[^\W\d][\w$]*|\d+|\S")


@dataclass(frozen=True)
class Description:
    """What one write does, in a sentence, and a warning when it touches every row."""

    sentence: str
    every_row_warning: str | None = None


@dataclass(frozen=True)
class Target:
    """The statement's verb, its table as typed, and whether it has a top-level WHERE."""

    verb: str
    table: str
    has_where: bool


def target_of(sql: str, dialect: Dialect) -> Target | None:
    """The table an INSERT, UPDATE or DELETE writes to; None for any other statement."""
    words = _top_level_words(sql, dialect)
    upper = [w.upper() for w in words]
    if not upper or upper[0] not in _PREVIEW:
        return None
    verb = upper[0]
    i = 1
    if verb == "UPDATE" and i + 1 < len(upper) and upper[i] == "OR":
        i += 2  # SQLite's UPDATE OR REPLACE (and the like)
    if verb == "INSERT":
        if i + 1 < len(upper) and upper[i] == "OR":
            i += 2
        if i < len(upper) and upper[i] == "INTO":
            i += 1
    if verb == "DELETE" and i < len(upper) and upper[i] == "FROM":
        i += 1
    if i < len(upper) and upper[i] == "ONLY":
        i += 1
    table = _qualified_name(words, i)
    if not table:
        return None
    return Target(verb, table, "WHERE" in upper)


def describe_write(sql: str, dialect: Dialect, count: int, *, committed: bool = False) -> Description | None:
    """The plain sentence for a write statement, or None when it is not an INSERT, UPDATE or DELETE."""
    target = target_of(sql, dialect)
    if target is None:
        return None
    if count == 0 and not committed:
        sentence = _NO_CHANGE[target.verb].format(table=target.table)
    else:
        one, many = (_COMMITTED if committed else _PREVIEW)[target.verb]
        sentence = (one if count == 1 else many).format(count=count, table=target.table)
    warning = None
    if target.verb in _EVERY_ROW and not target.has_where:
        warning = _EVERY_ROW[target.verb].format(table=target.table)
    return Description(sentence, warning)


def describe_row(sql: str, dialect: Dialect, row: int, count: int) -> str:
    """What one grid row of an executemany does: "Grid row 2 changes 1 row."."""
    target = target_of(sql, dialect)
    none, one, many = _PER_ROW[target.verb] if target else _PER_ROW_OTHER
    return (none if count == 0 else one if count == 1 else many).format(row=row, count=count)


def _top_level_words(sql: str, dialect: Dialect) -> list[str]:
    """Words and punctuation outside parentheses; quoted names as typed; literals and comments left out."""
    words: list[str] = []
    depth = 0
    for token in tokenize(sql, dialect):
        if token.kind == "identifier":
            if depth == 0:
                words.append(token.text)
        elif token.kind in ("code", "param"):
            for word in _WORD.findall(token.text):
                if word == "(":
                    depth += 1
                elif word == ")":
                    depth = max(depth - 1, 0)
                elif depth == 0:
                    words.append(word)
        elif token.kind == "string" and depth == 0:
            words.append("''")
    return words


def _qualified_name(words: list[str], i: int) -> str:
    """`name`, `"Name"` or `schema.name` starting at words[i]."""
    parts: list[str] = []
    while i < len(words):
        word = words[i]
        if not (word[0] in '"`[' or word[0].isalpha() or word[0] == "_"):
            break
        parts.append(word)
        if i + 1 < len(words) and words[i + 1] == ".":
            i += 2
            continue
        break
    return ".".join(parts)
