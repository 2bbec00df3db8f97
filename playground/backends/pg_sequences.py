"""PostgreSQL sequences: a run that does not commit gives back the values it took.

nextval() is not undone by a rollback, so a previewed INSERT would make the commit's SERIAL id
skip a value. Before the run's transaction, `read_sequences` notes every sequence's state;
after it, unless it committed, `give_back` sets back those that moved. That is safe only if no
other connection took a value meanwhile (it may have committed it), so it is done only if no
other connection of the role to this database did anything at any time in between: at the
start, every other one is idle (outside a transaction); at the end, the very same ones are
there, still idle, none of them changed state since the start (pg_stat_activity's
state_change, with a second's margin for a backend that took its clock just before we looked),
and none came and went, which the database's count of sessions shows (PostgreSQL 14+: a session
is counted as it starts and, at the latest, before it leaves pg_stat_activity). Idle
connections may be pooled ones that run again later (pg_pool): whatever they run between the
two looks shows. Every transaction holds a shared advisory lock and the setting back takes it
exclusively, so a run starting meanwhile waits for it. Otherwise the values stay taken: a
harmless gap. These statements are the playground's own, each in a short transaction of its
own (autocommit) outside the run's, schema-qualified like the guard's own reads; they call the statistics
functions rather than the views, and avoid joins, which cost milliseconds on a new connection.
"""

from __future__ import annotations

import logging
from contextlib import suppress
from dataclasses import dataclass
from typing import Any

import psycopg2
import psycopg2.extensions

from .pg_errors import first_line

log = logging.getLogger("playground.postgresql")

# Set on a connection by the engine's "commit" event: its values are taken for good.
COMMITTED_KEY = "playground.pg.committed"

SEQUENCE_LOCK = 123589619970419  # the advisory lock's key ("pgseqs"); each sandbox is its own database
_RESTORE_LOCK_TIMEOUT_MS = 100

_ME = "pg_catalog.pg_stat_get_activity(pg_catalog.pg_backend_pid())"
# Other client connections of this role to this database (`me`: this connection's own row).
_OTHERS = (
    "FROM pg_catalog.pg_stat_get_activity(NULL) a WHERE a.datid = me.datid AND a.usesysid = me.usesysid "
    "AND a.pid <> me.pid AND a.backend_type = 'client backend'"
)
# The other connections' process ids, in order: the same set at the end, or nothing is given back.
_OTHER_PIDS = f"ARRAY(SELECT a.pid {_OTHERS} ORDER BY a.pid)"
# One row per sequence the role may read and set, with the count of sessions so far, the time,
# the other connections, and the last value if it handed one out; no row if another connection
# is in a transaction or running something (the WHERE reads pg_stat_activity before the row's
# sequence is read). Another session's temporary sequence is not given back either: that session
# is open, and it changes state when it ends (after a crash, an orphaned one makes
# pg_sequence_last_value fail: nothing is given back until it is gone).
_SEQUENCES_BEFORE = (
    "SELECT pg_catalog.pg_stat_get_db_sessions(me.datid), pg_catalog.clock_timestamp(), "
    f"{_OTHER_PIDS}, s.seqrelid, pg_catalog.pg_sequence_last_value(s.seqrelid) "
    f"FROM {_ME} me CROSS JOIN pg_catalog.pg_sequence s "
    f"WHERE NOT EXISTS (SELECT {_OTHERS} AND a.state IS DISTINCT FROM 'idle') "
    "AND pg_catalog.has_table_privilege(s.seqrelid, 'SELECT') AND pg_catalog.has_table_privilege(s.seqrelid, 'UPDATE')"
)
_NAMES = (
    "SELECT c.oid, pg_catalog.format('%%I.%%I', n.nspname, c.relname) FROM pg_catalog.pg_class c "
    "JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = ANY (%(oids)s::oid[])"
)


@dataclass(frozen=True)
class _Sequence:
    oid: int
    last_value: int
    is_called: bool  # False: it never handed out a value (nextval returns last_value itself)
    name: str | None = None  # schema-qualified, quoted: to read the sequence itself when not called


@dataclass(frozen=True)
class _Sequences:
    """The sandbox's sequences before a run, and what tells whether giving values back is safe."""

    sessions: int  # pg_stat_database.sessions
    since: Any  # the server's clock when they were read (a datetime)
    others: list[int]  # the other connections of the role to the database, all idle then
    sequences: tuple[_Sequence, ...]


