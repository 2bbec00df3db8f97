"""The teacher's dashboard in a real Chromium, beside students' pages, on SQLite and on PostgreSQL: logging in,
the class list and the live class log (refreshing by itself, and by its button without JavaScript), each
action asked and confirmed, what the students see of it, and the projector page. Screenshots go to
tests/artifacts/ (teacher-*.png).
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import test_browser
from pg_support import own_bookkeeping
from server_support import LiveServer, live_server
from test_browser import _open_page, api_rows, result_cells

ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
PASSWORD = "browser teacher password"
browser = test_browser.browser  # the same module-scoped Chromium fixture (one browser per module)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def server(
    request: pytest.FixtureRequest, browser: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    env = {"PLAYGROUND_TEACHER_PASSWORD": PASSWORD, "PLAYGROUND_RUN_LOG_FLUSH_SECONDS": "1"}
    if request.param == "sqlite":
        with live_server(tmp_path_factory.mktemp("teacher-browser-sqlite"), workers=2, env=env) as running:
            yield running
        return
    postgres_url = request.getfixturevalue("postgres_url")
    prefix = f"bt{secrets.token_hex(3)}"
    with own_bookkeeping(postgres_url, prefix) as admin_url:
        env |= {"PLAYGROUND_DATABASE_URL": admin_url, "PLAYGROUND_POSTGRES_PREFIX": prefix}
        with live_server(tmp_path_factory.mktemp("teacher-browser-postgresql"), workers=2, env=env) as running:
            yield running


@pytest.fixture
def engine(server: LiveServer) -> str:
    return "postgresql" if "teacher-browser-postgresql" in str(server.data_dir) else "sqlite"


@pytest.fixture
def student(browser: Any, server: LiveServer) -> Iterator[Any]:
    yield from _open_page(browser, server, viewport={"width": 1280, "height": 900})


@pytest.fixture
def teacher(browser: Any, server: LiveServer) -> Iterator[Any]:
    yield from _open_page(browser, server, viewport={"width": 1400, "height": 1000})


@pytest.fixture
def teacher_without_js(browser: Any, server: LiveServer) -> Iterator[Any]:
    yield from _open_page(browser, server, viewport={"width": 1400, "height": 1000}, java_script_enabled=False)


def screenshot(page: Any, name: str, engine: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"teacher-{name}-{engine}.png"), full_page=True)


def log_in(page: Any) -> None:
    from playwright.sync_api import expect

    page.goto("/teacher")
    expect(page.locator("#login-form")).to_be_visible()
    page.get_by_label("Teacher's password").fill(PASSWORD)
    page.locator("#login-button").click()
    expect(page.locator("#teacher-dashboard")).to_be_visible()


def name_myself(page: Any, name: str) -> None:
    from playwright.sync_api import expect

    page.goto("/")
    page.get_by_label("Your name for the teacher").fill(name)
    page.locator("#display-name-button").click()
    expect(page.get_by_text(f"Your teacher sees you as “{name}”.")).to_be_visible()


def run_via_api(page: Any, sql: str, params: Any = None) -> Any:
    token = page.locator('meta[name="csrf-token"]').get_attribute("content")
    body = {"sql": sql} | ({"params": params} if params is not None else {})
    return page.request.post("/api/run", data=body, headers={"X-CSRFToken": token})


def confirm(page: Any, *, timeout_ms: int = 60_000) -> None:
    """The action's question is a page of its own: answer yes (some actions take a while: a wait, not a bound)."""
    from playwright.sync_api import expect

    expect(page.locator("#teacher-confirm")).to_be_visible()
    with page.expect_navigation(timeout=timeout_ms):
        page.locator("#confirm-button").click(timeout=timeout_ms)
    expect(page.locator("#teacher-dashboard")).to_be_visible()


def test_a_wrong_password_is_refused_and_a_student_sees_no_dashboard(student: Any) -> None:
    from playwright.sync_api import expect

    student.goto("/teacher")
    student.get_by_label("Teacher's password").fill("not the password")
    student.locator("#login-button").click()
    expect(student.locator("#login-error")).to_contain_text("not the teacher's password")
    student.goto("/teacher/log")
    expect(student.locator("#login-form")).to_be_visible()
    expect(student.locator("#teacher-dashboard")).to_have_count(0)


def test_the_class_list_and_the_log_refresh_by_themselves(student: Any, teacher: Any, engine: str) -> None:
    from playwright.sync_api import expect

    name = f"Ann {secrets.token_hex(2)}"
    name_myself(student, name)
    assert run_via_api(student, "SELECT x FROM some_table WHERE x > :x", {"x": 11}).status == 200
    log_in(teacher)
    teacher.reload()
    row = teacher.locator("#students-table tr.student", has_text=name)
    expect(row).to_be_visible()
    # The log refreshes by itself: a run made while the page is open shows without a reload.
    expect(teacher.locator("#log-live")).to_be_visible()
    marker = f"SELECT 'live {secrets.token_hex(3)}' AS marker"
    assert run_via_api(student, marker).status == 200
    expect(teacher.locator("#class-log-table")).to_contain_text(marker, timeout=30_000)
    line = teacher.locator("#class-log-table tr.log-line", has_text="x > :x").first
    expect(line.locator(".params")).to_contain_text("values hidden")
    teacher.locator("#log-values").check()
    teacher.locator("#log-refresh").click()
    expect(teacher.locator("#class-log-table tr.log-line", has_text="x > :x").first.locator(".params")).to_contain_text(
        "11"
    )
    expect(row.locator(".runs")).to_have_text("2")  # the page was reloaded by "Show / refresh", after both runs
    screenshot(teacher, "dashboard", engine)
    # The projector: the student's latest run, large and read-only.
    teacher.locator("#students-table tr.student", has_text=name).locator(".latest-run").click()
    expect(teacher.locator("#projector-sql")).to_have_text(marker)
    expect(teacher.locator("table.projector-result")).to_contain_text("live")
    screenshot(teacher, "projector", engine)


