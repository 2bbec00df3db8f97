"""Post/Redirect/Get: every form of the editor answers with a redirect to `GET /editor/<id>`, which shows
that page again from the bookkeeping database, to its own visitor only, and never runs anything."""

from __future__ import annotations

import re
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from test_views import (
    INSERT_USER,
    SAMPLE_SOME_TABLE,
    commit_token,
    error_message,
    form,
    html,
    result_cells,
    run_log,
    some_table,
    users,
)

from playground.snapshots import KEEP_PER_VISITOR

SNAPSHOT = re.compile(r"^/editor/[\w-]+#(outcome|error|notice|param-grid)$")


def post(client: FlaskClient, path: str, data: dict[str, Any]) -> str:
    """POST without following: the answer must be a 303 to a snapshot; its address."""
    response = client.post(path, data=data)
    assert response.status_code == 303, response.get_data(as_text=True)[:500]
    location = response.headers["Location"]
    assert SNAPSHOT.match(location), location
    return location


def without_csrf_token(page: bytes) -> bytes:
    """The page with its CSRF token blanked: Flask-WTF signs the token with the second it is made in."""
    # The style nonce of the Content-Security-Policy is made for each response too.
    return re.sub(
        rb'(name="csrf-token" content="|name="csrf_token" value="|name="csp-nonce" content=")[^"]*"', rb'\1"', page
    )


def snapshot_id(location: str) -> str:
    return location.split("/")[2].split("#")[0]


def test_every_form_redirects_to_a_page_that_shows_it_again_and_runs_nothing(
    app: Flask, client: FlaskClient, token: str
) -> None:
    preview = post(client, "/run", form(token, INSERT_USER, {"Name": ["Анна"], "Age": ["31"]}))
    assert preview.endswith("#outcome")
    shown = client.get(preview)
    assert shown.status_code == 200 and shown.headers["Cache-Control"] == "no-store"
    page = html(shown)
    assert page.select_one("#preview-rowcount").get_text() == "1 row"  # type: ignore[union-attr]
    assert page.select_one("#editor-form textarea#sql").get_text() == INSERT_USER  # type: ignore[union-attr]

    runs = len(run_log(app))
    for _ in range(3):  # reloads
        assert without_csrf_token(client.get(preview).get_data()) == without_csrf_token(shown.get_data())
    assert len(run_log(app)) == runs

    committed = post(
        client, "/commit", {"csrf_token": token, "token": commit_token(page), "from": snapshot_id(preview)}
    )
    assert html(client.get(committed)).select_one("#committed-rowcount").get_text() == "1 row"  # type: ignore[union-attr]
    assert [u[1] for u in users(client, token)] == ["Петр", "Василий", "Анна"]
    runs = len(run_log(app))
    client.get(committed)
    client.get(committed)
    assert len(run_log(app)) == runs
    assert [u[1] for u in users(client, token)] == ["Петр", "Василий", "Анна"]

    # The preview's page, shown again (Back), says what became of it and offers no Commit.
    again = html(client.get(preview))
    assert again.select_one("#decided").get_text() == "This preview was committed."  # type: ignore[union-attr]
    assert again.select_one("#commit-button") is None

    # Errors, the grid's buttons and Discard go the same way.
    failed = post(client, "/run", form(token, "SELECT * FROM nowhere"))
    assert failed.endswith("#error")
    response = client.get(failed)
    assert response.status_code == 400 and "nowhere" in error_message(html(response))
    assert post(client, "/run", form(token, INSERT_USER, {"Name": ["x"], "Age": ["1"]}, action="add_row")).endswith(
        "#param-grid"
    )
    token_page = html(client.get(post(client, "/run", form(token, "DELETE FROM some_table"))))
    discarded = post(client, "/discard", {"csrf_token": token, "token": commit_token(token_page)})
    assert "Discarded" in html(client.get(discarded)).select_one("#notice").get_text()  # type: ignore[union-attr]
    assert some_table(client, token) == SAMPLE_SOME_TABLE


def test_a_refused_commit_shows_the_editor_of_the_page_it_came_from(client: FlaskClient, token: str) -> None:
    preview = post(client, "/run", form(token, "DELETE FROM some_table WHERE y > :y", {"y": ["5"]}))
    sent = {"csrf_token": token, "token": commit_token(html(client.get(preview))), "from": snapshot_id(preview)}
    post(client, "/commit", sent)
    refused = client.get(post(client, "/commit", sent))
    assert refused.status_code == 410
    page = html(refused)
    assert "already committed" in error_message(page)
    assert page.select_one("textarea#sql").get_text() == "DELETE FROM some_table WHERE y > :y"  # type: ignore[union-attr]


def test_a_page_belongs_to_its_visitor(app: Flask, client: FlaskClient, token: str) -> None:
    secret = "SELECT 'my own secret query' AS s"
    mine = post(client, "/run", form(token, secret))
    other = app.test_client()
    response = other.get(mine)
    assert response.status_code == 404
    assert "my own secret query" not in response.get_data(as_text=True)
    assert "no longer kept" in error_message(html(response))
    assert client.get("/editor/no-such-page").status_code == 404


def test_each_visitor_keeps_their_last_pages(client: FlaskClient, token: str) -> None:
    first = post(client, "/run", form(token, "SELECT 0 AS n"))
    for n in range(1, KEEP_PER_VISITOR + 1):
        last = post(client, "/run", form(token, f"SELECT {n} AS n"))
    assert client.get(first).status_code == 404
    assert result_cells(html(client.get(last))) == [[str(KEEP_PER_VISITOR)]]


def test_reset_asks_first_without_javascript_and_keeps_the_editor(client: FlaskClient, token: str) -> None:
    page = html(client.get(post(client, "/run", form(token, "DELETE FROM some_table"))))
    post(client, "/commit", {"csrf_token": token, "token": commit_token(page)})
    assert some_table(client, token) == []

    # The Reset button is part of the editor's form: the SQL and the grid come along.
    fields = form(token, "SELECT x FROM some_table WHERE y > :y", {"y": ["7"]}) | {"engine": "sqlite"}
    asked = client.post("/reset", data=fields)
    assert asked.status_code == 303 and "reset=sqlite" in asked.headers["Location"]
    question = html(client.get(asked.headers["Location"]))
    confirm = question.select_one("#reset-confirm")
    assert confirm is not None and "Reset your SQLite sandbox to the sample data?" in confirm.get_text()
    assert some_table(client, token) == []  # asking changed nothing
    cancel = question.select_one("#reset-cancel")
    assert cancel is not None and "reset=" not in str(cancel["href"])

    yes = {str(i["name"]): str(i.get("value", "")) for i in confirm.select("input[name]")}
    done = html(client.get(post(client, "/reset", yes)))
    assert done.select_one("#notice").get_text() == "Your SQLite sandbox was reset to the sample data."  # type: ignore[union-attr]
    assert done.select_one("textarea#sql").get_text() == "SELECT x FROM some_table WHERE y > :y"  # type: ignore[union-attr]
    assert [str(i["value"]) for i in done.select('#param-grid input[name="cell-0-0"]')] == ["7"]
    assert some_table(client, token) == SAMPLE_SOME_TABLE
