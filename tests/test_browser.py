"""The editor in a real Chromium (Playwright), against `playground serve` on a free port.

Needs Debian's chromium (/usr/bin/chromium) and the playwright package (the `test` extra); no
browser download. Without them these tests skip with the reason, except under CI=true, where they fail.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from server_support import LiveServer, live_server

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
TIMEOUT_MS = 10_000
SELECT_Y = "SELECT x, y FROM some_table WHERE y > :y"
UPDATE_XY = "UPDATE some_table SET y=:y WHERE x=:x"


def _missing() -> str | None:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright package is not installed (pip install -e '.[test]')"
    if not CHROMIUM.exists():
        return f"{CHROMIUM} is missing (apt-get install chromium)"
    return None


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    missing = _missing()
    if missing:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true but the browser tests cannot run: {missing}")
        pytest.skip(missing)
    from playwright.sync_api import sync_playwright

    playwright = sync_playwright().start()
    try:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()
    finally:
        playwright.stop()


@pytest.fixture(scope="module")
def server(browser: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with live_server(tmp_path_factory.mktemp("browser-server"), workers=2) as running:
        yield running


def _open_page(browser: Any, server: LiveServer, **context_options: Any) -> Iterator[Any]:
    """A page in a context of its own (its own cookie, so its own sandbox); JS errors fail the test."""
    from playwright.sync_api import expect

    expect.set_options(timeout=TIMEOUT_MS)
    context = browser.new_context(base_url=server.url, **context_options)
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    try:
        yield page
    finally:
        context.close()
    assert errors == [], f"JavaScript errors on the page: {errors}"


@pytest.fixture
def page(browser: Any, server: LiveServer) -> Iterator[Any]:
    yield from _open_page(browser, server)


@pytest.fixture
def page_without_js(browser: Any, server: LiveServer) -> Iterator[Any]:
    yield from _open_page(browser, server, java_script_enabled=False)


# -- helpers --------------------------------------------------------------------------------------


def type_sql(page: Any, sql: str) -> None:
    """Replace the SQL the way a person does: select all in the editor, delete, then type key by key."""
    editor = page.locator("#sql-editor .cm-content")
    editor.click()
    page.keyboard.press("Control+A")
    page.keyboard.press("Delete")
    # The editor closes brackets and quotes as they open; a person types on over the closing ones.
    # Key by key takes a loaded machine a while: the action's timeout grows with the text, not a fixed 10 s.
    editor.press_sequentially(sql, timeout=TIMEOUT_MS + 100 * len(sql))
    page.keyboard.press("Escape")  # close the completion list, if one is open


def result_cells(page: Any, statement: int = 1) -> list[list[str]]:
    rows = page.locator(f"#statement-{statement} table.result tbody tr")
    return [[cell.strip() for cell in row.locator("td").all_inner_texts()] for row in rows.all()]


def api_rows(page: Any, sql: str) -> list[list[Any]]:
    """Read the visitor's sandbox through the JSON API with the page's own cookie and CSRF token."""
    token = page.locator('meta[name="csrf-token"]').get_attribute("content")
    response = page.request.post("/api/run", data={"sql": sql}, headers={"X-CSRFToken": token})
    assert response.status == 200, response.text()
    body = response.json()
    assert body["status"] == "ok"
    return body["statements"][-1]["rows"]


def wait_until(page: Any, condition: Callable[[], object], timeout_ms: int = TIMEOUT_MS) -> None:
    """Poll a condition on the test's side (Playwright delivers events while it waits), up to a deadline."""
    deadline = time.monotonic() + timeout_ms / 1000
    while not condition():
        assert time.monotonic() < deadline, "the condition did not become true in time"
        page.wait_for_timeout(20)


def mark_document(page: Any) -> None:
    """A flag that a page load would wipe: to prove that something happened without a round trip."""
    page.evaluate("window.__sameDocument = true")


def same_document(page: Any) -> bool:
    return bool(page.evaluate("window.__sameDocument === true"))


# -- the grid follows the SQL -----------------------------------------------------------------------


