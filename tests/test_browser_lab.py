"""The injection lab in a real Chromium, as a class uses it: opened from the editor, every preset run and read.

On an SQLite server and on a PostgreSQL-backed one (`playground serve`). After all the presets the
visitor's data is read back unchanged, through the editor's own API. Screenshots of the lab are
saved under tests/artifacts/ (not committed).
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import test_browser
from pg_support import own_bookkeeping
from server_support import LiveServer, live_server
from test_browser import _open_page, api_rows

ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
browser = test_browser.browser  # one module-scoped Chromium

USERS = [[1, "Петр", 20], [2, "Василий", 26]]
SOME_TABLE = [[1, 1], [2, 4], [6, 8], [9, 10], [11, 12], [13, 14]]
BOUND = 'SELECT "Id", "Name", "Age" FROM "Users" WHERE "Name" = :value AND "Age" >= 21'

# Each preset: its value, the rows the formatted side shows (None: an error), and what the explanation says.
PRESETS = {
    "plain": ("Василий", [["2", "Василий", "26"]], "Both queries returned the same 1 row"),
    "or-true": ("' OR '1'='1", [["2", "Василий", "26"]], "returned 1 row instead of 0"),
    "union": (
        "' UNION SELECT x, CAST(y AS TEXT), y FROM some_table --",
        sorted([str(x), str(y), str(y)] for x, y in SOME_TABLE),
        "returned 6 rows instead of 0",
    ),
    "stacked-delete": ('\'; DELETE FROM "Users"; --', [], "would delete 2 rows"),
    "comment": ("Петр' --", [["1", "Петр", "20"]], "returned 1 row instead of 0"),
    "apostrophe": ("O'Brien", None, "The formatted query failed"),
}


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def server(
    request: pytest.FixtureRequest, browser: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    """A real server: SQLite only, or PostgreSQL (the default engine) with SQLite beside it."""
    if request.param == "sqlite":
        with live_server(tmp_path_factory.mktemp("lab-browser-sqlite"), workers=2) as running:
            yield running
        return
    postgres_url = request.getfixturevalue("postgres_url")
    prefix = f"bl{secrets.token_hex(3)}"
    with own_bookkeeping(postgres_url, prefix) as admin_url:
        env = {"PLAYGROUND_DATABASE_URL": admin_url, "PLAYGROUND_POSTGRES_PREFIX": prefix}
        with live_server(tmp_path_factory.mktemp("lab-browser-postgresql"), workers=2, env=env) as running:
            yield running


@pytest.fixture
def engine(server: LiveServer) -> str:
    return "postgresql" if "lab-browser-postgresql" in str(server.data_dir) else "sqlite"


@pytest.fixture
def page(browser: Any, server: LiveServer) -> Iterator[Any]:
    yield from _open_page(browser, server, viewport={"width": 1280, "height": 900})


def screenshot(page: Any, name: str, engine: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}-{engine}.png"), full_page=True)


def squeezed(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def side_rows(page: Any, kind: str) -> list[list[str]]:
    rows = page.locator(f"#side-{kind} table.result tbody tr")
    return [[cell.strip() for cell in row.locator("td").all_inner_texts()] for row in rows.all()]


def test_every_preset_from_the_editor_leaves_the_data_as_it_was(page: Any, engine: str) -> None:
    from playwright.sync_api import expect

    page.goto("/")
    page.locator("#lab-link").click()
    expect(page.locator("#lab-title")).to_be_visible()
    assert page.url.endswith(f"/lab?engine={engine}")
    for slug, (value, formatted_rows, said) in PRESETS.items():
        page.locator(f"#preset-{slug}").click()
        expect(page.locator("#explanation")).to_contain_text(said)
        expect(page.locator("#lab-value")).to_have_value(value)
        # The bound side: the same SQL every time, the value beside it, nobody found but Василий.
        expect(page.locator("#side-bound pre.side-sql")).to_have_text(BOUND)
        expect(page.locator("#side-bound table.side-params td").nth(1)).to_have_text(repr(value))
        assert side_rows(page, "bound") == ([["2", "Василий", "26"]] if slug == "plain" else [])
        # The formatted side: the value inside the SQL text, no parameters.
        formatted_sql = page.locator("#side-formatted pre.side-sql").inner_text()
        assert f"\"Name\" = '{value}' AND" in formatted_sql
        expect(page.locator("#side-formatted .no-params")).to_be_visible()
        if formatted_rows is None:
            expect(page.locator("#side-formatted .side-error")).to_contain_text("never closed")
        else:
            assert sorted(side_rows(page, "formatted")) == formatted_rows
        if slug == "stacked-delete":
            expect(page.locator("#formatted-statement-2 .would-write")).to_contain_text(
                'This DELETE removes 2 rows from "Users".'
            )
        # What each driver did with the bound value.
        received = page.locator("#side-bound pre.received")
        if engine == "postgresql":
            quoted = "'" + value.replace("'", "''") + "'"
            expect(received).to_contain_text(quoted)
        else:
            expect(received).to_have_count(0)
            expect(page.locator("#side-bound pre.driver")).to_contain_text('"Name" = ? AND')
        if slug == "stacked-delete":
            screenshot(page, "lab-en", engine)
    # Nothing any preset did stayed: the sample, row for row.
    assert api_rows(page, 'SELECT "Id", "Name", "Age" FROM "Users" ORDER BY "Id"') == USERS
    assert api_rows(page, "SELECT x, y FROM some_table ORDER BY x") == SOME_TABLE


def test_a_typed_value_and_the_engine_selector(page: Any, engine: str) -> None:
    """What a student types runs both ways too, on the engine chosen (both, on the PostgreSQL-backed server)."""
    from playwright.sync_api import expect

    page.goto("/lab")
    page.locator("#lab-value").fill("Петр")
    other = "sqlite" if engine == "postgresql" else None
    if other:
        page.locator("#lab-engine").select_option(other)
    page.locator("#lab-run").click()
    expect(page.locator("#explanation")).to_contain_text("Both queries returned the same 0 rows")
    expect(page.locator("#lab-result-title")).to_contain_text("SQLite" if other or engine == "sqlite" else "PostgreSQL")
    assert squeezed(page.locator("#drivers").inner_text()).startswith("On SQLite the statement and its values")


def test_the_lab_works_without_javascript(browser: Any, server: LiveServer) -> None:
    from playwright.sync_api import expect

    for page in _open_page(browser, server, java_script_enabled=False):
        page.goto("/")
        page.locator("#lab-link").click()
        page.locator("#preset-or-true").click()
        expect(page.locator("#explanation")).to_contain_text("returned 1 row instead of 0")


def test_a_russian_browser_gets_the_lab_in_russian_and_can_switch(
    browser: Any, server: LiveServer, engine: str
) -> None:
    """Accept-Language ru: the editor's link, the presets and the explanation in Russian, counts agreeing."""
    from playwright.sync_api import expect

    for page in _open_page(browser, server, locale="ru-RU", viewport={"width": 1280, "height": 900}):
        page.goto("/")
        expect(page.locator("html")).to_have_attribute("lang", "ru")
        page.locator("#lab-link").click()
        expect(page.locator("#lab-title")).to_have_text(
            "Лаборатория инъекций: связанный параметр против форматирования"
        )
        page.locator("#preset-stacked-delete").click()
        expect(page.locator("#explanation")).to_contain_text("Форматированный SQL удалил бы 2 строки")
        expect(page.locator("#explanation")).to_contain_text("вернул 0 строк")
        expect(page.locator("#side-formatted .no-params")).to_have_text("Нет: значение находится внутри текста SQL.")
        expect(page.locator("#unchanged")).to_have_text('Строк в "Users" до запуска лаборатории: 2; после: 2.')
        screenshot(page, "lab-ru", engine)
        page.locator("#preset-or-true").click()
        expect(page.locator("#explanation")).to_have_text(
            "Форматированный запрос вернул 1 строку вместо 0: значение стало частью SQL."
        )
        # The switcher brings the same lab back in English.
        page.locator("#language-en").click()
        expect(page.locator("html")).to_have_attribute("lang", "en")
        expect(page.locator("#explanation")).to_have_text(
            "The formatted query returned 1 row instead of 0: the value became part of the SQL."
        )
        assert api_rows(page, 'SELECT "Id", "Name", "Age" FROM "Users" ORDER BY "Id"') == USERS
