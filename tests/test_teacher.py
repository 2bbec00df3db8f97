"""The teacher's dashboard through the Flask app on SQLite: turning it on, logging in, the class list and
log, and that a student can reach no teacher page or action, whatever they send.

The actions through a real server, on SQLite and PostgreSQL, are in test_teacher_server.py; in a
browser, in test_browser_teacher.py.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from bs4 import BeautifulSoup
from flask import Flask
from flask.sessions import SecureCookieSessionInterface
from flask.testing import FlaskClient
from sqlalchemy import func, select, update

from playground import create_app
from playground.classroom import MAX_FAILED_LOGINS, Classroom, clean_name, parse_grid_text
from playground.config import ConfigError, Settings, TeacherPassword
from playground.errors import UserError
from playground.store import class_state, teacher_actions, teacher_logins

PASSWORD = "a long teacher password"


@pytest.fixture
def teacher_settings(tmp_path: Path) -> Settings:
    return Settings(
        data_dir=tmp_path / "data", secret_key="test-secret-0123456789", teacher_password=TeacherPassword.of(PASSWORD)
    )


@pytest.fixture
def app(teacher_settings: Settings) -> Iterator[Flask]:
    app = create_app(teacher_settings)
    yield app
    app.extensions["playground"].close()


def page(response: Any) -> BeautifulSoup:
    return BeautifulSoup(response.data, "html.parser")


def csrf(client: FlaskClient) -> str:
    return str(page(client.get("/")).select_one('meta[name="csrf-token"]')["content"])  # type: ignore[index]


def logged_in(app: Flask) -> tuple[FlaskClient, str]:
    client = app.test_client()
    token = csrf(client)
    reply = client.post("/teacher/login", data={"csrf_token": token, "password": PASSWORD})
    assert reply.status_code == 303 and reply.location.endswith("/teacher"), reply.data
    return client, token


def student(app: Flask, name: str | None = None) -> tuple[FlaskClient, str]:
    client = app.test_client()
    token = csrf(client)
    if name:
        assert client.post("/name", data={"csrf_token": token, "name": name}).status_code == 303
    return client, token


def run(client: FlaskClient, token: str, sql: str, params: Any = None) -> Any:
    body = {"sql": sql} | ({"params": params} if params is not None else {})
    return client.post("/api/run", json=body, headers={"X-CSRFToken": token})


# -- turning it on -------------------------------------------------------------------------------


def test_without_the_password_setting_teacher_says_how_to_turn_it_on(tmp_path: Path) -> None:
    app = create_app(Settings(data_dir=tmp_path / "data", secret_key="test-secret-0123456789"))
    client = app.test_client()
    reply = client.get("/teacher")
    assert reply.status_code == 404
    assert "PLAYGROUND_TEACHER_PASSWORD" in page(reply).select_one("#teacher-off").get_text()  # type: ignore[union-attr]
    token = csrf(client)
    # Every route of the dashboard is off, the login too; the editor offers no name field.
    assert client.post("/teacher/login", data={"csrf_token": token, "password": "anything"}).status_code == 404
    assert client.post("/teacher/read-only", data={"csrf_token": token, "on": "1", "confirm": "yes"}).status_code == 404
    assert page(client.get("/")).select_one("#display-name-form") is None
    app.extensions["playground"].close()


def test_the_password_setting_is_checked_at_start_and_kept_only_as_a_hash() -> None:
    with pytest.raises(ConfigError) as e:
        Settings.from_env({"PLAYGROUND_TEACHER_PASSWORD": "short"})
    assert "PLAYGROUND_TEACHER_PASSWORD" in str(e.value) and "short" not in str(e.value)
    with pytest.raises(ConfigError, match="PLAYGROUND_TEACHER_SESSION_MINUTES"):
        Settings.from_env({"PLAYGROUND_TEACHER_SESSION_MINUTES": "0"})
    settings = Settings.from_env({"PLAYGROUND_TEACHER_PASSWORD": PASSWORD, "PLAYGROUND_TEACHER_SESSION_MINUTES": "30"})
    assert settings.teacher_session_minutes == 30
    password = settings.teacher_password
    assert password is not None and password.matches(PASSWORD) and not password.matches(PASSWORD + " ")
    assert PASSWORD not in repr(settings) and PASSWORD.encode() not in password.digest
    # Two readings of the same environment are the same settings (the hash's salt takes no part).
    assert settings == Settings.from_env(
        {"PLAYGROUND_TEACHER_PASSWORD": PASSWORD, "PLAYGROUND_TEACHER_SESSION_MINUTES": "30"}
    )
    assert Settings.from_env({}).teacher_password is None


# -- logging in ----------------------------------------------------------------------------------


def test_the_dashboard_asks_for_the_password_and_a_wrong_one_gets_nothing(app: Flask) -> None:
    client = app.test_client()
    reply = client.get("/teacher")
    assert reply.status_code == 303 and "/teacher/login" in reply.location
    token = csrf(client)
    wrong = client.post("/teacher/login", data={"csrf_token": token, "password": "not it at all"})
    assert wrong.status_code == 403 and page(wrong).select_one("#login-error") is not None
    assert client.get("/teacher").status_code == 303
    # Without the form's CSRF token the password is not even looked at.
    assert client.post("/teacher/login", data={"password": PASSWORD}).status_code == 400
    assert client.get("/teacher").status_code == 303
    right = client.post("/teacher/login", data={"csrf_token": token, "password": PASSWORD})
    assert right.status_code == 303
    assert page(client.get("/teacher")).select_one("#students-table") is not None


def test_wrong_passwords_are_limited_per_address_even_the_right_one_then(app: Flask) -> None:
    client = app.test_client()
    token = csrf(client)
    for _ in range(MAX_FAILED_LOGINS):
        assert client.post("/teacher/login", data={"csrf_token": token, "password": "guess guess"}).status_code == 403
    refused = client.post("/teacher/login", data={"csrf_token": token, "password": PASSWORD})
    assert refused.status_code == 429 and "Too many wrong passwords" in refused.get_data(as_text=True)
    assert client.get("/teacher").status_code == 303
    # Another address still logs in; the attempts are kept in the bookkeeping, where every worker counts them.
    other = app.test_client()
    other_token = csrf(other)
    reply = other.post(
        "/teacher/login",
        data={"csrf_token": other_token, "password": PASSWORD},
        environ_base={"REMOTE_ADDR": "10.0.0.9"},
    )
    assert reply.status_code == 303
    store = app.extensions["playground"].store
    with store.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(teacher_logins)).scalar_one() == MAX_FAILED_LOGINS + 1


def test_a_teacher_session_expires(app: Flask) -> None:
    client, _ = logged_in(app)
    assert client.get("/teacher").status_code == 200
    with client.session_transaction() as session:
        session["teacher"] = session["teacher"] | {"until": time.time() - 1}
    assert client.get("/teacher").status_code == 303


def test_a_new_password_ends_the_teacher_sessions(app: Flask, teacher_settings: Settings) -> None:
    client, _ = logged_in(app)
    cookie = client.get_cookie("session")
    assert cookie is not None
    restarted = create_app(
        teacher_settings.__class__(
            **{**teacher_settings.__dict__, "teacher_password": TeacherPassword.of("another password")}
        )
    )
    other = restarted.test_client()
    other.set_cookie("session", cookie.value)
    assert other.get("/teacher").status_code == 303
    restarted.extensions["playground"].close()


# -- the class list and the log --------------------------------------------------------------------


def test_the_class_list_shows_names_runs_sizes_and_engines(app: Flask) -> None:
    ann, ann_token = student(app, "Ann")
    assert run(ann, ann_token, "SELECT x FROM some_table WHERE x > :x", {"x": 10}).status_code == 200
    assert run(ann, ann_token, "SELECT 1").status_code == 200
    bob, bob_token = student(app)
    assert run(bob, bob_token, "SELECT 2").status_code == 200
    teacher, _ = logged_in(app)
    rows = page(teacher.get("/teacher")).select("#students-table tr.student")
    shown = {r.select_one(".student-name").get_text(): r for r in rows}  # type: ignore[union-attr]
    assert shown["Ann"].select_one(".runs").get_text() == "2"  # type: ignore[union-attr]
    assert "kB" in shown["Ann"].select_one(".size").get_text()  # type: ignore[union-attr]
    assert "SQLite" in shown["Ann"].get_text()
    unnamed = [name for name in shown if name.startswith("unnamed")]
    assert len(unnamed) == 2  # Bob, and the teacher's own browser
    assert any(shown[n].select_one(".runs").get_text() == "1" for n in unnamed)  # type: ignore[union-attr]


def test_a_display_name_is_one_trimmed_line_of_at_most_40_characters(app: Flask) -> None:
    assert clean_name("  Ann \n Lee\x00 ") == "Ann Lee"
    with pytest.raises(UserError):
        clean_name("   ")
    with pytest.raises(UserError):
        clean_name("x" * 41)
    client, token = student(app, "Ann")
    assert page(client.get("/")).select_one("#display-name")["value"] == "Ann"  # type: ignore[index]
    reply = client.post("/name", data={"csrf_token": token, "name": "x" * 41}, follow_redirects=True)
    assert "at most 40" in reply.get_data(as_text=True)
    assert page(client.get("/")).select_one("#display-name")["value"] == "Ann"  # type: ignore[index]


def test_the_class_log_hides_parameter_values_unless_the_teacher_asks(app: Flask) -> None:
    ann, token = student(app, "Ann")
    assert run(ann, token, "SELECT :secret AS s", {"secret": "hunter2-value"}).status_code == 200
    teacher, _ = logged_in(app)
    log = page(teacher.get("/teacher")).select_one("#class-log-table")
    assert log is not None
    text = log.get_text(" ")
    assert "SELECT :secret AS s" in text and "Ann" in text and ":secret" in text
    assert "hunter2-value" not in teacher.get("/teacher").get_data(as_text=True)
    assert "hunter2-value" in teacher.get("/teacher?values=1").get_data(as_text=True)
    assert "hunter2-value" in teacher.get("/teacher/log?fragment=1&values=1").get_data(as_text=True)
    assert "hunter2-value" not in teacher.get("/teacher/log?fragment=1").get_data(as_text=True)


def test_the_class_log_filters_by_student(app: Flask) -> None:
    ann, ann_token = student(app, "Ann")
    bob, bob_token = student(app, "Bob")
    run(ann, ann_token, "SELECT 'from ann'")
    run(bob, bob_token, "SELECT 'from bob'")
    teacher, _ = logged_in(app)
    keys = {
        r.select_one(".student-name").get_text(): r["data-key"]  # type: ignore[union-attr]
        for r in page(teacher.get("/teacher")).select("#students-table tr.student")
    }
    only_bob = teacher.get(f"/teacher/log?student={keys['Bob']}").get_data(as_text=True)
    assert "from bob" in only_bob and "from ann" not in only_bob
    everyone = teacher.get("/teacher/log").get_data(as_text=True)
    assert "from bob" in everyone and "from ann" in everyone


def test_the_projector_shows_a_students_latest_run_and_keeps_nothing(app: Flask) -> None:
    ann, token = student(app, "Ann")
    run(ann, token, "SELECT x, y FROM some_table WHERE x = :x", {"x": 9})
    preview = run(ann, token, "DELETE FROM some_table WHERE x > :x", {"x": 0})
    assert preview.json["status"] == "preview"
    teacher, _ = logged_in(app)
    key = page(teacher.get("/teacher")).select_one('tr.student:-soup-contains("Ann")')["data-key"]  # type: ignore[index]
    shown = page(teacher.get(f"/teacher/students/{key}"))
    assert "DELETE FROM some_table" in shown.select_one("#projector-sql").get_text()  # type: ignore[union-attr]
    assert "would change 6 rows" in shown.get_text()
    assert "(values hidden)" in shown.select_one("#projector-grid").get_text()  # type: ignore[union-attr]
    # Shown, never applied: the student's rows are all there, and their preview still commits.
    assert len(run(ann, token, "SELECT * FROM some_table").json["statements"][0]["rows"]) == 6
    assert teacher.get("/teacher/students/not-a-student").status_code == 404


# -- a student can reach nothing -----------------------------------------------------------------


def _class_state(app: Flask) -> tuple[Any, ...]:
    store = app.extensions["playground"].store
    with store.engine.connect() as conn:
        return (
            tuple(conn.execute(select(class_state.c.name, class_state.c.value).order_by(class_state.c.name))),
            conn.execute(select(func.count()).select_from(teacher_actions)).scalar_one(),
        )


TEACHER_POSTS = {
    "/teacher/reset-all": {},
    "/teacher/read-only": {"on": "1"},
    "/teacher/lesson": {"title": "Hack", "text": "", "sql": "SELECT 1", "grid": ""},
    "/teacher/lesson/withdraw": {},
    "/teacher/starting-data": {"engine": "sqlite", "starting_sql": "DROP TABLE some_table"},
    "/teacher/starting-data/clear": {"engine": "sqlite"},
    "/teacher/logout": {},
}


def test_every_teacher_route_is_covered_here(app: Flask) -> None:
    routes = {r.rule for r in app.url_map.iter_rules() if r.rule.startswith("/teacher")}
    assert routes == set(TEACHER_POSTS) | {
        "/teacher",
        "/teacher/login",
        "/teacher/log",
        "/teacher/students/<key>",
        "/teacher/reset",
    }


def _forged_cookie(app: Flask, contents: dict[str, Any], key: str) -> str:
    """A session cookie saying `contents`, signed with `key` (the server's own, or a guess)."""
    interface = SecureCookieSessionInterface()
    forger = Flask("forger")
    forger.secret_key = key
    serializer = interface.get_signing_serializer(forger)
    assert serializer is not None
    return str(serializer.dumps(contents))


@pytest.mark.parametrize(
    "how", ["student session", "forged cookie", "teacher fields, wrong key", "teacher fields, servers key"]
)
def test_a_student_reaches_no_teacher_page_or_action_and_changes_nothing(app: Flask, how: str) -> None:
    ann, ann_token = student(app, "Ann")
    run(ann, ann_token, "SELECT 1")
    before = _class_state(app)
    ann_rows = run(ann, ann_token, "SELECT * FROM some_table").json["statements"][0]["rows"]
    client, token = student(app)
    cookie = client.get_cookie("session")
    assert cookie is not None
    if how == "forged cookie":
        # Not signed by the server: the server sees no session at all.
        client.set_cookie("session", cookie.value[:-4] + "AAAA")
    elif how == "teacher fields, wrong key":
        forged = _forged_cookie(
            app,
            {"teacher": {"until": time.time() + 3600, "password": "0" * 32}, "csrf_token": "x"},
            "guessed-key-123456",
        )
        client.set_cookie("session", forged)
    elif how == "teacher fields, servers key":
        # Even signed with the server's own key, a session that is not from the login is refused.
        forged = _forged_cookie(
            app, {"teacher": {"until": time.time() + 3600, "password": "0" * 32}}, app.config["SECRET_KEY"]
        )
        client.set_cookie("session", forged)
    key = page(logged_in(app)[0].get("/teacher")).select_one("tr.student")["data-key"]  # type: ignore[index]
    for path in ("/teacher", "/teacher/log", "/teacher/log?fragment=1&values=1", f"/teacher/students/{key}"):
        reply = client.get(path)
        assert reply.status_code == 303 and "/teacher/login" in reply.location, path
    for path, form in (TEACHER_POSTS | {"/teacher/reset": {"student": key, "engine": "sqlite"}}).items():
        for confirm in ({}, {"confirm": "yes"}):
            reply = client.post(path, data={"csrf_token": token, **form, **confirm})
            assert reply.status_code in (400, 403), (path, reply.status_code)
            assert b"teacher-dashboard" not in reply.data and b"teacher-confirm" not in reply.data
        # JSON, a header token: no other way in either.
        reply = client.post(path, json={**form, "confirm": "yes"}, headers={"X-CSRFToken": token})
        assert reply.status_code in (400, 403), path
    assert _class_state(app) == before
    assert run(ann, ann_token, "SELECT * FROM some_table").json["statements"][0]["rows"] == ann_rows
    # A run by Ann still writes: the class was not made read-only.
    assert run(ann, ann_token, "INSERT INTO some_table VALUES (100, 100)").json["status"] == "preview"


# -- read-only ---------------------------------------------------------------------------------


def test_read_only_refuses_students_writes_with_a_message_and_reads_work(app: Flask) -> None:
    ann, token = student(app, "Ann")
    earlier = run(ann, token, "INSERT INTO some_table VALUES (50, 50)").json["token"]
    teacher, teacher_token = logged_in(app)
    asked = teacher.post("/teacher/read-only", data={"csrf_token": teacher_token, "on": "1"})
    assert asked.status_code == 200 and page(asked).select_one("#teacher-confirm") is not None
    assert not app.extensions["playground"].store.class_is_read_only()  # asking changed nothing
    done = teacher.post("/teacher/read-only", data={"csrf_token": teacher_token, "on": "1", "confirm": "yes"})
    assert done.status_code == 303
    refused = run(ann, token, "UPDATE some_table SET y = 0")
    assert refused.status_code == 423 and "read-only" in refused.json["error"]["message"]
    commit = ann.post("/api/commit", json={"token": earlier}, headers={"X-CSRFToken": token})
    assert commit.status_code == 423
    assert ann.post("/api/reset", json={}, headers={"X-CSRFToken": token}).status_code == 423
    assert len(run(ann, token, "SELECT * FROM some_table").json["statements"][0]["rows"]) == 6
    page_reply = ann.post(
        "/run", data={"csrf_token": token, "sql": "DELETE FROM some_table", "engine": "sqlite"}, follow_redirects=True
    )
    assert "read-only for a demonstration" in page_reply.get_data(as_text=True)
    teacher.post("/teacher/read-only", data={"csrf_token": teacher_token, "on": "0", "confirm": "yes"})
    # The preview made before the class went read-only still commits afterwards.
    assert (
        ann.post("/api/commit", json={"token": earlier}, headers={"X-CSRFToken": token}).json["status"] == "committed"
    )
    actions = page(teacher.get("/teacher")).select("#actions-table td.action")
    assert [a.get_text() for a in actions] == ["read-only", "read-only"]


def test_the_lesson_grid_is_csv_with_the_parameters_first() -> None:
    grid = parse_grid_text("x,y\n9,11\n13,15\n")
    assert grid.columns == ("x", "y") and grid.rows == (("9", "11"), ("13", "15"))
    assert parse_grid_text("").columns == ()
    assert parse_grid_text(":name\nАнна").rows == (("Анна",),)
    with pytest.raises(UserError, match="Line 3"):
        parse_grid_text("x,y\n1,2\n3")


def test_a_lesson_whose_grid_does_not_match_its_sql_is_refused_and_kept_in_the_form(app: Flask) -> None:
    teacher, token = logged_in(app)
    form = {"csrf_token": token, "title": "T", "text": "", "sql": "SELECT :a", "grid": "b\n1", "confirm": "yes"}
    reply = teacher.post("/teacher/lesson", data=form)
    assert reply.status_code == 400
    shown = page(reply)
    assert "grid's parameters must be the SQL's" in shown.select_one("#teacher-error").get_text()  # type: ignore[union-attr]
    assert shown.select_one("#lesson-sql").get_text() == "SELECT :a"  # type: ignore[union-attr]
    assert Classroom(app.extensions["playground"], app.config["SECRET_KEY"]).lesson() is None


def test_teacher_logins_are_recorded_for_the_limit_and_old_ones_let_go(app: Flask) -> None:
    client = app.test_client()
    token = csrf(client)
    client.post("/teacher/login", data={"csrf_token": token, "password": "wrong wrong"})
    store = app.extensions["playground"].store
    with store.engine.begin() as conn:
        conn.execute(update(teacher_logins).values(at=teacher_logins.c.at - 2 * 24 * 3600))
    client.post("/teacher/login", data={"csrf_token": token, "password": PASSWORD})
    with store.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(teacher_logins)).scalar_one() == 1


