"""A student's first ten minutes, in a real Chromium: one click runs once, Reset asks and resets the engine
shown, Back and reload after an action, Run on a grid that has not caught up, several grid rows on a query,
and a page that fits a phone, a laptop beside the sidebar, and a projector.

Two servers: the SQLite-only one most tests use, and one with PostgreSQL configured (the default engine
then, SQLite beside it) and a short time limit, for the engine selector and the time limit.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import Any

import pytest
import test_browser
from pg_support import own_bookkeeping
from server_support import LiveServer, live_server
from test_browser import _open_page, api_rows, mark_document, result_cells, same_document, type_sql

browser = test_browser.browser  # the same module-scoped Chromium fixture (one browser per module)
INSERT_USER = 'INSERT INTO "Users" ("Name", "Age") VALUES(:Name, :Age)'
SELECT_Y = "SELECT x, y FROM some_table WHERE y > :y"
USERS = 'SELECT "Name", "Age" FROM "Users" ORDER BY "Id"'
SAMPLE_USERS = [["Петр", 20], ["Василий", 26]]
RUNAWAY = {
    "sqlite": "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n+1 FROM r) SELECT count(*) FROM r",
    "postgresql": "SELECT pg_sleep(30)",
}


@pytest.fixture(scope="module")
def server(browser: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with live_server(tmp_path_factory.mktemp("flow-server"), workers=2) as running:
        yield running


@pytest.fixture(scope="module")
def pg_server(browser: Any, postgres_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A server as a school with PostgreSQL runs it: PostgreSQL by default, SQLite beside it; a 1.5 s time limit.

    Its bookkeeping is a database of its own, so that the sandbox count is this server's alone.
    """
    prefix = f"tb{secrets.token_hex(3)}"
    with own_bookkeeping(postgres_url, prefix) as admin_url:
        env = {
            "PLAYGROUND_DATABASE_URL": admin_url,
            "PLAYGROUND_POSTGRES_PREFIX": prefix,
            "PLAYGROUND_TIME_LIMIT_MS": "1500",
        }
        with live_server(tmp_path_factory.mktemp("flow-pg-server"), workers=2, env=env) as running:
            yield running


@pytest.fixture
def page(browser: Any, server: LiveServer) -> Iterator[Any]:
    yield from _open_page(browser, server)


@pytest.fixture
def page_without_js(browser: Any, server: LiveServer) -> Iterator[Any]:
    yield from _open_page(browser, server, java_script_enabled=False)


@pytest.fixture
def pg_page(browser: Any, pg_server: LiveServer) -> Iterator[Any]:
    yield from _open_page(browser, pg_server)


@pytest.fixture
def pg_page_without_js(browser: Any, pg_server: LiveServer) -> Iterator[Any]:
    yield from _open_page(browser, pg_server, java_script_enabled=False)


def set_sql(page: Any, sql: str) -> None:
    """Put SQL in the editor at once, as a paste does: in CodeMirror with JavaScript, in the textarea without."""
    if page.locator("#sql").is_visible():
        page.locator("#sql").fill(sql)
        return
    page.evaluate(
        """(sql) => {
            const textarea = document.getElementById("sql");
            textarea.value = sql;
            textarea.dispatchEvent(new Event("playground:replace"));
        }""",
        sql,
    )


def rows_on(page: Any, sql: str, engine: str) -> list[list[Any]]:
    """Read the visitor's sandbox on one engine through the JSON API, with the page's cookie and CSRF token."""
    token = page.locator('meta[name="csrf-token"]').get_attribute("content")
    response = page.request.post("/api/run", data={"sql": sql, "engine": engine}, headers={"X-CSRFToken": token})
    assert response.status == 200, response.text()
    return response.json()["statements"][-1]["rows"]


def run_from_the_keyboard(page: Any) -> None:
    page.locator("#sql-editor .cm-content").press("Control+Enter")


def commit_lesson_1_insert(page: Any, engine: str) -> None:
    """The lesson's two-row insert, previewed and committed through the page on this engine."""
    from playwright.sync_api import expect

    page.locator("#engine").select_option(engine)
    # The Examples menu keeps the engine the selector shows.
    page.get_by_role("link", name="Lesson 1: insert the users").click()
    expect(page.locator("#engine")).to_have_value(engine)
    page.locator("#run-button").click()
    expect(page.locator("#preview-rowcount")).to_have_text("2 rows")
    page.locator("#commit-button").click()
    expect(page.locator("#committed-rowcount")).to_have_text("2 rows")


