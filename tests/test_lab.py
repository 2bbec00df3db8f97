"""The injection lab through a real server (`playground serve`), on SQLite and on PostgreSQL.

For every preset: both sides' SQL text, the parameters, what the driver got (and on PostgreSQL
what the server received, from psycopg2's cursor.query), the rows or the error, the sentence
that explains the difference, and the visitor's data unchanged afterwards. The page and the JSON
API answer from the same service, so both are read here.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import pytest
from bs4 import BeautifulSoup
from pg_support import own_bookkeeping
from server_support import HttpClient, LiveServer, live_server

# The sample every sandbox starts from (playground/sample/*.sql).
USERS = [[1, "Петр", 20], [2, "Василий", 26]]
SOME_TABLE = [[1, 1], [2, 4], [6, 8], [9, 10], [11, 12], [13, 14]]

BOUND = 'SELECT "Id", "Name", "Age" FROM "Users" WHERE "Name" = :value AND "Age" >= 21'
# What each driver is handed for the bound side: SQLite's qmark, psycopg2's pyformat.
DRIVER_BOUND = {
    "sqlite": 'SELECT "Id", "Name", "Age" FROM "Users" WHERE "Name" = ? AND "Age" >= 21',
    "postgresql": 'SELECT "Id", "Name", "Age" FROM "Users" WHERE "Name" = %(value)s AND "Age" >= 21',
}


def formatted(value: str) -> str:
    """The formatted side's SQL, written out here rather than imported: the test states what the lab must do."""
    return 'SELECT "Id", "Name", "Age" FROM "Users" WHERE "Name" = \'' + value + '\' AND "Age" >= 21'


