"""The JSON API through Flask's test client: the same service and rules as the pages."""

from __future__ import annotations

from typing import Any

import psycopg2
import pytest
from conftest import reconfigured
from flask import Flask
from flask.testing import FlaskClient
from time_travel import age_preview
from werkzeug.test import TestResponse

from playground import create_app
from playground.config import Settings
from playground.service import Playground
from playground.store import PENDING_WRITE_TTL

SAMPLE_SOME_TABLE = [[1, 1], [2, 4], [6, 8], [9, 10], [11, 12], [13, 14]]
SELECT_Y = "SELECT x, y FROM some_table WHERE y > :y ORDER BY x, y"


class ByEngine(dict[str, Any]):
    """An expectation that legitimately differs between the engines, spelled out exactly for each."""


def pick(value: Any, engine_name: str) -> Any:
    return value[engine_name] if isinstance(value, ByEngine) else value


# The statement as the DBAPI cursor gets it, in the driver's own paramstyle, and the keys it binds.
SENT_SELECT_Y = ByEngine(
    sqlite="SELECT x, y FROM some_table WHERE y > ? ORDER BY x, y",
    postgresql="SELECT x, y FROM some_table WHERE y > %(y)s ORDER BY x, y",
)
SENT_UPDATE_XY = ByEngine(
    sqlite="UPDATE some_table SET y=? WHERE x=?",
    postgresql="UPDATE some_table SET y=%(y)s WHERE x=%(x)s",
)
SENT_KEYS_UPDATE_XY = ByEngine(sqlite=["1", "2"], postgresql=["y", "x"])  # qmark positions; pyformat names

# Each engine's own message for a missing table and for a syntax error.
NO_SUCH_TABLE = ByEngine(sqlite="no such table: {}", postgresql='relation "{}" does not exist')
SYNTAX_ERROR_AT_SELEC = ByEngine(sqlite='near "SELEC": syntax error', postgresql='syntax error at or near "SELEC"')


class Api:
    """A visitor using the API: their own cookie (sandbox) and CSRF token from GET /api/session."""

    def __init__(self, client: FlaskClient) -> None:
        self.client = client
        session = client.get("/api/session")
        assert session.status_code == 200
        self.csrf = session.json["csrf_token"]

    def post(self, path: str, body: Any = None, **kw: Any) -> TestResponse:
        headers = {"X-CSRFToken": self.csrf} | kw.pop("headers", {})
        if "data" in kw:
            return self.client.post(path, headers=headers, **kw)
        return self.client.post(path, json=body, headers=headers, **kw)

    def run(self, sql: str, params: Any = None, **extra: Any) -> TestResponse:
        body = {"sql": sql} | extra
        if params is not None:
            body["params"] = params
        return self.post("/api/run", body)

    def rows(self, sql: str) -> list[list[Any]]:
        response = self.run(sql)
        assert response.status_code == 200, response.json
        assert response.json["status"] == "ok"
        return response.json["statements"][-1]["rows"]

    def some_table(self) -> list[list[Any]]:
        return self.rows("SELECT x, y FROM some_table ORDER BY x, y")

    def preview(self, sql: str, params: Any = None) -> dict[str, Any]:
        response = self.run(sql, params)
        assert response.status_code == 200, response.json
        assert response.json["status"] == "preview"
        return response.json

    def commit(self, token: str) -> TestResponse:
        return self.post("/api/commit", {"token": token})


@pytest.fixture
def app(settings: Settings, playground: Playground) -> Flask:
    """The app over the engine-parametrised service: every API test runs on SQLite and PostgreSQL."""
    return create_app(settings, playground=playground)


@pytest.fixture
def api(client: FlaskClient) -> Api:
    return Api(client)


def assert_error(response: TestResponse, status: int, *words: str) -> str:
    assert response.status_code == status, (response.status_code, response.get_data(as_text=True))
    body = response.json
    assert body["status"] == "error"
    message = body["error"]["message"]
    assert isinstance(message, str) and message
    for word in words:
        assert word in message, (word, message)
    return message