# -- 1. a time limit is answered with a status browsers do not resend ---------------------------------


@pytest.mark.parametrize("engine", ["sqlite", "postgresql"])
def test_a_runaway_query_clicked_once_runs_once(pg_page: Any, pg_server: LiveServer, engine: str) -> None:
    from playwright.sync_api import expect

    page = pg_page
    page.goto("/")
    page.locator("#engine").select_option(engine)
    set_sql(page, RUNAWAY[engine])
    before = pg_server.requests("POST", "/run")
    page.locator("#run-button").click()
    expect(page.locator("#error")).to_contain_text("time limit (1,500 ms)")
    # Chromium silently sends a POST answered with 408 again; the run must have been sent once.
    assert pg_server.requests("POST", "/run") == before + 1
    assert "time limit" in page.locator("#error").inner_text()


# -- 3. Reset: the engine the selector shows, asked first, the editor kept ----------------------------------


def test_reset_asks_and_resets_the_engine_the_selector_shows_keeping_the_editor(
    pg_page: Any, pg_server: LiveServer
) -> None:
    from playwright.sync_api import expect

    page = pg_page
    page.goto("/")
    expect(page.locator("#engine")).to_have_value("postgresql")
    commit_lesson_1_insert(page, "postgresql")
    set_sql(page, 'DELETE FROM "Users" WHERE "Id" = 1')
    page.locator("#run-button").click()
    page.locator("#commit-button").click()
    expect(page.locator("#committed-rowcount")).to_have_text("1 row")
    commit_lesson_1_insert(page, "sqlite")
    on_postgresql = [["Василий", 26], *SAMPLE_USERS]
    assert rows_on(page, USERS, "sqlite") == SAMPLE_USERS * 2
    assert rows_on(page, USERS, "postgresql") == on_postgresql

    # Back on PostgreSQL's page, switch the selector to SQLite without running, and press Reset.
    page.locator("#engine").select_option("postgresql")
    page.locator("#engine").select_option("sqlite")
    type_sql(page, "SELECT x FROM some_table WHERE y > :y")
    page.get_by_label("y", exact=True).fill("7")

    # Cancelled: nothing is sent, nothing reset.
    resets = pg_server.requests("POST", "/reset")
    mark_document(page)
    page.once("dialog", lambda dialog: dialog.dismiss())
    page.locator("#reset-button").click()
    assert same_document(page) and pg_server.requests("POST", "/reset") == resets

    questions: list[str] = []
    page.once("dialog", lambda dialog: (questions.append(dialog.message), dialog.accept()))
    page.locator("#reset-button").click()
    expect(page.locator("#notice")).to_have_text("Your SQLite sandbox was reset to the sample data.")
    assert "Reset your SQLite sandbox" in questions[0]
    expect(page.locator("#engine")).to_have_value("sqlite")
    expect(page.locator("#sql")).to_have_value("SELECT x FROM some_table WHERE y > :y")
    expect(page.get_by_label("y", exact=True)).to_have_value("7")
    assert rows_on(page, USERS, "sqlite") == SAMPLE_USERS
    assert rows_on(page, USERS, "postgresql") == on_postgresql


def test_without_javascript_reset_asks_on_a_page_of_its_own(pg_page_without_js: Any) -> None:
    from playwright.sync_api import expect

    page = pg_page_without_js
    page.goto("/")
    page.locator("#engine").select_option("sqlite")
    page.locator("#sql").fill("DELETE FROM some_table")
    page.locator("#run-button").click()
    page.locator("#commit-button").click()
    expect(page.locator("#committed-rowcount")).to_have_text("6 rows")
    page.locator("#sql").fill("SELECT count(*) AS n FROM some_table")

    page.locator("#reset-button").click()
    question = page.locator("#reset-confirm")
    expect(question).to_contain_text("Reset your SQLite sandbox to the sample data?")
    expect(page.locator("#sql")).to_have_value("SELECT count(*) AS n FROM some_table")
    page.locator("#reset-cancel").click()
    expect(page.locator("#reset-confirm")).to_have_count(0)
    expect(page.locator("#sql")).to_have_value("SELECT count(*) AS n FROM some_table")
    assert rows_on(page, "SELECT count(*) FROM some_table", "sqlite") == [[0]]

    page.locator("#reset-button").click()
    page.get_by_role("button", name="Reset the SQLite sandbox").click()
    expect(page.locator("#notice")).to_have_text("Your SQLite sandbox was reset to the sample data.")
    expect(page.locator("#engine")).to_have_value("sqlite")
    expect(page.locator("#sql")).to_have_value("SELECT count(*) AS n FROM some_table")
    assert rows_on(page, "SELECT count(*) FROM some_table", "sqlite") == [[6]]


