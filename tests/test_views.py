"""The pages, through Flask's test client: what a student sees in the HTML and what their sandbox holds after."""

from __future__ import annotations

import secrets
import sqlite3
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import replace
from typing import Any

import pytest
from bs4 import BeautifulSoup, Tag
from conftest import csrf_token
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from playground import create_app
from playground.backends.sqlite import SqliteBackend
from playground.config import Settings
from playground.service import Playground
from playground.store import Store

SELECT_Y = "SELECT x, y FROM some_table WHERE y > :y ORDER BY x, y"
UPDATE_XY = "UPDATE some_table SET y=:y WHERE x=:x"
INSERT_USER = 'INSERT INTO "Users" ("Name", "Age") VALUES(:Name, :Age)'
SAMPLE_SOME_TABLE = [[1, 1], [2, 4], [6, 8], [9, 10], [11, 12], [13, 14]]
SAMPLE_USERS = [[1, "Петр", 20], [2, "Василий", 26]]


# -- helpers --------------------------------------------------------------------------------------


def html(response: TestResponse) -> BeautifulSoup:
    return BeautifulSoup(response.get_data(as_text=True), "html.parser")


def form(
    token: str,
    sql: str,
    grid: Mapping[str, Sequence[str]] | None = None,
    *,
    types: Mapping[str, str] | None = None,
    action: str = "run",
    rows: int | str | None = None,
) -> dict[str, str]:
    """The editor form's fields, named as the page names them: col-I, type-I, rows, cell-R-I."""
    grid = grid or {}
    height = max((len(v) for v in grid.values()), default=1)
    data = {"csrf_token": token, "sql": sql, "action": action, "rows": str(height if rows is None else rows)}
    for i, (name, values) in enumerate(grid.items()):
        data[f"col-{i}"] = name
        data[f"type-{i}"] = (types or {}).get(name, "auto")
        for r, value in enumerate(values):
            data[f"cell-{r}-{i}"] = value
    return data


def run(client: FlaskClient, token: str, sql: str, grid: Mapping[str, Sequence[str]] | None = None, **kw: Any):
    """Press Run, and follow the redirect to the page that shows what happened (Post/Redirect/Get)."""
    return client.post("/run", data=form(token, sql, grid, **kw), follow_redirects=True)


def query(client: FlaskClient, token: str, sql: str) -> list[list[Any]]:
    """What the visitor's sandbox holds now, read through the JSON API (a read changes nothing)."""
    response = client.post("/api/run", json={"sql": sql}, headers={"X-CSRFToken": token})
    assert response.status_code == 200, response.json
    assert response.json["status"] == "ok"
    return response.json["statements"][-1]["rows"]


def some_table(client: FlaskClient, token: str) -> list[list[Any]]:
    return query(client, token, "SELECT x, y FROM some_table ORDER BY x, y")


def users(client: FlaskClient, token: str) -> list[list[Any]]:
    return query(client, token, 'SELECT "Id", "Name", "Age" FROM "Users" ORDER BY "Id"')


def result_cells(page: BeautifulSoup, statement: int = 1) -> list[list[str]]:
    table = page.select_one(f"#statement-{statement} table.result")
    assert table is not None, "no result table on the page"
    return [[td.get_text() for td in tr.find_all("td")] for tr in table.select("tbody tr")]


def result_header(page: BeautifulSoup, statement: int = 1) -> list[str]:
    return [th.get_text() for th in page.select(f"#statement-{statement} table.result thead th")]


def error_message(page: BeautifulSoup) -> str:
    alert = page.select_one('.error[role="alert"]')
    assert alert is not None, "no error message on the page"
    # The message itself, without the line and column and the marked SQL shown under it.
    message = alert.select_one(".error-message") or alert
    return " ".join(message.get_text().split())


def grid_columns(page: BeautifulSoup) -> list[str]:
    return [str(i["value"]) for i in page.select('#param-grid input[type="hidden"][name^="col-"]')]


def grid_rows(page: BeautifulSoup) -> list[list[str]]:
    """The grid's cells as the page shows them, row by row."""
    count = int(page.select_one("#grid-rows")["value"])  # type: ignore[index]
    columns = len(grid_columns(page))
    rows = []
    for r in range(count):
        cells = []
        for c in range(columns):
            cell = page.select_one(f'#param-grid input[name="cell-{r}-{c}"]')
            assert cell is not None, f"cell-{r}-{c} missing"
            cells.append(str(cell.get("value", "")))
        rows.append(cells)
    return rows


def labelled(page: BeautifulSoup, text: str) -> Tag:
    """The input whose <label> reads exactly `text`, as a screen reader (or get_by_label) finds it."""
    for label in page.find_all("label"):
        if label.get_text().strip() == text:
            target = page.find(id=label.get("for"))
            assert isinstance(target, Tag), f"label {text!r} points at nothing"
            return target
    raise AssertionError(f"no input labelled {text!r}")


def commit_token(page: BeautifulSoup) -> str:
    field = page.select_one('form[action="/commit"] input[name="token"]')
    assert field is not None, "no Commit form on the page"
    return str(field["value"])