def test_without_javascript_the_log_refreshes_by_its_button_and_actions_ask_on_a_page(
    student: Any, teacher_without_js: Any, engine: str
) -> None:
    from playwright.sync_api import expect

    teacher = teacher_without_js
    name = f"Bob {secrets.token_hex(2)}"
    name_myself(student, name)
    log_in(teacher)
    marker = f"SELECT 'button {secrets.token_hex(3)}' AS marker"
    assert run_via_api(student, marker).status == 200
    expect(teacher.locator("#log-live")).to_be_hidden()

    def refreshed_shows_it() -> bool:
        teacher.locator("#log-refresh").click()
        return marker in teacher.locator("#class-log-table").inner_text()

    test_browser.wait_until(teacher, refreshed_shows_it, timeout_ms=30_000)
    # Read-only for a demonstration: asked on a page of its own, then the student's write is refused.
    teacher.locator("#read-only-on").click()
    expect(teacher.locator("#teacher-confirm")).to_contain_text("Make the class read-only?")
    screenshot(teacher, "confirm", engine)
    confirm(teacher)
    expect(teacher.locator("#read-only-state")).to_contain_text("Read-only")
    refused = run_via_api(student, "DELETE FROM some_table")
    assert refused.status == 423 and "read-only" in refused.json()["error"]["message"]
    assert len(api_rows(student, "SELECT * FROM some_table")) == 6
    teacher.locator("#read-only-off").click()
    confirm(teacher)
    expect(teacher.locator("#read-only-state")).to_contain_text("can read and write")
    expect(teacher.locator("#actions-table td.action").first).to_have_text("read-only")


def test_a_published_lesson_heads_the_students_examples_and_runs(student: Any, teacher: Any, engine: str) -> None:
    from playwright.sync_api import expect

    log_in(teacher)
    title = f"Bound values {secrets.token_hex(2)}"
    teacher.locator("#lesson-title-input").fill(title)
    teacher.locator("#lesson-text").fill("The value travels beside the SQL.\n\nTry another x.")
    teacher.locator("#lesson-sql").fill("SELECT x, y FROM some_table WHERE x = :x")
    teacher.locator("#lesson-grid").fill("x\n9")
    teacher.locator("#publish-lesson").click()
    confirm(teacher)
    expect(teacher.locator("#lesson-state")).to_contain_text(title)
    student.goto("/")
    first = student.locator(".examples li").first
    expect(first).to_contain_text(title)
    expect(first).to_contain_text("from your teacher")
    screenshot(student, "lesson-student", engine)
    first.locator("a").click()
    expect(student.locator("#example-note")).to_contain_text("The value travels beside the SQL.")
    student.locator("#run-button").click()
    expect(student.locator("#statement-1 table.result tbody tr")).to_have_count(1)
    assert result_cells(student) == [["9", "10"]]


def test_starting_data_and_reset_from_the_dashboard(
    browser: Any, server: LiveServer, student: Any, teacher: Any, engine: str
) -> None:
    from playwright.sync_api import expect

    name = f"Cleo {secrets.token_hex(2)}"
    name_myself(student, name)
    log_in(teacher)
    teacher.locator("#starting-engine").select_option(engine)
    teacher.locator("#starting-sql").fill(
        "CREATE TABLE pupils (name varchar(40), grade integer);\nINSERT INTO pupils VALUES ('Ann', 5), ('Boris', 4)"
    )
    teacher.locator("#set-starting").click()
    # A sandbox made, the script run and committed, the copy made (a template database on PostgreSQL).
    confirm(teacher, timeout_ms=180_000)
    expect(teacher.get_by_text("start with your data now")).to_be_visible()
    # The student's sandbox is as it was until it is reset; the teacher resets it from the class list.
    assert "pupils" not in student.locator(".schema").inner_text()
    teacher.reload()
    teacher.locator("#students-table tr.student", has_text=name).locator(".reset-student").click()
    expect(teacher.locator("#teacher-confirm")).to_contain_text(f"sandbox of {name}?")
    confirm(teacher)
    expect(teacher.get_by_text(f"sandbox of {name} was reset")).to_be_visible()
    student.goto("/")
    expect(student.locator(".schema")).to_contain_text("pupils")
    assert api_rows(student, "SELECT name FROM pupils ORDER BY name") == [["Ann"], ["Boris"]]
    screenshot(teacher, "after-actions", engine)
    # Back to the built-in sample for the other tests of this server.
    teacher.locator(f'.clear-starting[data-engine="{engine}"]').click()
    confirm(teacher)
    expect(teacher.locator("#starting-state")).to_contain_text("the built-in sample")
