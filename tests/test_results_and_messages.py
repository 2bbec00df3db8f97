"""What a run says, through the API and the pages, on SQLite and PostgreSQL: rows changed and rows returned
counted apart, what DDL does, a query once per grid row, empty cells, decimals, unclosed quotes and comments,
SQLite's double-quoted text, the parameter behind each placeholder, and where in the SQL an error is.
"""

from __future__ import annotations

import sqlite3
from typing import Any

import pytest
from bs4 import BeautifulSoup
from flask import Flask
from flask.testing import FlaskClient
from test_api import Api, assert_error
from test_views import error_message, form, grid_columns, grid_rows, html, result_cells

from playground import create_app
from playground.config import Settings
from playground.service import Playground

INSERT_THEN_READ = 'INSERT INTO "Users" ("Name", "Age") VALUES (:Name, :Age); SELECT * FROM "Users"'
SELECT_Y = "SELECT x, y FROM some_table WHERE y > :y ORDER BY x, y"


@pytest.fixture
def app(settings: Settings, playground: Playground) -> Flask:
    """The app over the engine-parametrised service: every test here runs on SQLite and PostgreSQL."""
    return create_app(settings, playground=playground)


@pytest.fixture
def api(client: FlaskClient) -> Api:
    return Api(client)


def page_run(api: Api, sql: str, grid: dict[str, list[str]] | None = None, **kw: Any) -> BeautifulSoup:
    """Press Run on the page (following the redirect to the page that shows what happened)."""
    response = api.client.post("/run", data=form(api.csrf, sql, grid, **kw), follow_redirects=True)
    return html(response)


def statement_count(page: BeautifulSoup, statement: int) -> str:
    found = page.select_one(f"#statement-{statement} h3 .count")
    assert found is not None
    return " ".join(found.get_text().split())


def sent_keys(page: BeautifulSoup) -> list[str]:
    return [tr.find_all("td")[1].get_text() for tr in page.select("table.sent-params tbody tr")]


# -- 2. rows changed and rows returned are counted apart; DDL says what it does ------------------------


def test_the_total_counts_only_rows_that_writes_changed(api: Api) -> None:
    body = api.preview(INSERT_THEN_READ, {"Name": "Анна", "Age": 31})
    assert body["rowcount"] == 1 and body["rows_changed"] == 1 and body["rows_returned"] == 3
    insert, select = body["statements"]
    assert (insert["rows_changed"], insert["rows_returned"]) == (1, None)
    assert (select["rows_changed"], select["rows_returned"]) == (0, 3)
    committed = api.commit(body["token"]).json
    assert committed["status"] == "committed" and committed["rowcount"] == 1

    page = page_run(api, INSERT_THEN_READ, {"Name": ["Борис"], "Age": ["32"]})
    assert page.select_one("#preview-rowcount").get_text() == "1 row"  # type: ignore[union-attr]
    assert "in total" not in page.select_one(".preview-count").get_text()  # type: ignore[union-attr]
    assert statement_count(page, 1) == "would change 1 row"
    assert statement_count(page, 2) == "4 rows returned"
    committed_page = html(
        api.client.post(
            "/commit",
            data={"csrf_token": api.csrf, "token": page.select_one('input[name="token"]')["value"]},  # type: ignore[index]
            follow_redirects=True,
        )
    )
    assert committed_page.select_one("#committed-rowcount").get_text() == "1 row"  # type: ignore[union-attr]
    assert statement_count(committed_page, 1) == "1 row changed"


def test_a_ddl_preview_says_what_it_does(api: Api) -> None:
    page = page_run(api, 'CREATE TABLE t (a int); DROP TABLE some_table; ALTER TABLE "Users" ADD COLUMN note text')
    preview = " ".join(page.select_one(".preview-count").get_text().split())  # type: ignore[union-attr]
    assert preview == (
        'Preview: this creates table t, drops table some_table and alters table "Users". Nothing has been saved yet.'
    )
    assert [statement_count(page, i) for i in (1, 2, 3)] == [
        "creates table t",
        "drops table some_table",
        'alters table "Users"',
    ]
    body = api.preview("CREATE TABLE t2 AS SELECT * FROM some_table")
    assert body["statements"][0]["schema_change"] == "creates table t2"
    page = page_run(api, "CREATE TABLE t3 (a int); INSERT INTO t3 VALUES (1), (2)")
    preview = " ".join(page.select_one(".preview-count").get_text().split())  # type: ignore[union-attr]
    assert preview == "Preview: this creates table t3 and would change 2 rows. Nothing has been saved yet."


