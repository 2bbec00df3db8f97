"""Every flow of the editor as a person does it, in a real Chromium, on SQLite and on a PostgreSQL-backed server.

The server is `playground serve` (gunicorn); on the PostgreSQL-backed one both engines are on
offer and Compare is there. Screenshots of the editor, a result, a preview and a comparison are
saved under tests/artifacts/ (not committed). Under CI=true a missing Chromium, Playwright or
PostgreSQL fails the run.
"""

from __future__ import annotations

import csv
import io
import json
import re
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import test_browser
from pg_support import own_bookkeeping
from server_support import LiveServer, live_server
from test_browser import _open_page, api_rows, result_cells, type_sql

ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
SELECT_Y = "SELECT x, y FROM some_table WHERE y > :y ORDER BY x"

browser = test_browser.browser  # the same module-scoped Chromium fixture (one browser per module)
UPDATE_XY = "UPDATE some_table SET y=:y WHERE x=:x"


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def server(
    request: pytest.FixtureRequest, browser: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    """A real server: SQLite only, or PostgreSQL (the default engine) with SQLite beside it."""
    if request.param == "sqlite":
        with live_server(tmp_path_factory.mktemp("features-sqlite"), workers=2) as running:
            yield running
        return
    postgres_url = request.getfixturevalue("postgres_url")
    prefix = f"bf{secrets.token_hex(3)}"
    with own_bookkeeping(postgres_url, prefix) as admin_url:
        env = {"PLAYGROUND_DATABASE_URL": admin_url, "PLAYGROUND_POSTGRES_PREFIX": prefix}
        with live_server(tmp_path_factory.mktemp("features-postgresql"), workers=2, env=env) as running:
            yield running


@pytest.fixture
def engine(server: LiveServer) -> str:
    """The server's default engine: what a new visitor's editor runs on."""
    return "postgresql" if "features-postgresql" in str(server.data_dir) else "sqlite"


def _open(browser: Any, server: LiveServer, **options: Any) -> Iterator[Any]:
    """A page in a context of its own (its own sandbox), downloads allowed; JS errors fail the test."""
    yield from _open_page(browser, server, accept_downloads=True, **options)


@pytest.fixture
def page(browser: Any, server: LiveServer) -> Iterator[Any]:
    yield from _open(browser, server, viewport={"width": 1280, "height": 900})


def screenshot(page: Any, name: str, engine: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}-{engine}.png"), full_page=True)


def editor_text(page: Any) -> str:
    return str(page.locator("#sql").input_value())


# -- the editor -----------------------------------------------------------------------------------


def test_typing_highlights_numbers_lines_and_ctrl_enter_runs(page: Any, engine: str) -> None:
    from playwright.sync_api import expect

    page.goto("/")
    type_sql(page, SELECT_Y)
    expect(page.locator("#sql-editor .cm-lineNumbers")).to_be_visible()
    # Highlighting: the keyword is styled apart from the name that follows it.
    keyword_color = page.locator("#sql-editor .cm-line span", has_text="SELECT").first.evaluate(
        "e => getComputedStyle(e).color"
    )
    assert keyword_color != page.locator("#sql-editor .cm-line").first.evaluate("e => getComputedStyle(e).color")
    expect(page.locator("#sql")).to_have_value(SELECT_Y)  # the form sends what the editor shows
    page.get_by_label("y", exact=True).fill("6")
    screenshot(page, "editor", engine)
    page.locator("#sql-editor .cm-content").click()
    page.keyboard.press("Control+Enter")
    expect(page.locator("#statement-1 table.result tbody tr")).to_have_count(4)
    assert result_cells(page) == [["6", "8"], ["9", "10"], ["11", "12"], ["13", "14"]]
    # The page after the run has the editor again, with the SQL.
    expect(page.locator("#sql-editor .cm-content")).to_contain_text("WHERE y > :y")
    screenshot(page, "result", engine)


def test_brackets_match_tab_indents_and_escape_then_tab_leaves(page: Any) -> None:
    from playwright.sync_api import expect

    page.goto("/")
    type_sql(page, "SELECT (1 + 2)")
    page.keyboard.press("End")
    expect(page.locator("#sql-editor .cm-matchingBracket")).to_have_count(2)
    page.keyboard.press("Home")
    page.keyboard.press("Tab")
    assert editor_text(page).startswith("  SELECT") or editor_text(page).startswith("\tSELECT")
    assert page.evaluate("document.activeElement.classList.contains('cm-content')")
    page.keyboard.press("Escape")
    page.keyboard.press("Tab")
    assert not page.evaluate("document.activeElement.classList.contains('cm-content')")
    assert editor_text(page).count("SELECT") == 1 and not editor_text(page).startswith("    ")


def test_completion_offers_the_visitors_own_tables_and_columns(page: Any) -> None:
    from playwright.sync_api import expect

    page.goto("/")
    type_sql(page, "SELECT * FROM some_t")
    page.keyboard.press("Control+Space")
    option = page.locator(".cm-tooltip-autocomplete li", has_text="some_table")
    expect(option.first).to_be_visible()
    page.wait_for_timeout(200)  # the editor ignores Enter for a moment after the list opens (a person is slower)
    page.keyboard.press("Enter")
    assert editor_text(page) == "SELECT * FROM some_table"
    # A table's columns, once the name says which table.
    type_sql(page, "SELECT some_table.")
    page.keyboard.press("Control+Space")
    expect(page.locator(".cm-tooltip-autocomplete li .cm-completionLabel")).to_have_text(["x", "y"])


def test_the_dialect_follows_the_engine_selector(page: Any, engine: str) -> None:
    """PostgreSQL's dialect knows ILIKE; SQLite's does not."""
    from playwright.sync_api import expect

    def offers_ilike() -> bool:
        type_sql(page, "SELECT 1 WHERE 'a' ILIK")
        page.keyboard.press("Control+Space")
        page.wait_for_timeout(300)  # the list opens, or does not
        offered = page.locator(".cm-tooltip-autocomplete li", has_text="ILIKE").count() > 0
        page.keyboard.press("Escape")
        return offered

    page.goto("/")
    expect(page.locator("#sql-editor .cm-content")).to_be_visible()
    assert offers_ilike() == (engine == "postgresql")
    if engine == "postgresql":  # a PostgreSQL-backed server offers SQLite beside it
        page.locator("#engine").select_option("sqlite")
        assert not offers_ilike()
        page.locator("#engine").select_option("postgresql")
        assert offers_ilike()


def test_a_run_shows_running_with_the_time_and_the_button_disabled(page: Any, engine: str) -> None:
    from playwright.sync_api import expect

    # A query that takes a couple of seconds (well inside the 5 s limit) on each engine.
    slow = {
        "sqlite": "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 3000000) SELECT count(*) FROM n",
        "postgresql": "SELECT pg_sleep(2.5) IS NULL AS slept",
    }[engine]
    page.goto("/")
    type_sql(page, slow)
    sent: list[str] = []
    page.on("request", lambda request: sent.append(request.url) if request.url.endswith("/run") else None)
    # While the browser waits for the next page, the test cannot read this one (Playwright waits for
    # the navigation); the page itself writes down what it shows, into sessionStorage, which the next
    # page can read. Half a second in, it also presses Ctrl+Enter again in the editor.
    page.evaluate(
        """() => {
             const status = document.getElementById('run-status'), button = document.getElementById('run-button');
             const note = () => {
               const seen = JSON.parse(sessionStorage.getItem('seen') || '[]');
               seen.push([status.textContent, button.disabled]);
               sessionStorage.setItem('seen', JSON.stringify(seen));
             };
             new MutationObserver(note).observe(status, {childList: true, characterData: true, subtree: true});
             setTimeout(() => document.querySelector('#sql-editor .cm-content').dispatchEvent(
               new KeyboardEvent('keydown', {key: 'Enter', code: 'Enter', keyCode: 13, ctrlKey: true, bubbles: true, cancelable: true})), 500);
           }"""
    )
    page.locator("#run-button").click()
    expect(page.locator("#outcome, #error").first).to_be_visible(timeout=30_000)
    seen = page.evaluate("JSON.parse(sessionStorage.getItem('seen') || '[]')")
    texts = [text for text, _ in seen]
    assert len(set(texts)) >= 3, seen  # "Running… 0.0 s", then the seconds going on
    assert all(re.fullmatch(r"Running… \d+\.\d s", text) for text in texts), seen
    assert seen[-1][1] is True  # the Run button was disabled meanwhile
    assert len(sent) == 1  # Ctrl+Enter while running sent nothing
    expect(page.locator("#run-button")).to_be_enabled()


def test_a_block_pasted_from_a_spreadsheet_fills_the_grid(page: Any) -> None:
    from playwright.sync_api import expect

    page.goto("/")
    type_sql(page, UPDATE_XY)
    cell = page.get_by_label("y", exact=True)
    expect(cell).to_be_visible()
    # Copied from a spreadsheet: a header naming the parameters (in another order), then two rows.
    page.evaluate(
        """([id, text]) => {
             const data = new DataTransfer();
             data.setData("text/plain", text);
             document.getElementById(id).dispatchEvent(new ClipboardEvent("paste", {clipboardData: data, bubbles: true, cancelable: true}));
           }""",
        ["cell-0-0", "x\ty\r\n9\t11\r\n13\t15\r\n"],
    )
    expect(page.locator("#grid-rows")).to_have_value("2")
    expect(page.get_by_label("y", exact=True)).to_have_value("11")
    expect(page.get_by_label("x", exact=True)).to_have_value("9")
    expect(page.get_by_label("y (row 2)", exact=True)).to_have_value("15")
    expect(page.get_by_label("x (row 2)", exact=True)).to_have_value("13")
    page.locator("#run-button").click()
    expect(page.locator("#preview-rowcount")).to_have_text("2 rows")
    expect(page.locator("#statement-1 .plain")).to_have_text("This UPDATE changes 2 rows of some_table.")
    expect(page.locator("#statement-1 ul.per-row li")).to_have_text(
        ["Grid row 1 changes 1 row.", "Grid row 2 changes 1 row."]
    )


def test_comma_separated_lines_without_a_header_fill_from_the_cell(page: Any) -> None:
    from playwright.sync_api import expect

    page.goto("/")
    type_sql(page, 'INSERT INTO "Users" ("Name", "Age") VALUES(:Name, :Age)')
    expect(page.get_by_label("Name", exact=True)).to_be_visible()
    page.evaluate(
        """(text) => {
             const data = new DataTransfer();
             data.setData("text/plain", text);
             document.getElementById("cell-0-0").dispatchEvent(new ClipboardEvent("paste", {clipboardData: data, bubbles: true, cancelable: true}));
           }""",
        '"Петров, Пётр",20\nВасилий,26\nОльга,31',
    )
    expect(page.locator("#grid-rows")).to_have_value("3")
    expect(page.get_by_label("Name", exact=True)).to_have_value("Петров, Пётр")
    expect(page.get_by_label("Age (row 3)", exact=True)).to_have_value("31")


# -- results --------------------------------------------------------------------------------------


def test_results_mark_null_align_numbers_clip_long_values_and_keep_the_header(page: Any) -> None:
    from playwright.sync_api import expect

    long_text = "слово " * 60
    page.goto("/")
    type_sql(page, f"SELECT 42 AS n, NULL AS missing, 'NULL' AS text, '{long_text}' AS long_value")
    page.locator("#run-button").click()
    row = page.locator("#statement-1 table.result tbody tr").first
    cells = row.locator("td")
    assert cells.nth(0).evaluate("e => getComputedStyle(e).textAlign") == "right"
    assert cells.nth(1).locator("span.null").count() == 1 and cells.nth(2).locator("span.null").count() == 0
    assert cells.nth(1).evaluate("e => getComputedStyle(e.querySelector('.null')).borderStyle") == "dashed"
    expect(cells.nth(2)).to_have_text("NULL")
    whole = cells.nth(3).locator(".whole")
    expect(whole).to_be_hidden()
    cells.nth(3).locator("summary").click()
    expect(whole).to_be_visible()
    assert whole.inner_text().strip() == long_text.strip()
    assert page.locator("#statement-1 thead th").first.evaluate("e => getComputedStyle(e).position") == "sticky"
    expect(page.locator("#statement-1 .count")).to_contain_text("1 row")
    expect(page.locator("#outcome .elapsed")).to_contain_text(re.compile(r"\d+(\.\d)? ms on"))


def test_download_csv_and_json_and_read_them_back(page: Any, engine: str) -> None:
    page.goto("/")
    type_sql(page, 'SELECT "Name", "Age", \'=1+1\' AS formula FROM "Users" ORDER BY "Id"')
    with page.expect_download() as info:
        page.locator("#download-csv").click()
    download = info.value
    assert download.suggested_filename == f"result-{engine}.csv"
    raw = Path(download.path()).read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # UTF-8 with a byte-order mark: spreadsheets read it as UTF-8
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    assert rows == [["Name", "Age", "formula"], ["Петр", "20", "'=1+1"], ["Василий", "26", "'=1+1"]]
    with page.expect_download() as info:
        page.locator("#download-json").click()
    data = json.loads(Path(info.value.path()).read_text())
    assert data["rows"] == [["Петр", 20, "=1+1"], ["Василий", 26, "=1+1"]] and data["truncated"] is False


# -- writes ---------------------------------------------------------------------------------------


def test_a_delete_without_where_warns_before_the_commit_button(page: Any, engine: str) -> None:
    from playwright.sync_api import expect

    page.goto("/")
    type_sql(page, "DELETE FROM some_table")
    page.locator("#run-button").click()
    warning = page.locator("p.every-row")
    expect(warning).to_have_text("Warning: This DELETE has no WHERE: it removes every row of some_table.")
    commit = page.locator("#commit-button")
    assert warning.bounding_box()["y"] < commit.bounding_box()["y"]  # read before reaching Commit
    expect(page.locator("#statement-1 .plain")).to_have_text("This DELETE removes 6 rows from some_table.")
    screenshot(page, "preview", engine)
    page.locator("#discard-button").click()
    assert api_rows(page, "SELECT count(*) FROM some_table") == [[6]]


def test_explain_shows_the_plan_of_the_statement_with_the_first_row(page: Any, engine: str) -> None:
    from playwright.sync_api import expect

    page.goto("/")
    type_sql(page, SELECT_Y)
    page.get_by_label("y", exact=True).fill("6")
    page.locator("#explain-button").click()
    expect(page.locator("#plan-title")).to_contain_text("Plan of statement 1")
    if engine == "sqlite":
        expect(page.locator("#plan-tree li").first).to_contain_text("SCAN some_table")
    else:
        expect(page.locator("#plan-text")).to_contain_text("Seq Scan on some_table")
        expect(page.locator("#plan-text")).to_contain_text("Filter: (y > 6)")
    expect(page.locator("#outcome")).to_have_count(0)


# -- keep and share work ----------------------------------------------------------------------------


def test_share_a_link_and_open_it_in_a_fresh_browser(page: Any, browser: Any, server: LiveServer, engine: str) -> None:
    from playwright.sync_api import expect

    page.goto("/")
    type_sql(page, UPDATE_XY)
    page.get_by_label("y", exact=True).fill("11")
    page.get_by_label("x", exact=True).fill("9")
    page.get_by_role("button", name="Add row").click()
    page.get_by_label("y (row 2)", exact=True).fill("15")
    page.get_by_label("x (row 2)", exact=True).fill("13")
    page.locator('select[name="type-0"]').select_option("integer")
    page.locator("#share-button").click()
    link = page.locator("#share-link").input_value()
    assert link.startswith(server.url + "/?")
    expect(page.locator("#copy-share-link")).to_be_visible()

    for student in _open(browser, server):
        student.goto(link)
        expect(student.locator("#sql")).to_have_value(UPDATE_XY)
        expect(student.get_by_label("y (row 2)", exact=True)).to_have_value("15")
        expect(student.get_by_label("x (row 2)", exact=True)).to_have_value("13")
        expect(student.locator('select[name="type-0"]')).to_have_value("integer")
        if engine == "postgresql":
            expect(student.locator("#engine")).to_have_value("postgresql")
        expect(student.locator("#outcome")).to_have_count(0)  # opened, never run
        assert api_rows(student, "SELECT y FROM some_table WHERE x IN (9, 13) ORDER BY x") == [[10], [14]]


def test_a_share_too_long_for_an_address_gets_a_short_stored_link(page: Any, browser: Any, server: LiveServer) -> None:
    from playwright.sync_api import expect

    sql = "SELECT :a AS a -- " + "a long comment " * 200
    page.goto("/?" + "sql=" + sql.replace(" ", "+").replace(":", "%3A"))
    page.get_by_label("a", exact=True).fill("Привет")
    page.locator("#share-button").click()
    link = page.locator("#share-link").input_value()
    assert re.fullmatch(re.escape(server.url) + r"/s/[a-z2-7]{12}", link)
    for student in _open(browser, server):
        student.goto(link)
        expect(student.locator("#sql")).to_have_value(sql)
        expect(student.get_by_label("a", exact=True)).to_have_value("Привет")


def test_history_reopens_a_run_in_one_click(page: Any) -> None:
    from playwright.sync_api import expect

    page.goto("/")
    type_sql(page, SELECT_Y)
    page.get_by_label("y", exact=True).fill("12")
    page.locator("#run-button").click()
    expect(page.locator("#statement-1 table.result")).to_be_visible()
    type_sql(page, "SELECT 2 AS two")
    expect(page.locator("#no-params")).to_be_visible()  # the grid has followed the SQL
    page.locator("#run-button").click()
    expect(page.locator("#statement-1 table.result")).to_be_visible()
    page.locator("#history-panel summary").click()
    entries = page.locator("#history-entries a.history-open")
    # Another worker may have served a run: the panel asks again until it shows.
    expect(entries).to_have_count(2, timeout=15_000)
    expect(entries.first).to_have_text("SELECT 2 AS two")
    entries.nth(1).click()
    expect(page.locator("#sql")).to_have_value(SELECT_Y)
    expect(page.get_by_label("y", exact=True)).to_have_value("12")
    expect(page.locator("#outcome")).to_have_count(0)


# -- schema and lessons ------------------------------------------------------------------------------


def test_the_schema_names_the_engine_counts_rows_and_a_click_inserts_a_name(page: Any, engine: str) -> None:
    from playwright.sync_api import expect

    page.goto("/")
    label = "PostgreSQL" if engine == "postgresql" else "SQLite"
    expect(page.locator("#schema-title")).to_have_text(f"Your tables on {label}")
    expect(page.locator("aside.schema .row-count")).to_have_text(["2 rows", "6 rows"])
    type_sql(page, "SELECT * FROM ")
    page.locator("aside.schema button.insert-name", has_text="Users").first.click()
    assert editor_text(page) == 'SELECT * FROM "Users"'
    page.locator("#sql-editor .cm-content").press("Control+Enter")
    expect(page.locator("#statement-1 table.result tbody tr")).to_have_count(2)


# -- two engines side by side ---------------------------------------------------------------------------


def test_compare_marks_what_differs_and_commits_only_the_side_committed(page: Any, engine: str) -> None:
    from playwright.sync_api import expect

    if engine != "postgresql":
        expect_no_compare = page.goto("/")
        assert expect_no_compare is not None
        expect(page.locator("#compare-button")).to_have_count(0)
        return
    page.goto("/")
    type_sql(page, "SELECT 7 / 2 AS a, 7 / 2.0 AS b, 1 = 1 AS c")
    page.locator("#compare-button").click()
    expect(page.locator("#side-sqlite table.result td")).to_have_count(3)
    expect(page.locator("#side-postgresql table.result td")).to_have_count(3)
    expect(page.locator("#side-sqlite td.differs")).to_have_count(1)
    expect(page.locator("#side-postgresql td.differs")).to_contain_text("true")
    screenshot(page, "comparison", engine)

    type_sql(page, "DELETE FROM some_table WHERE x > 6")
    page.locator("#compare-button").click()
    expect(page.locator("#commit-sqlite")).to_be_visible()
    expect(page.locator("#commit-postgresql")).to_be_visible()
    page.locator("#commit-postgresql").click()
    expect(page.locator(".committed")).to_contain_text("Committed")
    token = page.locator('meta[name="csrf-token"]').get_attribute("content")
    counts = {}
    for name in ("sqlite", "postgresql"):
        reply = page.request.post(
            "/api/run", data={"sql": "SELECT count(*) FROM some_table", "engine": name}, headers={"X-CSRFToken": token}
        )
        counts[name] = reply.json()["statements"][0]["rows"][0][0]
    assert counts == {"sqlite": 6, "postgresql": 3}


# -- quality a person notices ---------------------------------------------------------------------------


def test_a_phone_never_scrolls_sideways(browser: Any, server: LiveServer, engine: str) -> None:
    from playwright.sync_api import expect

    for phone in _open(browser, server, viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True):
        phone.goto("/")
        type_sql(phone, "SELECT x, y, x * y AS product, 'a rather long text value for a phone' AS note FROM some_table")
        phone.locator("#run-button").click()
        expect(phone.locator("#statement-1 table.result")).to_be_visible()
        assert phone.evaluate("document.documentElement.scrollWidth") <= 390
        if engine == "postgresql":
            phone.locator("#compare-button").click()
            expect(phone.locator("#comparison")).to_be_visible()
            assert phone.evaluate("document.documentElement.scrollWidth") <= 390


def test_every_control_is_labelled_and_reachable_by_keyboard(page: Any) -> None:
    page.goto("/")
    type_sql(page, SELECT_Y)
    page.get_by_label("y", exact=True).fill("6")
    page.locator("#run-button").click()
    unlabelled = page.evaluate(
        """() => [...document.querySelectorAll('input:not([type=hidden]), select, textarea:not([hidden]), button, [contenteditable=true]')]
              .filter(e => e.offsetParent !== null)
              .filter(e => {
                const named = e.getAttribute('aria-label') || e.getAttribute('aria-labelledby') || (e.labels && e.labels.length)
                  || (e.tagName === 'BUTTON' && e.textContent.trim());
                return !named;
              }).map(e => e.outerHTML.slice(0, 80))"""
    )
    assert unlabelled == []
    # Tab from the top reaches the editor, Run, Explain, Share and the downloads.
    page.locator("a.brand").focus()
    reached = set()
    for _ in range(60):
        page.keyboard.press("Tab")
        reached.add(page.evaluate("document.activeElement.id || document.activeElement.className"))
        if "cm-content" in page.evaluate("document.activeElement.className"):
            page.keyboard.press("Escape")  # Escape then Tab leaves the editor
    assert {"run-button", "explain-button", "share-button", "download-csv"} <= reached
    assert any("cm-content" in r for r in reached)
    assert page.locator("#statement-1 table.result thead th").count() == 2


def test_the_first_load_is_under_300_kb_over_the_wire(page: Any) -> None:
    page.goto("/")
    page.wait_for_load_state("networkidle")
    sizes = page.evaluate(
        """() => performance.getEntriesByType('navigation').concat(performance.getEntriesByType('resource'))
              .map(e => e.transferSize)"""
    )
    assert sum(sizes) < 300 * 1024, sizes


def test_a_projector_shows_the_plan_and_the_comparison_after_pressing_the_button(
    browser: Any, server: LiveServer, engine: str
) -> None:
    """1024×768 at 150 % zoom is a 683×512 window: what a button shows lands in view, without scrolling."""
    from playwright.sync_api import expect

    for projector in _open(browser, server, viewport={"width": 683, "height": 512}, device_scale_factor=1.5):
        projector.goto("/")
        type_sql(projector, SELECT_Y)
        projector.get_by_label("y", exact=True).fill("6")
        buttons = {"#explain-button": "#plan"} | ({"#compare-button": "#comparison"} if engine == "postgresql" else {})
        for button, shown in buttons.items():
            projector.locator(button).click()
            expect(projector.locator(shown)).to_be_in_viewport()
            assert projector.evaluate("document.documentElement.scrollWidth") <= 683


def test_text_has_readable_contrast_for_a_projector(page: Any) -> None:
    """WCAG AA (4.5:1) for the text a class reads: SQL, hints, counts, NULL badges, buttons, warnings."""
    page.goto("/")
    type_sql(page, "DELETE FROM some_table")
    page.locator("#run-button").click()
    page.locator("#discard-button").wait_for()
    ratios = page.evaluate(
        """() => {
             const rgb = (c) => c.match(/[\\d.]+/g).slice(0, 4).map(Number);
             const lum = ([r, g, b]) => {
               const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
               return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
             };
             const background = (e) => {
               for (; e; e = e.parentElement) {
                 const c = rgb(getComputedStyle(e).backgroundColor);
                 if (c.length < 4 || c[3] > 0) return c;
               }
               return [255, 255, 255];
             };
             const selectors = ['.hint', '.row-count', '.type', 'button.primary', 'button.secondary',
                                'p.every-row', '.preview-count', '.plain', '.elapsed', '.cm-line', '.cm-gutters',
                                'ul.examples a', '.tagline'];
             return selectors.flatMap((s) => [...document.querySelectorAll(s)].slice(0, 3).map((e) => {
               const a = lum(rgb(getComputedStyle(e).color)), b = lum(background(e));
               return [s, (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05)];
             }));
           }"""
    )
    assert ratios, "nothing measured"
    low = [(selector, round(ratio, 2)) for selector, ratio in ratios if ratio < 4.5]
    assert low == []