def submit(client: FlaskClient, page: BeautifulSoup, selector: str):
    """Submit one of the page's forms with every field it holds, as a browser would."""
    found = page.select_one(selector)
    assert isinstance(found, Tag), f"no form {selector!r} on the page"
    fields = {str(i["name"]): str(i.get("value", "")) for i in found.select("input[name]")}
    return client.post(str(found["action"]), data=fields, follow_redirects=True)


def commit(client: FlaskClient, token: str, preview_token: str):
    return client.post("/commit", data={"csrf_token": token, "token": preview_token}, follow_redirects=True)


def discard(client: FlaskClient, token: str, preview_token: str):
    return client.post("/discard", data={"csrf_token": token, "token": preview_token}, follow_redirects=True)


def run_log(app: Flask) -> list[dict[str, Any]]:
    """The service's own record of what ran (newest first)."""
    return app.extensions["playground"].store.recent_runs(limit=1000)


# -- the editor -----------------------------------------------------------------------------------


def test_editor_page_carries_a_csrf_meta_tag_and_the_sample_schema(client: FlaskClient) -> None:
    response = client.get("/")
    assert response.status_code == 200
    page = html(response)
    meta = page.select_one('meta[name="csrf-token"]')
    assert meta is not None and len(str(meta["content"])) > 20
    assert page.select_one('form#editor-form input[name="csrf_token"]')["value"]  # type: ignore[index]
    tables = [s.get_text() for s in page.select("aside.schema summary code.name")]
    assert tables == ["Users", "some_table"]
    assert [s.get_text() for s in page.select("aside.schema .row-count")] == ["2 rows", "6 rows"]
    assert page.select_one("#outcome") is None


def test_select_with_a_parameter_shows_the_exact_rows(client: FlaskClient, token: str) -> None:
    response = run(client, token, SELECT_Y, {"y": ["6"]})
    assert response.status_code == 200
    page = html(response)
    assert result_header(page) == ["x", "y"]
    assert result_cells(page) == [["6", "8"], ["9", "10"], ["11", "12"], ["13", "14"]]
    assert "4 rows" in page.select_one("#statement-1 .count").get_text()  # type: ignore[union-attr]
    # The editor keeps what was typed, and a read offers nothing to commit.
    assert page.select_one("textarea#sql").get_text() == SELECT_Y  # type: ignore[union-attr]
    assert grid_rows(page) == [["6"]]
    assert page.select_one("#commit-button") is None


def test_a_parameter_without_a_grid_column_is_a_400_that_adds_the_column(client: FlaskClient, token: str) -> None:
    response = run(client, token, SELECT_Y)  # no col-0 at all
    assert response.status_code == 400
    page = html(response)
    assert grid_columns(page) == ["y"]
    assert labelled(page, "y")["name"] == "cell-0-0"
    message = error_message(page)
    assert ":y" in message and "needs values" in message
    assert page.select_one("#outcome") is None
    # Filling the new column and running again works.
    assert result_cells(html(run(client, token, SELECT_Y, {"y": ["12"]}))) == [["13", "14"]]


def test_a_grid_column_the_sql_no_longer_has_is_set_aside_and_the_sql_runs(client: FlaskClient, token: str) -> None:
    """The page's grid may lag behind the SQL (Run pressed at once): the SQL as submitted decides."""
    response = run(client, token, "SELECT x FROM some_table WHERE x > 10 ORDER BY x", {"z": ["1"]})
    assert response.status_code == 200
    page = html(response)
    assert result_cells(page) == [["11"], ["13"]]
    assert grid_columns(page) == []
    # :z is kept aside with its value and comes back when the SQL uses it again.
    aside = {str(i["name"]): str(i["value"]) for i in page.select("#grid-aside input")}
    assert aside == {"aside-rows": "1", "aside-col-0": "z", "aside-type-0": "auto", "aside-cell-0-0": "1"}
    again = client.post(
        "/run", data=form(token, "SELECT x FROM some_table WHERE x > :z ORDER BY x") | aside, follow_redirects=True
    )
    assert grid_columns(html(again)) == ["z"] and grid_rows(html(again)) == [["1"]]
    assert result_cells(html(again)) == [["2"], ["6"], ["9"], ["11"], ["13"]]


def test_a_value_of_the_wrong_type_names_the_row_and_the_column(client: FlaskClient, token: str) -> None:
    response = run(client, token, UPDATE_XY, {"x": ["9", "13"], "y": ["11", "abc"]}, types={"y": "integer"})
    assert response.status_code == 400
    message = error_message(html(response))
    assert "Row 2" in message and ":y" in message and "'abc'" in message and "integer" in message
    assert html(response).select_one("#outcome") is None
    assert some_table(client, token) == SAMPLE_SOME_TABLE


def test_an_error_page_keeps_the_column_types(client: FlaskClient, token: str) -> None:
    response = run(client, token, SELECT_Y, {"y": ["six"]}, types={"y": "integer"})
    assert response.status_code == 400
    selected = html(response).select_one('select[name="type-0"] option[selected]')
    assert selected is not None and selected["value"] == "integer"