# -- run ------------------------------------------------------------------------------------------


def test_a_read_returns_rows_as_json_arrays_and_what_the_driver_got(api: Api, engine_name: str) -> None:
    response = api.run(SELECT_Y, {"y": 6})
    assert response.status_code == 200
    body = response.json
    assert body["status"] == "ok"
    assert "token" not in body
    assert body["rowcount"] == 4
    assert isinstance(body["elapsed_ms"], int | float) and body["elapsed_ms"] >= 0
    (statement,) = body["statements"]
    assert statement["sql"] == SELECT_Y
    assert statement["columns"] == ["x", "y"]
    assert statement["rows"] == [[6, 8], [9, 10], [11, 12], [13, 14]]
    assert statement["rowcount"] == 4
    assert statement["truncated"] is False
    assert statement["sent"]["statement"] == SENT_SELECT_Y[engine_name]
    key = {"sqlite": "1", "postgresql": "y"}[engine_name]
    assert statement["sent"]["parameters"] == [[{"key": key, "name": "y", "value": 6, "type": "int"}]]


@pytest.mark.parametrize("params", [None, [], {}, [{}]], ids=["omitted", "empty-list", "empty-object", "one-empty"])
def test_params_may_be_omitted_or_empty_for_sql_without_parameters(api: Api, params: Any) -> None:
    body = {"sql": "SELECT count(*) AS n FROM some_table"} | ({} if params is None else {"params": params})
    response = api.post("/api/run", body)
    assert response.status_code == 200
    assert response.json["statements"][0]["rows"] == [[6]]


def test_one_object_or_a_list_of_one_runs_once(api: Api) -> None:
    for params in ({"y": 12}, [{"y": 12}]):
        response = api.run(SELECT_Y, params)
        assert response.json["statements"][0]["rows"] == [[13, 14]]


def test_json_types_are_bound_as_given(api: Api, engine_name: str) -> None:
    response = api.run(
        "SELECT :i AS i, :f AS f, :s AS s, :b AS b, :n AS n", {"i": 1, "f": 1.5, "s": "1", "b": True, "n": None}
    )
    assert response.status_code == 200
    (statement,) = response.json["statements"]
    # SQLite has no boolean type: True is stored and read back as the integer 1; PostgreSQL returns a
    # boolean. (1 == True in Python, so the types are compared too.)
    expected = {"sqlite": [1, 1.5, "1", 1, None], "postgresql": [1, 1.5, "1", True, None]}[engine_name]
    assert statement["rows"] == [expected]
    assert [type(v) for v in statement["rows"][0]] == [type(v) for v in expected]
    sent = statement["sent"]["parameters"][0]
    assert [(v["value"], v["type"]) for v in sent] == [
        (1, "int"),
        (1.5, "float"),
        ("1", "str"),
        (True, "bool"),
        (None, "NoneType"),
    ]


def test_values_are_json_bytes_as_hex_and_dates_as_text(api: Api, engine_name: str) -> None:
    # Each engine's own spelling of a blob and a date: SQLite's date() is text already; PostgreSQL's
    # date literal is a real date (a datetime.date in Python), which the API writes as ISO text.
    sql = {
        "sqlite": "SELECT x'00ff' AS b, date('2024-01-02') AS d, NULL AS n, 'NULL' AS t",
        "postgresql": "SELECT '\\x00ff'::bytea AS b, date '2024-01-02' AS d, NULL AS n, 'NULL' AS t",
    }[engine_name]
    response = api.run(sql)
    assert response.json["statements"][0]["columns"] == ["b", "d", "n", "t"]
    assert response.json["statements"][0]["rows"] == [["00ff", "2024-01-02", None, "NULL"]]


