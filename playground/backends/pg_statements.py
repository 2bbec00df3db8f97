"""What student SQL may do on PostgreSQL: the statement check and the script splitter.

Both use PostgreSQL's own parser (pglast), so a statement is cut and judged as the server will
read it. The check is the second layer of the boundary (the first is PostgreSQL's privilege
system, see `pg_sandboxes`): it refuses, with a clear message, what the playground does not
offer (transaction control, roles, settings, server files, code the check cannot see into, ...).
Every statement node, nested ones included, must be of an allowed kind (`_ALLOWED_STATEMENTS`;
the refused kinds with a reason of their own are in `_REFUSED_STATEMENTS`), and functions are
refused by name wherever they are called (`_REFUSED_FUNCTIONS`, `_REFUSED_FUNCTION_PREFIXES`).
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from pglast import ast, parser

from ..errors import RefusedStatement, UserError, statement_failed, statement_not_allowed
from ..messages import _, _n
from ..script import Statement
from ..sqltext import Token, tokenize
from .base import TRANSACTION_CONTROL

# -- what is refused ----------------------------------------------------------------------

_ROLES = _("roles belong to the playground")
_DATABASES = _("databases belong to the playground")
_CODE = _("it runs code on the server that the statement check cannot see into")
_SETTINGS = _("settings belong to the playground's limits")

_REFUSED_STATEMENTS = {
    "TransactionStmt": TRANSACTION_CONTROL,
    "AlterRoleStmt": _ROLES,
    "AlterRoleSetStmt": _ROLES,
    "CreateRoleStmt": _ROLES,
    "DropRoleStmt": _ROLES,
    "GrantRoleStmt": _ROLES,
    "ReassignOwnedStmt": _ROLES,
    "DropOwnedStmt": _ROLES,
    "AlterDatabaseStmt": _DATABASES,
    "AlterDatabaseSetStmt": _DATABASES,
    "AlterDatabaseRefreshCollStmt": _DATABASES,
    "CreatedbStmt": _DATABASES,
    "DropdbStmt": _DATABASES,
    "AlterSystemStmt": _("server settings belong to the server's operator"),
    "DoStmt": _("DO %(why)s", why=_CODE),
    "CreateFunctionStmt": _("a function or procedure %(why)s", why=_CODE),
    "CallStmt": _("CALL %(why)s", why=_CODE),
    "CopyStmt": _("COPY reads and writes server files, programs or the client connection; use INSERT and SELECT"),
    "ListenStmt": _("LISTEN and NOTIFY signal other sessions"),
    "UnlistenStmt": _("LISTEN and NOTIFY signal other sessions"),
    "NotifyStmt": _("LISTEN and NOTIFY signal other sessions"),
    "LoadStmt": _("LOAD loads a shared library into the server"),
    "DiscardStmt": _("the playground manages the session's state"),
    "VacuumStmt": _("VACUUM and ANALYZE are maintenance for the server's operator"),
    "CheckPointStmt": _("CHECKPOINT is maintenance for the server's operator"),
    "CreateExtensionStmt": _("extensions install code into the database"),
    "AlterExtensionStmt": _("extensions install code into the database"),
    "AlterExtensionContentsStmt": _("extensions install code into the database"),
    "GrantStmt": _("privileges belong to the playground"),
    "AlterDefaultPrivilegesStmt": _("privileges belong to the playground"),
    "PrepareStmt": _("prepared statements and cursors belong to the playground"),
    "ExecuteStmt": _("prepared statements and cursors belong to the playground"),
    "DeallocateStmt": _("prepared statements and cursors belong to the playground"),
    "DeclareCursorStmt": _("prepared statements and cursors belong to the playground"),
    "FetchStmt": _("prepared statements and cursors belong to the playground"),
    "ClosePortalStmt": _("prepared statements and cursors belong to the playground"),
}
_ALLOWED_STATEMENTS = frozenset(
    {
        "SelectStmt",
        "InsertStmt",
        "UpdateStmt",
        "DeleteStmt",
        "MergeStmt",
        "CreateStmt",
        "CreateTableAsStmt",
        "RefreshMatViewStmt",
        "ViewStmt",
        "IndexStmt",
        "AlterTableStmt",
        "DropStmt",
        "TruncateStmt",
        "RenameStmt",
        "CommentStmt",
        "CreateSeqStmt",
        "AlterSeqStmt",
        "CreateEnumStmt",
        "AlterEnumStmt",
        "CompositeTypeStmt",
        "CreateDomainStmt",
        "AlterDomainStmt",
        "CreateSchemaStmt",
        "AlterObjectSchemaStmt",
        "CreateStatsStmt",
        "CreateTrigStmt",
        "LockStmt",
        "ExplainStmt",
        "VariableShowStmt",
    }
)
# Objects that RENAME / COMMENT ON may name but that belong to the playground.
_SHARED_OBJECTS = {
    "OBJECT_DATABASE": _DATABASES,
    "OBJECT_ROLE": _ROLES,
    "OBJECT_TABLESPACE": _("tablespaces belong to the server's operator"),
}
_WRITES = frozenset({"InsertStmt", "UpdateStmt", "DeleteStmt", "MergeStmt"})

_FILES = _("reads or writes files on the server")
_SIGNALS = _("signals server processes")
_SQL_TEXT = _("runs SQL text that the statement check cannot see")
_REFUSED_FUNCTIONS = {
    "set_config": _SETTINGS,
    "pg_read_file": _FILES,
    "pg_read_binary_file": _FILES,
    "pg_stat_file": _FILES,
    "pg_ls_dir": _FILES,
    "pg_ls_logdir": _FILES,
    "pg_ls_waldir": _FILES,
    "pg_ls_tmpdir": _FILES,
    "pg_ls_archive_statusdir": _FILES,
    "pg_ls_logicalsnapdir": _FILES,
    "pg_ls_logicalmapdir": _FILES,
    "pg_ls_replslotdir": _FILES,
    "pg_file_write": _FILES,
    "pg_file_rename": _FILES,
    "pg_file_unlink": _FILES,
    "pg_logdir_ls": _FILES,
    "lo_import": _FILES,
    "lo_export": _FILES,
    "pg_terminate_backend": _SIGNALS,
    "pg_cancel_backend": _SIGNALS,
    "pg_reload_conf": _SIGNALS,
    "pg_rotate_logfile": _SIGNALS,
    "pg_promote": _SIGNALS,
    "pg_log_backend_memory_contexts": _SIGNALS,
    "pg_notify": _("LISTEN and NOTIFY signal other sessions"),
    "query_to_xml": _SQL_TEXT,
    "query_to_xmlschema": _SQL_TEXT,
    "query_to_xml_and_xmlschema": _SQL_TEXT,
    "ts_stat": _SQL_TEXT,
}
_ADVISORY = _("takes an advisory lock, and advisory locks are shared by every session of the server")
_REFUSED_FUNCTION_PREFIXES = {
    "pg_advisory_": _ADVISORY,
    "pg_try_advisory_": _ADVISORY,
    "dblink": _("connects to other databases"),
}


_SEMICOLON = re.compile(";")

# -- reading a statement ------------------------------------------------------------------


def _masked(tokens: list[Token]) -> str:
    """The SQL with each `:name` parameter replaced by `$1` padded to the same length.

    `:name` is not PostgreSQL; `$1` is, wherever a value may stand. Offsets are unchanged.
    """
    return "".join("$1".ljust(len(t.text)) if t.kind == "param" else t.text for t in tokens)


@lru_cache(maxsize=1024)
def _parse(sql: str) -> tuple[ast.RawStmt, ...]:
    """PostgreSQL's own parse of one statement's text (raises pglast's ParseError)."""
    return tuple(parser.parse_sql(_masked(tokenize(sql, "postgresql"))))


def _walk(node: Any) -> Iterator[ast.Node]:
    """Every node in the tree, parents first; a loop, not recursion, as a statement may nest deeply."""
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, ast.Node):
            yield item
            stack.extend(reversed([getattr(item, name, None) for name in type(item).__slots__]))
        elif isinstance(item, list | tuple):
            stack.extend(reversed(item))


