"""Random requests to every POST endpoint, on both engines, over real HTTP: never a 5xx, never a changed sandbox.

The endpoints are read from the app's url_map, so a new one is fuzzed without touching this file
(an address with a part this file has no values for fails, saying which). Bodies are JSON objects
with the fields the endpoints read and others, JSON that is not an object, JSON the decoder chokes
on (nesting thousands deep, NaN, numbers past a float, invalid UTF-8), and forms; their text holds
lone surrogates, NUL, and SQL from a pool of shapes that have broken servers (deep expressions,
placeholder look-alikes, writes that must stay previews). Hypothesis runs a bounded, derandomized
number of examples, so CI sees the same requests every time.
"""

from __future__ import annotations

import json
import tempfile
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import test_hostile_inputs
from flask import Flask
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from server_support import HttpClient, LiveServer, Reply
from test_hostile_inputs import state

from playground import create_app
from playground.config import Settings

sqlite_server = test_hostile_inputs.sqlite_server
pg_server = test_hostile_inputs.pg_server

EXAMPLES_PER_ENGINE = 120
# Values for the variable parts of addresses; a new variable part must be added here to be fuzzed.
ADDRESS_PARTS = {"fmt": ["csv", "json", "xml"]}
# What an endpoint changes by design when a request is valid: the sandbox is set back afterwards.
CHANGES_BY_DESIGN = {"samples.chinook"}


def post_endpoints() -> list[tuple[str, str]]:
    """(endpoint, address) for every POST rule of the app, each variable part filled with each of its values."""
    with tempfile.TemporaryDirectory() as data_dir:
        app = create_app(Settings(data_dir=Path(data_dir)))
        try:
            return _post_rules(app)
        finally:
            app.extensions["playground"].close()


def _post_rules(app: Flask) -> list[tuple[str, str]]:
    found = []
    for rule in app.url_map.iter_rules():
        if "POST" not in (rule.methods or ()):
            continue
        missing = set(rule.arguments) - set(ADDRESS_PARTS)
        assert not missing, f"{rule.rule}: add values for {sorted(missing)} to ADDRESS_PARTS"
        addresses = [rule.rule]
        for name in rule.arguments:
            addresses = [a.replace(f"<{name}>", v) for a in addresses for v in ADDRESS_PARTS[name]]
        found += [(rule.endpoint, a) for a in addresses]
    return sorted(found)


# -- what a visitor can send ------------------------------------------------------------------------

ODD_CHARACTERS = ["\x00", "\udc80", "\ud800", "\udfff", "\ufffe", "\uffff", "\u202e", "\U0001f600", "'", '"', ";", ":"]
odd_text = st.text(
    alphabet=st.one_of(
        st.sampled_from(ODD_CHARACTERS),
        st.characters(exclude_categories=()),  # surrogates included
    ),
    max_size=30,
)

SQL_SHAPES = [
    "SELECT 1",
    "SELECT :a",
    "SELECT :a AS a, '%(a)s' AS lit",
    "SELECT :a, '?', \"?1\" -- :b %s $a @a\n",
    "SELECT x, y FROM some_table WHERE y > :y",
    'INSERT INTO "Users" ("Name", "Age") VALUES (:Name, :Age)',
    "UPDATE some_table SET y = :y",
    "DELETE FROM some_table",
    "DROP TABLE some_table",
    "CREATE TABLE t (a int)",
    "SELECT 'a\x00b'",
    "SELECT '\udc80'",
    "SELECT :a\ud800",
    "SELECT 1; SELECT 2;",
    ";;;",
    "",
    "BEGIN; COMMIT",
    "ATTACH DATABASE 'x' AS y",
    "SELECT " + " + ".join(["1"] * 1000),
    " UNION ALL ".join(["SELECT 1"] * 600),
    "SELECT " + "(SELECT " * 300 + "1" + ")" * 300,
    "SELECT " + "NOT " * 5000 + "true",
    "SELECT repeat('x', 1000)",
    "/* unterminated",
    "SELECT 'unterminated",
]
sql = st.one_of(
    st.sampled_from(SQL_SHAPES),
    odd_text,
    st.tuples(st.sampled_from(SQL_SHAPES), odd_text).map(lambda p: p[0] + p[1]),
)
names = st.one_of(st.sampled_from(["a", "y", "Name", "Age", "v"]), odd_text)
huge_numbers = st.sampled_from([2**63, -(2**63) - 1, 10**400, 1e308, -1e308, 5e-324, 2**53 + 1])
scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), huge_numbers, odd_text)
json_values = st.recursive(
    scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(names, inner, max_size=3), max_leaves=8
)
params = st.one_of(
    st.dictionaries(names, json_values, max_size=4),
    st.lists(st.dictionaries(names, json_values, max_size=3), max_size=4),
    json_values,
)
FIELDS = ["sql", "params", "engine", "token", "format", "cursor", "grid", "clear_history", "example"]
engines = st.one_of(st.sampled_from(["sqlite", "postgresql", "", "mysql"]), odd_text, json_values)
field_values = {
    "sql": st.one_of(sql, json_values),
    "params": params,
    "engine": engines,
    "token": st.one_of(odd_text, st.sampled_from(["", "x" * 32, "A" * 10_000]), json_values),
    "format": st.one_of(st.sampled_from(["csv", "json", "xml"]), odd_text, json_values),
    "cursor": st.one_of(st.integers(), huge_numbers, odd_text, json_values),
    "grid": st.one_of(
        st.fixed_dictionaries(
            {"columns": st.lists(names, max_size=3), "types": st.lists(odd_text, max_size=3), "rows": json_values}
        ),
        json_values,
    ),
    "clear_history": json_values,
    "example": st.one_of(odd_text, json_values),
}
json_objects = st.fixed_dictionaries({}, optional={f: field_values[f] for f in FIELDS}).flatmap(
    lambda known: st.dictionaries(names, json_values, max_size=2).map(lambda extra: extra | known)
)