def test_add_row_and_remove_row_rearrange_the_grid_without_running_anything(
    app: Flask, client: FlaskClient, token: str
) -> None:
    runs_before = len(run_log(app))
    response = run(client, token, UPDATE_XY, {"x": ["9"], "y": ["11"]}, action="add_row")
    assert response.status_code == 200
    page = html(response)
    assert grid_columns(page) == ["y", "x"]  # the SQL's order: SET y=:y WHERE x=:x
    assert grid_rows(page) == [["11", "9"], ["", ""]]
    assert labelled(page, "y (row 2)")["name"] == "cell-1-0"
    assert page.select_one("#outcome") is None and page.select_one("#commit-button") is None

    grid = {"y": ["11", "15", "99"], "x": ["9", "13", "1"]}
    response = run(client, token, UPDATE_XY, grid, action="remove_row:1")
    assert response.status_code == 200
    page = html(response)
    assert grid_rows(page) == [["11", "9"], ["99", "1"]]
    assert [b["aria-label"] for b in page.select('button[value^="remove_row:"]')] == ["Remove row 1", "Remove row 2"]

    # A remove that makes no sense leaves the grid alone; the last row cannot go.
    page = html(run(client, token, UPDATE_XY, {"y": ["11"], "x": ["9"]}, action="remove_row:0"))
    assert grid_rows(page) == [["11", "9"]]
    assert page.select('button[value^="remove_row:"]') == []
    page = html(run(client, token, UPDATE_XY, {"y": ["1", "2"], "x": ["3", "4"]}, action="remove_row:7"))
    assert grid_rows(page) == [["1", "3"], ["2", "4"]]

    assert some_table(client, token) == SAMPLE_SOME_TABLE
    # Only our own reads above ran; none of the button presses did.
    assert [r["action"] for r in run_log(app)[: len(run_log(app)) - runs_before]] == ["run"]


def test_add_row_stops_at_the_grid_limit(client: FlaskClient, token: str, settings) -> None:
    limit = settings.limits.max_grid_rows
    response = run(client, token, SELECT_Y, {"y": [str(i) for i in range(limit)]}, action="add_row")
    assert response.status_code == 400
    assert "as many rows" in error_message(html(response))
    assert len(grid_rows(html(response))) == limit


def test_the_no_js_sync_button_makes_the_grid_follow_the_sql_keeping_values_by_name(
    client: FlaskClient, token: str
) -> None:
    sql = "SELECT :b AS b, :c AS c"
    response = run(client, token, sql, {"a": ["1", "2"], "b": ["3", "4"]}, action="sync")
    assert response.status_code == 200
    page = html(response)
    assert grid_columns(page) == ["b", "c"]
    assert grid_rows(page) == [["3", ""], ["4", ""]]
    assert page.select_one('button[value="sync"]') is not None


def test_enter_in_a_cell_runs_rather_than_adding_a_row(client: FlaskClient) -> None:
    """Implicit submission uses the form's first submit button; it must be Run."""
    page = html(client.get("/?sql=SELECT+:y&p.y=1"))
    first = page.select_one("form#editor-form").find(  # type: ignore[union-attr]
        lambda t: t.name in ("button", "input") and t.get("type") == "submit"
    )
    assert first is not None and first.get("name") == "action" and first.get("value") == "run"


# -- preview, commit, discard, reset --------------------------------------------------------------


def test_preview_of_an_insert_shows_the_count_and_commits_once(client: FlaskClient, token: str) -> None:
    response = run(client, token, INSERT_USER, {"Name": ["Анна"], "Age": ["31"]})
    assert response.status_code == 200
    page = html(response)
    assert page.select_one("#preview-rowcount").get_text() == "1 row"  # type: ignore[union-attr]
    assert page.select_one("#commit-button").get_text() == "Commit"  # type: ignore[union-attr]
    assert page.select_one("#discard-button").get_text() == "Discard"  # type: ignore[union-attr]
    assert "Nothing has been saved yet" in page.get_text()
    assert users(client, token) == SAMPLE_USERS  # a preview is rolled back

    preview_page = page
    response = submit(client, preview_page, 'form[action="/commit"]')
    assert response.status_code == 200
    page = html(response)
    committed = page.select_one(".committed")
    assert committed is not None and "Committed" in committed.get_text()
    assert page.select_one("#committed-rowcount").get_text() == "1 row"  # type: ignore[union-attr]
    assert page.select_one("#commit-button") is None
    # The editor still shows what was committed.
    assert page.select_one("textarea#sql").get_text() == INSERT_USER  # type: ignore[union-attr]
    assert grid_rows(page) == [["Анна", "31"]]
    after = users(client, token)
    assert after[:2] == SAMPLE_USERS and [row[1:] for row in after[2:]] == [["Анна", 31]]

    # The browser resends the same POST: refused, and nothing is applied again.
    again = submit(client, preview_page, 'form[action="/commit"]')
    assert again.status_code == 410
    page = html(again)
    assert "nothing was applied again" in error_message(page)
    assert page.select_one(".committed") is None
    # The refused page still shows what was committed, not an empty editor.
    assert page.select_one("textarea#sql").get_text() == INSERT_USER  # type: ignore[union-attr]
    assert grid_rows(page) == [["Анна", "31"]]
    assert users(client, token) == after