def test_several_statements_each_report(api: Api) -> None:
    response = api.run("SELECT 1 AS a; SELECT :y AS b", {"y": 2})
    statements = response.json["statements"]
    assert [s["rows"] for s in statements] == [[[1]], [[2]]]
    assert [s["sql"] for s in statements] == ["SELECT 1 AS a;", "SELECT :y AS b"]


def test_more_rows_than_max_rows_are_cut_and_flagged(api: Api, engine_name: str) -> None:
    # 200 rows, counted by each engine (PostgreSQL refuses LIMIT inside a recursive CTE; a
    # set-returning function in the select list streams).
    sql = {
        "sqlite": "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c LIMIT 200) SELECT x FROM c",
        "postgresql": "SELECT generate_series(1, 200) AS x",
    }[engine_name]
    (statement,) = api.run(sql).json["statements"]
    assert statement["truncated"] is True
    assert statement["rows"] == [[i] for i in range(1, 51)]


def test_a_question_mark_is_sqlites_placeholder_but_a_postgresql_operator(api: Api, engine_name: str) -> None:
    # Only the engine's own placeholders are refused (SQLite: ?; PostgreSQL: $1); on PostgreSQL, ?
    # is the jsonb "has key" operator and must run as written.
    response = api.run("SELECT CAST(:doc AS jsonb) ? 'a' AS has_a", {"doc": '{"a": 1}'})
    if engine_name == "sqlite":
        assert_error(response, 400, "'?' is a placeholder of sqlite's own; write parameters as :name")
        assert response.json["error"]["statement"] == 1
    else:
        assert response.status_code == 200, response.json
        (statement,) = response.json["statements"]
        assert statement["rows"] == [[True]] and statement["rows"][0][0] is True
        assert statement["sent"]["statement"] == "SELECT CAST(%(doc)s AS jsonb) ? 'a' AS has_a"


# -- preview, commit, conflict, replay, discard, reset ----------------------------------------------


def test_a_write_is_previewed_then_committed_once(api: Api, engine_name: str) -> None:
    preview = api.preview("UPDATE some_table SET y=:y WHERE x=:x", [{"x": 9, "y": 11}, {"x": 13, "y": 15}])
    assert preview["rowcount"] == 2
    assert isinstance(preview["token"], str) and len(preview["token"]) >= 20
    sent = preview["statements"][0]["sent"]
    assert sent["statement"] == SENT_UPDATE_XY[engine_name]
    assert sent["executemany"] is True
    assert [[v["value"] for v in values] for values in sent["parameters"]] == [[11, 9], [15, 13]]
    assert [[v["key"] for v in values] for values in sent["parameters"]] == [SENT_KEYS_UPDATE_XY[engine_name]] * 2
    assert api.some_table() == SAMPLE_SOME_TABLE  # a preview changes nothing

    response = api.commit(preview["token"])
    assert response.status_code == 200
    assert response.json["status"] == "committed"
    assert response.json["rowcount"] == 2
    assert "token" not in response.json
    after = [[1, 1], [2, 4], [6, 8], [9, 11], [11, 12], [13, 15]]
    assert api.some_table() == after

    # A replayed token is refused and applies nothing.
    assert_error(api.commit(preview["token"]), 410, "nothing was applied again")
    assert api.some_table() == after


def test_a_commit_whose_counts_changed_is_a_409_conflict_with_a_new_token(api: Api) -> None:
    stale = api.preview("DELETE FROM some_table WHERE y > 5")
    assert stale["rowcount"] == 4
    grow = api.preview("INSERT INTO some_table (x, y) VALUES (:x, :y)", {"x": 20, "y": 100})
    assert api.commit(grow["token"]).json["status"] == "committed"
    with_new_row = [*SAMPLE_SOME_TABLE, [20, 100]]

    response = api.commit(stale["token"])
    assert response.status_code == 409
    body = response.json
    assert body["status"] == "conflict"
    assert body["rowcount"] == 5
    assert body["token"] and body["token"] != stale["token"]
    assert "changed since the preview" in body["message"]
    assert api.some_table() == with_new_row  # nothing of the stale preview was applied

    # The stale token is spent; the new one commits what the new preview showed.
    assert_error(api.commit(stale["token"]), 410)
    assert api.commit(body["token"]).json["rowcount"] == 5
    assert api.some_table() == [[1, 1], [2, 4]]