def test_typing_sql_makes_the_grid_follow_and_run_shows_the_rows(page: Any) -> None:
    from playwright.sync_api import expect

    page.goto("/")
    expect(page.locator("#grid-sync")).to_be_hidden()  # the no-JS button is not needed
    mark_document(page)
    type_sql(page, SELECT_Y)
    cell = page.get_by_label("y", exact=True)
    expect(cell).to_be_visible()
    assert same_document(page)
    expect(page.locator("#param-grid .param-name")).to_have_text([":y"])
    cell.fill("6")
    page.locator("#run-button").click()
    expect(page.locator("#statement-1 table.result tbody tr")).to_have_count(4)
    assert result_cells(page) == [["6", "8"], ["9", "10"], ["11", "12"], ["13", "14"]]
    expect(page.locator("#statement-1 pre.driver")).to_have_text("SELECT x, y FROM some_table WHERE y > ?")
    # The page after the run has the same grid, filled.
    expect(page.get_by_label("y", exact=True)).to_have_value("6")


def test_values_stay_with_their_parameter_as_the_sql_changes(page: Any) -> None:
    from playwright.sync_api import expect

    page.goto("/")
    mark_document(page)
    type_sql(page, "SELECT :a AS a, :b AS b")
    page.get_by_label("a", exact=True).fill("1")
    page.get_by_label("b", exact=True).fill("2")
    page.get_by_role("button", name="Add row").click()
    page.get_by_label("a (row 2)", exact=True).fill("3")
    page.get_by_label("b (row 2)", exact=True).fill("4")
    expect(page.locator("#grid-rows")).to_have_value("2")

    type_sql(page, "SELECT :b AS b")
    expect(page.get_by_label("a", exact=True)).to_have_count(0)
    expect(page.get_by_label("b", exact=True)).to_have_value("2")
    expect(page.get_by_label("b (row 2)", exact=True)).to_have_value("4")
    expect(page.locator('#param-grid input[name="col-0"]')).to_have_value("b")

    # :a comes back with its values; the order is the SQL's.
    type_sql(page, "SELECT :b AS b, :a AS a")
    expect(page.locator('#param-grid input[name="col-1"]')).to_have_value("a")
    expect(page.get_by_label("a", exact=True)).to_have_value("1")
    expect(page.get_by_label("a (row 2)", exact=True)).to_have_value("3")
    expect(page.locator("#cell-1-0")).to_have_value("4")

    # Remove row 1: row 2 moves up and takes the names of row 1.
    page.get_by_role("button", name="Remove row 1").click()
    expect(page.locator("#grid-rows")).to_have_value("1")
    expect(page.get_by_label("b", exact=True)).to_have_value("4")
    expect(page.get_by_label("a", exact=True)).to_have_value("3")
    expect(page.get_by_role("button", name=re.compile(r"Remove row"))).to_have_count(0)

    # SQL without parameters: no columns, the hint instead.
    type_sql(page, "SELECT 1")
    expect(page.locator("#no-params")).to_be_visible()
    assert same_document(page)


def test_sql_whose_parameters_cannot_be_read_says_why_and_keeps_the_grid(page: Any) -> None:
    from playwright.sync_api import expect

    page.goto("/")
    type_sql(page, "SELECT :y")
    page.get_by_label("y", exact=True).fill("5")
    type_sql(page, "SELECT :y, ?")
    expect(page.locator("#grid-message")).to_contain_text("write parameters as :name")
    expect(page.get_by_label("y", exact=True)).to_have_value("5")
    type_sql(page, "SELECT :y, :z")
    expect(page.get_by_label("z", exact=True)).to_be_visible()
    expect(page.locator("#grid-message")).to_be_empty()


def test_enter_in_a_cell_runs(page: Any) -> None:
    from playwright.sync_api import expect

    page.goto("/")
    type_sql(page, SELECT_Y)
    cell = page.get_by_label("y", exact=True)
    cell.fill("12")
    cell.press("Enter")
    expect(page.locator("#statement-1 table.result tbody tr")).to_have_count(1)
    assert result_cells(page) == [["13", "14"]]


# -- writes: preview, commit once ----------------------------------------------------------------


def fill_the_tutorials_two_rows(page: Any) -> None:
    """The tutorial's [{"x": 9, "y": 11}, {"x": 13, "y": 15}], typed into the grid."""
    page.get_by_label("y", exact=True).fill("11")
    page.get_by_label("x", exact=True).fill("9")
    page.get_by_role("button", name="Add row").click()
    page.get_by_label("y (row 2)", exact=True).fill("15")
    page.get_by_label("x (row 2)", exact=True).fill("13")