def test_discard_forgets_the_preview(client: FlaskClient, token: str) -> None:
    page = preview_page = html(run(client, token, "DELETE FROM some_table WHERE y > :y", {"y": ["5"]}))
    assert page.select_one("#preview-rowcount").get_text() == "4 rows"  # type: ignore[union-attr]
    preview = commit_token(page)
    response = discard(client, token, preview)
    assert response.status_code == 200
    page = html(response)
    assert "Discarded" in page.get_text()
    assert page.select_one("textarea#sql").get_text() == "DELETE FROM some_table WHERE y > :y"  # type: ignore[union-attr]
    assert grid_rows(page) == [["5"]]
    late = commit(client, token, preview)
    assert late.status_code == 410
    assert "discarded" in error_message(html(late))
    # Discard pressed again (a resend of the preview page's form): refused, and the editor is kept.
    again = html(submit(client, preview_page, 'form[action="/discard"]'))
    assert "discarded" in error_message(again)
    assert again.select_one("textarea#sql").get_text() == "DELETE FROM some_table WHERE y > :y"  # type: ignore[union-attr]
    assert grid_rows(again) == [["5"]]
    assert some_table(client, token) == SAMPLE_SOME_TABLE


def test_an_unknown_or_foreign_token_commits_nothing(app: Flask, client: FlaskClient, token: str) -> None:
    assert commit(client, token, "no-such-token").status_code == 404
    preview = commit_token(html(run(client, token, "DELETE FROM some_table")))
    other = app.test_client()
    response = commit(other, csrf_token(other), preview)
    assert response.status_code == 404
    assert some_table(client, token) == SAMPLE_SOME_TABLE


def test_reset_restores_the_sample_data(client: FlaskClient, token: str) -> None:
    page = html(run(client, token, 'DELETE FROM some_table; DELETE FROM "Users"'))
    assert commit(client, token, commit_token(page)).status_code == 200
    assert some_table(client, token) == [] and users(client, token) == []

    response = client.post("/reset", data={"csrf_token": token, "confirm": "yes"}, follow_redirects=True)
    assert response.status_code == 200
    assert "reset to the sample data" in html(response).select_one(".notice").get_text()  # type: ignore[union-attr]
    assert some_table(client, token) == SAMPLE_SOME_TABLE
    assert users(client, token) == SAMPLE_USERS


def test_a_conflict_shows_the_new_preview_with_409(client: FlaskClient, token: str) -> None:
    stale = commit_token(html(run(client, token, "DELETE FROM some_table WHERE y > 5")))
    grow = commit_token(html(run(client, token, "INSERT INTO some_table VALUES (20, 100)")))
    assert commit(client, token, grow).status_code == 200
    response = commit(client, token, stale)
    assert response.status_code == 409
    page = html(response)
    assert "data changed since the preview" in page.get_text()
    assert page.select_one("#preview-rowcount").get_text() == "5 rows"  # type: ignore[union-attr]
    assert commit_token(page) != stale
    assert len(some_table(client, token)) == 7  # nothing of the stale preview was applied


# -- what is shown, and how -----------------------------------------------------------------------


def test_html_in_a_value_is_shown_as_text(client: FlaskClient, token: str) -> None:
    page = html(run(client, token, "SELECT '<script>alert(1)</script>' AS x"))
    assert page.select("script:not([src])") == []
    assert page.select("#outcome script") == []
    assert result_cells(page) == [["<script>alert(1)</script>"]]

    # The same through a parameter, a column name and an error message.
    page = html(run(client, token, 'SELECT :v AS "<b>x</b>"', {"v": ["<img src=x onerror=alert(1)>"]}))
    assert page.select("#outcome img") == [] and page.select("#outcome b") == []
    assert result_header(page) == ["<b>x</b>"]
    assert result_cells(page) == [["<img src=x onerror=alert(1)>"]]
    page = html(run(client, token, 'SELECT * FROM "<script>x</script>"'))
    assert page.select("script:not([src])") == []
    assert "<script>x</script>" in error_message(page)


def test_null_is_distinct_from_the_text_null(client: FlaskClient, token: str) -> None:
    page = html(run(client, token, "SELECT NULL AS a, 'NULL' AS b"))
    cells = page.select("#statement-1 table.result tbody td")
    assert len(cells) == 2
    assert "null" in cells[0].get("class", []) and cells[0].select_one("span.null") is not None
    assert "null" not in cells[1].get("class", []) and cells[1].select_one(".null") is None
    assert cells[1].get_text() == "NULL"


def test_bytes_are_shown_as_hex(client: FlaskClient, token: str) -> None:
    page = html(run(client, token, "SELECT x'00ff' AS b"))
    assert result_cells(page) == [["x'00ff'"]]


def test_more_rows_than_max_rows_are_cut_with_a_notice(client: FlaskClient, token: str) -> None:
    sql = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c LIMIT 200) SELECT x FROM c"
    page = html(run(client, token, sql))
    cells = result_cells(page)
    assert cells == [[str(i)] for i in range(1, 51)]
    notice = page.select_one(".truncated")
    assert notice is not None and "first 50 rows" in notice.get_text() and "limit is 50" in notice.get_text()
    assert "50 rows+" in page.select_one("#statement-1 .count").get_text()  # type: ignore[union-attr]
    # Exactly max_rows rows is not truncated.
    page = html(run(client, token, sql.replace("LIMIT 200", "LIMIT 50")))
    assert len(result_cells(page)) == 50 and page.select_one(".truncated") is None


