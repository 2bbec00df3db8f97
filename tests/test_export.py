"""Downloads: the whole result up to the export cap, CSV a spreadsheet reads as UTF-8, formulas neutralised."""

from __future__ import annotations

import csv
import io
import json

import pytest

from playground.config import Limits
from playground.errors import UserError
from playground.export import csv_cell, csv_chunks, export_result, json_chunks
from playground.grid import ParameterGrid
from playground.service import Playground, RunRequest


def _csv(playground: Playground, visitor: str, sql: str, **kw: object) -> tuple[str, list[list[str]]]:
    text = "".join(csv_chunks(export_result(playground, visitor, RunRequest(sql, **kw))))  # type: ignore[arg-type]
    return text, list(csv.reader(io.StringIO(text.removeprefix("\ufeff"))))


def test_csv_has_a_bom_a_header_and_every_row_past_the_page_cap(playground: Playground, visitor: str) -> None:
    # The page shows at most max_rows (50 in the tests); a download holds the whole result.
    sql = (
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 120) SELECT i, 'Петр' AS name FROM n"
    )
    text, rows = _csv(playground, visitor, sql)
    assert text.startswith("\ufeffi,name\r\n")
    assert rows[0] == ["i", "name"]
    assert len(rows) == 121 and rows[-1] == ["120", "Петр"]


def test_formula_cells_are_neutralised_and_numbers_stay_numbers(playground: Playground, visitor: str) -> None:
    sql = "SELECT '=1+1' AS a, '+1' AS b, '-1' AS c, '@SUM(A1)' AS d, :tab AS e, -5 AS f, NULL AS g, 'plain' AS h"
    grid = ParameterGrid(("tab",), ("text",), (("\tx",),))
    _, rows = _csv(playground, visitor, sql, grid=grid)
    assert rows[1] == ["'=1+1", "'+1", "'-1", "'@SUM(A1)", "'\tx", "-5", "", "plain"]
    assert csv_cell("\r=cmd") == "'\r=cmd"


@pytest.mark.parametrize("limits", [Limits(max_rows=5, max_export_rows=10)])
def test_a_cut_download_ends_with_a_line_that_says_so(playground: Playground, visitor: str) -> None:
    sql = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 20) SELECT i FROM n"
    _, rows = _csv(playground, visitor, sql)
    assert len(rows) == 1 + 10 + 1
    assert rows[-1][0].startswith("The download stops after 10 rows")
    data = json.loads("".join(json_chunks(export_result(playground, visitor, RunRequest(sql)))))
    assert len(data["rows"]) == 10 and data["truncated"] is True and "10 rows" in data["note"]


def test_json_keeps_types_and_names_the_engine(playground: Playground, visitor: str, engine_name: str) -> None:
    sql = 'SELECT "Name", "Age", NULL AS missing FROM "Users" ORDER BY "Id"'
    data = json.loads("".join(json_chunks(export_result(playground, visitor, RunRequest(sql)))))
    assert data == {
        "engine": engine_name,
        "columns": ["Name", "Age", "missing"],
        "rows": [["Петр", 20, None], ["Василий", 26, None]],
        "truncated": False,
    }


def test_sql_that_writes_is_refused_and_changes_nothing(playground: Playground, visitor: str) -> None:
    with pytest.raises(UserError, match="changes data"):
        export_result(playground, visitor, RunRequest("DELETE FROM some_table RETURNING x"))
    assert playground.run(visitor, RunRequest("SELECT count(*) FROM some_table")).run.statements[0].rows == ((6,),)
    with pytest.raises(UserError, match="changes data"):
        export_result(playground, visitor, RunRequest("CREATE TABLE t (a int)"))
