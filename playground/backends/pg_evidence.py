"""The write evidence on PostgreSQL: did a statement write, and how many rows did it change.

After each statement the guard calls `after_statement`, which asks the transaction for its id
(`XID_CHECK`, a few microseconds): no id means nothing was written in the transaction at all, so
a plain query costs nothing more. The tuples changed per table (`TUPLES`, a walk over every
relation costing milliseconds) are read only when they are needed: when a statement other than
INSERT/UPDATE/DELETE/MERGE wrote (its count), or when the transaction already had an id before
a statement (whether that statement wrote). The snapshot in the connection's info
(`BASELINE_KEY`) starts at zero: a transaction's own counts start empty on a new connection, and
a reused connection's statistics are flushed before it is handed out again (pg_pool.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import psycopg2
import psycopg2.errors
import psycopg2.extensions

from ..errors import RefusedStatement, TimeLimitExceeded, UserError, statement_failed, statement_not_allowed
from ..messages import _
from ..script import Statement
from .base import Evidence
from .pg_errors import message
from .pg_statements import TRANSACTION_CONTROL

BASELINE_KEY = "playground.pg.tuples"

# What the guard reads, as the sandbox role, in the same transaction. Everything is
# schema-qualified (a student may create look-alikes in `public`), and
# standard_conforming_strings is put back on after each statement so that the next statement's
# text means to the server what it meant to the parser that split and checked it.
XID_CHECK = (
    "SELECT pg_catalog.pg_current_xact_id_if_assigned(), "
    "pg_catalog.set_config('standard_conforming_strings', 'on', false)"
)
TUPLES = (
    "SELECT one.xid, s.schemaname, s.n_tup_ins, s.n_tup_upd, s.n_tup_del FROM "
    "(SELECT pg_catalog.pg_current_xact_id_if_assigned() AS xid, "
    "pg_catalog.set_config('standard_conforming_strings', 'on', false) AS scs) one "
    "LEFT JOIN pg_catalog.pg_stat_xact_all_tables s ON true"
)
_SYSTEM_SCHEMAS = ("pg_catalog", "information_schema", "pg_toast")


def before_statement(conn: Any, raw: Any) -> None:
    """Count the tuples now if the transaction already wrote and the count is not known yet."""
    before = conn.info.get(BASELINE_KEY) or Snapshot.ZERO
    if before.xid is not None and not before.counted:
        try:
            conn.info[BASELINE_KEY] = _read(raw, TUPLES, Snapshot.of)
        except psycopg2.Error as e:
            raise UserError(_("the transaction could not go on: %(error)s.", error=message(e))) from None


def after_statement(
    conn: Any, raw: Any, statement: Statement, evidence: Evidence, *, plain_write: bool, time_limit_ms: int
) -> None:
    """Read what the transaction did: an assigned transaction id means it wrote."""
    if raw.info.transaction_status != psycopg2.extensions.TRANSACTION_STATUS_INTRANS:
        raise RefusedStatement(
            statement_not_allowed(
                statement.label, _("it ended the playground's transaction (%(why)s)", why=TRANSACTION_CONTROL)
            ),
            statement=statement.index,
        )
    try:
        before = conn.info.get(BASELINE_KEY) or Snapshot.ZERO
        xid = _read(raw, XID_CHECK, lambda rows: rows[0][0])
        if xid is None:
            # No transaction id: no table (catalogs included) changed in this transaction.
            evidence.wrote = plain_write
            return
        if before.xid is None and plain_write:
            # The first write, by a command that counts its own rows: the tuples wait until needed.
            conn.info[BASELINE_KEY] = Snapshot(xid, 0, 0, counted=False)
            evidence.wrote = True
            return
        after = _read(raw, TUPLES, Snapshot.of)
    except psycopg2.errors.QueryCanceled:
        raise TimeLimitExceeded(
            _("%(statement)s was stopped at the time limit (%(ms)s ms).", statement=statement.label, ms=time_limit_ms),
            statement=statement.index,
        ) from None
    except psycopg2.Error as e:
        raise UserError(statement_failed(statement.label, message(e)), statement=statement.index) from None
    conn.info[BASELINE_KEY] = after
    # This statement wrote if the transaction got its id now, or if any table's (catalogs
    # included: DDL) tuples changed since the previous statement; a data-changing command
    # counts as a write even when it matched no row (as on SQLite).
    evidence.wrote = plain_write or before.xid is None or after.all_tuples != before.all_tuples
    # INSERT/UPDATE/DELETE/MERGE: the driver's rowcount is the command's own count (summed
    # over an executemany). Anything else that wrote (a data-modifying WITH, a function,
    # CREATE TABLE AS): the rows of user tables the transaction's statistics say it changed.
    if evidence.wrote and not plain_write:
        evidence.changes = max(after.user_tuples - before.user_tuples, 0)


def _read(raw: Any, sql: str, take: Any) -> Any:
    with raw.cursor() as cur:
        cur.execute(sql)
        return take(cur.fetchall())


@dataclass(frozen=True)
class Snapshot:
    """The transaction's id (if it has one) and the tuples it changed so far."""

    xid: str | None
    all_tuples: int  # every table, system catalogs included
    user_tuples: int  # the student's tables (temporary ones included)
    counted: bool = True  # False: the transaction wrote since the tuples were last counted

    ZERO: ClassVar[Snapshot]

    @classmethod
    def of(cls, rows: list[tuple[Any, ...]]) -> Snapshot:
        all_tuples = user_tuples = 0
        for _xid, schema, *counts in rows:
            n = sum(c or 0 for c in counts)
            all_tuples += n
            if schema and not schema.startswith(_SYSTEM_SCHEMAS):
                user_tuples += n
        return cls(rows[0][0] if rows else None, all_tuples, user_tuples)


Snapshot.ZERO = Snapshot(None, 0, 0)
