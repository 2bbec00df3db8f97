"""The teacher's view of the class: who is here, what they ran, and what the teacher does to the class.

Flask-free, like the service it calls. What the class shares lives in the bookkeeping database
(store.py), never in a process's memory: the students' display names, the class's settings
(read-only, the published lesson, the starting data per engine), the teacher's actions and the
login attempts. None of it costs a plain run anything: the class list and the class log are read
from the sandbox registry and the run log (batched, see run_log.py), and the read-only switch is
asked only when a student's run would write (service.py).

Parameter values: the run log keeps each run's grid (History reopens runs from it), so the
teacher's log can show them; it hides them unless the teacher asks. The process's log lines never
carry them (logs.py).
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import io
import json
import logging
import re
import secrets
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import delete, func, insert, select

from .errors import UserError
from .examples import Example
from .grid import ParameterGrid
from .logs import event
from .messages import _, _n
from .service import Playground, RunRequest
from .store import READ_ONLY, STARTING_DATA, runs, sandboxes, students, teacher_actions, teacher_logins

log = logging.getLogger("playground.teacher")

MAX_NAME_CHARS = 40
CLASS_LOG_LENGTH = 100
ACTIONS_SHOWN = 30
LESSON = "lesson"
LESSON_SLUG = "class-lesson"
# Failed logins per address within the window, before the login form refuses to check more.
MAX_FAILED_LOGINS = 5
FAILED_LOGIN_WINDOW_SECONDS = 15 * 60
_LOGGED_ACTIONS = ("run", "commit")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


class ClassroomError(UserError):
    """A teacher's action or a display name that cannot be taken as sent; nothing was changed."""


class TooManyLogins(UserError):
    """Too many wrong passwords from one address lately."""

    status = 429


@dataclass(frozen=True)
class Student:
    """One sandbox of the class as the dashboard lists it."""

    key: str  # opaque: the visitor id itself is never shown, not even to the teacher
    name: str | None
    engine: str
    last_activity: float
    runs: int
    size_bytes: int | None


@dataclass(frozen=True)
class LoggedRun:
    """One run or commit of the class log."""

    id: int
    at: float
    student: str  # key
    name: str | None
    engine: str
    action: str
    outcome: str
    sql: str
    request: RunRequest | None  # as History keeps it: the SQL, the grid or the API's parameters, the engine
    rowcount: int | None
    error: str | None

    @property
    def parameters(self) -> tuple[tuple[str, ...], tuple[tuple[str, ...], ...]]:
        """The run's parameter names and value rows as text (the page's grid, or the API's JSON)."""
        if self.request is None:
            return (), ()
        if self.request.grid is not None:
            return self.request.grid.columns, self.request.grid.rows
        params = self.request.params
        sets = params if isinstance(params, list) else [params] if isinstance(params, dict) else []
        sets = [p for p in sets if isinstance(p, dict)]
        names = tuple(dict.fromkeys(k for p in sets for k in p))
        return names, tuple(tuple(_text(p.get(n)) for n in names) for p in sets)


@dataclass(frozen=True)
class Lesson:
    """What the teacher published: it heads every student's Examples."""

    title: str
    text: str
    sql: str
    grid: ParameterGrid

    def as_example(self) -> Example:
        values = tuple((name, tuple(row[i] for row in self.grid.rows)) for i, name in enumerate(self.grid.columns))
        paragraphs = [p.strip() for p in self.text.split("\n\n") if p.strip()] + ["", ""]
        return Example(LESSON_SLUG, self.title, self.sql, values, (paragraphs[0], " ".join(paragraphs[1:]).strip()))


@dataclass(frozen=True)
class TeacherAction:
    at: float
    action: str
    detail: str


@dataclass(frozen=True)
class StartingData:
    """The teacher's starting data on one engine: what it is (its name) and the script it came from."""

    engine: str
    name: str
    sql: str
    at: float


