"""What a visitor can send that is not SQL anyone meant: each gets a clear 4xx over real HTTP, and nothing changes.

The review's cases (issue 7, items 6-11) against a live server per engine: lone surrogates, JSON nested
thousands of levels deep, NUL bytes, SQL nested past a parser's recursion, a value past PostgreSQL's
temp space, and placeholder spellings inside literals, quoted names and comments.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from typing import Any

import pytest
from pg_support import own_bookkeeping
from server_support import HttpClient, LiveServer, Reply, live_server

ENGINES = ["sqlite", "postgresql"]
SAMPLE_STATE_SQL = [
    'SELECT "Id", "Name", "Age" FROM "Users" ORDER BY "Id"',
    "SELECT x, y FROM some_table ORDER BY x",
]


# These tests (and the fuzz test's hundreds of examples) run many requests as one visitor, faster than a
# student types: the per-visitor rate limit, which tests/test_limits.py checks, is set out of their way.
UNGATED = {"PLAYGROUND_RUNS_PER_MINUTE": "1000000", "PLAYGROUND_RUN_BURST": "1000000"}


@pytest.fixture(scope="module")
def sqlite_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """SQLite only, its bookkeeping in a SQLite file."""
    with live_server(tmp_path_factory.mktemp("hostile-sqlite"), workers=1, env=UNGATED) as running:
        yield running


@pytest.fixture(scope="module")
def pg_server(postgres_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """PostgreSQL by default (SQLite beside it), with its bookkeeping in a PostgreSQL database of its own."""
    prefix = f"th{secrets.token_hex(3)}"
    with own_bookkeeping(postgres_url, prefix) as admin_url:
        env = {"PLAYGROUND_DATABASE_URL": admin_url, "PLAYGROUND_POSTGRES_PREFIX": prefix} | UNGATED
        with live_server(tmp_path_factory.mktemp("hostile-pg"), workers=1, env=env) as running:
            yield running


@pytest.fixture(params=ENGINES)
def engine(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def server(engine: str, request: pytest.FixtureRequest) -> LiveServer:
    """The server for the engine under test: SQLite's own, or the one with PostgreSQL."""
    return request.getfixturevalue("pg_server" if engine == "postgresql" else "sqlite_server")


@pytest.fixture(scope="module")
def visitors() -> dict[str, HttpClient]:
    """One visitor per engine for the module: every test here leaves the sandbox as it was (and checks so),
    and each PostgreSQL sandbox is a database to create and drop."""
    return {}


@pytest.fixture
def client(server: LiveServer, engine: str, visitors: dict[str, HttpClient]) -> HttpClient:
    """The module's visitor on `engine`, whose sandbox exists (so that "unchanged" has something to compare)."""
    if engine not in visitors:
        visitors[engine] = HttpClient(server.url).start()
        state(visitors[engine], engine)
    return visitors[engine]


def state(client: HttpClient, engine: str) -> Any:
    """What the visitor's sandbox holds, read from outside: its schema and the sample tables' rows."""
    schema = client.request("GET", f"/api/schema?engine={engine}")
    assert schema.status == 200, schema.text
    reply = client.post_json("/api/run", {"sql": ";\n".join(SAMPLE_STATE_SQL), "engine": engine})
    assert reply.status == 200, reply.text
    return schema.json, [statement["rows"] for statement in reply.json["statements"]]


def refused(reply: Reply, *words: str) -> str:
    """A clear 4xx: a JSON error whose message says what was wrong (each of `words`, in any case)."""
    assert 400 <= reply.status < 500, f"{reply.status}: {reply.text[:2000]}"
    message = reply.json["error"]["message"]
    for word in words:
        assert word.lower() in message.lower(), message
    return str(message)


def body(value: Any) -> bytes:
    """JSON as a client may send it: lone surrogates as \\u escapes (what json.dumps writes by default)."""
    return json.dumps(value).encode()


# -- 6. lone surrogates ----------------------------------------------------------------------

SURROGATE_RUNS = {
    "a value": {"sql": "SELECT :v", "params": {"v": "\udc80"}},
    "a literal": {"sql": "SELECT '\udc80'"},
    "a parameter name": {"sql": "SELECT :a\ud800", "params": {"a\ud800": 1}},
    "a parameter name in params only": {"sql": "SELECT :a", "params": {"a\ud800": 1}},
    "a comment": {"sql": "SELECT 1 -- \udc80"},
    "the engine": {"sql": "SELECT 1", "engine": "sqlite\udc80"},
}