def test_update_with_two_rows_previews_then_commits(page: Any) -> None:
    from playwright.sync_api import expect

    page.goto("/")
    type_sql(page, UPDATE_XY)
    fill_the_tutorials_two_rows(page)
    page.locator("#run-button").click()

    expect(page.locator("#preview-rowcount")).to_have_text("2 rows")
    expect(page.locator("table.sent-params caption")).to_have_text("executemany with 2 parameter sets")
    assert api_rows(page, "SELECT y FROM some_table WHERE x IN (9, 13) ORDER BY x") == [[10], [14]]

    page.locator("#commit-button").click()
    expect(page.locator(".committed")).to_contain_text("Committed")
    expect(page.locator("#committed-rowcount")).to_have_text("2 rows")
    assert api_rows(page, "SELECT x, y FROM some_table ORDER BY x") == [
        [1, 1],
        [2, 4],
        [6, 8],
        [9, 11],
        [11, 12],
        [13, 15],
    ]


def test_a_double_click_or_a_resend_of_commit_applies_once(page: Any) -> None:
    from playwright.sync_api import expect

    page.goto("/")
    page.get_by_role("link", name="Lesson 1: insert the users").click()
    # The lesson's two dictionaries, as two grid rows.
    expect(page.get_by_label("Name", exact=True)).to_have_value("Петр")
    expect(page.get_by_label("Age", exact=True)).to_have_value("20")
    expect(page.get_by_label("Name (row 2)", exact=True)).to_have_value("Василий")
    expect(page.get_by_label("Age (row 2)", exact=True)).to_have_value("26")
    page.locator("#run-button").click()
    expect(page.locator("#preview-rowcount")).to_have_text("2 rows")

    page.locator("#commit-button").dblclick()
    expect(page.locator(".committed")).to_contain_text("Committed")
    expect(page.locator("#error")).to_have_count(0)
    users = 'SELECT "Name", "Age" FROM "Users" ORDER BY "Id"'
    lesson = [["Петр", 20], ["Василий", 26]]
    assert api_rows(page, users) == lesson + lesson

    # Reload shows the commit's page again (Post/Redirect/Get): nothing is sent or applied twice.
    response = page.reload()
    assert response is not None and response.status == 200
    expect(page.locator("#committed-rowcount")).to_have_text("2 rows")
    expect(page.locator("#sql")).to_have_value('INSERT INTO "Users" ("Name", "Age") VALUES(:Name, :Age)')
    assert api_rows(page, users) == lesson + lesson


def test_commit_is_sent_once_when_clicked_again_while_the_server_is_slow(page: Any) -> None:
    from playwright.sync_api import expect

    page.goto("/")
    page.get_by_role("link", name="Lesson 1: insert the users").click()
    page.get_by_label("Name", exact=True).fill("Медленный")
    page.get_by_role("button", name="Remove row 2").click()
    page.locator("#run-button").click()
    expect(page.locator("#preview-rowcount")).to_have_text("1 row")

    held: list[Any] = []  # the commit requests, held back as a slow server would
    sent: list[str] = []  # every commit request the page sent, held or not
    page.on("request", lambda request: sent.append(request.method) if request.url.endswith("/commit") else None)
    page.route("**/commit", lambda route: held.append(route))
    box = page.locator("#commit-button").bounding_box()
    assert box is not None
    for _ in range(3):  # impatient clicks while nothing comes back, with no pause between them
        page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    wait_until(page, lambda: held)  # the first request reached the "server" (the page waits for its answer)
    held[0].continue_()
    expect(page.locator(".committed")).to_contain_text("Committed")
    # Every request the clicks started was reported before the page they led to: one, not three.
    assert sent == ["POST"] and len(held) == 1
    page.unroute("**/commit")
    assert [r[0] for r in api_rows(page, 'SELECT "Name" FROM "Users" ORDER BY "Id"')] == [
        "Петр",
        "Василий",
        "Медленный",
    ]


# -- and without JavaScript ---------------------------------------------------------------------


def test_without_javascript_the_server_does_what_the_script_would(page_without_js: Any) -> None:
    from playwright.sync_api import expect

    page = page_without_js
    page.goto("/")
    page.locator("#sql").fill(UPDATE_XY)
    page.get_by_role("button", name="Update the grid from the SQL").click()
    fill_the_tutorials_two_rows(page)
    page.locator("#run-button").click()
    expect(page.locator("#preview-rowcount")).to_have_text("2 rows")
    page.locator("#commit-button").click()
    expect(page.locator("#committed-rowcount")).to_have_text("2 rows")
    page.locator("#sql").fill("SELECT x, y FROM some_table WHERE x IN (9, 13) ORDER BY x")
    page.get_by_role("button", name="Update the grid from the SQL").click()
    page.locator("#run-button").click()
    expect(page.locator("#statement-1 table.result tbody tr")).to_have_count(2)
    assert result_cells(page) == [["9", "11"], ["13", "15"]]
