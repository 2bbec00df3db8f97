"""SQL text as the playground sees it: tokens, `:name` parameters, and the escaped `text()` clause.

SQLAlchemy's `text()` treats every `:word` as a parameter, including inside string literals,
quoted identifiers and comments (`SELECT 'a :b' -- :c` would bind `b` and `c`), and it does not
take `:x::int` for a parameter followed by a cast. So we scan the SQL ourselves, escape every
colon that is not one of our parameters (`\\:`), and read the names back from the compiled
`TextClause`, so that the grid and the binding can never disagree.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from sqlalchemy import TextClause, text

from .errors import SqlPosition, UserError
from .messages import N_, Message, _

Dialect = Literal["sqlite", "postgresql"]

# What a token is: code, a literal or quoted name, a comment, one of our parameters, or a
# placeholder of the driver's own kind that we do not support.
Kind = Literal["code", "string", "identifier", "comment", "param", "native_param"]


@dataclass(frozen=True)
class Token:
    kind: Kind
    text: str
    start: int
    closed: bool = True  # False for a literal, quoted name or block comment that runs to the end unclosed


_WORD = re.compile(r"\w+")
# PostgreSQL dollar quoting: $$...$$ or $tag$...$tag$; a tag never starts with a digit ($1 is a parameter).
_DOLLAR_TAG = re.compile(r"\$(?:[^\W\d]\w*)?\$")


def tokenize(sql: str, dialect: Dialect) -> list[Token]:
    """Split SQL into tokens; an unterminated literal or comment runs to the end of the text."""
    tokens: list[Token] = []
    code_start = 0
    i = 0
    n = len(sql)

    def flush_code(upto: int) -> None:
        if upto > code_start:
            tokens.append(Token("code", sql[code_start:upto], code_start))

    while i < n:
        c = sql[i]
        end: int | None = None
        kind: Kind | None = None
        closed = True
        if c == "'" or (
            dialect == "postgresql" and c in "eE" and sql.startswith("'", i + 1) and not _is_word_before(sql, i)
        ):
            backslashes = c in "eE"
            quote = i + 1 if backslashes else i
            end, closed = _quoted_end(sql, quote, "'", backslashes=backslashes)
            kind = "string"
        elif c == '"':
            end, closed = _quoted_end(sql, i, '"')
            kind = "identifier"
        elif c == "`" and dialect == "sqlite":
            end, closed = _quoted_end(sql, i, "`")
            kind = "identifier"
        elif c == "[" and dialect == "sqlite":
            close = sql.find("]", i + 1)
            end, closed = (n, False) if close < 0 else (close + 1, True)
            kind = "identifier"
        elif sql.startswith("--", i):
            close = sql.find("\n", i)
            end = n if close < 0 else close
            kind = "comment"
        elif sql.startswith("/*", i):
            end, closed = _block_comment_end(sql, i, nested=dialect == "postgresql")
            kind = "comment"
        elif c == "$" and dialect == "postgresql" and (m := _DOLLAR_TAG.match(sql, i)) and not _is_word_before(sql, i):
            tag = m.group(0)
            close = sql.find(tag, m.end())
            end, closed = (n, False) if close < 0 else (close + len(tag), True)
            kind = "string"
        elif (
            c == ":"
            and not sql.startswith("::", i)
            and (i == 0 or sql[i - 1] not in ":\\")
            and not _is_word_before(sql, i)
        ):
            m = _WORD.match(sql, i + 1)
            if m:
                end = m.end()
                kind = "param"
        elif dialect == "sqlite" and c in "?@$" and not _is_word_before(sql, i):
            m = _WORD.match(sql, i + 1)
            if c == "?" or m:
                end = m.end() if m else i + 1
                kind = "native_param"
        elif c == "$" and dialect == "postgresql" and not _is_word_before(sql, i):
            m = re.compile(r"\d+").match(sql, i + 1)
            if m:
                end = m.end()
                kind = "native_param"
        if kind is None or end is None:
            i += 2 if sql.startswith("::", i) else 1
            continue
        flush_code(i)
        tokens.append(Token(kind, sql[i:end], i, closed))
        i = code_start = end
    flush_code(n)
    return tokens


def _is_word_before(sql: str, i: int) -> bool:
    return i > 0 and (sql[i - 1].isalnum() or sql[i - 1] in "_$")


def _quoted_end(sql: str, i: int, quote: str, *, backslashes: bool = False) -> tuple[int, bool]:
    """Index just past the closing quote that matches sql[i] (doubled quotes stay inside), and whether there is one."""
    j = i + 1
    n = len(sql)
    while j < n:
        ch = sql[j]
        if backslashes and ch == "\\":
            j += 2
            continue
        if ch == quote:
            if j + 1 < n and sql[j + 1] == quote:
                j += 2
                continue
            return j + 1, True
        j += 1
    return n, False


def _block_comment_end(sql: str, i: int, *, nested: bool) -> tuple[int, bool]:
    depth = 0
    j = i
    n = len(sql)
    while j < n:
        if sql.startswith("/*", j):
            depth = depth + 1 if nested or depth == 0 else depth
            j += 2
        elif sql.startswith("*/", j):
            depth -= 1
            j += 2
            if depth == 0:
                return j, True
        else:
            j += 1
    return n, False


def parameter_names(tokens: list[Token]) -> list[str]:
    """The `:name` parameters in order of first appearance."""
    seen: dict[str, None] = {}
    for token in tokens:
        if token.kind == "param":
            seen.setdefault(token.text[1:], None)
    return list(seen)


def escaped_for_text(tokens: list[Token]) -> str:
    """The SQL with every colon that is not one of our parameters escaped for `text()`."""
    parts = []
    for token in tokens:
        parts.append(token.text if token.kind == "param" else token.text.replace(":", "\\:"))
    return "".join(parts)


def text_clause(tokens: list[Token]) -> TextClause:
    """A `text()` clause whose bind parameters are exactly our `:name` tokens."""
    return text(escaped_for_text(tokens))


def clause_parameter_names(clause: TextClause) -> list[str]:
    """The bind parameter names as SQLAlchemy itself compiled them."""
    return list(clause.compile().params)


def first_keyword(tokens: list[Token]) -> str:
    """The statement's first word outside comments, upper-cased (for messages), or ''."""
    for token in tokens:
        if token.kind == "code":
            m = re.search(r"[^\W\d]\w*", token.text)
            if m:
                return m.group(0).upper()
            if token.text.strip():
                return ""
        elif token.kind not in ("comment",):
            return ""
    return ""