def test_discard_forgets_a_preview(api: Api) -> None:
    preview = api.preview("DELETE FROM some_table")
    response = api.post("/api/discard", {"token": preview["token"]})
    assert response.status_code == 200
    assert response.json == {"status": "discarded"}
    assert_error(api.commit(preview["token"]), 410, "discarded")
    assert_error(api.post("/api/discard", {"token": preview["token"]}), 410)
    assert api.some_table() == SAMPLE_SOME_TABLE


@pytest.mark.parametrize("path", ["/api/commit", "/api/discard"])
def test_unknown_or_other_visitors_tokens_are_404(app: Flask, api: Api, path: str) -> None:
    assert_error(api.post(path, {"token": "no-such-token"}), 404, "no such preview")
    other = Api(app.test_client())
    token = other.preview("DELETE FROM some_table")["token"]
    assert_error(api.post(path, {"token": token}), 404)
    assert other.some_table() == SAMPLE_SOME_TABLE
    # The owner can still use it.
    assert other.post(path, {"token": token}).status_code == 200


@pytest.mark.parametrize("body", [{}, {"token": 5}, {"token": None}], ids=["missing", "number", "null"])
def test_a_token_must_be_a_string(api: Api, body: dict[str, Any]) -> None:
    assert_error(api.post("/api/commit", body), 400, '"token"')


def test_reset_restores_the_sample_data(api: Api, engine_name: str) -> None:
    api.commit(api.preview("DELETE FROM some_table")["token"])
    assert api.some_table() == []
    response = api.post("/api/reset", {})
    assert response.status_code == 200
    assert response.json == {"status": "reset", "engine": engine_name}
    assert api.some_table() == SAMPLE_SOME_TABLE
    # An empty body is fine too.
    assert api.post("/api/reset", data=b"").status_code == 200


def test_schema_lists_the_visitors_tables(api: Api, engine_name: str) -> None:
    response = api.client.get("/api/schema")
    assert response.status_code == 200
    tables = {t["name"]: [(c["name"], c["type"]) for c in t["columns"]] for t in response.json["tables"]}
    # Each engine names the types its own way: SQLite as declared, PostgreSQL as its catalog does.
    integer, text = {"sqlite": ("INTEGER", "TEXT"), "postgresql": ("integer", "text")}[engine_name]
    assert tables == {
        "Users": [("Id", integer), ("Name", text), ("Age", integer)],
        "some_table": [("x", integer), ("y", integer)],
    }
    api.commit(api.preview("CREATE TABLE t (a TEXT)")["token"])
    tables = api.client.get("/api/schema").json["tables"]
    assert [t["name"] for t in tables] == ["Users", "some_table", "t"]
    assert tables[2]["columns"] == [{"name": "a", "type": text}]


def test_session_gives_a_csrf_token_the_engines_and_the_limits(client: FlaskClient, engine_name: str) -> None:
    body = client.get("/api/session").json
    assert isinstance(body["csrf_token"], str) and len(body["csrf_token"]) > 20
    # The app here offers exactly the one engine under test.
    assert body["engines"] == [engine_name] and body["default_engine"] == engine_name
    assert body["limits"] == {
        "max_rows": 50,
        "time_limit_ms": 1000,
        "run_time_limit_ms": 15_000,
        "max_statements": 500,
        "max_sql_bytes": 20_000,
        "max_grid_rows": 20,
    }


def test_two_visitors_have_separate_sandboxes(app: Flask, api: Api) -> None:
    api.commit(api.preview("DELETE FROM some_table")["token"])
    other = Api(app.test_client())
    assert other.some_table() == SAMPLE_SOME_TABLE
    assert api.some_table() == []


