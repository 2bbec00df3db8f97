"""The transaction contract, through the service with no Flask, on every engine.

Result or preview is decided by the database; nothing is saved until Commit; a commit applies once
and only if the counts still match; an error anywhere rolls everything back.
"""

from __future__ import annotations

import secrets
import threading
import time
from dataclasses import replace
from typing import Any

import pytest
from conftest import SMALL_LIMITS, Observed, reconfigured
from time_travel import age_last_sweep, age_preview, age_sandbox, preview_tokens, registered

from playground.errors import CapacityReached, RefusedStatement, TimeLimitExceeded, TokenSpent, TokenUnknown, UserError
from playground.grid import GridError, ParameterGrid
from playground.service import MissingValues, Playground, RunRequest
from playground.store import PENDING_WRITE_TTL

LESSON_1_INSERT = 'INSERT INTO "Users" ("Name", "Age") VALUES(:Name, :Age)'
LESSON_2_SELECT = "SELECT x, y FROM some_table WHERE y > :y ORDER BY x, y"
LESSON_2_UPDATE = "UPDATE some_table SET y=:y WHERE x=:x"

SLOW_QUERY = {
    "sqlite": "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c) SELECT count(*) FROM c",
    "postgresql": "SELECT pg_sleep(3600)",
}
MANY_ROWS = {
    "sqlite": "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c) SELECT x FROM c",
    # A set-returning function in FROM is materialised by PostgreSQL before the first row; in the
    # select list it streams, which is what this test is about.
    "postgresql": "SELECT generate_series(1, 100000000) AS x",
}


@pytest.fixture(params=["sqlite", "postgresql"])
def bookkeeping(request: pytest.FixtureRequest) -> str:
    """The contract holds with the bookkeeping in a SQLite file and on PostgreSQL (production's arrangement)."""
    if request.param == "postgresql":
        request.getfixturevalue("postgres_url")
    return str(request.param)


def run(pg: Playground, visitor: str, sql: str, params: Any = None) -> Any:
    return pg.run(visitor, RunRequest(sql, params=params))


def rows(pg: Playground, visitor: str, sql: str) -> list[tuple[Any, ...]]:
    outcome = run(pg, visitor, sql)
    assert outcome.status == "ok"
    return [tuple(r) for r in outcome.run.statements[-1].rows]


def users(pg: Playground, visitor: str) -> list[tuple[Any, ...]]:
    return rows(pg, visitor, 'SELECT "Name", "Age" FROM "Users" ORDER BY "Id"')


def test_lesson_1_insert_previews_then_commits(playground: Playground, visitor: str) -> None:
    preview = run(playground, visitor, LESSON_1_INSERT, {"Name": "Петр", "Age": 20})
    assert preview.status == "preview"
    assert preview.run.rowcount == 1
    assert preview.token
    assert users(playground, visitor) == [("Петр", 20), ("Василий", 26)]

    committed = playground.commit(visitor, preview.token)
    assert committed.status == "committed"
    assert committed.run.rowcount == 1
    assert users(playground, visitor) == [("Петр", 20), ("Василий", 26), ("Петр", 20)]


def test_a_preview_leaves_identity_values_alone(playground: Playground, visitor: str) -> None:
    """A preview takes no id for good, not even from PostgreSQL's non-transactional sequences."""
    run(playground, visitor, LESSON_1_INSERT, {"Name": "Петр", "Age": 20})
    preview = run(playground, visitor, LESSON_1_INSERT, {"Name": "Петр", "Age": 20})
    playground.commit(visitor, preview.token)
    assert rows(playground, visitor, 'SELECT "Id", "Name" FROM "Users" ORDER BY "Id"') == [
        (1, "Петр"),
        (2, "Василий"),
        (3, "Петр"),
    ]