def is_blank(tokens: list[Token]) -> bool:
    """True when the statement is only white space, comments and semicolons."""
    return all(t.kind == "comment" or (t.kind == "code" and not t.text.strip(" \t\r\n;")) for t in tokens)


def refuse_native_placeholders(tokens: list[Token], dialect: Dialect, statement: int) -> None:
    """Placeholders of the driver's own kind would not line up with the grid: ask for :name."""
    for token in tokens:
        if token.kind == "native_param":
            raise UserError(
                _(
                    "Statement %(index)s: %(placeholder)s is a placeholder of %(engine)s's own; "
                    "write parameters as :name so that they appear in the grid.",
                    index=statement,
                    placeholder=repr(token.text),
                    engine=dialect,
                ),
                statement=statement,
            )


# What an unclosed token is, for the message: (what it is, how it is closed).
_UNCLOSED = {
    "string": (N_("A text literal opened with %(opener)s at line %(line)s, column %(column)s is never closed"), "'"),
    "identifier": (N_("A quoted name opened with %(opener)s at line %(line)s, column %(column)s is never closed"), '"'),
    "comment": (N_("A comment opened with %(opener)s at line %(line)s, column %(column)s is never closed"), "*/"),
}
_UNCLOSED_DOLLAR = N_("A dollar-quoted text opened with %(opener)s at line %(line)s, column %(column)s is never closed")


def refuse_unterminated(tokens: list[Token], sql: str, offset: int = 0) -> None:
    """An unclosed literal, quoted name or comment swallows the rest of the SQL (its parameters too): say so.

    `tokens` are those of `sql[offset:...]`; the message and the error's offset are in the whole `sql`.
    """
    if not tokens or tokens[-1].closed:
        return
    token = tokens[-1]
    what, closer = _UNCLOSED.get(token.kind, _UNCLOSED["string"])
    opener = token.text[:2] if token.text[:2] in ("/*", "E'", "e'") else token.text[0]
    if token.kind == "string" and (tag := _DOLLAR_TAG.match(token.text)):
        what, opener, closer = _UNCLOSED_DOLLAR, tag.group(0), tag.group(0)
    elif token.kind == "identifier":
        closer = {"[": "]", "`": "`"}.get(opener, '"')
    where = SqlPosition.in_text(sql, offset + token.start)
    opened = Message(what, {"opener": opener, "line": str(where.line), "column": str(where.column)})
    raise UserError(
        _(
            "%(opened)s (it needs a closing %(closer)s), so everything after it is read as part of it. "
            "Close it and run again.",
            opened=opened,
            closer=closer,
        ),
        offset=where.offset,
    )
