"""The editor's features through the pages (without JavaScript) and the API, with Flask's test client."""

from __future__ import annotations

import csv
import io
import json

from flask.testing import FlaskClient
from test_views import error_message, form, grid_rows, html, run, some_table

from playground.examples import EXAMPLES

SELECT_Y = "SELECT x, y FROM some_table WHERE y > :y ORDER BY x"


def test_download_buttons_post_the_editor_and_stream_the_file(client: FlaskClient, token: str) -> None:
    response = client.post("/download.csv", data=form(token, SELECT_Y, {"y": ["6"]}))
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert response.headers["Content-Disposition"] == 'attachment; filename="result-sqlite.csv"'
    assert response.is_streamed
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True).removeprefix("\ufeff"))))
    assert rows == [["x", "y"], ["6", "8"], ["9", "10"], ["11", "12"], ["13", "14"]]
    data = json.loads(client.post("/download.json", data=form(token, SELECT_Y, {"y": ["12"]})).data)
    assert data["rows"] == [[13, 14]]


def test_a_download_of_a_write_is_refused_on_the_page_and_changes_nothing(client: FlaskClient, token: str) -> None:
    response = client.post("/download.csv", data=form(token, "DELETE FROM some_table"))
    assert response.status_code == 400
    assert "changes data" in error_message(html(response))
    assert len(some_table(client, token)) == 6
    assert client.post("/download.xlsx", data=form(token, "SELECT 1")).status_code == 400


def test_the_api_exports_and_says_which_formats_it_takes(client: FlaskClient, token: str) -> None:
    headers = {"X-CSRFToken": token}
    reply = client.post(
        "/api/export", json={"sql": "SELECT :a AS a", "params": {"a": "=cmd"}, "format": "csv"}, headers=headers
    )
    assert reply.get_data(as_text=True) == "\ufeffa\r\n'=cmd\r\n"
    bad = client.post("/api/export", json={"sql": "SELECT 1", "format": "xml"}, headers=headers)
    assert bad.status_code == 400 and "csv" in bad.json["error"]["message"]


def test_explain_shows_the_plan_below_the_editor_and_runs_nothing(client: FlaskClient, token: str) -> None:
    page = html(client.post("/explain", data=form(token, "DELETE FROM some_table WHERE y > :y", {"y": ["6"]})))
    assert "Plan of statement 1" in page.select_one("#plan-title").get_text()  # type: ignore[union-attr]
    assert "SCAN some_table" in page.select_one("#plan-tree").get_text()  # type: ignore[union-attr]
    assert page.select_one("#outcome") is None
    assert len(some_table(client, token)) == 6
    reply = client.post(
        "/api/explain", json={"sql": "SELECT 1;\nSELECT x FROM some_table", "cursor": 3}, headers={"X-CSRFToken": token}
    )
    assert reply.json["statement"] == 1 and reply.json["engine"] == "sqlite"


def test_share_shows_a_link_that_opens_the_editor_filled_and_unrun(client: FlaskClient, token: str) -> None:
    page = html(
        client.post(
            "/share",
            data=form(
                token,
                "UPDATE some_table SET y=:y WHERE x=:x",
                {"y": ["11", "15"], "x": ["9", "13"]},
                types={"y": "integer"},
            ),
        )
    )
    link = str(page.select_one("#share-link")["value"])  # type: ignore[index]
    assert link.startswith("http://localhost/?")
    opened = html(client.get(link.removeprefix("http://localhost")))
    assert opened.select_one("textarea#sql").get_text() == "UPDATE some_table SET y=:y WHERE x=:x"  # type: ignore[union-attr]
    assert grid_rows(opened) == [["11", "9"], ["15", "13"]]
    assert opened.select_one('select[name="type-0"] option[selected]')["value"] == "integer"  # type: ignore[index]
    assert opened.select_one("#outcome") is None
    assert len(some_table(client, token)) == 6
    api = client.post(
        "/api/share",
        json={"sql": "SELECT :a", "grid": {"columns": ["a"], "rows": [["x" * 3000]]}},
        headers={"X-CSRFToken": token},
    )
    stored = api.json["url"]
    assert "/s/" in stored
    assert grid_rows(html(client.get(stored.removeprefix("http://localhost")))) == [["x" * 3000]]
    assert client.get("/s/nosuchlink00").status_code == 404


def test_compare_on_a_sqlite_only_server_says_it_needs_both(client: FlaskClient, token: str) -> None:
    page = html(client.get("/"))
    assert page.select_one("#compare-button") is None
    response = client.post("/compare", data=form(token, "SELECT 1"))
    assert response.status_code == 400 and "needs both" in error_message(html(response))