def test_several_statements_each_get_their_result(client: FlaskClient, token: str) -> None:
    page = html(run(client, token, "SELECT 1 AS one; SELECT :y AS y", {"y": ["2"]}))
    assert result_cells(page, 1) == [["1"]] and result_cells(page, 2) == [["2"]]


# -- what must never happen -----------------------------------------------------------------------


def test_a_get_never_executes_sql(app: Flask, client: FlaskClient, token: str) -> None:
    runs_before = len(run_log(app))
    response = client.get("/?sql=DELETE+FROM+some_table")
    assert response.status_code == 200
    page = html(response)
    assert page.select_one("textarea#sql").get_text() == "DELETE FROM some_table"  # type: ignore[union-attr]
    assert page.select_one("#outcome") is None
    # A GET on the POST-only addresses does not run either.
    assert client.get("/run?sql=DELETE+FROM+some_table&action=run").status_code == 405
    assert client.get("/commit?token=x").status_code == 405
    assert len(run_log(app)) == runs_before
    assert some_table(client, token) == SAMPLE_SOME_TABLE


def test_a_get_fills_the_grid_from_the_query_arguments(client: FlaskClient) -> None:
    page = html(client.get("/", query_string={"sql": UPDATE_XY, "p.x": ["9", "13"], "p.y": ["11", "15"]}))
    assert grid_columns(page) == ["y", "x"]
    assert grid_rows(page) == [["11", "9"], ["15", "13"]]
    # The lessons' links in the Examples menu fill the editor the same way.
    links = {a.get_text(): a["href"] for a in page.select("ul.examples a")}
    page = html(client.get(str(links["Lesson 2: UPDATE, two rows (executemany)"])))
    assert page.select_one("textarea#sql").get_text() == UPDATE_XY  # type: ignore[union-attr]
    assert grid_rows(page) == [["11", "9"], ["15", "13"]]


def test_a_post_without_the_csrf_token_is_refused_and_runs_nothing(app: Flask, client: FlaskClient, token: str) -> None:
    preview = commit_token(html(run(client, token, "DELETE FROM some_table")))
    runs_before = len(run_log(app))
    response = client.post("/run", data={"sql": "DELETE FROM some_table", "rows": "1", "action": "run"})
    assert response.status_code == 400
    assert "security token" in error_message(html(response))
    assert client.post("/run", data=form("forged", "SELECT 1")).status_code == 400
    assert client.post("/commit", data={"token": preview}).status_code == 400
    assert client.post("/reset", data={}).status_code == 400
    assert len(run_log(app)) == runs_before
    assert some_table(client, token) == SAMPLE_SOME_TABLE
    # The preview was not used up by the refused commit.
    assert commit(client, token, preview).status_code == 200
    assert some_table(client, token) == []


def test_discard_without_the_csrf_token_is_refused_and_keeps_the_preview(client: FlaskClient, token: str) -> None:
    preview = commit_token(html(run(client, token, "DELETE FROM some_table")))
    response = client.post("/discard", data={"token": preview})
    assert response.status_code == 400
    assert "security token" in error_message(html(response))
    # The preview was neither discarded nor applied: it still commits, once.
    assert some_table(client, token) == SAMPLE_SOME_TABLE
    assert commit(client, token, preview).status_code == 200
    assert some_table(client, token) == []


def test_a_csrf_token_from_another_visitors_session_is_refused(app: Flask, client: FlaskClient, token: str) -> None:
    """A real token, but not this session's: what a forged cross-site form would carry."""
    mallory = app.test_client()
    mallorys_token = csrf_token(mallory)
    preview = commit_token(html(run(client, token, "DELETE FROM some_table")))
    runs_before = len(run_log(app))
    for path, fields in [
        ("/run", form(mallorys_token, "DELETE FROM some_table")),
        ("/commit", {"csrf_token": mallorys_token, "token": preview}),
        ("/discard", {"csrf_token": mallorys_token, "token": preview}),
        ("/reset", {"csrf_token": mallorys_token}),
    ]:
        response = client.post(path, data=fields)
        assert response.status_code == 400, path
        assert "security token" in error_message(html(response)), path
    assert len(run_log(app)) == runs_before
    assert some_table(client, token) == SAMPLE_SOME_TABLE
    assert commit(client, token, preview).status_code == 200