def quoted(value: str) -> str:
    """A text value as psycopg2 quotes it into the statement (standard_conforming_strings: quotes doubled)."""
    return "'" + value.replace("'", "''") + "'"


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A real server: SQLite only, or PostgreSQL (the default engine) with SQLite beside it."""
    if request.param == "sqlite":
        with live_server(tmp_path_factory.mktemp("lab-sqlite"), workers=2) as running:
            yield running
        return
    postgres_url = request.getfixturevalue("postgres_url")
    prefix = f"lab{secrets.token_hex(3)}"
    with own_bookkeeping(postgres_url, prefix) as admin_url:
        env = {"PLAYGROUND_DATABASE_URL": admin_url, "PLAYGROUND_POSTGRES_PREFIX": prefix}
        with live_server(tmp_path_factory.mktemp("lab-postgresql"), workers=2, env=env) as running:
            yield running


@pytest.fixture
def engine(server: LiveServer) -> str:
    return "postgresql" if "lab-postgresql" in str(server.data_dir) else "sqlite"


@pytest.fixture
def client(server: LiveServer) -> HttpClient:
    """A new visitor (a sandbox of its own)."""
    return HttpClient(server.url).start()


def lab(client: HttpClient, engine: str, **body: Any) -> dict[str, Any]:
    reply = client.post_json("/api/lab", {"engine": engine, **body})
    assert reply.status == 200, reply.text
    # The lab counts "Users" before and after itself: the class sees nothing was kept.
    assert (reply.json["users_before"], reply.json["users_after"]) == (len(USERS), len(USERS))
    return reply.json  # type: ignore[no-any-return]


def assert_data_unchanged(client: HttpClient, engine: str) -> None:
    """Counted and read after the lab, through the ordinary API: the sample, row for row."""
    for sql, expected in (
        ('SELECT "Id", "Name", "Age" FROM "Users" ORDER BY "Id"', USERS),
        ("SELECT x, y FROM some_table ORDER BY x", SOME_TABLE),
    ):
        reply = client.post_json("/api/run", {"sql": sql, "engine": engine})
        assert reply.status == 200, reply.text
        assert reply.json["statements"][0]["rows"] == expected


def assert_bound_side(side: dict[str, Any], value: str, engine: str) -> None:
    """The bound side: the SQL with :value, the value beside it, and no row found (nobody has that name)."""
    assert side["status"] == "ok"
    assert side["sql"] == BOUND
    assert side["parameters"] == {"value": value}
    (statement,) = side["statements"]
    sent = statement["sent"]
    assert sent["statement"] == DRIVER_BOUND[engine]
    key = "1" if engine == "sqlite" else "value"
    assert sent["parameters"] == [[{"key": key, "name": "value", "value": value, "type": "str"}]]
    if engine == "sqlite":
        assert sent["received"] is None  # sqlite3 hands the statement and the values over apart
    else:
        # psycopg2 quoted the value into one finished text: the quote it doubled keeps it a value.
        assert sent["received"].endswith(f"FOR {DRIVER_BOUND['sqlite'].replace('?', quoted(value))}")


def assert_formatted_text(side: dict[str, Any], value: str) -> None:
    assert side["sql"] == formatted(value)
    assert side["parameters"] == {}


def test_or_true_returns_rows_nobody_asked_for(client: HttpClient, engine: str) -> None:
    value = "' OR '1'='1"
    body = lab(client, engine, preset="or-true")
    assert body["value"] == value and body["preset"] == "or-true" and body["rolled_back"] is True
    assert_bound_side(body["bound"], value, engine)
    assert body["bound"]["statements"][0]["rows"] == []
    side = body["formatted"]
    assert_formatted_text(side, value)
    assert side["status"] == "ok"
    # '' OR ('1'='1' AND "Age" >= 21): every user of 21 or over.
    assert side["statements"][0]["rows"] == [[2, "Василий", 26]]
    assert side["statements"][0]["sent"]["parameters"] == [[]]
    assert body["explanation"] == ["The formatted query returned 1 row instead of 0: the value became part of the SQL."]
    assert_data_unchanged(client, engine)


def test_union_reads_another_table(client: HttpClient, engine: str) -> None:
    value = "' UNION SELECT x, CAST(y AS TEXT), y FROM some_table --"
    body = lab(client, engine, preset="union")
    assert_bound_side(body["bound"], value, engine)
    assert body["bound"]["statements"][0]["rows"] == []
    side = body["formatted"]
    assert_formatted_text(side, value)
    assert sorted(side["statements"][0]["rows"]) == sorted([x, str(y), y] for x, y in SOME_TABLE)
    assert body["explanation"] == [
        "The formatted query returned 6 rows instead of 0: the value became part of the SQL."
    ]
    assert_data_unchanged(client, engine)


def test_stacked_delete_is_counted_and_never_done(client: HttpClient, engine: str) -> None:
    value = '\'; DELETE FROM "Users"; --'
    body = lab(client, engine, preset="stacked-delete")
    assert_bound_side(body["bound"], value, engine)
    side = body["formatted"]
    assert_formatted_text(side, value)
    select, delete = side["statements"]
    assert select["rows"] == [] and not select["wrote"]
    assert delete["wrote"] and delete["rows_changed"] == 2
    assert delete["sql"].lstrip().startswith('DELETE FROM "Users";')
    assert "token" not in side and "token" not in body  # nothing the visitor could ever commit
    assert body["explanation"] == [
        "The formatted SQL would delete 2 rows: the value added a DELETE of its own. It was rolled back, "
        "so nothing was deleted.",
        "The bound query only looked the value up as a name and returned 0 rows.",
    ]
    assert_data_unchanged(client, engine)


def test_comment_cuts_off_the_age_check(client: HttpClient, engine: str) -> None:
    value = "Петр' --"
    body = lab(client, engine, preset="comment")
    assert_bound_side(body["bound"], value, engine)
    assert body["bound"]["statements"][0]["rows"] == []
    side = body["formatted"]
    assert_formatted_text(side, value)
    assert side["statements"][0]["rows"] == [[1, "Петр", 20]]  # 20: the age check would have hidden him
    assert body["explanation"] == ["The formatted query returned 1 row instead of 0: the value became part of the SQL."]
    assert_data_unchanged(client, engine)


def test_an_apostrophe_breaks_only_the_formatted_side(client: HttpClient, engine: str) -> None:
    value = "O'Brien"
    body = lab(client, engine, preset="apostrophe")
    assert_bound_side(body["bound"], value, engine)
    assert body["bound"]["statements"][0]["rows"] == []
    side = body["formatted"]
    assert_formatted_text(side, value)
    assert side["status"] == "error" and "statements" not in side
    assert "never closed" in side["error"]["message"]
    # The literal left open is the lookup's own closing quote, after Brien: ' AND "Age" >= 21 never ends.
    assert side["error"]["position"]["column"] == formatted(value).index("' AND") + 1
    assert body["explanation"] == [
        "The formatted query failed, where the bound one returned 0 rows: the quote in the value ended the text "
        "literal early, and what followed was read as SQL."
    ]
    assert_data_unchanged(client, engine)


def test_a_plain_name_is_found_the_same_both_ways(client: HttpClient, engine: str) -> None:
    value = "Василий"
    body = lab(client, engine, preset="plain")
    assert_bound_side(body["bound"], value, engine)
    assert body["bound"]["statements"][0]["rows"] == [[2, "Василий", 26]]
    assert body["formatted"]["statements"][0]["rows"] == [[2, "Василий", 26]]
    assert body["explanation"] == [
        "Both queries returned the same 1 row: with no quote in it, the value stayed inside the formatted text literal."
    ]


def test_formatted_side_on_postgresql_is_received_as_typed(client: HttpClient, engine: str) -> None:
    """On PostgreSQL the formatted text reaches the server as it is: nothing quoted it (cursor.query says so)."""
    if engine != "postgresql":
        pytest.skip("psycopg2's cursor.query: PostgreSQL only")
    value = "' OR '1'='1"
    sent = lab(client, engine, value=value)["formatted"]["statements"][0]["sent"]
    assert sent["received"].endswith("FOR " + formatted(value))


def test_transaction_control_in_the_value_is_refused(client: HttpClient, engine: str) -> None:
    """A value that tries to COMMIT the lab's transaction meets the same statement check as the editor."""
    body = lab(client, engine, value='\'; DELETE FROM "Users"; COMMIT; --')
    assert body["formatted"]["status"] == "refused"
    assert "transaction control" in body["formatted"]["error"]["message"]
    assert body["explanation"][0].startswith("The sandbox refused the formatted SQL, where the bound query returned 0")
    assert_data_unchanged(client, engine)