# -- /api/parameters ------------------------------------------------------------------------------


def test_parameters_are_the_grids_columns_in_order(api: Api, engine_name: str) -> None:
    response = api.post("/api/parameters", {"sql": "UPDATE some_table SET y=:y WHERE x=:x AND y <> :y"})
    assert response.status_code == 200
    assert response.json == {"parameters": ["y", "x"]}
    # Colons inside literals, quoted names, comments and casts are not parameters.
    sql = "SELECT ':a', \":b\", x::text, :c -- :d\n/* :e */ FROM t; SELECT :f"
    assert api.post("/api/parameters", {"sql": sql, "engine": engine_name}).json == {"parameters": ["c", "f"]}
    assert api.post("/api/parameters", {"sql": "SELECT 1"}).json == {"parameters": []}
    # Nor inside each engine's own quoting: SQLite's [name] and `name`; PostgreSQL's dollar quotes,
    # E'' strings with backslash escapes and nested comments.
    own = {
        "sqlite": "SELECT [:a], `:b`, :c",
        "postgresql": "SELECT $$ :a $$, $t$ :b $t$, E'\\' :d', :c::int /* /* :e */ :f */",
    }[engine_name]
    assert api.post("/api/parameters", {"sql": own}).json == {"parameters": ["c"]}


def test_parameters_run_nothing(app: Flask, api: Api) -> None:
    runs = len(app.extensions["playground"].store.recent_runs(limit=1000))
    assert api.post("/api/parameters", {"sql": "DELETE FROM some_table WHERE x = :x"}).json == {"parameters": ["x"]}
    assert len(app.extensions["playground"].store.recent_runs(limit=1000)) == runs
    assert api.some_table() == SAMPLE_SOME_TABLE


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        (
            {"sql": ByEngine(sqlite="SELECT ?", postgresql="SELECT $1")},
            400,
            ByEngine(
                sqlite="'?' is a placeholder of sqlite's own; write parameters as :name",
                postgresql="'$1' is a placeholder of postgresql's own; write parameters as :name",
            ),
        ),
        ({"sql": ""}, 400, "no SQL"),
        ({"sql": "SELECT 1\x00"}, 400, "NUL"),
        ({"sql": "x" * 20_001}, 413, "20,000"),
        ({"sql": 1}, 400, '"sql"'),
        ({"sql": "SELECT :a", "engine": "oracle"}, 400, "Unknown engine"),
        ({"sql": "SELECT :a", "engine": 3}, 400, '"engine"'),
    ],
    ids=["native-placeholder", "empty", "nul", "too-long", "sql-not-a-string", "unknown-engine", "engine-not-a-string"],
)
def test_parameters_of_bad_sql_is_a_json_4xx(
    api: Api, engine_name: str, body: dict[str, Any], status: int, words: str
) -> None:
    body = {key: pick(value, engine_name) for key, value in body.items()}
    assert_error(api.post("/api/parameters", body), status, pick(words, engine_name))


def test_parameters_need_the_csrf_token(client: FlaskClient) -> None:
    assert_error(client.post("/api/parameters", json={"sql": "SELECT :a"}), 400, "security token")


