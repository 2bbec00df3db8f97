"""What a schema statement does, in words: "creates table t", "drops view v", "empties table t".

A DDL statement changes no rows, so "would change 0 rows" says nothing; the page names the
object instead. This reads the statement's own words (outside literals and comments); a
statement it cannot read is shown by its counts as before.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .messages import N_, Message, _p
from .sqltext import Dialect, tokenize

# verb: (present, past), each a whole phrase with the kind of object and its name.
_VERBS = {
    "CREATE": (N_("creates %(kind)s %(name)s"), N_("created %(kind)s %(name)s")),
    "DROP": (N_("drops %(kind)s %(name)s"), N_("dropped %(kind)s %(name)s")),
    "ALTER": (N_("alters %(kind)s %(name)s"), N_("altered %(kind)s %(name)s")),
    "TRUNCATE": (N_("empties %(kind)s %(name)s"), N_("emptied %(kind)s %(name)s")),
    "COMMENT": (N_("comments on %(kind)s %(name)s"), N_("commented on %(kind)s %(name)s")),
}
# The kinds of object a sentence names in words (another kind stays the SQL word it is). Each is
# said twice: where a phrase says what a statement does (a preview) and what it did (a commit);
# a language may need a different form in each (Russian: "создаст таблицу", "создание таблицы").
# TRANSLATORS: the kind of object in "creates %(kind)s %(name)s" (does) or "created %(kind)s %(name)s" (did).
_KINDS = {
    "table": (_p("what a statement does", "table"), _p("what a statement did", "table")),
    "view": (_p("what a statement does", "view"), _p("what a statement did", "view")),
    "index": (_p("what a statement does", "index"), _p("what a statement did", "index")),
    "trigger": (_p("what a statement does", "trigger"), _p("what a statement did", "trigger")),
    "sequence": (_p("what a statement does", "sequence"), _p("what a statement did", "sequence")),
    "schema": (_p("what a statement does", "schema"), _p("what a statement did", "schema")),
    "materialized view": (
        _p("what a statement does", "materialized view"),
        _p("what a statement did", "materialized view"),
    ),
    "virtual table": (_p("what a statement does", "virtual table"), _p("what a statement did", "virtual table")),
    "foreign table": (_p("what a statement does", "foreign table"), _p("what a statement did", "foreign table")),
    "type": (_p("what a statement does", "type"), _p("what a statement did", "type")),
    "function": (_p("what a statement does", "function"), _p("what a statement did", "function")),
    "procedure": (_p("what a statement does", "procedure"), _p("what a statement did", "procedure")),
    "domain": (_p("what a statement does", "domain"), _p("what a statement did", "domain")),
    "extension": (_p("what a statement does", "extension"), _p("what a statement did", "extension")),
    "column": (_p("what a statement does", "column"), _p("what a statement did", "column")),
}
_MODIFIERS = frozenset(
    {"OR", "REPLACE", "TEMP", "TEMPORARY", "UNIQUE", "UNLOGGED", "GLOBAL", "LOCAL", "RECURSIVE", "CONCURRENTLY"}
)
# Words that make a two-word kind with the next one: MATERIALIZED VIEW, FOREIGN TABLE, VIRTUAL TABLE.
_KIND_PREFIXES = frozenset({"MATERIALIZED", "FOREIGN", "VIRTUAL"})
_SKIPPED_BEFORE_NAME = frozenset({"IF", "NOT", "EXISTS", "ONLY", "CONCURRENTLY", "TABLE"})
_WORD = re.compile(r"[^\W\d][\w$]*|\S")


@dataclass(frozen=True)
class SchemaChange:
    """A schema statement's verb, the kind of object and its name as typed (quotes included)."""

    verb: str  # CREATE, DROP, ALTER, TRUNCATE, COMMENT
    kind: str  # table, view, index, materialized view, ...
    name: str  # t, "Users", s.t; "" when the statement names none (CREATE INDEX ON t ...)

    def phrase(self, *, done: bool) -> Message:
        """ "creates table t" before a commit, "created table t" after it."""
        tense = 1 if done else 0
        kind = _KINDS[self.kind][tense] if self.kind in _KINDS else self.kind
        # Without a name (CREATE INDEX ON t ...) the phrase ends at the kind.
        return Message(_VERBS[self.verb][tense], {"kind": kind, "name": self.name}, clause=not self.name)


def schema_change(sql: str, dialect: Dialect) -> SchemaChange | None:
    """The change a CREATE, DROP, ALTER, TRUNCATE or COMMENT ON statement makes, or None."""
    words = _words(sql, dialect)
    if not words or words[0].upper() not in _VERBS:
        return None
    verb = words[0].upper()
    rest = words[1:]
    if verb == "TRUNCATE":
        kind = "table"
    else:
        if verb == "COMMENT" and rest[:1] and rest[0].upper() == "ON":
            rest = rest[1:]
        while rest and rest[0].upper() in _MODIFIERS:
            rest = rest[1:]
        if not rest:
            return None
        kind = rest[0].lower()
        rest = rest[1:]
        if kind.upper() in _KIND_PREFIXES and rest:
            kind = f"{kind} {rest[0].lower()}"
            rest = rest[1:]
        if not re.fullmatch(r"[a-z ]+", kind):
            return None
    while rest and rest[0].upper() in _SKIPPED_BEFORE_NAME:
        rest = rest[1:]
    return SchemaChange(verb, kind, _qualified_name(rest))


def _words(sql: str, dialect: Dialect) -> list[str]:
    """The statement's words and punctuation outside comments; a quoted name is one word, quotes kept."""
    words: list[str] = []
    for token in tokenize(sql, dialect):
        if token.kind == "code":
            words.extend(_WORD.findall(token.text))
        elif token.kind in ("identifier", "string") or token.kind == "param":
            words.append(token.text)
    return words


def _qualified_name(words: list[str]) -> str:
    """`a`, `a.b` or `"A"."B"` at the start of `words`; "" if they start with something else."""
    if not words or not _is_name(words[0]) or words[0].upper() == "ON":
        return ""
    name = words[0]
    i = 1
    while i + 1 < len(words) and words[i] == "." and _is_name(words[i + 1]):
        name += "." + words[i + 1]
        i += 2
    return name


def _is_name(word: str) -> bool:
    return word[:1] in ('"', "`", "[") or bool(re.fullmatch(r"[^\W\d][\w$]*", word))