def test_a_dropped_table_comes_back(client: HttpClient, engine: str) -> None:
    body = lab(client, engine, value="'; DROP TABLE some_table; --")
    assert body["formatted"]["status"] == "ok"
    assert body["explanation"][0] == (
        "The formatted SQL would run a DROP of its own: the value became a statement. It was rolled back, "
        "so nothing changed."
    )
    assert_data_unchanged(client, engine)


def test_bad_requests_are_400(client: HttpClient, engine: str) -> None:
    for body, message in (
        ({"preset": "nope"}, '"preset" must be one of'),
        ({"value": 3}, '"value" must be a string'),
        ({"value": "a\x00b"}, "NUL byte"),
        ({"value": "x", "engine": "oracle"}, "Unknown engine"),
    ):
        reply = client.post_json("/api/lab", {"engine": engine, **body})
        assert reply.status == 400, reply.text
        assert message in reply.json["error"]["message"]


# -- the page ---------------------------------------------------------------------------------------


def page(client: HttpClient, **args: str) -> BeautifulSoup:
    reply = client.request("GET", "/lab?" + urlencode(args))
    assert reply.status == 200, reply.text
    return BeautifulSoup(reply.text, "html.parser")


def text(soup: BeautifulSoup, selector: str) -> str:
    found = soup.select_one(selector)
    assert found is not None, selector
    return re.sub(r"\s+", " ", found.get_text(" ", strip=True))


@pytest.mark.parametrize(
    ("preset", "value"),
    [
        ("plain", "Василий"),
        ("or-true", "' OR '1'='1"),
        ("union", "' UNION SELECT x, CAST(y AS TEXT), y FROM some_table --"),
        ("stacked-delete", '\'; DELETE FROM "Users"; --'),
        ("comment", "Петр' --"),
        ("apostrophe", "O'Brien"),
    ],
)
def test_page_shows_both_sides_of_every_preset(client: HttpClient, engine: str, preset: str, value: str) -> None:
    soup = page(client, preset=preset, engine=engine)
    api = lab(client, engine, preset=preset)
    assert text(soup, "#explanation") == " ".join(api["explanation"])
    assert soup.select_one("#lab-value")["value"] == value  # type: ignore[index]
    assert text(soup, "#side-bound pre.side-sql") == BOUND
    assert text(soup, "#side-formatted pre.side-sql") == re.sub(r"\s+", " ", formatted(value))
    assert text(soup, "#side-bound table.side-params") == f"name value :value {value!r}"
    assert text(soup, "#side-formatted .no-params") == "None: the value is inside the SQL text."
    assert text(soup, "#side-bound pre.driver") == DRIVER_BOUND[engine]
    received = soup.select("#side-bound pre.received")
    if engine == "postgresql":
        assert quoted(value) in received[0].get_text()
    else:
        assert received == []
    assert "psycopg2 binds on the client" in text(soup, "#drivers")
    assert text(soup, "#unchanged") == 'Rows in "Users" before the lab ran: 2; after it: 2.'
    # The rows each side returned, as the tables show them.
    for kind in ("bound", "formatted"):
        shown = [
            [td.get_text(strip=True) for td in tr.select("td")]
            for tr in soup.select(f"#side-{kind} table.result tbody tr")
        ]
        side = api[kind]
        expected = [[str(v) for v in row] for s in side.get("statements", []) for row in s["rows"]]
        assert sorted(shown) == sorted(expected)
        assert bool(soup.select(f"#side-{kind} .side-error")) == (side["status"] != "ok")
    assert_data_unchanged(client, engine)