@pytest.mark.parametrize("where", list(SURROGATE_RUNS))
def test_a_lone_surrogate_in_a_run_is_refused_and_changes_nothing(client: HttpClient, engine: str, where: str) -> None:
    before = state(client, engine)
    sent = {"engine": engine} | SURROGATE_RUNS[where]
    refused(client.post_raw_json("/api/run", body(sent)), "unicode")
    assert state(client, engine) == before


@pytest.mark.parametrize("path", ["/api/commit", "/api/discard"])
def test_a_lone_surrogate_in_a_token_is_refused(client: HttpClient, path: str) -> None:
    refused(client.post_raw_json(path, body({"token": "\udc80"})), "unicode")


@pytest.mark.parametrize("sql", ["SELECT '\udc80'", "SELECT :a\ud800"])
def test_reading_the_parameters_of_sql_with_a_lone_surrogate_is_refused(
    client: HttpClient, engine: str, sql: str
) -> None:
    refused(client.post_raw_json("/api/parameters", body({"sql": sql, "engine": engine})), "unicode")


# -- 7. JSON nested deeper than anyone writes --------------------------------------------------

DEPTH = 5000
DEEP_BODIES = {
    "at the top level": b"[" * DEPTH + b"]" * DEPTH,
    "in params": b'{"sql": "SELECT :a", "params": ' + b'{"a": ' * DEPTH + b"1" + b"}" * DEPTH + b"}",
    "in a value": b'{"sql": "SELECT :v", "params": {"v": ' + b"[" * DEPTH + b"]" * DEPTH + b"}}",
}


@pytest.mark.parametrize("where", list(DEEP_BODIES))
@pytest.mark.parametrize("path", ["/api/run", "/api/parameters", "/api/commit", "/api/export", "/api/share"])
def test_json_nested_thousands_deep_is_refused(client: HttpClient, engine: str, where: str, path: str) -> None:
    before = state(client, engine)
    refused(client.post_raw_json(path, DEEP_BODIES[where]), "nested")
    assert state(client, engine) == before


# -- 8. NUL on PostgreSQL ----------------------------------------------------------------------

NUL_RUNS = {
    "a literal": {"sql": "SELECT 'a\x00b'"},
    "a comment": {"sql": "SELECT 1 -- a\x00b"},
    "a parameter name": {"sql": "SELECT :a\x00b", "params": {"a\x00b": 1}},
    "a parameter name in params only": {"sql": "SELECT :a", "params": {"a\x00": 1}},
    "a value": {"sql": "SELECT :v", "params": {"v": "a\x00b"}},
    "the engine": {"sql": "SELECT 1", "engine": "postgresql\x00"},
}
NUL_MESSAGE_WORDS = {
    "a parameter name in params only": ["does not use"],
    "the engine": ["unknown engine", "postgresql\\x00"],
}


@pytest.mark.parametrize("where", list(NUL_RUNS))
def test_a_nul_on_postgresql_is_refused_and_the_run_is_logged(
    pg_server: LiveServer, visitors: dict[str, HttpClient], where: str
) -> None:
    client = visitors.setdefault("postgresql", HttpClient(pg_server.url).start())
    before = state(client, "postgresql")
    sent = {"engine": "postgresql"} | NUL_RUNS[where]
    refused(client.post_json("/api/run", sent), *NUL_MESSAGE_WORDS.get(where, ["nul"]))
    assert state(client, "postgresql") == before
    history = client.request("GET", "/api/history?engine=postgresql")
    assert history.status == 200, history.text
    # The run log keeps the refused run (its NUL as U+FFFD in the log's SQL column; History reads the SQL back
    # from the logged work, a JSON text, which keeps it as \u0000).
    logged = [
        e
        for e in history.json["entries"]
        if e["outcome"] == "error" and _unstorable_as_fffd(e["sql"]) == _unstorable_as_fffd(sent["sql"])
    ]
    assert logged, history.text


def _unstorable_as_fffd(text: str | None) -> str | None:
    return text.replace("\x00", "\ufffd") if text else text


@pytest.mark.parametrize("path", ["/api/commit", "/api/discard"])
def test_a_nul_in_a_token_is_an_unknown_token(pg_server: LiveServer, path: str) -> None:
    client = HttpClient(pg_server.url).start()  # no sandbox: a token is looked up in the bookkeeping only
    reply = client.post_json(path, {"token": "abc\x00def"})
    assert reply.status == 404, reply.text


