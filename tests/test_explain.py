"""Explain: SQLite's EXPLAIN QUERY PLAN as a tree, PostgreSQL's EXPLAIN as text; nothing runs, nothing is kept."""

from __future__ import annotations

import pytest

from playground.errors import UserError
from playground.explain import explain
from playground.grid import ParameterGrid
from playground.service import Playground, RunRequest

SELECT_Y = "SELECT x, y FROM some_table WHERE y > :y ORDER BY x, y"


def test_the_plan_of_a_query_with_the_grids_first_row(playground: Playground, visitor: str, engine_name: str) -> None:
    grid = ParameterGrid(("y",), ("auto",), (("6",), ("not a number, never bound",)))
    plan = explain(playground, visitor, RunRequest(SELECT_Y, grid=grid))
    assert plan.statement == 1 and plan.statement_sql == SELECT_Y
    if engine_name == "sqlite":
        assert plan.explain_sql == "EXPLAIN QUERY PLAN " + SELECT_Y
        details = [node.detail for node in plan.tree]
        assert any(d.startswith("SCAN some_table") for d in details)
        assert any("ORDER BY" in d for d in details)
        assert plan.text == ()
    else:
        assert plan.explain_sql == "EXPLAIN " + SELECT_Y
        assert plan.text[0].startswith("Sort")
        assert any("Filter: (y > 6)" in line for line in plan.text)
        assert plan.tree == ()


def test_the_statement_under_the_cursor_is_explained_after_the_ones_before_it(
    playground: Playground, visitor: str, engine_name: str
) -> None:
    sql = "CREATE TABLE t (a integer);\nCREATE INDEX t_a ON t (a);\nSELECT a FROM t WHERE a = :a;\nSELECT 1"
    grid = ParameterGrid(("a",), ("auto",), (("5",),))
    plan = explain(playground, visitor, RunRequest(sql, grid=grid), cursor=sql.index("WHERE"))
    assert plan.statement == 3
    if engine_name == "sqlite":
        assert "USING COVERING INDEX t_a" in plan.tree[0].detail
    else:
        assert any("t" in line for line in plan.text)
    # Everything was rolled back: the table the script created is gone.
    assert "t" not in [table.name for table in playground.schema(visitor)]


def test_a_write_is_explained_and_not_run(playground: Playground, visitor: str) -> None:
    plan = explain(playground, visitor, RunRequest("DELETE FROM some_table WHERE y > 3"))
    assert plan.tree or plan.text
    assert playground.run(visitor, RunRequest("SELECT count(*) FROM some_table")).run.statements[0].rows == ((6,),)


def test_an_explain_is_not_explained_again(playground: Playground, visitor: str) -> None:
    with pytest.raises(UserError, match="is an EXPLAIN already"):
        explain(playground, visitor, RunRequest("EXPLAIN SELECT 1"))