def test_lesson_2_select_and_executemany_update(playground: Playground, visitor: str) -> None:
    result = run(playground, visitor, LESSON_2_SELECT, {"y": 6})
    assert result.status == "ok"
    assert result.run.statements[0].columns == ("x", "y")
    assert [tuple(r) for r in result.run.statements[0].rows] == [(6, 8), (9, 10), (11, 12), (13, 14)]

    preview = run(playground, visitor, LESSON_2_UPDATE, [{"x": 9, "y": 11}, {"x": 13, "y": 15}])
    assert preview.status == "preview"
    assert preview.run.rowcount == 2
    assert preview.run.statements[0].sent.executemany
    playground.commit(visitor, preview.token)
    assert rows(playground, visitor, "SELECT x, y FROM some_table WHERE x IN (9, 13) ORDER BY x") == [(9, 11), (13, 15)]


def test_what_the_driver_received_is_in_its_own_paramstyle(
    playground: Playground, visitor: str, engine_name: str
) -> None:
    sent = run(playground, visitor, LESSON_2_SELECT, {"y": 6}).run.statements[0].sent
    placeholder = {"sqlite": "?", "postgresql": "%(y)s"}[engine_name]
    assert sent.statement == f"SELECT x, y FROM some_table WHERE y > {placeholder} ORDER BY x, y"
    assert [(v.value, v.type) for v in sent.parameter_sets[0]] == [(6, "int")]


def test_a_grid_row_is_typed_before_binding(playground: Playground, visitor: str) -> None:
    grid = ParameterGrid(("Name", "Age"), ("text", "integer"), (("Петр", "20"),))
    preview = playground.run(visitor, RunRequest(LESSON_1_INSERT, grid=grid))
    assert [(v.value, v.type) for v in preview.run.statements[0].sent.parameter_sets[0]][-1] == (20, "int")
    playground.commit(visitor, preview.token)
    assert users(playground, visitor)[-1] == ("Петр", 20)


def test_a_decimal_cell_binds_on_every_engine(playground: Playground, visitor: str) -> None:
    grid = ParameterGrid(("p",), ("auto",), (("4.5",),))
    outcome = playground.run(visitor, RunRequest("SELECT :p * 2 AS doubled", grid=grid))
    assert float(outcome.run.statements[0].rows[0][0]) == 9.0


def test_previewed_create_table_leaves_no_table(playground: Playground, visitor: str) -> None:
    preview = run(playground, visitor, "CREATE TABLE scratch (a INTEGER)")
    assert preview.status == "preview"
    assert "scratch" not in [t.name for t in playground.schema(visitor)]
    playground.commit(visitor, preview.token)
    assert "scratch" in [t.name for t in playground.schema(visitor)]


def test_delete_returning_is_a_write_and_shows_its_rows(playground: Playground, visitor: str) -> None:
    preview = run(playground, visitor, "DELETE FROM some_table WHERE x < :x RETURNING x, y", {"x": 3})
    assert preview.status == "preview"
    assert sorted(tuple(r) for r in preview.run.statements[0].rows) == [(1, 1), (2, 4)]
    assert preview.run.rowcount == 2
    assert len(rows(playground, visitor, "SELECT * FROM some_table")) == 6


def test_an_update_that_matches_nothing_is_still_a_write_preview(playground: Playground, visitor: str) -> None:
    preview = run(playground, visitor, "UPDATE some_table SET y = 0 WHERE x = -1")
    assert preview.status == "preview" and preview.token
    assert preview.run.rowcount == 0


def test_statements_run_in_order_with_a_count_each(playground: Playground, visitor: str) -> None:
    preview = run(
        playground,
        visitor,
        "INSERT INTO some_table (x, y) VALUES (100, 100); UPDATE some_table SET y = y + 1 WHERE x >= 11; "
        "SELECT count(*) AS n FROM some_table",
    )
    assert preview.status == "preview"
    assert preview.run.counts == [1, 3, 1]
    assert preview.run.statements[2].rows[0][0] == 7