# -- 6. several parameter rows on a query: once per row, each result under its values (the API) ----------


def test_a_query_with_two_parameter_rows_answers_each_row_in_the_api(api: Api, engine_name: str) -> None:
    response = api.run(SELECT_Y, [{"y": 6}, {"y": 12}])
    assert response.status_code == 200, response.json
    (statement,) = response.json["statements"]
    assert statement["per_row"] == [
        {"row": 1, "parameters": {"y": 6}, "rows": [[6, 8], [9, 10], [11, 12], [13, 14]], "truncated": False},
        {"row": 2, "parameters": {"y": 12}, "rows": [[13, 14]], "truncated": False},
    ]
    assert statement["sent"]["per_row"] is True and statement["sent"]["executemany"] is False
    assert len(statement["sent"]["parameters"]) == 2
    # A write without RETURNING keeps running as one executemany.
    body = api.preview("UPDATE some_table SET y=:y WHERE x=:x", [{"x": 9, "y": 11}, {"x": 13, "y": 15}])
    assert body["statements"][0]["sent"]["executemany"] is True and "per_row" not in body["statements"][0]


# -- 7. an empty cell -------------------------------------------------------------------------------------


def test_an_empty_cell_is_an_error_naming_row_and_column_unless_the_column_is_text(api: Api, engine_name: str) -> None:
    page = page_run(api, SELECT_Y, {"y": ["6", ""]})
    assert error_message(page) == (
        "Row 2, column :y: is empty; type NULL to send NULL, or '' (two single quotes) for an empty text."
    )
    assert grid_rows(page) == [["6"], [""]]  # the grid is kept as typed
    # NULL and '' say what they mean; a text column sends an empty cell as an empty text.
    page = page_run(
        api,
        "SELECT :a IS NULL AS a_null, :b AS b, length(:c) AS c",
        {"a": ["NULL"], "b": ["''"], "c": [""]},
        types={"c": "text"},
    )
    assert result_cells(page) == [["true" if engine_name == "postgresql" else "1", "", "0"]]


# -- 8. decimals --------------------------------------------------------------------------------------------


def test_a_decimal_column_sends_a_decimal(api: Api, engine_name: str) -> None:
    page = page_run(api, "SELECT :d * 2 AS v", {"d": ["4.5"]}, types={"d": "decimal"})
    assert [[td.get_text() for td in tr.find_all("td")][2:] for tr in page.select("table.sent-params tbody tr")] == [
        ["Decimal('4.5')", "Decimal"]
    ]
    assert result_cells(page) == [["9.0"]]
    # An auto column reads 4.5 as a decimal too.
    page = page_run(api, "SELECT :d + 1 AS v", {"d": ["4.5"]})
    assert [tr.find_all("td")[3].get_text() for tr in page.select("table.sent-params tbody tr")] == ["Decimal"]
    assert result_cells(page) == [["5.5"]]
    note = page.select_one("details.sent p.hint")
    if engine_name == "sqlite":
        assert note is not None and "stores a Decimal as a REAL" in note.get_text()


# -- 9. an unclosed quote or comment ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sql", "words", "line", "column"),
    [
        (
            "SELECT x FROM some_table\nWHERE y > :y AND x <> 'abc",
            "A text literal opened with ' at line 2, column 23",
            2,
            23,
        ),
        ('SELECT "x FROM some_table WHERE y > :y', 'A quoted name opened with " at line 1, column 8', 1, 8),
        ("SELECT :y /* the rest\n\n is a comment", "A comment opened with /* at line 1, column 11", 1, 11),
    ],
)
def test_an_unclosed_quote_or_comment_says_what_and_where_and_the_grid_stays(
    api: Api, sql: str, words: str, line: int, column: int
) -> None:
    response = api.post("/api/parameters", {"sql": sql})
    message = assert_error(response, 400, words, "is never closed")
    assert response.json["error"]["position"]["line"] == line
    assert response.json["error"]["position"]["column"] == column
    assert_error(api.run(sql, {"y": 1}), 400, words)
    page = page_run(api, sql, {"y": ["5"]})
    assert error_message(page) == message
    assert grid_columns(page) == ["y"] and grid_rows(page) == [["5"]]


# -- 10. SQLite reads "Nmae" as text ---------------------------------------------------------------------