def read_sequences(raw: Any) -> _Sequences | None:
    """The sequences' state before the run, or None if nothing could be safely given back after it."""
    if raw.server_version < 140000:  # no count of sessions: the values a preview takes stay taken
        return None
    try:
        raw.autocommit = True
        with raw.cursor() as cur:
            cur.execute(_SEQUENCES_BEFORE)
            rows = cur.fetchall()
            if not rows or rows[0][0] is None:
                return None
            sessions, since, others = rows[0][:3]
            called = [_Sequence(oid, last, True) for *_, oid, last in rows if last is not None]
            uncalled = [oid for *_, oid, last in rows if last is None]
            if uncalled:
                # pg_sequence_last_value() is NULL for a sequence that never handed out a value,
                # whatever its next one: read the sequence itself (rare: SERIAL on an empty table).
                cur.execute(_NAMES, {"oids": uncalled})
                names = dict(cur.fetchall())
                cur.execute(
                    " UNION ALL ".join(f"SELECT {oid}::oid, last_value, is_called FROM {names[oid]}" for oid in names)
                )
                called += [_Sequence(oid, last, is_called, names[oid]) for oid, last, is_called in cur.fetchall()]
            return _Sequences(sessions, since, list(others), tuple(called))
    except psycopg2.Error as e:
        log.warning("sequences not read (the values a preview takes stay taken): %s", first_line(e))
        return None
    finally:
        _leave_autocommit(raw)


def _restore_statement(before: _Sequences) -> tuple[str, dict[str, Any]]:
    """Set back the sequences that moved if that is safe.

    Returns one row: how many sequences moved, and how many were set back. Whether it is safe is
    asked only if one moved (most runs take no value), in this order: the lock (a run that starts
    now waits for it), pg_stat_activity (the same other connections, all idle, none of which
    changed state since the start), then the count of sessions (a connection leaves the first
    only after it is counted in the second).
    """
    params: dict[str, Any] = {
        "lock": SEQUENCE_LOCK,
        "sessions": before.sessions,
        "since": before.since,
        "others": before.others,
    }
    rows = []
    for i, seq in enumerate(before.sequences):
        params |= {f"oid{i}": seq.oid, f"last{i}": seq.last_value, f"called{i}": seq.is_called}
        if seq.name is None:
            moved = f"pg_catalog.pg_sequence_last_value(%(oid{i})s::oid) IS DISTINCT FROM %(last{i})s::int8"
        else:  # pg_sequence_last_value() cannot tell (x, false) from (y, false)
            moved = (
                f"NOT EXISTS (SELECT FROM {seq.name.replace('%', '%%')} s "
                f"WHERE s.last_value = %(last{i})s::int8 AND s.is_called = %(called{i})s)"
            )
        rows.append(f"(%(oid{i})s::oid::regclass, %(last{i})s::int8, %(called{i})s, {moved})")
    safe = (
        "SELECT CASE WHEN NOT pg_catalog.pg_try_advisory_xact_lock(%(lock)s) THEN false "
        f"WHEN {_OTHER_PIDS} IS DISTINCT FROM %(others)s::int4[] THEN false "
        f"WHEN EXISTS (SELECT {_OTHERS} AND (a.state IS DISTINCT FROM 'idle' "
        "OR a.state_change IS NULL OR a.state_change > %(since)s - interval '1 second')) THEN false "
        f"ELSE pg_catalog.pg_stat_get_db_sessions(me.datid) = %(sessions)s::int8 END FROM {_ME} me"
    )
    sql = (
        f"SET lock_timeout = {_RESTORE_LOCK_TIMEOUT_MS}; SET synchronous_commit = off; "
        "SELECT pg_catalog.count(*), "
        f"pg_catalog.count(CASE WHEN ({safe}) THEN pg_catalog.setval(v.seq, v.last_value, v.is_called) END) "
        f"FROM (VALUES {', '.join(rows)}) v(seq, last_value, is_called, moved) WHERE v.moved"
    )
    return sql, params


def give_back(connection: Any, before: _Sequences | None) -> None:
    """After the run's transaction: give back the sequence values it took, unless it committed.

    Never raises: an error is logged, and the connection is left outside any transaction.
    """
    try:
        raw = connection.connection.driver_connection
        committed = connection.info.get(COMMITTED_KEY, False)
        if raw is None or raw.closed or raw.info.transaction_status != psycopg2.extensions.TRANSACTION_STATUS_IDLE:
            return
    except Exception:  # noqa: BLE001 - a lost connection: nothing to do on it
        return
    if before is None or committed:
        return
    try:
        raw.autocommit = True
        with raw.cursor() as cur:
            cur.execute(*_restore_statement(before))
            moved, set_back = cur.fetchone()
            if set_back < moved:
                log.info("the sequence values a preview took stay taken: another connection was in use")
    except Exception as e:  # noqa: BLE001 - never turn a run into an error
        log.warning("the sequence values a preview took were not given back: %s", first_line(e))
    finally:
        _leave_autocommit(raw)


def _leave_autocommit(raw: Any) -> None:
    with suppress(Exception):
        raw.autocommit = False
