"""The visitor gate (runs at once and runs a minute, per visitor) on the service, on both engines.

tests/test_limits.py sends floods to a real multi-worker server; these pin down the rules.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from playground.config import Limits
from playground.service import Playground, RunRequest
from playground.visitor_gate import TooManyRuns, VisitorGate

INSERT = "INSERT INTO some_table (x, y) VALUES (:x, :y)"


def test_a_commit_turned_away_keeps_its_preview(playground: Playground, visitor: str) -> None:
    preview = playground.run(visitor, RunRequest(INSERT, params={"x": 100, "y": 1}))
    assert preview.token is not None
    holding = [playground.gate.enter(visitor) for _ in range(playground.settings.limits.max_concurrent_runs)]
    for slot in holding:
        slot.__enter__()
    try:
        with pytest.raises(TooManyRuns, match="PLAYGROUND_MAX_CONCURRENT_RUNS"):
            playground.commit(visitor, preview.token)
        # Another visitor is not held up by them.
        assert playground.run("e" * 32, RunRequest("SELECT 1")).run.statements[0].rows == ((1,),)
    finally:
        for slot in holding:
            slot.__exit__(None, None, None)
    assert playground.commit(visitor, preview.token).status == "committed"
    rows = playground.run(visitor, RunRequest("SELECT count(*) FROM some_table WHERE x = 100")).run.statements[0].rows
    assert rows == ((1,),)


def test_the_rate_allows_a_burst_then_one_run_per_interval(tmp_path: Path) -> None:
    now = [1000.0]
    gate = VisitorGate(tmp_path, Limits(runs_per_minute=60, run_burst=3), clock=lambda: now[0])
    visitor = "a" * 32
    for _ in range(3):
        with gate.enter(visitor):
            pass
    with pytest.raises(TooManyRuns, match=r"\(60 runs a minute, 3 in a row; .*wait 1 s") as info, gate.enter(visitor):
        pass
    assert info.value.status == 429 and info.value.retry_after_seconds == 1
    now[0] += 1.0  # a second later, one more
    with gate.enter(visitor):
        pass
    with pytest.raises(TooManyRuns), gate.enter(visitor):
        pass
    # Another visitor has a rate of their own; forgetting a visitor removes their files.
    with gate.enter("b" * 32):
        pass
    gate.forget(visitor)
    assert sorted(p.name for p in gate.folder.iterdir()) == ["b" * 32 + ".0", "b" * 32 + ".rate"]


def test_a_slot_is_given_back_when_the_run_fails(tmp_path: Path) -> None:
    gate = VisitorGate(tmp_path, Limits(max_concurrent_runs=1))
    visitor = "c" * 32
    with pytest.raises(ZeroDivisionError), gate.enter(visitor):
        1 / 0  # noqa: B018
    with gate.enter(visitor), pytest.raises(TooManyRuns, match="You already have 1 run going"), gate.enter(visitor):
        pass