def nested(depth: int, kind: str) -> bytes:
    inner = b"[" * depth + b"]" * depth if kind == "list" else b'{"a": ' * depth + b"1" + b"}" * depth
    return b'{"sql": "SELECT :a", "params": {"a": ' + inner + b"}}"


RAW_JSON = [
    b"[" * 5000 + b"]" * 5000,
    nested(5000, "list"),
    nested(5000, "object"),
    nested(900, "list"),
    nested(40, "object"),
    b'{"sql": "SELECT :a", "params": {"a": NaN}}',
    b'{"sql": "SELECT :a", "params": {"a": Infinity}}',
    b'{"sql": "SELECT :a", "params": {"a": 1e999}}',
    b'{"sql": "SELECT :a", "params": {"a": ' + b"9" * 5000 + b"}}",
    b'{"sql": "SELECT \xed\xb2\x80"}',  # a surrogate written as UTF-8 bytes: not UTF-8
    b'{"sql": "SELECT \xff"}',
    b'{"sql": "SELECT 1"',
    b"",
    b"null",
    b'"SELECT 1"',
    b'{"sql": "SELECT 1", "sql": "SELECT 2"}',
    b'{"token": "\\ud800\\udc00\\udc80"}',
]


@st.composite
def requests(draw: st.DrawFn, endpoints: list[tuple[str, str]], engine: str) -> tuple[str, str, bytes, str]:
    """(endpoint, address, body, content type); a JSON object names `engine` unless it names another."""
    endpoint, address = draw(st.sampled_from(endpoints))
    kind = draw(st.sampled_from(["json", "json", "json", "raw", "form", "form"]))
    if kind == "json":
        value = draw(st.one_of(json_objects, json_values))
        if isinstance(value, dict):
            value = {"engine": engine} | value
        return endpoint, address, json.dumps(value).encode(), "application/json"
    if kind == "raw":
        return endpoint, address, draw(st.sampled_from(RAW_JSON)), "application/json"
    fields = draw(
        st.dictionaries(
            st.one_of(
                st.sampled_from(["sql", "engine", "token", "rows", "col-0", "cell-0-0", "type-0", "action", "confirm"]),
                st.sampled_from(["from", "example", "cursor", "clear_history", "aside-col-0", "aside-rows"]),
                odd_text,
            ),
            st.one_of(
                sql,
                odd_text,
                st.sampled_from(["run", "yes", "1", "-1", "99999999", "9" * 5000, "²", "\x00", "sqlite", "postgresql"]),
            ),
            max_size=6,
        )
    )
    # Surrogates are written as the bytes UTF-8 would give them: what a broken client sends.
    body = urllib.parse.urlencode(fields, encoding="utf-8", errors="surrogatepass").encode()
    return endpoint, address, body, "application/x-www-form-urlencoded"


# -- the property --------------------------------------------------------------------------------


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="module")
def visitor(engine: str, request: pytest.FixtureRequest) -> Iterator[tuple[HttpClient, str, Any]]:
    """A visitor on the engine's server, and what their sandbox holds at first (the sample)."""
    server: LiveServer = request.getfixturevalue("pg_server" if engine == "postgresql" else "sqlite_server")
    client = HttpClient(server.url).start()
    yield client, engine, state(client, engine)


ENDPOINTS = post_endpoints()


def test_the_endpoints_are_read_from_the_app() -> None:
    found = {endpoint for endpoint, _ in ENDPOINTS}
    assert {"api.run", "api.commit", "views.run", "samples.chinook"} <= found
    assert ("downloads.page_download", "/download.csv") in ENDPOINTS


def send(client: HttpClient, address: str, body: bytes, content_type: str) -> Reply:
    return client.request("POST", address, raw_body=(body, content_type))


# A hang guard only: 2 x 120 examples of a few requests each, on a machine that may be loaded.
@pytest.mark.timeout(1200)
@settings(
    max_examples=EXAMPLES_PER_ENGINE,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example],
)
@given(data=st.data())
def test_random_requests_get_no_5xx_and_change_no_sandbox(visitor: tuple[HttpClient, str, Any], data: Any) -> None:
    client, engine, sample = visitor
    endpoint, address, body, content_type = data.draw(requests(ENDPOINTS, engine), label="request")
    reply = send(client, address, body, content_type)
    assert reply.status < 500, f"{reply.status} for POST {address} {body[:300]!r}: {reply.text[:1000]}"
    if endpoint in CHANGES_BY_DESIGN and reply.status < 400:
        for name in ("sqlite", "postgresql") if engine == "postgresql" else ("sqlite",):
            assert client.post_json("/api/reset", {"engine": name}).status == 200
    assert state(client, engine) == sample, f"POST {address} {body[:300]!r} changed the sandbox"