def test_a_double_quoted_name_that_matches_no_column_is_not_silently_text(api: Api, engine_name: str) -> None:
    response = api.run('SELECT "Nmae" FROM "Users"')
    if engine_name == "postgresql" or hasattr(sqlite3.Connection, "setconfig"):
        # PostgreSQL, and SQLite with its double-quoted-string fallback switched off (Python 3.12+).
        assert_error(response, 400, "Nmae")
        return
    assert response.status_code == 200
    (statement,) = response.json["statements"]
    assert statement["rows"] == [["Nmae"], ["Nmae"]]
    assert statement["notes"] == [
        "\"Nmae\" matched no column, so SQLite read it as the text 'Nmae' (double quotes are for names; "
        "write text in single quotes). PostgreSQL would report an error."
    ]
    page = page_run(api, 'INSERT INTO "Users" ("Name", "Age") VALUES ("Bob", 1)')
    notes = [p.get_text() for p in page.select("#statement-1 .note")]
    assert notes == [
        "\"Bob\" matched no column, so SQLite read it as the text 'Bob' (double quotes are for names; "
        "write text in single quotes). PostgreSQL would report an error."
    ]
    # A real name, an alias and a CTE's column are names, not text: nothing to say.
    response = api.run('WITH c("n") AS (SELECT 1) SELECT "Name" AS "who", "n" FROM "Users", c')
    assert "notes" not in response.json["statements"][0]


# -- 11. the parameter behind each placeholder -------------------------------------------------------------


def test_what_the_database_received_names_the_parameter_behind_each_placeholder(api: Api, engine_name: str) -> None:
    page = page_run(api, 'INSERT INTO "Users" ("Name", "Age") VALUES(:Name, :Age)', {"Name": ["Петр"], "Age": ["20"]})
    expected = {
        "sqlite": ["?1 ← :Name", "?2 ← :Age"],
        "postgresql": ["%(Name)s ← :Name", "%(Age)s ← :Age"],
    }[engine_name]
    assert sent_keys(page) == expected
    body = api.run("SELECT :y AS a, :y AS b, :x AS c", {"y": 1, "x": 2}).json
    parameters = body["statements"][0]["sent"]["parameters"][0]
    if engine_name == "sqlite":  # a name used twice fills two positions
        assert [(p["key"], p["name"]) for p in parameters] == [("1", "y"), ("2", "y"), ("3", "x")]
    else:
        assert [(p["key"], p["name"]) for p in parameters] == [("y", "y"), ("x", "x")]


# -- 12. where in the SQL an error is -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sql", "line", "column", "marked"),
    [
        ("SELECT x,\n  Nmae FROM some_table", 2, 3, "Nmae"),
        ("SELECT 1;\nSELEC x FROM some_table", 2, 1, "SELEC"),
        ("SELECT x FROM some_table\nWHERE y > :y AND nope = 1", 2, 18, "nope"),
    ],
)
def test_a_database_error_shows_its_line_and_column_and_marks_the_place(
    api: Api, sql: str, line: int, column: int, marked: str
) -> None:
    response = api.run(sql, {"y": 1} if ":y" in sql else None)
    assert response.status_code == 400
    assert response.json["error"]["position"]["line"] == line
    assert response.json["error"]["position"]["column"] == column
    page = page_run(api, sql, {"y": ["1"]} if ":y" in sql else None)
    where = page.select_one("#error .error-where")
    assert where is not None and where.get_text() == f"Line {line}, column {column}:"
    mark = page.select_one("#error pre.error-excerpt mark")
    assert mark is not None and mark.get_text() == marked


def test_a_postgresql_position_after_a_parameter_maps_back_through_the_literal(api: Api, engine_name: str) -> None:
    """psycopg2 puts each value into the statement it sends: the position is mapped back past it."""
    if engine_name != "postgresql":
        pytest.skip("PostgreSQL's error position counts in the text psycopg2 sent")
    sql = "SELECT :long_text_value AS a, nope FROM some_table"
    response = api.run(sql, {"long_text_value": "it's a rather long value"})
    assert response.json["error"]["position"] == {"line": 1, "column": 31, "offset": 30}
    # An executemany stops at the failing row; that row's values rebuild the statement PostgreSQL saw.
    sql = "UPDATE some_table SET y = :y WHERE x = :x"
    response = api.run(sql, [{"x": 1, "y": 5}, {"x": 2, "y": "not a number"}])
    assert response.json["error"]["position"]["column"] == sql.index(":y") + 1