@pytest.mark.parametrize(
    ("sql", "fields", "status", "words"),
    [
        ("", {}, 400, "no SQL"),
        ("   -- only a comment\n ;", {}, 400, "no SQL"),
        ("SELECT '" + "x" * 20_001 + "'", {}, 413, "limit is 20,000 bytes"),
        ("SELECT 1\x00", {}, 400, "NUL byte"),
        ("SELECT :y", {"col-0": "y", "cell-0-0": "a\x00b"}, 400, "NUL byte"),
        ("SELECT :y", {"col-0": "y", "rows": "21"}, 400, "at most 20"),
        ("SELECT :y", {"col-0": "y", "rows": "many"}, 400, "not a number"),
        ("SELECT :y", {"col-0": "y", "cell-0-0": "1", "engine": "oracle"}, 400, "Unknown engine"),
        ("BEGIN", {}, 403, "transaction control"),
        ("SELECT * FROM no_such_table", {}, 400, "no such table"),
        ("SELECT ?", {}, 400, "write parameters as :name"),
        ("SELECT :y", {"col-0": "y", "cell-0-0": ""}, 400, "Row 1, column :y: is empty; type NULL to send NULL"),
        ("SELECT :y", {"col-0": "y", "type-0": "date", "cell-0-0": "2024-13-01"}, 400, "Row 1, column :y"),
        (
            "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c",
            {},
            422,
            "time limit",
        ),
    ],
    ids=[
        "empty",
        "only-a-comment",
        "too-long",
        "nul-in-sql",
        "nul-in-cell",
        "too-many-rows",
        "rows-not-a-number",
        "unknown-engine",
        "transaction-control",
        "no-such-table",
        "native-placeholder",
        "empty-cell",
        "not-a-date",
        "time-limit",
    ],
)
def test_bad_input_is_a_4xx_page_with_a_message(
    client: FlaskClient, token: str, sql: str, fields: dict[str, str], status: int, words: str
) -> None:
    data = {"csrf_token": token, "sql": sql, "rows": "1", "action": "run"} | fields
    response = client.post("/run", data=data, follow_redirects=True)
    assert response.status_code == status
    assert "text/html" in response.content_type
    assert words in error_message(html(response))
    assert some_table(client, token) == SAMPLE_SOME_TABLE


def test_an_oversized_request_body_is_a_413_page(client: FlaskClient, token: str, app: Flask) -> None:
    too_big = "x" * (int(app.config["MAX_CONTENT_LENGTH"]) + 1)
    response = client.post("/run", data={"csrf_token": token, "sql": too_big})
    assert response.status_code == 413
    assert "too large" in error_message(html(response))


def test_unknown_addresses_are_a_404_page(client: FlaskClient) -> None:
    response = client.get("/no/such/page")
    assert response.status_code == 404
    assert "nothing at this address" in error_message(html(response))


# -- one sandbox per visitor ----------------------------------------------------------------------


@pytest.fixture
def settings_with_one_sandbox(settings: Settings) -> Settings:
    return replace(settings, max_sandboxes=1)


def test_a_new_visitor_past_the_sandbox_cap_gets_a_503_page_that_says_so(settings_with_one_sandbox: Settings) -> None:
    app = create_app(settings_with_one_sandbox)
    first, late = app.test_client(), app.test_client()
    assert html(first.get("/")).select("aside.schema summary")  # the first visitor has a sandbox
    response = late.get("/")
    assert response.status_code == 503
    assert "text/html" in response.content_type
    assert "as many sandboxes as it is configured for" in error_message(html(response))
    # Running (with the token the error page carries) is refused the same way, and so is Reset.
    late_token = csrf_token(late)
    for response in (
        late.post("/run", data=form(late_token, "SELECT 1"), follow_redirects=True),
        late.post("/reset", data={"csrf_token": late_token}, follow_redirects=True),
    ):
        assert response.status_code == 503
        assert "as many sandboxes" in error_message(html(response))
    # The visitor who has a sandbox is unaffected.
    token = csrf_token(first)
    assert result_cells(html(run(first, token, "SELECT count(*) FROM some_table"))) == [["6"]]


def test_two_visitors_do_not_see_each_others_rows(app: Flask) -> None:
    alice, bob = app.test_client(), app.test_client()
    alice_token, bob_token = csrf_token(alice), csrf_token(bob)
    page = html(run(alice, alice_token, INSERT_USER, {"Name": ["Alice"], "Age": ["30"]}))
    assert commit(alice, alice_token, commit_token(page)).status_code == 200
    assert [r[1] for r in users(alice, alice_token)] == ["Петр", "Василий", "Alice"]
    assert users(bob, bob_token) == SAMPLE_USERS
    # Bob's reset restores Bob's sandbox and does not touch Alice's.
    assert commit(bob, bob_token, commit_token(html(run(bob, bob_token, 'DELETE FROM "Users"')))).status_code == 200
    assert users(bob, bob_token) == []
    reset = bob.post("/reset", data={"csrf_token": bob_token, "confirm": "yes"})
    assert reset.status_code == 303
    assert users(bob, bob_token) == SAMPLE_USERS
    assert [r[1] for r in users(alice, alice_token)] == ["Петр", "Василий", "Alice"]


# -- on SQLite and on PostgreSQL ------------------------------------------------------------------
#
# The core flows through the pages on each engine. Where the engines legitimately differ (the
# driver's paramstyle, the database's own error messages) the expectation is spelled out exactly
# for each.

# The statement as the DBAPI cursor gets it: qmark for sqlite3, pyformat for psycopg2.
SENT_SELECT_Y = {
    "sqlite": "SELECT x, y FROM some_table WHERE y > ? ORDER BY x, y",
    "postgresql": "SELECT x, y FROM some_table WHERE y > %(y)s ORDER BY x, y",
}
SENT_UPDATE_XY = {
    "sqlite": "UPDATE some_table SET y=? WHERE x=?",
    "postgresql": "UPDATE some_table SET y=%(y)s WHERE x=%(x)s",
}
SENT_INSERT_USER = {
    "sqlite": 'INSERT INTO "Users" ("Name", "Age") VALUES(?, ?)',
    "postgresql": 'INSERT INTO "Users" ("Name", "Age") VALUES(%(Name)s, %(Age)s)',
}