# -- 4. Post/Redirect/Get: reload and Back after Run, Commit, Discard -------------------------------------


def test_reload_and_back_after_run_and_commit_never_send_anything_again(page: Any, server: LiveServer) -> None:
    from playwright.sync_api import expect

    page.goto("/")
    page.get_by_role("link", name="Lesson 1: insert the users").click()
    page.locator("#run-button").click()
    expect(page.locator("#preview-rowcount")).to_have_text("2 rows")
    preview_url = page.url
    assert "/editor/" in preview_url
    runs, commits = server.requests("POST", "/run"), server.requests("POST", "/commit")

    response = page.reload()  # the preview again, from the bookkeeping: nothing runs
    assert response is not None and response.status == 200
    expect(page.locator("#preview-rowcount")).to_have_text("2 rows")
    assert server.requests("POST", "/run") == runs

    page.locator("#commit-button").click()
    expect(page.locator("#committed-rowcount")).to_have_text("2 rows")
    assert page.url != preview_url and "/editor/" in page.url
    response = page.reload()
    assert response is not None and response.status == 200
    expect(page.locator("#committed-rowcount")).to_have_text("2 rows")
    assert server.requests("POST", "/commit") == commits + 1
    assert api_rows(page, USERS) == SAMPLE_USERS * 2

    # Back: the preview's page, which now says what became of it, in a working editor.
    response = page.go_back()
    assert page.url == preview_url
    expect(page.locator("#decided")).to_have_text("This preview was committed.")
    expect(page.locator("#commit-button")).to_have_count(0)
    expect(page.locator("#sql")).to_have_value(INSERT_USER)
    set_sql(page, USERS)
    page.locator("#run-button").click()
    expect(page.locator("#statement-1 table.result tbody tr")).to_have_count(4)
    assert result_cells(page) == [["Петр", "20"], ["Василий", "26"]] * 2
    assert server.requests("POST", "/commit") == commits + 1


def test_reload_after_discard_and_after_an_error_runs_nothing(page: Any, server: LiveServer) -> None:
    from playwright.sync_api import expect

    page.goto("/")
    type_sql(page, "DELETE FROM some_table WHERE y > :y")
    page.get_by_label("y", exact=True).fill("5")
    page.locator("#run-button").click()
    page.locator("#discard-button").click()
    expect(page.locator("#notice")).to_have_text("Discarded: nothing was changed.")
    posts = server.requests("POST", "/discard")
    page.reload()
    expect(page.locator("#notice")).to_have_text("Discarded: nothing was changed.")
    expect(page.get_by_label("y", exact=True)).to_have_value("5")
    assert server.requests("POST", "/discard") == posts

    set_sql(page, "SELECT * FROM no_such_table")
    page.locator("#run-button").click()
    expect(page.locator("#error")).to_contain_text("no such table")
    runs = server.requests("POST", "/run")
    response = page.reload()
    assert response is not None and response.status == 400
    expect(page.locator("#error")).to_contain_text("no such table")
    assert server.requests("POST", "/run") == runs


# -- 5. Run right after typing: the SQL as submitted decides the grid -----------------------------------