def test_an_error_in_any_statement_rolls_back_all_and_names_it(playground: Playground, visitor: str) -> None:
    with pytest.raises(UserError, match=r"Statement 2 \(INSERT\) failed") as failure:
        run(playground, visitor, "DELETE FROM some_table; INSERT INTO no_such_table VALUES (1)")
    assert failure.value.statement == 2
    assert len(rows(playground, visitor, "SELECT * FROM some_table")) == 6


def test_transaction_control_is_refused_before_anything_runs(playground: Playground, visitor: str) -> None:
    for sql in ("DELETE FROM some_table; COMMIT", "BEGIN; DELETE FROM some_table", "DELETE FROM some_table; ROLLBACK"):
        with pytest.raises(RefusedStatement, match="not allowed: transaction control"):
            run(playground, visitor, sql)
    assert len(rows(playground, visitor, "SELECT * FROM some_table")) == 6


def test_a_commit_applies_once(playground: Playground, visitor: str) -> None:
    preview = run(playground, visitor, LESSON_1_INSERT, {"Name": "Анна", "Age": 30})
    playground.commit(visitor, preview.token)
    with pytest.raises(TokenSpent, match="nothing was applied again"):
        playground.commit(visitor, preview.token)
    assert [u for u in users(playground, visitor) if u[0] == "Анна"] == [("Анна", 30)]


def test_a_replayed_token_says_what_became_of_it(playground: Playground, visitor: str) -> None:
    discarded = run(playground, visitor, "DELETE FROM some_table")
    playground.discard(visitor, discarded.token)
    with pytest.raises(TokenSpent, match="was discarded"):
        playground.commit(visitor, discarded.token)

    doomed = run(playground, visitor, "INSERT INTO some_table VALUES (1, 2)")
    playground.commit(visitor, run(playground, visitor, "DROP TABLE some_table").token)
    with pytest.raises(UserError, match="some_table"):
        playground.commit(visitor, doomed.token)
    with pytest.raises(TokenSpent, match="commit failed"):
        playground.commit(visitor, doomed.token)


def test_a_discarded_preview_cannot_be_committed(playground: Playground, visitor: str) -> None:
    preview = run(playground, visitor, "DELETE FROM some_table")
    playground.discard(visitor, preview.token)
    with pytest.raises(TokenSpent):
        playground.commit(visitor, preview.token)
    assert len(rows(playground, visitor, "SELECT * FROM some_table")) == 6


def test_a_token_belongs_to_its_visitor(playground: Playground, visitor: str) -> None:
    preview = run(playground, visitor, "DELETE FROM some_table")
    with pytest.raises(TokenUnknown):
        playground.commit("f" * 32, preview.token)
    with pytest.raises(TokenUnknown):
        playground.commit(visitor, "no-such-token")


def test_a_commit_whose_counts_changed_rolls_back_and_previews_again(playground: Playground, visitor: str) -> None:
    stale = run(playground, visitor, "DELETE FROM some_table WHERE y > 5")
    assert stale.run.rowcount == 4
    playground.commit(visitor, run(playground, visitor, "INSERT INTO some_table VALUES (50, 100)").token)

    conflict = playground.commit(visitor, stale.token)
    assert conflict.status == "conflict"
    assert conflict.run.rowcount == 5
    assert conflict.token and conflict.token != stale.token
    assert "changed since the preview" in conflict.notes[0]
    assert len(rows(playground, visitor, "SELECT * FROM some_table")) == 7

    playground.commit(visitor, conflict.token)
    assert len(rows(playground, visitor, "SELECT * FROM some_table")) == 2


def test_the_time_limit_stops_a_runaway_query(playground: Playground, visitor: str, engine_name: str) -> None:
    started = time.monotonic()
    with pytest.raises(TimeLimitExceeded, match="time limit"):
        run(playground, visitor, SLOW_QUERY[engine_name])
    assert time.monotonic() - started < 10
    assert rows(playground, visitor, "SELECT 1 AS one") == [(1,)]


