"""Every action of the teacher's dashboard through a real server (gunicorn, two workers), on SQLite and on
PostgreSQL with the non-superuser admin role compose makes: each asks first (changing nothing), then acts,
and is listed among the teacher's actions; the students see the effect at once.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import psycopg2
import pytest
from admin_role_support import admin_role_made_by_the_init_script
from bs4 import BeautifulSoup
from server_support import HttpClient, LiveServer, Reply, live_server

from playground.backends.postgresql import PostgresBackend
from playground.config import Limits

PASSWORD = "teacher password for tests"
T = TypeVar("T")


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A classroom server with a teacher's password; on PostgreSQL, the admin role compose's init script makes."""
    env = {"PLAYGROUND_TEACHER_PASSWORD": PASSWORD, "PLAYGROUND_RUN_LOG_FLUSH_SECONDS": "1"}
    base = tmp_path_factory.mktemp(f"teacher-{request.param}")
    if request.param == "sqlite":
        with live_server(base, workers=2, env=env) as running:
            running.engine = "sqlite"  # type: ignore[attr-defined]
            yield running
        return
    superuser = request.getfixturevalue("postgres_url")
    prefix = f"tt{secrets.token_hex(3)}"
    with admin_role_made_by_the_init_script(superuser) as admin:
        env |= {
            "PLAYGROUND_DATABASE_URL": admin.url,
            "PLAYGROUND_POSTGRES_PREFIX": prefix,
            "PLAYGROUND_POSTGRES_SPARE_SANDBOXES": "2",
        }
        try:
            with live_server(base, workers=2, env=env) as running:
                running.engine = "postgresql"  # type: ignore[attr-defined]
                running.admin_url = admin.url  # type: ignore[attr-defined]
                running.prefix = prefix  # type: ignore[attr-defined]
                yield running
        finally:
            backend = PostgresBackend(admin.url, Limits(), sandbox_prefix=prefix)
            backend.drop_everything()
            backend.close()


def eventually(check: Callable[[], T], *, timeout: float = 30.0) -> T:
    """The check's first truthy answer (the run log reaches the bookkeeping within seconds, per worker)."""
    deadline = time.monotonic() + timeout
    while True:
        answer = check()
        if answer or time.monotonic() > deadline:
            assert answer, "not seen in time"
            return answer
        time.sleep(0.2)


def html(reply: Reply) -> BeautifulSoup:
    return BeautifulSoup(reply.body, "html.parser")


class Teacher:
    def __init__(self, server: LiveServer) -> None:
        self.client = HttpClient(server.url).start()
        reply = self.post("/teacher/login", password=PASSWORD)
        assert reply.status == 200 and html(reply).select_one("#teacher-dashboard"), reply.text

    def post(self, path: str, **form: str) -> Reply:
        return self.client.request("POST", path, form={"csrf_token": self.client.csrf, **form})

    def act(self, path: str, **form: str) -> BeautifulSoup:
        """Ask (the question is a page of its own, nothing done yet), then confirm; the dashboard it leads to."""
        asked = self.post(path, **form)
        assert asked.status == 200 and html(asked).select_one("#teacher-confirm"), asked.text[-2000:]
        done = self.post(path, **form, confirm="yes")
        assert done.status == 200, done.text[-2000:]
        return html(done)

    def dashboard(self, query: str = "") -> BeautifulSoup:
        reply = self.client.request("GET", "/teacher" + query)
        assert reply.status == 200
        return html(reply)

    def actions(self) -> list[str]:
        return [td.get_text() for td in self.dashboard().select("#actions-table td.action")]

    def key_of(self, name: str) -> str:
        row = self.dashboard().select_one(f'tr.student:-soup-contains("{name}")')
        assert row is not None, name
        return str(row["data-key"])


class Student:
    def __init__(self, server: LiveServer, name: str) -> None:
        self.client = HttpClient(server.url).start()
        reply = self.client.request("POST", "/name", form={"csrf_token": self.client.csrf, "name": name})
        assert reply.status == 200

    def run(self, sql: str, params: Any = None) -> Reply:
        return self.client.post_json("/api/run", {"sql": sql} | ({"params": params} if params is not None else {}))

    def write(self, sql: str) -> None:
        preview = self.run(sql)
        assert preview.json["status"] == "preview", preview.text
        assert self.client.post_json("/api/commit", {"token": preview.json["token"]}).json["status"] == "committed"

    def tables(self) -> set[str]:
        return {t["name"] for t in self.client.request("GET", "/api/schema").json["tables"]}

    def rows(self, sql: str) -> list[list[Any]]:
        return self.client.rows(sql)


