"""What the user typed, as a script: statements in order, each with its `:name` parameters."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import TextClause

from .errors import RunLimitExceeded, SqlPosition, UserError
from .messages import _
from .sqltext import (
    Dialect,
    clause_parameter_names,
    first_keyword,
    is_blank,
    parameter_names,
    refuse_native_placeholders,
    refuse_unterminated,
    text_clause,
    tokenize,
)

_RETURNING = re.compile(r"\bRETURNING\b", re.IGNORECASE)


class SqlTooLarge(UserError):
    status = 413


@dataclass(frozen=True)
class Statement:
    """One statement of the script: its text as typed, its parameters, its `text()` clause."""

    index: int  # 1-based, as messages name it
    sql: str
    keyword: str
    parameters: tuple[str, ...]
    clause: TextClause
    returning: bool = False  # has a RETURNING clause (outside literals and comments)
    start: int = 0  # where `sql` starts in the whole script, in characters (for error positions)

    @property
    def label(self) -> str:
        return _("Statement %(index)s (%(keyword)s)", index=self.index, keyword=self.keyword or "SQL")


@dataclass(frozen=True)
class Script:
    sql: str
    statements: tuple[Statement, ...]

    @property
    def parameters(self) -> tuple[str, ...]:
        """Every statement's parameters, in order of first appearance: the grid's columns."""
        seen: dict[str, None] = {}
        for statement in self.statements:
            for name in statement.parameters:
                seen.setdefault(name, None)
        return tuple(seen)


def check_sql_size(sql: str, max_bytes: int) -> None:
    """Refuse text the server should not even tokenize."""
    if "\x00" in sql:
        raise UserError(_("The SQL contains a NUL byte; remove it and run again."))
    size = len(sql.encode("utf-8", "surrogatepass"))
    if size > max_bytes:
        raise SqlTooLarge(_("The SQL is %(size)s bytes; the limit is %(limit)s bytes.", size=size, limit=max_bytes))


def parse_script(
    sql: str, dialect: Dialect, split: Callable[[str], list[str]], *, max_bytes: int, max_statements: int | None = None
) -> Script:
    """Split the SQL with the engine's own tokenizer and read each statement's parameters.

    Past `max_statements` statements the script is refused as soon as the reading reaches the
    first one too many: the work per statement is bounded by the limit, the split is linear.
    """
    check_sql_size(sql, max_bytes)
    statements: list[Statement] = []
    chunk_start = 0
    for chunk in split(sql):
        # The splitters cut the text into consecutive pieces; find() only guards that assumption.
        chunk_start = chunk_start if sql.startswith(chunk, chunk_start) else max(sql.find(chunk, chunk_start), 0)
        tokens = tokenize(chunk, dialect)
        refuse_unterminated(tokens, sql, chunk_start)
        start = chunk_start + len(chunk) - len(chunk.lstrip())
        chunk_start += len(chunk)
        if is_blank(tokens):
            continue
        index = len(statements) + 1
        if max_statements is not None and index > max_statements:
            where = SqlPosition.in_text(sql, start)
            raise RunLimitExceeded(
                _(
                    "The SQL has more than %(limit)s statements, the most one run may hold "
                    "(PLAYGROUND_MAX_STATEMENTS); statement %(index)s starts at line %(line)s, column %(column)s. "
                    "Nothing was run: run the script in parts.",
                    limit=max_statements,
                    index=index,
                    line=where.line,
                    column=where.column,
                ),
                offset=start,
            )
        refuse_native_placeholders(tokens, dialect, index)
        clause = text_clause(tokens)
        # Compiling costs a third of a millisecond a statement; without a colon there is nothing to bind.
        names = clause_parameter_names(clause) if ":" in clause.text else []
        if names != parameter_names(tokens):
            # Our scanner and SQLAlchemy must agree on the parameters, or the grid would lie.
            raise UserError(
                _(
                    "Statement %(index)s: the parameters could not be read unambiguously; "
                    "write them as :name after a space or an operator.",
                    index=index,
                ),
                statement=index,
            )
        returning = any(t.kind == "code" and _RETURNING.search(t.text) for t in tokens)
        statements.append(
            Statement(index, chunk.strip(), first_keyword(tokens), tuple(names), clause, returning, start)
        )
    if not statements:
        raise UserError(_("There is no SQL to run: type a statement first."))
    return Script(sql, tuple(statements))