@pytest.mark.parametrize("limits", [replace(SMALL_LIMITS, time_limit_ms=5000)])
def test_at_most_max_rows_are_fetched(playground: Playground, visitor: str, engine_name: str) -> None:
    # Five seconds on every layer (the backend enforces the service's own limits), so that a loaded
    # machine never turns this into a time limit: what is tested is the row cap.
    assert playground.backend(engine_name).limits.time_limit_ms == 5000
    outcome = run(playground, visitor, MANY_ROWS[engine_name] + " LIMIT 10000000")
    statement = outcome.run.statements[0]
    assert statement.truncated
    assert len(statement.rows) == SMALL_LIMITS.max_rows


HUGE_VALUES = {
    "sqlite": "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c LIMIT 40) SELECT x, zeroblob(100000) FROM c",
    "postgresql": "SELECT x, repeat('x', 100000) FROM generate_series(1, 40) AS x",
}


@pytest.mark.parametrize("limits", [replace(SMALL_LIMITS, max_result_bytes=1_000_000)])
def test_a_few_huge_rows_are_cut_short_by_the_result_size_budget(
    playground: Playground, visitor: str, engine_name: str
) -> None:
    statement = run(playground, visitor, HUGE_VALUES[engine_name]).run.statements[0]
    assert statement.truncated
    assert 10 <= len(statement.rows) <= 11


def test_a_query_with_several_parameter_rows_runs_once_per_row(playground: Playground, visitor: str) -> None:
    # The drivers' executemany would throw the returned rows away: each row runs on its own.
    outcome = run(playground, visitor, LESSON_2_SELECT, [{"y": 6}, {"y": 12}])
    assert outcome.status == "ok"
    (statement,) = outcome.run.statements
    assert [(r.row, r.parameters, r.rows) for r in statement.per_row] == [
        (1, (("y", 6),), ((6, 8), (9, 10), (11, 12), (13, 14))),
        (2, (("y", 12),), ((13, 14),)),
    ]
    assert statement.sent is not None and statement.sent.per_row and not statement.sent.executemany
    assert len(statement.sent.parameter_sets) == 2
    assert outcome.run.rows_changed == 0 and outcome.run.rows_returned == 5


def test_a_write_with_returning_runs_once_per_row_in_one_transaction(playground: Playground, visitor: str) -> None:
    sql = "INSERT INTO some_table (x, y) VALUES (:x, :x * 10) RETURNING x, y"
    preview = run(playground, visitor, sql, [{"x": 100}, {"x": 200}])
    assert preview.status == "preview"
    (statement,) = preview.run.statements
    assert [r.rows for r in statement.per_row] == [((100, 1000),), ((200, 2000),)]
    assert statement.changed == 2 and preview.run.rows_changed == 2
    assert len(rows(playground, visitor, "SELECT * FROM some_table")) == 6  # rolled back
    committed = playground.commit(visitor, preview.token)
    assert committed.status == "committed"
    assert rows(playground, visitor, "SELECT x, y FROM some_table WHERE x >= 100 ORDER BY x") == [
        (100, 1000),
        (200, 2000),
    ]
    # An error in the second row ("Name" is NOT NULL) rolls back the first.
    users_sql = 'INSERT INTO "Users" ("Name", "Age") VALUES (:Name, 1) RETURNING "Name"'
    with pytest.raises(UserError, match="Statement 1 .*failed"):
        run(playground, visitor, users_sql, [{"Name": "Анна"}, {"Name": None}])
    assert users(playground, visitor) == [("Петр", 20), ("Василий", 26)]


def test_writes_without_returning_keep_running_as_one_executemany(playground: Playground, visitor: str) -> None:
    preview = run(playground, visitor, LESSON_2_UPDATE, [{"x": 9, "y": 11}, {"x": 13, "y": 15}])
    (statement,) = preview.run.statements
    assert statement.sent is not None and statement.sent.executemany and not statement.sent.per_row
    assert statement.per_row == () and statement.changed == 2