# -- errors ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "status", "words"),
    [
        ({"data": "{not json", "content_type": "application/json"}, 400, "must be JSON"),
        ({"data": "sql=SELECT 1", "content_type": "application/x-www-form-urlencoded"}, 400, "must be JSON"),
        ({"json": ["SELECT 1"]}, 400, "JSON object"),
        ({"json": "SELECT 1"}, 400, "JSON object"),
        ({"json": {"params": {}}}, 400, '"sql" must be a string'),
        ({"json": {"sql": 42}}, 400, '"sql" must be a string'),
        ({"json": {"sql": ["SELECT 1"]}}, 400, '"sql" must be a string'),
        ({"json": {"sql": "SELECT :y", "params": 6}}, 400, '"params" must be an object or a list'),
        ({"json": {"sql": "SELECT :y", "params": "y=6"}}, 400, '"params" must be an object or a list'),
        ({"json": {"sql": "SELECT :y", "params": [6]}}, 400, "row 1 must be an object"),
        ({"json": {"sql": "SELECT :y", "params": {"yy": 6}}}, 400, ":yy, which the SQL does not use"),
        ({"json": {"sql": "SELECT :y", "params": {}}}, 400, "no value for :y"),
        ({"json": {"sql": "SELECT :y", "params": [{"y": 1}, {"z": 2}]}}, 400, "row 2 names :z"),
        ({"json": {"sql": "SELECT :y", "params": {"y": [1, 2]}}}, 400, "a list cannot be bound"),
        ({"json": {"sql": "SELECT :y", "params": {"y": {"v": 1}}}}, 400, "a dict cannot be bound"),
        ({"json": {"sql": "SELECT :y", "params": {"y": 2**70}}}, 400, "64-bit"),
        ({"json": {"sql": "SELECT :y", "params": {"y": "a\x00"}}}, 400, "NUL"),
        ({"json": {"sql": "SELECT :y", "params": [{"y": i} for i in range(21)]}}, 400, "At most 20"),
        ({"json": {"sql": "SELECT :y, 'abc", "params": {"y": 1}}}, 400, "is never closed"),
        ({"json": {"sql": "SELEC 1"}}, 400, SYNTAX_ERROR_AT_SELEC),
        ({"json": {"sql": ""}}, 400, "no SQL"),
        ({"json": {"sql": "ROLLBACK"}}, 403, "transaction control"),
        ({"json": {"sql": "SELECT 1", "engine": "oracle"}}, 400, "Unknown engine"),
    ],
    ids=lambda v: v["sqlite"][:24] if isinstance(v, ByEngine) else None if isinstance(v, dict | int) else v[:24],
)
def test_bad_requests_are_json_4xx_errors_and_run_nothing(
    api: Api, engine_name: str, kwargs: dict[str, Any], status: int, words: str
) -> None:
    response = api.client.post("/api/run", headers={"X-CSRFToken": api.csrf}, **kwargs)
    assert response.is_json
    assert_error(response, status, pick(words, engine_name))
    assert api.some_table() == SAMPLE_SOME_TABLE


def test_a_statement_error_names_the_statement(api: Api, engine_name: str) -> None:
    response = api.run("SELECT 1; SELECT * FROM missing")
    assert_error(response, 400, "Statement 2", NO_SUCH_TABLE[engine_name].format("missing"))
    assert response.json["error"]["statement"] == 2


def test_a_failing_write_in_a_script_changes_nothing(api: Api, engine_name: str) -> None:
    response = api.run("DELETE FROM some_table; INSERT INTO nowhere VALUES (1)")
    assert_error(response, 400, "Statement 2", NO_SUCH_TABLE[engine_name].format("nowhere"))
    assert response.json["error"]["statement"] == 2
    assert api.some_table() == SAMPLE_SOME_TABLE


@pytest.mark.parametrize("path", ["/api/run", "/api/commit", "/api/discard", "/api/reset", "/api/parameters"])
def test_a_post_without_the_csrf_header_is_a_400_and_changes_nothing(api: Api, path: str) -> None:
    api.commit(api.preview("DELETE FROM some_table WHERE x = 1")["token"])  # so that a reset would show
    preview = api.preview("DELETE FROM some_table")
    body = {"sql": "DELETE FROM some_table", "token": preview["token"]}
    response = api.client.post(path, json=body)
    assert_error(response, 400, "security token")
    response = api.client.post(path, json=body, headers={"X-CSRFToken": "forged"})
    assert_error(response, 400, "security token")
    assert api.some_table() == SAMPLE_SOME_TABLE[1:]
    assert api.commit(preview["token"]).status_code == 200  # the token was not used up