def test_a_preview_speaks_plainly_and_warns_before_commit_when_there_is_no_where(
    client: FlaskClient, token: str
) -> None:
    page = html(run(client, token, "UPDATE some_table SET y = 0"))
    assert page.select_one("#statement-1 .plain").get_text() == "This UPDATE changes 6 rows of some_table."  # type: ignore[union-attr]
    preview = str(page.select_one(".preview"))
    warning = "This UPDATE has no WHERE: it changes every row of some_table."
    assert warning in preview and preview.index(warning) < preview.index('id="commit-button"')
    page = html(run(client, token, "UPDATE some_table SET y=:y WHERE x=:x", {"y": ["11", "15"], "x": ["9", "13"]}))
    assert page.select_one("p.every-row") is None
    assert page.select_one("#statement-1 .plain").get_text() == "This UPDATE changes 2 rows of some_table."  # type: ignore[union-attr]


def test_results_mark_null_numbers_and_long_values(client: FlaskClient, token: str) -> None:
    page = html(run(client, token, f"SELECT 1.5 AS n, NULL AS missing, 'NULL' AS text, '{'x' * 300}' AS long"))
    cells = page.select("#statement-1 table.result tbody td")
    assert cells[0]["class"] == ["num"]
    assert cells[1].select_one("span.null") is not None and cells[1]["class"] == ["null"]
    assert cells[2].select_one("span.null") is None and cells[2].get_text() == "NULL"
    long = cells[3].select_one("details.long")
    assert long is not None and long.select_one(".whole").get_text() == "x" * 300  # type: ignore[union-attr]
    assert len(long.select_one(".clip").get_text()) < 130  # type: ignore[union-attr]


def test_both_lessons_are_in_the_examples_exactly_as_written(client: FlaskClient) -> None:
    page = html(client.get("/"))
    links = {a.get_text(): str(a["href"]) for a in page.select("ul.examples a")}
    lesson1 = html(client.get(links["Lesson 1: insert the users"]))
    assert lesson1.select_one("textarea#sql").get_text() == 'INSERT INTO "Users" ("Name", "Age") VALUES(:Name, :Age)'  # type: ignore[union-attr]
    assert grid_rows(lesson1) == [["Петр", "20"], ["Василий", "26"]]
    assert len(lesson1.select("#example-note p")) == 2
    lesson2 = html(client.get(links["Lesson 2: UPDATE, two rows (executemany)"]))
    assert grid_rows(lesson2) == [["11", "9"], ["15", "13"]]
    assert [e.title for e in EXAMPLES if e.sample == "chinook"] == [t for t in links if t.startswith("Chinook:")]


def test_a_chinook_example_offers_to_load_chinook_and_then_runs(client: FlaskClient, token: str) -> None:
    join = next(e for e in EXAMPLES if e.slug == "chinook-join")
    page = html(client.get("/", query_string=join.query_args("sqlite")))
    load = page.select_one("#example-note form")
    assert load is not None and "Load Chinook" in load.get_text()
    response = client.post("/samples/chinook", data={"csrf_token": token, "engine": "sqlite", "example": join.slug})
    assert response.status_code == 302
    page = html(client.get(response.headers["Location"]))
    assert page.select_one("#example-note form") is None and page.select_one("#load-chinook") is None
    assert "Chinook is in your SQLite sandbox now" in page.select_one(".notice").get_text()  # type: ignore[union-attr]
    ran = html(run(client, token, join.sql, {"artist": ["AC/DC"]}))
    titles = [td.get_text() for td in ran.select("#statement-1 table.result tbody td:first-child")]
    assert titles == ["For Those About To Rock We Salute You", "Let There Be Rock"]


def test_every_example_runs_on_sqlite_with_chinook_loaded(client: FlaskClient, token: str) -> None:
    client.post("/samples/chinook", data={"csrf_token": token, "engine": "sqlite"})
    for example in EXAMPLES:
        grid = {name: list(cells) for name, cells in example.values}
        response = run(client, token, example.sql, grid)
        assert response.status_code == 200, (example.slug, error_message(html(response)))
        page = html(response)
        assert page.select_one("#outcome") is not None, example.slug


def test_a_preview_with_several_grid_rows_says_what_each_row_does(client: FlaskClient, token: str) -> None:
    page = html(
        run(client, token, "UPDATE some_table SET y=:y WHERE x=:x", {"y": ["11", "15", "0"], "x": ["9", "13", "99"]})
    )
    assert [li.get_text() for li in page.select("#statement-1 ul.per-row li")] == [
        "Grid row 1 changes 1 row.",
        "Grid row 2 changes 1 row.",
        "Grid row 3 changes no row.",
    ]
    assert some_table(client, token)[3:5] == [[9, 10], [11, 12]]  # counting changed nothing