# -- 9. SQL nested past the parser's recursion, on PostgreSQL ---------------------------------

DEEP_SQL = {
    "1,000 terms": "SELECT " + " + ".join(["1"] * 1000),
    "1,000 UNION ALL": " UNION ALL ".join(["SELECT 1"] * 1000),
    "300 nested subqueries": "SELECT " + "(SELECT " * 300 + "1" + ")" * 300,
    "5,000 NOT": "SELECT " + "NOT " * 5000 + "true",
}


@pytest.mark.parametrize("shape", list(DEEP_SQL))
def test_sql_nested_too_deep_is_a_clean_400(client: HttpClient, engine: str, shape: str) -> None:
    before = state(client, engine)
    reply = client.post_json("/api/run", {"sql": DEEP_SQL[shape], "engine": engine})
    if reply.status != 200:
        assert reply.status == 400, reply.text
        refused(reply)
    assert state(client, engine) == before


# -- 10. a value past PostgreSQL's temp space ---------------------------------------------------


def test_a_value_past_the_temp_space_is_one_clean_answer(
    pg_server: LiveServer, visitors: dict[str, HttpClient]
) -> None:
    client = visitors.setdefault("postgresql", HttpClient(pg_server.url).start())
    before = state(client, "postgresql")
    reply = client.post_json("/api/run", {"sql": "SELECT repeat('x', 60000000)", "engine": "postgresql"})
    refused(reply)
    assert state(client, "postgresql") == before


# -- 11. placeholder spellings that are not our parameters --------------------------------------


def test_a_literal_that_looks_like_a_placeholder_is_left_alone(client: HttpClient, engine: str) -> None:
    reply = client.post_json(
        "/api/run", {"sql": "SELECT :a AS a, '%(a)s' AS lit", "params": {"a": "v"}, "engine": engine}
    )
    assert reply.status == 200, reply.text
    assert reply.json["statements"][-1]["rows"] == [["v", "%(a)s"]]


@pytest.mark.parametrize("spelling", ["?", "?1", ":1", "@a", "$a", "%s", "%(a)s", "%%", "%"])
def test_other_placeholder_spellings_in_literals_quoted_names_and_comments(
    client: HttpClient, engine: str, spelling: str
) -> None:
    quoted_name = spelling.replace('"', '""')
    script = ";\n".join(
        [
            f"SELECT :a AS a, '{spelling}' AS lit",
            f'SELECT :a AS a, 1 AS "{quoted_name}"',
            f"SELECT :a AS a -- {spelling}\n",
            f"SELECT :a AS a /* {spelling} */",
        ]
    )
    reply = client.post_json("/api/run", {"sql": script, "params": {"a": "v"}, "engine": engine})
    assert reply.status == 200, reply.text
    statements = reply.json["statements"]
    assert [s["rows"] for s in statements] == [[["v", spelling]], [["v", 1]], [["v"]], [["v"]]]
    assert statements[1]["columns"] == ["a", spelling]


# -- found by the fuzz test (tests/test_fuzz_endpoints.py) --------------------------------------------


def form(client: HttpClient, path: str, fields: dict[str, str]) -> Reply:
    return client.request("POST", path, form=fields)


def test_a_page_id_with_a_nul_is_unknown_not_looked_up(client: HttpClient) -> None:
    """The editor's snapshot ids and shared links are looked up in the bookkeeping database (PostgreSQL's has no NUL)."""
    # Reset from a page that is not there asks from an empty editor, as for any unknown page.
    assert form(client, "/reset", {"from": "abc\x00"}).status == 200
    for address in ("/editor/abc%00", "/s/abc%00"):
        reply = client.request("GET", address)
        assert reply.status == 404, reply.text[:500]


@pytest.mark.parametrize("cursor", ["9" * 5000, "²", "-1"])
def test_a_cursor_that_is_not_an_offset_is_a_clear_400(client: HttpClient, engine: str, cursor: str) -> None:
    reply = form(client, "/explain", {"sql": "SELECT 1", "engine": engine, "rows": "1", "cursor": cursor})
    assert reply.status == 400, reply.text[:500]


@pytest.mark.parametrize("fmt", [[], {}, 1, None])
def test_a_download_format_that_is_not_text_is_a_clear_400(client: HttpClient, engine: str, fmt: Any) -> None:
    reply = client.post_json("/api/export", {"sql": "SELECT 1", "engine": engine, "format": fmt})
    refused(reply, "format")