@pytest.mark.parametrize("back", ["//evil.example/", "/\\evil.example/", "https://evil.example/"])
def test_the_name_form_goes_back_only_to_this_site(app: Flask, back: str) -> None:
    client, token = student(app)
    reply = client.post("/name", data={"csrf_token": token, "name": "Ann", "back": back})
    assert reply.status_code == 303 and reply.location == "/"


def test_a_plain_run_costs_the_bookkeeping_nothing_more_with_the_dashboard_on(app: Flask) -> None:
    """Names, the class list and the log read what the runs leave anyway; read-only is asked only of a write."""
    from sqlalchemy import event

    service = app.extensions["playground"]
    ann, token = student(app, "Ann")
    run(ann, token, "SELECT 1")  # the sandbox is made and touched
    service.store.run_log.flush()
    statements: list[str] = []

    def seen(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    event.listen(service.store.engine, "before_cursor_execute", seen)
    try:
        assert run(ann, token, "SELECT * FROM some_table WHERE x > :x", {"x": 1}).status_code == 200
        assert statements == []
        assert run(ann, token, "DELETE FROM some_table").json["status"] == "preview"
        assert len(statements) == 2 and "playground_class_state" in statements[0]
        assert "playground_pending_writes" in statements[1]
    finally:
        event.remove(service.store.engine, "before_cursor_execute", seen)


def test_the_dashboard_and_its_refusals_speak_russian(app: Flask) -> None:
    russian = {"Accept-Language": "ru-RU,ru;q=0.9"}
    ann, token = student(app, "Аня")
    assert "Ваше имя для учителя" in ann.get("/", headers=russian).get_data(as_text=True)
    teacher, teacher_token = logged_in(app)
    dashboard = teacher.get("/teacher", headers=russian).get_data(as_text=True)
    assert "Панель учителя" in dashboard and "Журнал класса" in dashboard and "Аня" in dashboard
    asked = teacher.post("/teacher/read-only", data={"csrf_token": teacher_token, "on": "1"}, headers=russian).get_data(
        as_text=True
    )
    assert "Перевести класс в режим «только чтение»?" in asked
    teacher.post("/teacher/read-only", data={"csrf_token": teacher_token, "on": "1", "confirm": "yes"})
    refused = ann.post("/api/run", json={"sql": "DELETE FROM some_table"}, headers={"X-CSRFToken": token, **russian})
    assert refused.status_code == 423
    assert refused.json["error"]["message"].startswith("Учитель перевёл класс в режим «только чтение»")