def test_a_token_from_another_visitors_session_is_refused(app: Flask, api: Api) -> None:
    """A real CSRF token, but not this session's: what a forged cross-site request would carry."""
    mallory = Api(app.test_client())
    preview = api.preview("DELETE FROM some_table")
    forged = {"X-CSRFToken": mallory.csrf}
    assert_error(api.post("/api/run", {"sql": "DELETE FROM some_table"}, headers=forged), 400, "security token")
    assert_error(api.post("/api/commit", {"token": preview["token"]}, headers=forged), 400, "security token")
    assert api.some_table() == SAMPLE_SOME_TABLE
    assert api.commit(preview["token"]).status_code == 200


def test_wrong_methods_and_addresses_are_json_errors(client: FlaskClient) -> None:
    assert_error(client.get("/api/run"), 405, "does not take that method")
    assert_error(client.get("/api/nothing-here"), 404, "nothing at this address")


# -- the lifecycle: expiry, the sandbox cap, a busy sandbox ------------------------------------------


def test_an_expired_preview_is_a_410_and_applies_nothing(playground: Playground, api: Api) -> None:
    preview = api.preview("DELETE FROM some_table")
    age_preview(playground.store, preview["token"], PENDING_WRITE_TTL + 60)
    assert_error(api.commit(preview["token"]), 410, "This preview has expired; run the SQL again")
    assert api.some_table() == SAMPLE_SOME_TABLE


def test_a_new_visitor_past_the_sandbox_cap_gets_a_503_with_the_reason(playground: Playground) -> None:
    app = create_app(playground=reconfigured(playground, max_sandboxes=1))
    first = Api(app.test_client())
    assert first.some_table() == SAMPLE_SOME_TABLE
    late = Api(app.test_client())  # a session needs no sandbox
    for response in (late.run("SELECT 1"), late.client.get("/api/schema"), late.post("/api/reset", {})):
        assert_error(response, 503, "The server holds as many sandboxes as it is configured for")
    assert first.some_table() == SAMPLE_SOME_TABLE


@pytest.mark.parametrize("engine_name", ["postgresql"])
def test_too_many_runs_at_once_on_one_postgresql_sandbox_is_a_429(api: Api, playground: Playground) -> None:
    """Each sandbox role has a small connection limit: past it, a run is told to wait, and nothing breaks."""
    assert api.some_table() == SAMPLE_SOME_TABLE  # the sandbox exists
    with api.client.session_transaction() as session:
        visitor = session["visitor"]
    url = playground.backend("postgresql").sandbox_url(visitor)  # type: ignore[attr-defined]
    libpq = url.set(drivername="postgresql").render_as_string(hide_password=False)
    # The connection this process kept from the run above is let go (backends/pg_pool.py): the held
    # connections stand for runs going on, and a run that needs a new connection is the one refused.
    playground.backend("postgresql").idle_connections.clear()  # type: ignore[attr-defined]
    held: list[Any] = []
    try:
        # Runs already going hold the role's connections: take them all, as they would.
        while len(held) <= 20:
            try:
                held.append(psycopg2.connect(libpq, connect_timeout=10))
            except psycopg2.OperationalError as e:
                assert "too many connections for role" in str(e)
                break
        assert 1 <= len(held) <= 20, "the sandbox role has no connection limit"
        assert_error(api.run("SELECT 1"), 429, "Too many runs at once on your sandbox; wait for one to finish")
        page = api.client.post(
            "/run",
            data={"csrf_token": api.csrf, "sql": "SELECT 1", "rows": "1", "action": "run"},
            follow_redirects=True,
        )
        assert page.status_code == 429
        assert "Too many runs at once" in page.get_data(as_text=True)
        # One run finishes: the next one goes through.
        held.pop().close()
        assert api.rows("SELECT count(*) FROM some_table") == [[6]]
    finally:
        for conn in held:
            conn.close()