def test_the_class_list_and_log_show_each_students_runs(server: LiveServer) -> None:
    ann = Student(server, f"Ann {secrets.token_hex(2)}")
    ann.run("SELECT x FROM some_table WHERE x > :x", {"x": 10})
    ann.run("SELECT no_such_column FROM some_table")
    teacher = Teacher(server)
    name = ann.client.request("GET", "/").text.split('id="display-name" value="')[1].split('"')[0]

    def ann_row() -> Any:
        row = teacher.dashboard().select_one(f'tr.student:-soup-contains("{name}")')
        return row if row is not None and row.select_one(".runs").get_text() == "2" else None

    row = eventually(ann_row)
    assert server.engine in row["data-engine"]  # type: ignore[attr-defined]
    assert row.select_one(".size").get_text() not in ("", "?")
    log = eventually(
        lambda: (
            (lines := teacher.dashboard(f"?student={row['data-key']}").select("#class-log-table tr.log-line"))
            and len(lines) == 2
            and lines
        )
    )
    assert [line["data-outcome"] for line in log] == ["error", "ok"]
    assert "values hidden" in log[1].get_text() and "10" not in log[1].select_one(".params").get_text()


def test_reset_one_sandbox_and_then_all(server: LiveServer) -> None:
    ann, bob = Student(server, "Ann R"), Student(server, "Bob R")
    ann.write("DELETE FROM some_table")
    bob.write("DELETE FROM some_table")
    teacher = Teacher(server)
    key = teacher.key_of("Ann R")
    asked = teacher.post("/teacher/reset", student=key, engine=server.engine)  # type: ignore[attr-defined]
    assert "sandbox of Ann R?" in html(asked).select_one("#teacher-confirm").get_text()  # type: ignore[union-attr]
    assert ann.rows("SELECT count(*) FROM some_table") == [[0]]  # asking changed nothing
    page = teacher.act("/teacher/reset", student=key, engine=server.engine)  # type: ignore[attr-defined]
    assert "Ann R" in page.get_text() and "was reset" in page.get_text()
    assert ann.rows("SELECT count(*) FROM some_table") == [[6]]
    assert bob.rows("SELECT count(*) FROM some_table") == [[0]]
    teacher.act("/teacher/reset-all")
    assert bob.rows("SELECT count(*) FROM some_table") == [[6]]
    assert teacher.actions()[:2] == ["reset-all", "reset"]


def test_read_only_refuses_writes_while_it_lasts(server: LiveServer) -> None:
    ann = Student(server, "Ann RO")
    teacher = Teacher(server)
    page = teacher.act("/teacher/read-only", on="1")
    assert "read-only now" in page.get_text()
    refused = ann.run("INSERT INTO some_table VALUES (99, 99)")
    assert refused.status == 423 and "read-only" in refused.json["error"]["message"]
    assert ann.rows("SELECT count(*) FROM some_table") == [[6]]  # reads work
    assert ann.client.post_json("/api/reset", {}).status == 423
    teacher.act("/teacher/read-only", on="0")
    ann.write("INSERT INTO some_table VALUES (99, 99)")
    assert ann.rows("SELECT count(*) FROM some_table") == [[7]]
    assert teacher.actions()[:2] == ["read-only", "read-only"]


def test_a_published_lesson_heads_every_students_examples_at_once(server: LiveServer) -> None:
    ann = Student(server, "Ann L")
    teacher = Teacher(server)
    title = f"Today {secrets.token_hex(2)}"
    teacher.act(
        "/teacher/lesson",
        title=title,
        text="Bound values.\n\nTry 13.",
        sql="SELECT x, y FROM some_table WHERE x = :x",
        grid="x\n9\n13",
    )
    first = html(ann.client.request("GET", "/")).select_one(".examples li")
    assert first is not None and first.get("id") == "class-lesson" and title in first.get_text()
    opened = html(ann.client.request("GET", first.select_one("a")["href"]))  # type: ignore[index]
    assert opened.select_one("#sql").get_text() == "SELECT x, y FROM some_table WHERE x = :x"  # type: ignore[union-attr]
    assert [opened.select_one(f"#cell-{r}-0")["value"] for r in range(2)] == ["9", "13"]  # type: ignore[index]
    assert "Bound values." in opened.select_one("#example-note").get_text()  # type: ignore[union-attr]
    teacher.act("/teacher/lesson/withdraw")
    assert html(ann.client.request("GET", "/")).select_one("#class-lesson") is None
    assert teacher.actions()[:2] == ["withdraw-lesson", "publish-lesson"]


def test_the_projector_shows_a_students_latest_run_read_only(server: LiveServer) -> None:
    ann = Student(server, "Ann P")
    preview = ann.run("UPDATE some_table SET y = :y", {"y": 0})
    assert preview.json["status"] == "preview"
    teacher = Teacher(server)
    key = teacher.key_of("Ann P")

    def shown() -> BeautifulSoup | None:
        page = html(teacher.client.request("GET", f"/teacher/students/{key}"))
        return page if page.select_one("#projector-sql") else None

    page = eventually(shown)
    assert page.select_one("#projector-sql").get_text() == "UPDATE some_table SET y = :y"  # type: ignore[union-attr]
    assert "would change 6 rows" in page.get_text()
    assert ann.rows("SELECT count(*) FROM some_table WHERE y = 0") == [[0]]
    assert ann.client.post_json("/api/commit", {"token": preview.json["token"]}).json["status"] == "committed"