def _function_refusal(call: ast.FuncCall) -> str | None:
    name = (getattr(call.funcname[-1], "sval", "") or "").lower() if call.funcname else ""
    if name in _REFUSED_FUNCTIONS:
        return _("the function %(call)s %(reason)s", call=name + "()", reason=_REFUSED_FUNCTIONS[name])
    if name == "ts_rewrite" and len(call.args or ()) == 2:
        return _("the function %(call)s %(reason)s", call="ts_rewrite(query, text)", reason=_SQL_TEXT)
    for prefix, reason in _REFUSED_FUNCTION_PREFIXES.items():
        if name.startswith(prefix):
            return _("the function %(call)s %(reason)s", call=name + "()", reason=reason)
    return None


def _statement_refusal(node: ast.Node) -> str | None:
    """Why this statement node (or anything inside it) is refused, or None."""
    for inner in _walk(node):
        kind = type(inner).__name__
        if kind == "VariableSetStmt":
            name = (inner.name or "").lower()
            if name in ("role", "session_authorization"):
                return _("changing the role would step outside your sandbox's role")
            if name in ("transaction", "session characteristics"):
                return TRANSACTION_CONTROL
            return _("%(why)s (SET and RESET are not available)", why=_SETTINGS)
        if kind in _REFUSED_STATEMENTS:
            return _REFUSED_STATEMENTS[kind]
        if kind.endswith("Stmt") and kind != "RawStmt" and kind not in _ALLOWED_STATEMENTS:
            words = re.sub(r"(?<=[a-z])(?=[A-Z])", " ", kind.removesuffix("Stmt")).upper()
            return _("%(statement)s is not one of the statements this playground runs", statement=words)
        if kind in ("RenameStmt", "CommentStmt"):
            objtype = getattr(inner, "renameType", None) or getattr(inner, "objtype", None)
            objname = getattr(objtype, "name", str(objtype))
            if objname in _SHARED_OBJECTS:
                return _SHARED_OBJECTS[objname]
        if kind == "FuncCall" and (reason := _function_refusal(inner)):
            return reason
    return None