def sent_rows(page: BeautifulSoup) -> list[list[str]]:
    """The "what the database received" table: parameter set, key, value (repr) and Python type."""
    return [[td.get_text() for td in tr.find_all("td")] for tr in page.select("table.sent-params tbody tr")]


def keys(engine_name: str, *names: str) -> list[str]:
    """The placeholders the driver binds and the :name each came from: positions (qmark), names (pyformat)."""
    if engine_name == "sqlite":
        return [f"?{i} ← :{name}" for i, name in enumerate(names, start=1)]
    return [f"%({name})s ← :{name}" for name in names]


class TestOnEachEngine:
    """`app` here is built over the engine-parametrised service, so every test runs on both engines."""

    @pytest.fixture
    def app(self, settings: Settings, playground: Playground) -> Flask:
        return create_app(settings, playground=playground)

    def test_lesson_1_insert_a_user_then_read_the_users(
        self, client: FlaskClient, token: str, engine_name: str
    ) -> None:
        page = html(run(client, token, INSERT_USER, {"Name": ["Петр"], "Age": ["20"]}))
        assert page.select_one("#preview-rowcount").get_text() == "1 row"  # type: ignore[union-attr]
        name, age = keys(engine_name, "Name", "Age")
        assert sent_rows(page) == [["1", name, "'Петр'", "str"], ["1", age, "20", "int"]]
        assert page.select_one("pre.driver").get_text() == SENT_INSERT_USER[engine_name]  # type: ignore[union-attr]
        assert users(client, token) == SAMPLE_USERS  # the preview was rolled back

        page = html(submit(client, page, 'form[action="/commit"]'))
        assert "Committed" in page.select_one(".committed").get_text()  # type: ignore[union-attr]
        assert page.select_one("#committed-rowcount").get_text() == "1 row"  # type: ignore[union-attr]

        page = html(run(client, token, 'select * from "Users"'))
        assert result_header(page) == ["Id", "Name", "Age"]
        # On PostgreSQL too: the preview gave back the SERIAL value it took.
        assert result_cells(page) == [["1", "Петр", "20"], ["2", "Василий", "26"], ["3", "Петр", "20"]]

    def test_lesson_2_select_then_update_two_rows_with_executemany(
        self, client: FlaskClient, token: str, engine_name: str
    ) -> None:
        page = html(run(client, token, SELECT_Y, {"y": ["6"]}))
        assert result_header(page) == ["x", "y"]
        assert result_cells(page) == [["6", "8"], ["9", "10"], ["11", "12"], ["13", "14"]]
        assert "4 rows" in page.select_one("#statement-1 .count").get_text()  # type: ignore[union-attr]
        assert page.select_one("#commit-button") is None

        page = html(run(client, token, UPDATE_XY, {"x": ["9", "13"], "y": ["11", "15"]}))
        assert page.select_one("#preview-rowcount").get_text() == "2 rows"  # type: ignore[union-attr]
        assert "executemany with 2 parameter sets" in page.select_one("table.sent-params caption").get_text()  # type: ignore[union-attr]
        assert page.select_one("pre.driver").get_text() == SENT_UPDATE_XY[engine_name]  # type: ignore[union-attr]
        y, x = keys(engine_name, "y", "x")
        assert sent_rows(page) == [
            ["1", y, "11", "int"],
            ["1", x, "9", "int"],
            ["2", y, "15", "int"],
            ["2", x, "13", "int"],
        ]
        assert some_table(client, token) == SAMPLE_SOME_TABLE

        page = html(submit(client, page, 'form[action="/commit"]'))
        assert page.select_one("#committed-rowcount").get_text() == "2 rows"  # type: ignore[union-attr]

        page = html(run(client, token, SELECT_Y, {"y": ["6"]}))
        assert result_cells(page) == [["6", "8"], ["9", "11"], ["11", "12"], ["13", "15"]]
        assert some_table(client, token) == [[1, 1], [2, 4], [6, 8], [9, 11], [11, 12], [13, 15]]

    def test_what_the_database_received_shows_driver_placeholders_and_python_types(
        self, client: FlaskClient, token: str, engine_name: str
    ) -> None:
        page = html(run(client, token, SELECT_Y, {"y": ["6"]}))
        sent = page.select_one("#statement-1 details.sent")
        assert sent is not None
        assert sent.select_one("pre.typed").get_text() == SELECT_Y  # type: ignore[union-attr]
        assert sent.select_one("pre.driver").get_text() == SENT_SELECT_Y[engine_name]  # type: ignore[union-attr]
        assert sent.select_one("table.sent-params caption").get_text() == "parameters"  # type: ignore[union-attr]
        assert sent_rows(page) == [["1", *keys(engine_name, "y"), "6", "int"]]

        # A column typed as text is bound as a str, and the page says so.
        page = html(run(client, token, "SELECT :v AS v", {"v": ["6"]}, types={"v": "text"}))
        assert sent_rows(page) == [["1", *keys(engine_name, "v"), "'6'", "str"]]
        assert result_cells(page) == [["6"]]

    def test_transaction_control_is_refused_and_nothing_is_applied(
        self, app: Flask, client: FlaskClient, token: str
    ) -> None:
        for sql, statement, keyword in [
            ("BEGIN", 1, "BEGIN"),
            ("COMMIT", 1, "COMMIT"),
            ("DELETE FROM some_table WHERE x = 1; COMMIT", 2, "COMMIT"),
        ]:
            response = run(client, token, sql)
            assert response.status_code == 403, sql
            page = html(response)
            # The two engines word the rest of the sentence differently; this part is common.
            message = f"Statement {statement} ({keyword}) is not allowed: transaction control belongs to the playground"
            assert error_message(page).startswith(message), error_message(page)
            assert page.select_one("textarea#sql").get_text() == sql  # type: ignore[union-attr]
            assert page.select_one("#outcome") is None and page.select_one("#commit-button") is None
        assert [r["outcome"] for r in run_log(app)[:3]] == ["refused"] * 3
        assert some_table(client, token) == SAMPLE_SOME_TABLE

    def test_a_syntax_error_shows_the_databases_message_and_keeps_the_sql(
        self, client: FlaskClient, token: str, engine_name: str
    ) -> None:
        sql = "SELEC x FROM some_table WHERE y > :y"
        response = run(client, token, sql, {"y": ["1"]})
        assert response.status_code == 400
        page = html(response)
        detail = {"sqlite": 'near "SELEC": syntax error', "postgresql": 'syntax error at or near "SELEC"'}[engine_name]
        assert error_message(page) == f"Statement 1 (SELEC) failed: {detail}."
        assert page.select_one("textarea#sql").get_text() == sql  # type: ignore[union-attr]
        assert grid_rows(page) == [["1"]]
        assert page.select_one("#outcome") is None