def clean_name(raw: str) -> str:
    """A display name as shown: trimmed, one line, not empty, at most MAX_NAME_CHARS."""
    name = " ".join(_CONTROL.sub(" ", raw).split())
    if not name:
        raise ClassroomError(_("Type a name to show to your teacher (or leave the page as it is)."))
    if len(name) > MAX_NAME_CHARS:
        raise ClassroomError(
            _("A name has at most %(most)s characters; this one has %(count)s.", most=MAX_NAME_CHARS, count=len(name))
        )
    return name


def parse_grid_text(text: str) -> ParameterGrid:
    """The lesson form's grid: CSV, a header of parameter names, then one line of values per run."""
    lines = [row for row in csv.reader(io.StringIO(text.strip())) if any(cell.strip() for cell in row)]
    if not lines:
        return ParameterGrid()
    header = [c.strip().lstrip(":") for c in lines[0]]
    if any(not c for c in header) or len(set(header)) != len(header):
        raise ClassroomError(_("The grid's first line names each parameter once, separated by commas (x,y)."))
    rows = lines[1:] or [[""] * len(header)]
    for number, row in enumerate(rows, start=2):
        if len(row) != len(header):
            raise ClassroomError(
                _n(
                    "Line %(line)s of the grid has %(num)s value; the first line names %(names)s.",
                    "Line %(line)s of the grid has %(num)s values; the first line names %(names)s.",
                    len(row),
                    line=number,
                    names=len(header),
                )
            )
    return ParameterGrid(tuple(header), ("auto",) * len(header), tuple(tuple(r) for r in rows))


def grid_text(grid: ParameterGrid) -> str:
    """The lesson form's grid as CSV, to edit a published lesson."""
    if not grid.columns:
        return ""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(grid.columns)
    writer.writerows(grid.rows)
    return out.getvalue()