def _streamable(node: ast.Node) -> bool:
    """A plain SELECT (no INTO, no data-modifying WITH): it can run as a server-side cursor."""
    if not isinstance(node, ast.SelectStmt) or node.intoClause is not None:
        return False
    return not any(type(n).__name__ in _WRITES for n in _walk(node))


@dataclass(frozen=True)
class Shape:
    """What the guard needs to know about a statement before it runs it."""

    streamable: bool  # a plain SELECT: its rows may come from a server-side cursor
    plain_write: bool  # INSERT/UPDATE/DELETE/MERGE: the driver's rowcount is the command's own count


def shape(sql: str) -> Shape:
    """The shape of one statement's text; one that does not parse is neither (the check says why)."""
    try:
        node = _parse(sql)[0].stmt
    except (parser.ParseError, IndexError, RecursionError):
        node = None
    return Shape(streamable=node is not None and _streamable(node), plain_write=type(node).__name__ in _WRITES)


# -- splitting and checking ----------------------------------------------------------------


def split_statements(sql: str) -> list[str]:
    """Cut after the `;` that ends each statement, as PostgreSQL's own parser sees them.

    `:name` parameters are masked as `$1` first (same length, so offsets hold). If the
    script does not parse, cut at every `;` outside literals and comments: `check_statement` then
    reports the syntax error of the statement that has it.
    """
    tokens = tokenize(sql, "postgresql")
    semicolons = [t.start + m.start() for t in tokens if t.kind == "code" for m in _SEMICOLON.finditer(t.text)]
    masked = _masked(tokens)
    try:
        # Character slices of each statement (without the white space and comments around it); no
        # syntax trees are built, so a script of 11,000 statements is split in a tenth of a second.
        slices = parser.split(masked, with_parser=True, only_slices=True)
    except (parser.ParseError, RecursionError):
        cuts = [s + 1 for s in semicolons]
    else:
        cuts = []
        previous = 0
        for piece in slices[1:]:
            start = piece.start
            # The last `;` before the next statement ends this one (bisect: linear in the script overall).
            i = bisect.bisect_left(semicolons, start) - 1
            cut = semicolons[i] + 1 if i >= 0 and semicolons[i] >= previous else start
            cuts.append(cut)
            previous = cut
    bounds = [0, *cuts, len(sql)]
    return [sql[a:b] for a, b in zip(bounds, bounds[1:], strict=False) if b > a]


def check_statement(statement: Statement) -> None:
    """Raise UserError if the statement does not parse, RefusedStatement if it is refused."""
    try:
        statements = _parse(statement.sql)
    except parser.ParseError as e:
        # pglast gives the character offset of the error, or None at the end of the input.
        where = e.args[1] if len(e.args) > 1 and isinstance(e.args[1], int) else len(statement.sql)
        raise UserError(statement_failed(statement.label, e.args[0]), statement=statement.index, offset=where) from None
    except RecursionError:
        # pglast builds its Python tree recursively: past Python's recursion limit it cannot be read.
        raise UserError(
            _(
                "%(statement)s nests too deeply to be checked (a very long chain of operators, UNIONs, NOTs "
                "or nested subqueries); split it into simpler statements.",
                statement=statement.label,
            ),
            statement=statement.index,
        ) from None
    if len(statements) != 1:
        raise RefusedStatement(
            statement_not_allowed(
                statement.label,
                _n(
                    "it holds %(num)s statement; end each one with a semicolon",
                    "it holds %(num)s statements; end each one with a semicolon",
                    len(statements),
                ),
            ),
            statement=statement.index,
        )
    reason = _statement_refusal(statements[0].stmt)
    if reason:
        raise RefusedStatement(statement_not_allowed(statement.label, reason), statement=statement.index)