STARTING = """CREATE TABLE pupils (name varchar(40) NOT NULL, grade integer);
INSERT INTO pupils (name, grade) VALUES ('Ann', 5), ('Boris', 4);
DROP TABLE some_table"""


def test_starting_data_is_run_once_under_the_checks_and_cloned_for_new_and_reset_sandboxes(
    server: LiveServer,
) -> None:
    engine = server.engine  # type: ignore[attr-defined]
    before = Student(server, "Before S")
    assert "some_table" in before.tables()
    teacher = Teacher(server)
    # A script the checks refuse changes nothing, and says why.
    refused = teacher.post(
        "/teacher/starting-data", engine=engine, starting_sql="CREATE TABLE t (x int); COMMIT", confirm="yes"
    )
    assert refused.status == 403 and "not changed" in html(refused).select_one("#teacher-error").get_text()  # type: ignore[union-attr]
    assert "some_table" in Student(server, "Still S").tables()
    page = teacher.act("/teacher/starting-data", engine=engine, starting_sql=STARTING)
    assert "start with your data now" in page.get_text()
    new = Student(server, "New S")
    assert "pupils" in new.tables() and "some_table" not in new.tables()
    assert new.rows("SELECT name, grade FROM pupils ORDER BY name") == [["Ann", 5], ["Boris", 4]]
    # The new sandbox's tables are its own: the student may change and drop them.
    new.write("DROP TABLE pupils")
    assert "pupils" not in new.tables()
    # A sandbox made before keeps what it had until it is reset.
    assert "some_table" in before.tables()
    assert before.client.post_json("/api/reset", {}).status == 200
    assert "pupils" in before.tables()
    assert teacher.actions()[0] == "starting-data"
    # The staging sandbox is gone from the class, and its runs are not in the class log.
    assert all("CREATE TABLE pupils" not in td.get_text() for td in teacher.dashboard().select("#class-log-table pre"))
    if engine == "postgresql":
        assert_spares_copy(server, "cls")
    teacher.act("/teacher/starting-data/clear", engine=engine)
    assert "some_table" in Student(server, "After S").tables()
    if engine == "postgresql":
        assert_spares_copy(server, "tpl")


def assert_spares_copy(server: LiveServer, kind: str) -> None:
    """The spare sandboxes are made anew from the current starting data (their comment names its template)."""

    def spares() -> list[str]:
        conn = psycopg2.connect(server.admin_url)  # type: ignore[attr-defined]
        try:
            with conn.cursor() as cur:
                cur.execute(
                    "SELECT pg_catalog.shobj_description(oid, 'pg_database') FROM pg_database WHERE datname ~ %s",
                    (f"^{server.prefix}_sb_",),  # type: ignore[attr-defined]
                )
                return [r[0] for r in cur.fetchall() if r[0] and r[0].startswith("SQL Playground spare")]
        finally:
            conn.close()

    # A wait, not a bound: on a loaded machine making two spares takes a while.
    eventually(lambda: len(spares()) >= 2 and all(f"_{kind}_" in c for c in spares()), timeout=300)


def test_a_students_session_reaches_no_teacher_route_through_the_server(server: LiveServer) -> None:
    ann = Student(server, "Ann X")
    teacher = Teacher(server)
    key = teacher.key_of("Ann X")
    before = (teacher.actions(), teacher.dashboard().select_one("#read-only-state").get_text())  # type: ignore[union-attr]
    tables_before = (ann.tables(), Student(server, "New X0").tables())
    mallory = Student(server, "Mallory")
    forms = {
        "/teacher/reset": {"student": key, "engine": server.engine},  # type: ignore[attr-defined]
        "/teacher/reset-all": {},
        "/teacher/read-only": {"on": "1"},
        "/teacher/lesson": {"title": "x", "text": "", "sql": "SELECT 1", "grid": ""},
        "/teacher/lesson/withdraw": {},
        "/teacher/starting-data": {"engine": server.engine, "starting_sql": "DROP TABLE some_table"},  # type: ignore[attr-defined]
        "/teacher/starting-data/clear": {"engine": server.engine},  # type: ignore[attr-defined]
    }
    for path, form in forms.items():
        reply = mallory.client.request("POST", path, form={"csrf_token": mallory.client.csrf, **form, "confirm": "yes"})
        assert reply.status == 403 and "teacher-dashboard" not in reply.text, path
    for path in ("/teacher", "/teacher/log?values=1", f"/teacher/students/{key}"):
        reply = mallory.client.request("GET", path)
        assert "login-form" in reply.text and "teacher-dashboard" not in reply.text and "projector" not in reply.text
    assert (teacher.actions(), teacher.dashboard().select_one("#read-only-state").get_text()) == before  # type: ignore[union-attr]
    assert (ann.tables(), Student(server, "New X").tables()) == tables_before