# -- a server with PostgreSQL offers SQLite beside it ---------------------------------------------


@pytest.fixture
def two_engine_app(settings: Settings, postgres_url: str) -> Iterator[Flask]:
    """The app as a server with PLAYGROUND_DATABASE_URL has it: PostgreSQL (the default) and SQLite."""
    from playground.backends.postgresql import PostgresBackend

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    pg_backend = PostgresBackend(postgres_url, settings.limits, sandbox_prefix=f"tv{secrets.token_hex(4)}")
    store = Store(f"sqlite:///{settings.data_dir / 'playground.db'}")
    try:
        sqlite_backend = SqliteBackend(settings.data_dir, settings.limits)
        service = Playground(settings, store, {"postgresql": pg_backend, "sqlite": sqlite_backend}, "postgresql")
        yield create_app(settings, playground=service)
    finally:
        pg_backend.drop_everything()  # every sandbox, role and the template under this prefix
        pg_backend.close()
        store.close()


def test_the_editor_offers_both_engines_and_runs_on_the_one_chosen(two_engine_app: Flask) -> None:
    client = two_engine_app.test_client()
    page = html(client.get("/"))
    selector = labelled(page, "Engine")
    assert selector.name == "select" and selector["name"] == "engine"
    assert selector.find_parent("form")["id"] == "editor-form"  # type: ignore[index]
    options = [(str(o["value"]), o.get_text()) for o in selector.select("option")]
    assert options == [("postgresql", "PostgreSQL"), ("sqlite", "SQLite")]
    assert [o["value"] for o in selector.select("option[selected]")] == ["postgresql"]
    token = str(page.select_one('meta[name="csrf-token"]')["content"])  # type: ignore[index]

    # engine=sqlite in the form runs on SQLite, and the page keeps SQLite chosen.
    page = html(
        client.post(
            "/run", data=form(token, "SELECT sqlite_version() AS v") | {"engine": "sqlite"}, follow_redirects=True
        )
    )
    assert result_cells(page) == [[sqlite3.sqlite_version]]
    assert page.select_one("#outcome .elapsed").get_text().endswith(" ms on SQLite")  # type: ignore[union-attr]
    assert [o["value"] for o in page.select("select#engine option[selected]")] == ["sqlite"]

    # The same SQL on PostgreSQL, chosen or by default, is PostgreSQL's own error.
    for engine in ({"engine": "postgresql"}, {}):
        response = client.post("/run", data=form(token, "SELECT sqlite_version() AS v") | engine, follow_redirects=True)
        assert response.status_code == 400
        page = html(response)
        assert "function sqlite_version() does not exist" in error_message(page)
        assert [o["value"] for o in page.select("select#engine option[selected]")] == ["postgresql"]
    page = html(client.post("/run", data=form(token, "SELECT version() AS v"), follow_redirects=True))
    assert result_cells(page)[0][0].startswith("PostgreSQL ")
    assert page.select_one("#outcome .elapsed").get_text().endswith(" ms on PostgreSQL")  # type: ignore[union-attr]

    # One sandbox per engine: a write committed on SQLite leaves the PostgreSQL sandbox alone.
    page = html(
        client.post("/run", data=form(token, "DELETE FROM some_table") | {"engine": "sqlite"}, follow_redirects=True)
    )
    assert page.select_one("#preview-rowcount").get_text() == "6 rows"  # type: ignore[union-attr]
    assert submit(client, page, 'form[action="/commit"]').status_code == 200
    read = {"sql": "SELECT x, y FROM some_table ORDER BY x, y"}
    for engine, expected in [("sqlite", []), ("postgresql", SAMPLE_SOME_TABLE)]:
        response = client.post("/api/run", json=read | {"engine": engine}, headers={"X-CSRFToken": token})
        assert response.json["engine"] == engine
        assert response.json["statements"][0]["rows"] == expected
