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

from .messages import Message, _, _n
from .sqltext import Dialect, tokenize

# Whole sentences (one row, several rows), in the present for a preview and the past once
# committed: a language with other plural forms chooses its own for the count.
_PREVIEW = {
    "UPDATE": lambda n, table: _n(
        "This UPDATE changes %(num)s row of %(table)s.",
        "This UPDATE changes %(num)s rows of %(table)s.",
        n,
        table=table,
    ),
    "DELETE": lambda n, table: _n(
        "This DELETE removes %(num)s row from %(table)s.",
        "This DELETE removes %(num)s rows from %(table)s.",
        n,
        table=table,
    ),
    "INSERT": lambda n, table: _n(
        "This INSERT adds %(num)s row to %(table)s.", "This INSERT adds %(num)s rows to %(table)s.", n, table=table
    ),
}
_COMMITTED = {
    "UPDATE": lambda n, table: _n(
        "This UPDATE changed %(num)s row of %(table)s.",
        "This UPDATE changed %(num)s rows of %(table)s.",
        n,
        table=table,
    ),
    "DELETE": lambda n, table: _n(
        "This DELETE removed %(num)s row from %(table)s.",
        "This DELETE removed %(num)s rows from %(table)s.",
        n,
        table=table,
    ),
    "INSERT": lambda n, table: _n(
        "This INSERT added %(num)s row to %(table)s.", "This INSERT added %(num)s rows to %(table)s.", n, table=table
    ),
}
_NO_CHANGE = {
    "UPDATE": lambda table: _("This UPDATE changes no row of %(table)s: no row matches.", table=table),
    "DELETE": lambda table: _("This DELETE removes no row from %(table)s: no row matches.", table=table),
    "INSERT": lambda table: _("This INSERT adds no row to %(table)s.", table=table),
}
_EVERY_ROW = {
    "UPDATE": lambda table: _("This UPDATE has no WHERE: it changes every row of %(table)s.", table=table),
    "DELETE": lambda table: _("This DELETE has no WHERE: it removes every row of %(table)s.", table=table),
}

# One grid row of an executemany: (no row, some rows).
_PER_ROW = {
    "UPDATE": (
        lambda row: _("Grid row %(row)s changes no row.", row=row),
        lambda row, n: _n(
            "Grid row %(row)s changes %(num)s row.", "Grid row %(row)s changes %(num)s rows.", n, row=row
        ),
    ),
    "DELETE": (
        lambda row: _("Grid row %(row)s removes no row.", row=row),
        lambda row, n: _n(
            "Grid row %(row)s removes %(num)s row.", "Grid row %(row)s removes %(num)s rows.", n, row=row
        ),
    ),
    "INSERT": (
        lambda row: _("Grid row %(row)s adds no row.", row=row),
        lambda row, n: _n("Grid row %(row)s adds %(num)s row.", "Grid row %(row)s adds %(num)s rows.", n, row=row),
    ),
}
_PER_ROW_OTHER = _PER_ROW["UPDATE"]

_WORD = re.compile(r"[^\W\d][\w$]*|\d+|\S")


@dataclass(frozen=True)
class Description:
    """What one write does, in a sentence, and a warning when it touches every row."""

    sentence: Message
    every_row_warning: Message | None = None


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
        sentence = _NO_CHANGE[target.verb](target.table)
    else:
        sentence = (_COMMITTED if committed else _PREVIEW)[target.verb](count, target.table)
    warning = None
    if target.verb in _EVERY_ROW and not target.has_where:
        warning = _EVERY_ROW[target.verb](target.table)
    return Description(sentence, warning)


def describe_row(sql: str, dialect: Dialect, row: int, count: int) -> Message:
    """What one grid row of an executemany does: "Grid row 2 changes 1 row."."""
    target = target_of(sql, dialect)
    none, some = _PER_ROW[target.verb] if target else _PER_ROW_OTHER
    return none(row) if count == 0 else some(row, count)


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