def test_the_editor_links_to_the_lab(client: HttpClient, engine: str) -> None:
    editor = BeautifulSoup(client.request("GET", f"/?engine={engine}").text, "html.parser")
    link = editor.select_one("#lab-link")
    assert link is not None and link["href"] == f"/lab?engine={engine}"
    # The "what the database received" panel links to it too.
    reply = client.request("POST", "/run", form={"csrf_token": client.csrf, "sql": "SELECT 1", "engine": engine})
    assert reply.status == 200
    result = BeautifulSoup(reply.text, "html.parser")
    assert result.select_one("details.sent .lab-link a")["href"] == "/lab"  # type: ignore[index]


def test_empty_lab_runs_nothing(client: HttpClient, engine: str) -> None:
    soup = page(client, engine=engine)
    assert soup.select_one("#lab-result") is None
    assert len(soup.select("ul.presets button[name=preset]")) == 6


def test_page_refuses_a_bad_value_clearly(client: HttpClient, engine: str) -> None:
    reply = client.request("GET", "/lab?" + urlencode({"value": "x" * 501, "engine": engine}))
    assert reply.status == 400
    assert "longer than" in text(BeautifulSoup(reply.text, "html.parser"), "#lab-error")


# -- in Russian ------------------------------------------------------------------------------------


def test_the_lab_in_russian_with_its_plurals(client: HttpClient, engine: str) -> None:
    """The switcher's choice holds for the lab's page and its API: every sentence Russian, each count agreeing."""
    switched = client.request("POST", "/language", form={"csrf_token": client.csrf, "language": "ru", "next": "/lab"})
    assert switched.status == 200  # the 303 followed: the lab, in Russian
    soup = BeautifulSoup(switched.text, "html.parser")
    assert soup.html["lang"] == "ru"  # type: ignore[index]
    assert text(soup, "#lab-title") == "Лаборатория инъекций: связанный параметр против форматирования"
    assert text(soup, "#preset-stacked-delete") == "DELETE после точки с запятой"
    said = {
        "or-true": "Форматированный запрос вернул 1 строку вместо 0: значение стало частью SQL.",
        "union": "Форматированный запрос вернул 6 строк вместо 0: значение стало частью SQL.",
        "stacked-delete": "Форматированный SQL удалил бы 2 строки: значение добавило собственный DELETE. "
        "Транзакция откатилась, так что ничего не удалено. "
        "Запрос со связанным параметром лишь искал это значение как имя и вернул 0 строк.",
    }
    for slug, sentences in said.items():
        soup = page(client, preset=slug, engine=engine)
        assert text(soup, "#explanation") == sentences
        assert " ".join(lab(client, engine, preset=slug)["explanation"]) == sentences
    # The database's own words and the SQL stay as they are; the lab's own words do not.
    assert text(soup, "#side-formatted pre.side-sql") == formatted('\'; DELETE FROM "Users"; --').replace("\n", " ")
    assert text(soup, "#side-formatted .no-params") == "Нет: значение находится внутри текста SQL."
    assert text(soup, "#unchanged") == 'Строк в "Users" до запуска лаборатории: 2; после: 2.'
    assert text(soup, "#drivers").startswith("В SQLite запрос и значения уходят в базу данных раздельно")
