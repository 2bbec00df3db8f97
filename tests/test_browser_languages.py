"""The interface in Russian and English, in a real Chromium against `playground serve`.

A Russian browser (locale ru-RU, so Accept-Language ru-RU) gets Russian on its first page; an
English one switches with the switcher (with and without JavaScript) and sees the buttons, the
examples, a preview and a commit in Russian, with Russian plurals, and back. Screenshots of the
editor in both languages are saved under tests/artifacts/.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import test_browser
from server_support import LiveServer, live_server
from test_browser import _open_page, type_sql

ARTIFACTS = Path(__file__).resolve().parent / "artifacts"

browser = test_browser.browser  # the same module-scoped Chromium fixture (one browser per module)


@pytest.fixture(scope="module")
def server(browser: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with live_server(tmp_path_factory.mktemp("languages-server"), workers=2) as running:
        yield running


@pytest.fixture
def page(browser: Any, server: LiveServer) -> Iterator[Any]:
    yield from _open_page(browser, server, locale="en-US", viewport={"width": 1280, "height": 900})


@pytest.fixture
def russian_page(browser: Any, server: LiveServer) -> Iterator[Any]:
    yield from _open_page(browser, server, locale="ru-RU", viewport={"width": 1280, "height": 900})


@pytest.fixture
def page_without_js(browser: Any, server: LiveServer) -> Iterator[Any]:
    yield from _open_page(browser, server, locale="en-US", java_script_enabled=False)


def screenshot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def test_a_russian_browser_gets_russian_on_its_first_page(russian_page: Any) -> None:
    from playwright.sync_api import expect

    page = russian_page
    page.goto("/")
    expect(page.locator("html")).to_have_attribute("lang", "ru")
    expect(page.locator("#run-button")).to_have_text("Выполнить")
    expect(page.locator("#explain-button")).to_have_text("План")
    expect(page.locator("#param-grid legend")).to_have_text("Параметры")
    expect(page.locator(".examples a").first).to_have_text("Урок 1: читаем пользователей")
    expect(page.locator("#schema-title")).to_have_text("Ваши таблицы на SQLite")
    # The schema panel counts rows in Russian: six rows of some_table are "6 строк".
    expect(page.locator("details.table", has_text="some_table").locator(".row-count")).to_have_text("6 строк")
    type_sql(page, "SELECT x FROM some_table WHERE y > :y")
    # grid.js builds the grid's column in the page with the template's Russian words.
    expect(page.locator('select[name="type-0"]')).to_have_attribute("aria-label", "Тип параметра y")
    expect(page.locator("#add-row-button")).to_have_text("Добавить строку")
    page.get_by_label("y", exact=True).fill("6")
    screenshot(page, "editor-ru")
    page.locator("#run-button").click()
    expect(page.locator("#statement-1 .count")).to_have_text("возвращены 4 строки")
    expect(page.locator("#statement-1 table.result tbody tr")).to_have_count(4)


def test_switching_to_russian_shows_buttons_examples_a_preview_and_a_commit_in_russian(page: Any) -> None:
    from playwright.sync_api import expect

    page.goto("/")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.locator("#run-button")).to_have_text("Run")
    screenshot(page, "editor-en")
    page.locator("#language-ru").click()
    expect(page.locator("html")).to_have_attribute("lang", "ru")
    expect(page.locator("#run-button")).to_have_text("Выполнить")
    expect(page.locator("#language-ru")).to_be_disabled()
    # An example in Russian: its title, its explanation, the grid it brings.
    page.get_by_role("link", name="Урок 2: UPDATE, две строки (executemany)").click()
    expect(page.locator("#example-title")).to_have_text("Урок 2: UPDATE, две строки (executemany)")
    expect(page.locator("#example-note")).to_contain_text("это executemany")
    page.locator("#run-button").click()
    expect(page.locator(".preview-count")).to_contain_text("Предпросмотр: это изменит")
    expect(page.locator("#preview-rowcount")).to_have_text("2 строки")
    expect(page.locator("#statement-1 .plain")).to_have_text("Этот UPDATE изменяет 2 строки в some_table.")
    expect(page.locator("#statement-1 .per-row li").first).to_have_text("Строка параметров 1 изменяет 1 строку.")
    expect(page.locator("#commit-button")).to_have_text("Зафиксировать")
    screenshot(page, "preview-ru")
    page.locator("#commit-button").click()
    expect(page.locator(".committed")).to_contain_text("Зафиксировано: изменены")
    expect(page.locator("#committed-rowcount")).to_have_text("2 строки")
    # Back to English on the same page: the kept page says the same, in English.
    page.locator("#language-en").click()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.locator(".committed")).to_contain_text("Committed:")
    expect(page.locator("#committed-rowcount")).to_have_text("2 rows")


def test_an_error_is_in_russian_but_the_databases_own_words_are_not(page: Any) -> None:
    from playwright.sync_api import expect

    page.goto("/")
    page.locator("#language-ru").click()
    type_sql(page, "SELECT * FROM no_such_table")
    page.locator("#run-button").click()
    message = page.locator("#error .error-message")
    expect(message).to_have_text("Оператор 1 (SELECT) завершился ошибкой: no such table: no_such_table.")
    expect(page.locator("#error .error-where")).to_have_text("Строка 1, позиция 15:")


def test_the_switcher_works_without_javascript(page_without_js: Any) -> None:
    from playwright.sync_api import expect

    page = page_without_js
    page.goto("/history")
    expect(page.locator("#history-title")).to_have_text("Your last runs")
    page.locator("#language-ru").click()
    expect(page).to_have_url(re.compile(r"/history$"))
    expect(page.locator("#history-title")).to_have_text("Ваши последние запуски")
    page.goto("/")
    expect(page.locator("#run-button")).to_have_text("Выполнить")