@pytest.mark.parametrize("how", ["Run", "Ctrl+Enter"])
def test_run_right_after_typing_uses_the_parameters_of_the_sql_as_submitted(page: Any, how: str) -> None:
    from playwright.sync_api import expect

    page.goto("/")
    type_sql(page, "SELECT x, y FROM some_table WHERE x > :x AND y > :y ORDER BY x")
    page.get_by_label("x", exact=True).fill("1")
    page.get_by_label("y", exact=True).fill("6")
    # The grid's update cannot catch up (as when Run is pressed at once): its requests are held.
    held: list[Any] = []
    page.route("**/api/parameters", lambda route: held.append(route))
    set_sql(page, "SELECT x, y FROM some_table WHERE y > :y ORDER BY x")
    if how == "Run":
        page.locator("#run-button").click()
    else:
        run_from_the_keyboard(page)
    expect(page.locator("#statement-1 table.result tbody tr")).to_have_count(4)
    assert result_cells(page) == [["6", "8"], ["9", "10"], ["11", "12"], ["13", "14"]]
    expect(page.locator("#param-grid .param-name")).to_have_text([":y"])
    page.unroute("**/api/parameters")

    # :x was kept aside with its value, and comes back with the parameter.
    type_sql(page, "SELECT x, y FROM some_table WHERE x > :x AND y > :y ORDER BY x")
    expect(page.get_by_label("x", exact=True)).to_have_value("1")
    expect(page.get_by_label("y", exact=True)).to_have_value("6")


def test_run_adds_the_columns_the_grid_lacks_and_says_so(page: Any) -> None:
    from playwright.sync_api import expect

    page.goto("/")
    page.route("**/api/parameters", lambda route: route.abort())  # the grid never catches up
    set_sql(page, SELECT_Y)
    page.locator("#run-button").click()
    expect(page.locator("#error")).to_contain_text("The SQL needs values for :y: fill in the grid and run again.")
    expect(page.get_by_label("y", exact=True)).to_have_value("")


# -- 6. several grid rows on a query: once per row, each result under its values ---------------------------


def test_after_the_two_row_update_the_lessons_select_runs_once_per_row(page: Any) -> None:
    from playwright.sync_api import expect

    page.goto("/")
    page.get_by_role("link", name="Lesson 2: UPDATE, two rows (executemany)").click()
    page.locator("#run-button").click()
    expect(page.locator("table.sent-params caption")).to_have_text("executemany with 2 parameter sets")
    page.locator("#commit-button").click()
    expect(page.locator("#committed-rowcount")).to_have_text("2 rows")

    # The next step of the lesson, typed over the same grid: its two rows stay.
    type_sql(page, "SELECT x, y FROM some_table WHERE y > :y ORDER BY x, y")
    expect(page.get_by_label("y (row 2)", exact=True)).to_have_value("15")
    page.locator("#run-button").click()
    expect(page.locator("#outcome, #error").first).to_be_visible()
    assert page.locator("#error").count() == 0, page.locator("#error").inner_text()
    first, second = page.locator("#statement-1-row-1"), page.locator("#statement-1-row-2")
    expect(first.locator("h4")).to_contain_text(":y = 11")
    expect(first.locator("h4")).to_contain_text("2 rows returned")
    assert [r.locator("td").all_inner_texts() for r in first.locator("tbody tr").all()] == [["11", "12"], ["13", "15"]]
    expect(second.locator("h4")).to_contain_text(":y = 15")
    expect(second.locator("h4")).to_contain_text("0 rows returned")
    expect(page.locator("#statement-1 .count").first).to_have_text("2 rows returned for 2 parameter rows")


def test_an_insert_returning_with_two_rows_shows_each_rows_result(page: Any) -> None:
    from playwright.sync_api import expect

    page.goto("/")
    type_sql(page, 'INSERT INTO "Users" ("Name", "Age") VALUES (:Name, :Age) RETURNING "Id", "Name"')
    page.get_by_label("Name", exact=True).fill("Анна")
    page.get_by_label("Age", exact=True).fill("31")
    page.get_by_role("button", name="Add row").click()
    page.get_by_label("Name (row 2)", exact=True).fill("Борис")
    page.get_by_label("Age (row 2)", exact=True).fill("32")
    page.locator("#run-button").click()
    expect(page.locator("#preview-rowcount")).to_have_text("2 rows")
    expect(page.locator("#statement-1-row-1 tbody td")).to_have_text(["3", "Анна"])
    expect(page.locator("#statement-1-row-2 tbody td")).to_have_text(["4", "Борис"])
    page.locator("#commit-button").click()
    expect(page.locator("#committed-rowcount")).to_have_text("2 rows")
    assert api_rows(page, USERS) == [*SAMPLE_USERS, ["Анна", 31], ["Борис", 32]]


# -- 13, 14. the page fits a laptop beside the sidebar, a phone, and a projector ---------------------------