class Classroom:
    """The class on one service: lists, the log, and the teacher's actions (each logged)."""

    def __init__(self, playground: Playground, secret: str) -> None:
        self.playground = playground
        self.store = playground.store
        self._secret = secret.encode()

    # -- students ---------------------------------------------------------------------------

    def student_key(self, visitor: str) -> str:
        """The opaque key the dashboard uses for a visitor (an HMAC: it cannot be turned back into the id)."""
        return hmac.new(self._secret, f"student:{visitor}".encode(), hashlib.sha256).hexdigest()[:20]

    def set_name(self, visitor: str, raw: str) -> str:
        """Keep the visitor's display name (one write, when they set it)."""
        name = clean_name(raw)
        with self.store.engine.begin() as conn:
            conn.execute(delete(students).where(students.c.visitor == visitor))
            conn.execute(insert(students).values(visitor=visitor, name=name, named_at=self.store.clock()))
        return name

    def name_of(self, visitor: str) -> str | None:
        with self.store.engine.connect() as conn:
            return conn.execute(select(students.c.name).where(students.c.visitor == visitor)).scalar_one_or_none()

    def _names(self) -> dict[str, str]:
        with self.store.engine.connect() as conn:
            return {r.visitor: r.name for r in conn.execute(select(students.c.visitor, students.c.name))}

    def students(self) -> list[Student]:
        """Every registered sandbox, newest activity first: name, last activity, runs, size, engine."""
        self.store.run_log.flush()
        with self.store.engine.connect() as conn:
            registry = conn.execute(select(sandboxes.c.visitor, sandboxes.c.engine, sandboxes.c.last_used_at)).all()
            counted = conn.execute(
                select(runs.c.visitor, runs.c.engine, func.count(), func.max(runs.c.at))
                .where(runs.c.action.in_(_LOGGED_ACTIONS))
                .group_by(runs.c.visitor, runs.c.engine)
            ).all()
        names = self._names()
        activity = {(v, e): (n, at) for v, e, n, at in counted}
        sizes: dict[tuple[str, str], int] = {}
        for engine in {r.engine for r in registry}:
            if engine in self.playground.backends:
                visitors = [r.visitor for r in registry if r.engine == engine]
                try:
                    found = self.playground.backends[engine].sandbox_sizes(visitors)
                except Exception as e:  # the list still shows; the size column says it does not know
                    log.warning("sandbox sizes on %s not read: %s", engine, type(e).__name__)
                    found = {}
                sizes |= {(v, engine): size for v, size in found.items()}
        listed = []
        for r in registry:
            count, last_run = activity.get((r.visitor, r.engine), (0, None))
            listed.append(
                Student(
                    key=self.student_key(r.visitor),
                    name=names.get(r.visitor),
                    engine=r.engine,
                    last_activity=max(r.last_used_at, last_run or 0.0),
                    runs=int(count),
                    size_bytes=sizes.get((r.visitor, r.engine)),
                )
            )
        return sorted(listed, key=lambda s: (-s.last_activity, s.name or "", s.engine))

    def visitor_of(self, key: str) -> str | None:
        """The visitor behind a dashboard key, among the registered sandboxes and the named students."""
        with self.store.engine.connect() as conn:
            known = set(conn.execute(select(sandboxes.c.visitor)).scalars()) | set(
                conn.execute(select(students.c.visitor)).scalars()
            )
        return next((v for v in known if hmac.compare_digest(self.student_key(v), key)), None)

    # -- the class log ----------------------------------------------------------------------

    def class_log(self, *, student: str | None = None, limit: int = CLASS_LOG_LENGTH) -> list[LoggedRun]:
        """The latest runs and commits of every student (or one), newest first."""
        self.store.run_log.flush()  # this process's own lines; other workers' follow within seconds
        # By the time of the run: each worker writes its batch on its own, so ids follow the writes, not the runs.
        query = (
            select(runs)
            .where(runs.c.action.in_(_LOGGED_ACTIONS))
            .order_by(runs.c.at.desc(), runs.c.id.desc())
            .limit(limit)
        )
        if student is not None:
            visitor = self.visitor_of(student)
            if visitor is None:
                return []
            query = query.where(runs.c.visitor == visitor)
        with self.store.engine.connect() as conn:
            rows = conn.execute(query).all()
        names = self._names()
        return [self._logged(r, names) for r in rows]

    def latest_run(self, student: str) -> LoggedRun | None:
        found = self.class_log(student=student, limit=1)
        return found[0] if found else None

    def _logged(self, row: Any, names: dict[str, str]) -> LoggedRun:
        request = None
        if row.work:
            try:
                request = RunRequest.from_json(json.loads(row.work))
            except (ValueError, KeyError, TypeError):
                request = None
        return LoggedRun(
            id=row.id,
            at=row.at,
            student=self.student_key(row.visitor),
            name=names.get(row.visitor),
            engine=row.engine,
            action=row.action,
            outcome=row.outcome,
            sql=row.sql or "",
            request=request,
            rowcount=row.rowcount,
            error=row.error,
        )

    def replay(self, student: str) -> tuple[LoggedRun | None, Any]:
        """A student's latest run, and what it shows now on their sandbox, run and rolled back (never kept)."""
        latest = self.latest_run(student)
        visitor = self.visitor_of(student)
        if latest is None or visitor is None or latest.engine not in self.playground.backends:
            return latest, None
        if latest.request is None:
            return latest, None
        try:
            return latest, self.playground.evaluate(visitor, replace(latest.request, engine=latest.engine))
        except UserError as e:
            return latest, e

    # -- the class's settings ---------------------------------------------------------------

    def read_only(self) -> bool:
        return self.store.class_is_read_only()

    def lesson(self) -> Lesson | None:
        raw = self.store.class_value(LESSON)
        if not raw:
            return None
        data = json.loads(raw)
        grid = data["grid"]
        return Lesson(
            data["title"],
            data["text"],
            data["sql"],
            ParameterGrid(tuple(grid["columns"]), tuple(grid["types"]), tuple(tuple(r) for r in grid["rows"])),
        )

    def starting_data(self) -> list[StartingData]:
        found = []
        for engine in self.playground.engines:
            raw = self.store.class_value(STARTING_DATA.format(engine=engine))
            if raw:
                data = json.loads(raw)
                found.append(StartingData(engine, data["name"], data["sql"], data["at"]))
        return found

    def actions(self, limit: int = ACTIONS_SHOWN) -> list[TeacherAction]:
        with self.store.engine.connect() as conn:
            rows = conn.execute(select(teacher_actions).order_by(teacher_actions.c.id.desc()).limit(limit)).all()
        return [TeacherAction(r.at, r.action, r.detail) for r in rows]

    # -- the teacher's actions (each one logged) --------------------------------------------

    def _logged_action(self, action: str, detail: str) -> None:
        with self.store.engine.begin() as conn:
            conn.execute(insert(teacher_actions).values(at=self.store.clock(), action=action, detail=detail))
        event(log, "teacher action", action=action)

    def reset(self, student: str, engine: str) -> str:
        """Reset one student's sandbox on one engine to the starting data; the student's name or key."""
        visitor = self.visitor_of(student)
        if visitor is None:
            raise ClassroomError(_("There is no such student in the class (any more)."))
        self.playground.reset(visitor, engine, by_teacher=True)
        who = self.name_of(visitor) or student
        self._logged_action("reset", f"{who} ({self.playground.backend(engine).label})")
        return who

    def reset_all(self) -> int:
        """Reset every registered sandbox to the starting data; how many."""
        with self.store.engine.connect() as conn:
            registry = conn.execute(select(sandboxes.c.visitor, sandboxes.c.engine)).all()
        done = 0
        for visitor, engine in registry:
            if engine in self.playground.backends:
                self.playground.reset(visitor, engine, by_teacher=True)
                done += 1
        self._logged_action("reset-all", f"{done} sandboxes")
        return done

    def set_read_only(self, on: bool) -> None:
        self.store.set_class_value(READ_ONLY, "1" if on else None)
        self._logged_action("read-only", "on" if on else "off")

    def publish_lesson(self, title: str, text: str, sql: str, grid: ParameterGrid) -> Lesson:
        """Put a lesson at the top of every student's Examples (checked: the grid names the SQL's parameters)."""
        title, text = " ".join(title.split()), text.strip()
        if not title:
            raise ClassroomError(_("A lesson needs a title."))
        if len(title) > 200:
            raise ClassroomError(_("A lesson's title has at most 200 characters."))
        if not sql.strip():
            raise ClassroomError(_("A lesson needs SQL for the students to run."))
        if len(text) > 10_000:
            raise ClassroomError(_("A lesson's text has at most 10,000 characters."))
        parameters = self.playground.parameters_of(sql, None)  # a UserError if the SQL cannot be read
        if set(grid.columns) != set(parameters):
            raise ClassroomError(
                _(
                    "The grid's parameters must be the SQL's (%(expected)s); the grid names %(named)s.",
                    expected=", ".join(parameters) or "—",
                    named=", ".join(grid.columns) or "—",
                )
            )
        if len(grid.rows) > self.playground.settings.limits.max_grid_rows:
            raise ClassroomError(_("The grid has more rows than a run takes."))
        lesson = Lesson(title, text, sql, grid)
        grid_json = {"columns": list(grid.columns), "types": list(grid.types), "rows": [list(r) for r in grid.rows]}
        value = json.dumps({"title": title, "text": text, "sql": sql, "grid": grid_json}, ensure_ascii=False)
        self.store.set_class_value(LESSON, value)
        self._logged_action("publish-lesson", title)
        return lesson

    def withdraw_lesson(self) -> None:
        self.store.set_class_value(LESSON, None)
        self._logged_action("withdraw-lesson", "")

    def set_starting_data(self, engine: str, sql: str) -> StartingData:
        """Run the script once on a fresh copy of the sample, under a student's checks, and clone the result.

        The script runs as a student's run does (the statement check, the time limit, the size cap)
        in a sandbox of its own, and is committed; that sandbox is then copied as what new and reset
        sandboxes start from (on PostgreSQL, a template database). Nothing changes if it fails.
        """
        backend = self.playground.backend(engine)
        if not sql.strip():
            raise ClassroomError(_("Paste the SQL script that makes the starting data."))
        stage = secrets.token_hex(16)  # a sandbox no visitor has
        self.store.register_sandbox(stage, backend.name)
        try:
            backend.make_sample_sandbox(stage)
            outcome = self.playground.run(stage, RunRequest(sql, backend.name, params=None), by_teacher=True)
            if outcome.token:
                committed = self.playground.commit(stage, outcome.token, by_teacher=True)
                if committed.status != "committed":
                    raise ClassroomError(_("The script's data changed between its preview and its commit; try again."))
            name = backend.capture_starting_data(stage)
        finally:
            # The staging runs are the teacher's, not a student's: they leave the class log.
            self.store.run_log.flush()
            with self.store.engine.begin() as conn:
                conn.execute(delete(runs).where(runs.c.visitor == stage))
            self.store.forget_sandbox(stage, backend.name)
            self.playground.sandboxes.forget(stage, backend.name)
            try:
                backend.drop_sandbox(stage)
            except Exception as e:
                log.warning("the staging sandbox was not dropped: %s", type(e).__name__)
        at = self.store.clock()
        self.store.set_class_value(
            STARTING_DATA.format(engine=backend.name), json.dumps({"name": name, "sql": sql, "at": at})
        )
        backend.discard_starting_data(keep=name)
        self._logged_action("starting-data", f"{backend.label}: {_first_line(sql)}")
        return StartingData(backend.name, name, sql, at)

    def clear_starting_data(self, engine: str) -> None:
        """New and reset sandboxes start from the built-in sample again."""
        backend = self.playground.backend(engine)
        self.store.set_class_value(STARTING_DATA.format(engine=backend.name), None)
        backend.discard_starting_data(keep=None)
        self._logged_action("starting-data", f"{backend.label}: the built-in sample")

    # -- logging in -------------------------------------------------------------------------

    def check_login_allowed(self, client: str) -> None:
        """Refuse (429) a client with too many wrong passwords lately; the attempts are kept in the bookkeeping."""
        since = self.store.clock() - FAILED_LOGIN_WINDOW_SECONDS
        with self.store.engine.connect() as conn:
            failed = conn.execute(
                select(func.count())
                .select_from(teacher_logins)
                .where(teacher_logins.c.client == client, teacher_logins.c.at > since, teacher_logins.c.succeeded == 0)
            ).scalar_one()
        if failed >= MAX_FAILED_LOGINS:
            raise TooManyLogins(
                _(
                    "Too many wrong passwords from this address; try again in %(minutes)s minutes.",
                    minutes=FAILED_LOGIN_WINDOW_SECONDS // 60,
                )
            )

    def record_login(self, client: str, succeeded: bool) -> None:
        now = self.store.clock()
        with self.store.engine.begin() as conn:
            conn.execute(insert(teacher_logins).values(at=now, client=client[:100], succeeded=int(succeeded)))
            # Old attempts say nothing any more.
            conn.execute(delete(teacher_logins).where(teacher_logins.c.at < now - 24 * 3600))
        event(log, "teacher login", outcome="ok" if succeeded else "wrong password")


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _first_line(sql: str) -> str:
    line = next((line.strip() for line in sql.splitlines() if line.strip()), "")
    return line if len(line) <= 80 else line[:79] + "…"