@pytest.mark.parametrize(
    ("sql", "params", "error", "message"),
    [
        (LESSON_2_SELECT, None, GridError, r"no value for :y"),
        (LESSON_2_SELECT, {"z": 1}, GridError, r"names :z, which the SQL does not use \(its parameters: :y\)"),
        (LESSON_2_SELECT, {"y": 1, "extra": 2}, GridError, r":extra, which the SQL does not use"),
        ("   ", None, UserError, "no SQL to run"),
        ("SELEC 1", None, UserError, r"Statement 1 \(SELEC\) failed: .*syntax[^.]*\.$"),
        ("SELECT * FROM nowhere", None, UserError, "nowhere"),
        ("SELECT 1\x00", None, UserError, "NUL byte"),
    ],
)
def test_user_mistakes_get_a_message(
    playground: Playground, visitor: str, sql: str, params: Any, error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        run(playground, visitor, sql, params)


def test_sql_over_the_size_limit_is_refused_unread(playground: Playground, visitor: str) -> None:
    big = "SELECT 1 -- " + "x" * playground.settings.limits.max_sql_bytes
    with pytest.raises(UserError, match="the limit is") as failure:
        run(playground, visitor, big)
    assert failure.value.status == 413


def test_missing_grid_columns_are_named(playground: Playground, visitor: str) -> None:
    with pytest.raises(MissingValues, match=":Name, :Age") as failure:
        playground.run(visitor, RunRequest(LESSON_1_INSERT, grid=ParameterGrid()))
    assert failure.value.names == ("Name", "Age")


def test_sandboxes_are_private(playground: Playground, visitor: str) -> None:
    other = "e" * 32
    playground.commit(visitor, run(playground, visitor, "DELETE FROM some_table").token)
    assert rows(playground, visitor, "SELECT count(*) FROM some_table") == [(0,)]
    assert rows(playground, other, "SELECT count(*) FROM some_table") == [(6,)]


def test_reset_restores_the_sample(playground: Playground, visitor: str) -> None:
    playground.commit(visitor, run(playground, visitor, "DROP TABLE some_table").token)
    playground.reset(visitor)
    assert rows(playground, visitor, "SELECT count(*) FROM some_table") == [(6,)]


def test_the_number_of_sandboxes_is_capped(playground: Playground, visitor: str) -> None:
    capped = reconfigured(playground, max_sandboxes=1)
    run(capped, visitor, "SELECT 1")
    with pytest.raises(CapacityReached, match="as many sandboxes") as refused:
        run(capped, secrets.token_hex(16), "SELECT 1")
    assert refused.value.status == 503
    assert registered(capped.store, capped.default_engine) == {visitor}
    # The visitor who has a sandbox keeps using it.
    assert rows(capped, visitor, "SELECT count(*) FROM some_table") == [(6,)]


def test_every_run_is_logged(playground: Playground, visitor: str) -> None:
    run(playground, visitor, LESSON_2_SELECT, {"y": 6})
    with pytest.raises(UserError):
        run(playground, visitor, "SELEC 1")
    logged = playground.store.recent_runs(visitor=visitor)
    assert [(r["action"], r["outcome"]) for r in logged[:2]] == [("run", "error"), ("run", "ok")]
    assert logged[1]["sql"] == LESSON_2_SELECT
    assert logged[1]["rowcount"] == 4
    assert logged[1]["elapsed_ms"] is not None


# -- per-statement counts -------------------------------------------------------------------


def test_a_commit_whose_counts_moved_between_statements_is_a_conflict(playground: Playground, visitor: str) -> None:
    """The same total is not the same write: every statement's count must match its preview's."""
    stale = run(playground, visitor, 'DELETE FROM some_table WHERE x > 10; DELETE FROM "Users" WHERE "Age" > 25')
    assert stale.run.counts == [2, 1]
    moved = 'DELETE FROM some_table WHERE x = 13; INSERT INTO "Users" ("Name", "Age") VALUES (\'Old\', 90)'
    playground.commit(visitor, run(playground, visitor, moved).token)

    conflict = playground.commit(visitor, stale.token)
    assert conflict.status == "conflict"
    assert conflict.run.counts == [1, 2] and conflict.run.rowcount == stale.run.rowcount
    assert conflict.token and conflict.token != stale.token
    note = conflict.notes[0]
    assert "changed since the preview" in note
    assert "statement 1 counted 2 rows, now 1" in note and "statement 2 counted 1 row, now 2" in note
    # Nothing of the stale preview was applied.
    assert len(rows(playground, visitor, "SELECT * FROM some_table")) == 5
    assert len(users(playground, visitor)) == 3


# -- previews expire ------------------------------------------------------------------------


def test_a_preview_can_be_committed_for_an_hour_and_then_has_expired(playground: Playground, visitor: str) -> None:
    late = run(playground, visitor, "DELETE FROM some_table WHERE x = 1")
    in_time = run(playground, visitor, "DELETE FROM some_table WHERE x = 2")
    age_preview(playground.store, late.token, PENDING_WRITE_TTL + 60)
    age_preview(playground.store, in_time.token, PENDING_WRITE_TTL - 60)

    with pytest.raises(TokenSpent, match="This preview has expired; run the SQL again") as expired:
        playground.commit(visitor, late.token)
    assert expired.value.status == 410
    assert playground.commit(visitor, in_time.token).status == "committed"
    assert rows(playground, visitor, "SELECT x FROM some_table ORDER BY x") == [(1,), (6,), (9,), (11,), (13,)]


def test_the_sweep_forgets_old_previews_and_keeps_recent_ones(playground: Playground, visitor: str) -> None:
    old = run(playground, visitor, "DELETE FROM some_table WHERE x = 1").token
    expired = run(playground, visitor, "DELETE FROM some_table WHERE x = 2").token
    fresh = run(playground, visitor, "DELETE FROM some_table WHERE x = 6").token
    age_preview(playground.store, old, 2 * PENDING_WRITE_TTL + 60)
    age_preview(playground.store, expired, PENDING_WRITE_TTL + 60)
    playground.sweep_idle_sandboxes(force=True)

    assert preview_tokens(playground.store) == {expired, fresh}
    with pytest.raises(TokenUnknown):
        playground.commit(visitor, old)
    with pytest.raises(TokenSpent, match="expired"):
        playground.commit(visitor, expired)
    playground.commit(visitor, fresh)
    assert rows(playground, visitor, "SELECT x FROM some_table ORDER BY x") == [(1,), (2,), (9,), (11,), (13,)]


# -- idle sandboxes -------------------------------------------------------------------------

TTL = 3600


def another_process(service: Playground, **changes: Any) -> Playground:
    """A second worker (or server): a service of its own over the same bookkeeping and databases."""
    return reconfigured(service, **changes)


def test_the_sweep_drops_sandboxes_idle_past_the_ttl_and_spares_recent_ones(
    playground: Playground, visitor: str, engine_name: str
) -> None:
    service = reconfigured(playground, sandbox_ttl_seconds=TTL)
    idle, recent = visitor, secrets.token_hex(16)
    for someone in (idle, recent):
        service.commit(someone, run(service, someone, "DELETE FROM some_table").token)
    age_sandbox(service.store, idle, engine_name, TTL + 60)
    age_sandbox(service.store, recent, engine_name, TTL - 60)

    assert service.sweep_idle_sandboxes(force=True) == [(idle, engine_name)]
    assert registered(service.store, engine_name) == {recent}
    # Seen from a process that has never met either of them: the recent sandbox kept its
    # committed change; the idle one is gone, and its visitor comes back to a fresh sample.
    later = another_process(service)
    assert rows(later, recent, "SELECT count(*) FROM some_table") == [(0,)]
    assert rows(later, idle, "SELECT count(*) FROM some_table") == [(6,)]


def test_requests_sweep_at_most_once_a_minute_across_processes(
    playground: Playground, visitor: str, engine_name: str
) -> None:
    first = another_process(playground, sandbox_ttl_seconds=TTL)
    idle, stays = visitor, secrets.token_hex(16)
    for someone in (idle, stays):
        rows(first, someone, "SELECT 1")  # the first request of this process sweeps (nothing yet)
    age_sandbox(first.store, idle, engine_name, TTL + 60)

    # Within the minute, no request sweeps: neither in the same process nor in another one.
    rows(first, stays, "SELECT 1")
    second = another_process(playground, sandbox_ttl_seconds=TTL)
    rows(second, stays, "SELECT 1")
    assert registered(playground.store, engine_name) == {idle, stays}

    # A minute after the last sweep, the next request (here in a process just started) sweeps.
    age_last_sweep(playground.store, 61)
    third = another_process(playground, sandbox_ttl_seconds=TTL)
    rows(third, stays, "SELECT 1")
    assert registered(playground.store, engine_name) == {stays}


def test_a_commit_whose_sandbox_was_swept_applies_nothing(
    playground: Playground, visitor: str, engine_name: str
) -> None:
    service = reconfigured(playground, sandbox_ttl_seconds=600)
    preview = run(service, visitor, "DELETE FROM some_table")
    age_sandbox(service.store, visitor, engine_name, 700)
    assert service.sweep_idle_sandboxes(force=True) == [(visitor, engine_name)]

    with pytest.raises(TokenUnknown, match="There is no such preview to commit or discard; run the SQL again") as gone:
        service.commit(visitor, preview.token)
    assert gone.value.status == 404
    # The visitor's new sandbox is the sample: the previewed delete did not follow them there.
    assert rows(service, visitor, "SELECT count(*) FROM some_table") == [(6,)]


# -- reset while a run is going ---------------------------------------------------------------


def test_reset_while_a_run_of_the_same_visitor_is_going(playground: Playground, visitor: str, engine_name: str) -> None:
    playground.commit(visitor, run(playground, visitor, "DELETE FROM some_table").token)
    started = threading.Event()
    observed = Observed(playground.backend(engine_name), lambda _statement: started.set())
    worker = Playground(playground.settings, playground.store, {engine_name: observed}, engine_name)
    ended: list[BaseException | Any] = []

    def slow_run() -> None:
        try:
            ended.append(run(worker, visitor, SLOW_QUERY[engine_name]))
        except BaseException as e:  # noqa: BLE001 - reported below
            ended.append(e)

    thread = threading.Thread(target=slow_run)
    thread.start()
    try:
        assert started.wait(timeout=60), "the run never started"
        assert playground.reset(visitor) == engine_name
    finally:
        thread.join(timeout=120)
    assert not thread.is_alive()
    # The run ends as a user's error (the time limit, or its connection ended by the reset), never a crash.
    (outcome,) = ended
    assert isinstance(outcome, UserError) and 400 <= outcome.status < 500, repr(outcome)
    assert rows(playground, visitor, "SELECT count(*) FROM some_table") == [(6,)]
    assert rows(playground, visitor, "SELECT 1 AS one") == [(1,)]


def test_a_statement_with_a_nul_byte_is_logged_and_the_log_goes_on(playground: Playground, visitor: str) -> None:
    """PostgreSQL's text cannot hold NUL: the line keeps U+FFFD in its place, and later lines are written too."""
    with pytest.raises(UserError, match="NUL byte"):
        run(playground, visitor, "SELECT 1\x00")
    run(playground, visitor, "SELECT 2")
    logged = playground.store.recent_runs(visitor=visitor)
    assert [(r["sql"], r["outcome"]) for r in logged[:2]] == [("SELECT 2", "ok"), ("SELECT 1\ufffd", "error")]