SIX = "SELECT :alpha AS a, :bravo AS b, :charlie AS c, :delta AS d, :echo AS e, :foxtrot AS f"


def fill_six_parameters_in_two_rows(page: Any) -> None:
    type_sql(page, SIX)
    for name in ("alpha", "bravo", "charlie", "delta", "echo", "foxtrot"):
        page.get_by_label(name, exact=True).fill(name.upper())
    page.get_by_role("button", name="Add row").click()
    for name in ("alpha", "bravo", "charlie", "delta", "echo", "foxtrot"):
        page.get_by_label(f"{name} (row 2)", exact=True).fill(name)


def page_width(page: Any) -> int:
    """The page's width once it is laid out with its stylesheet (a click does not wait for that)."""
    page.wait_for_load_state("load")
    return int(page.evaluate("document.documentElement.scrollWidth"))


def top_in_window(page: Any, selector: str) -> float:
    """Where the element starts in the window, once the page has loaded and scrolled to its fragment."""
    page.wait_for_load_state("load")
    return float(page.evaluate("(s) => document.querySelector(s).getBoundingClientRect().top", selector))


def test_six_parameters_at_1280_px_stay_beside_the_sidebar(browser: Any, server: LiveServer) -> None:
    from playwright.sync_api import expect

    for page in _open_page(browser, server, viewport={"width": 1280, "height": 800}):
        page.goto("/")
        fill_six_parameters_in_two_rows(page)
        grid = page.locator("#param-grid").bounding_box()
        sidebar = page.locator("aside.schema").bounding_box()
        assert grid["x"] + grid["width"] <= sidebar["x"], (grid, sidebar)
        assert page_width(page) <= 1280
        page.locator("#run-button").click()
        expect(page.locator("#statement-1-row-2 tbody td")).to_have_text(
            ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot"]
        )
        grid = page.locator("#param-grid").bounding_box()
        assert grid["x"] + grid["width"] <= page.locator("aside.schema").bounding_box()["x"]
        assert page_width(page) <= 1280


@pytest.mark.parametrize("javascript", [True, False], ids=["js", "no-js"])
def test_on_a_phone_no_page_is_wider_than_the_screen(browser: Any, server: LiveServer, javascript: bool) -> None:
    from playwright.sync_api import expect

    options = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}
    for page in _open_page(browser, server, java_script_enabled=javascript, **options):
        page.goto("/")
        if javascript:
            fill_six_parameters_in_two_rows(page)
        else:
            page.locator("#sql").fill(SIX)
            page.get_by_role("button", name="Update the grid from the SQL").click()
            page.get_by_role("button", name="Add row").click()
        assert page_width(page) <= 390
        page.locator("#run-button").click()
        expect(page.locator("#outcome, #error").first).to_be_visible()
        assert page_width(page) <= 390
        # The grid scrolls in its own box: the last ✕ can be reached and pressed.
        remove = page.get_by_role("button", name="Remove row 2")
        remove.scroll_into_view_if_needed()
        box = remove.bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 390
        remove.click()
        expect(page.get_by_role("button", name="Remove row 1")).to_have_count(0)
        assert page_width(page) <= 390


@pytest.mark.parametrize("javascript", [True, False], ids=["js", "no-js"])
def test_on_a_projector_the_outcome_is_in_view_after_run(browser: Any, server: LiveServer, javascript: bool) -> None:
    from playwright.sync_api import expect

    # 1024x768 at 150 % zoom: a 683x512 CSS-pixel viewport.
    options = {"viewport": {"width": 683, "height": 512}, "device_scale_factor": 1.5}
    for page in _open_page(browser, server, java_script_enabled=javascript, **options):
        page.goto("/")
        page.get_by_role("link", name="Lesson 2: SELECT with :y").click()
        page.locator("#run-button").click()
        expect(page.locator("#outcome")).to_be_visible()
        top = top_in_window(page, "#outcome")
        assert -1 <= top < 512 / 2, f"the outcome starts at {top:.0f} px in a 512 px high window"
        # An error is brought into view the same way.
        set_sql(page, "SELECT * FROM nowhere")
        page.locator("#run-button").click()
        expect(page.locator("#error")).to_be_visible()
        assert -1 <= top_in_window(page, "#error") < 512 / 2
