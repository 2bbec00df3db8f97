"""The teacher's dashboard (/teacher): a password, the class list, the class log and the class's actions.

Thin views over playground/classroom.py. Every route of this blueprint passes `_teacher_only`
first: without PLAYGROUND_TEACHER_PASSWORD the dashboard is off (and says how to turn it on);
without a teacher session (set by the login form, signed in the session cookie, bound to the
password, expiring) nothing but the login form answers. Every action asks first on a page of its
own (which works without JavaScript) and acts only on a second POST that says `confirm=yes`.
"""

from __future__ import annotations

import time

from flask import Blueprint, current_app, flash, redirect, render_template, request, session, url_for
from flask.typing import ResponseReturnValue
from werkzeug import Response

from ..classroom import (
    Classroom,
    ClassroomError,
    grid_text,
    parse_grid_text,
)
from ..config import Settings, TeacherPassword
from ..errors import UserError
from ..messages import Message, _, _n
from .i18n import translated
from .visitor import playground, visitor_id

bp = Blueprint("teacher", __name__, url_prefix="/teacher")
names_bp = Blueprint("names", __name__)

SESSION_KEY = "teacher"
# How often the class log asks for new lines with JavaScript (the run log is written within seconds).
REFRESH_SECONDS = 3


def settings() -> Settings:
    return current_app.extensions["playground.settings"]  # type: ignore[no-any-return]


def classroom() -> Classroom:
    return Classroom(playground(), current_app.config["SECRET_KEY"])


def _password() -> TeacherPassword | None:
    return settings().teacher_password


def is_teacher() -> bool:
    """A teacher session that has not expired, made with the password the server has now."""
    password = _password()
    held = session.get(SESSION_KEY)
    if password is None or not isinstance(held, dict):
        return False
    until, fingerprint = held.get("until"), held.get("password")
    return (
        isinstance(until, int | float)
        and until > time.time()
        and isinstance(fingerprint, str)
        and fingerprint == password.fingerprint(current_app.config["SECRET_KEY"])
    )


@bp.before_request
def _teacher_only() -> ResponseReturnValue | None:
    """Off without the setting; only the login form without a teacher session."""
    if _password() is None:
        return render_template("teacher/off.html"), 404
    if request.endpoint in ("teacher.login", "teacher.login_form"):
        return None
    if not is_teacher():
        session.pop(SESSION_KEY, None)
        if request.method == "GET":
            return redirect(url_for("teacher.login_form", next=request.full_path.rstrip("?")), 303)
        return render_template("teacher/login.html", error=_("Log in as the teacher first; nothing was done.")), 403
    return None


# -- logging in and out -----------------------------------------------------------------------


@bp.get("/login")
def login_form() -> ResponseReturnValue:
    """The teacher's login form."""
    return render_template("teacher/login.html", next=_safe_next(request.args.get("next")))


@bp.post("/login")
def login() -> ResponseReturnValue:
    """Check the password (rate-limited per address); a teacher session that expires."""
    password = _password()
    assert password is not None  # _teacher_only answered otherwise
    room = classroom()
    client = request.remote_addr or "unknown"
    try:
        room.check_login_allowed(client)
    except UserError as e:
        return render_template("teacher/login.html", error=e.message), e.status
    candidate = request.form.get("password", "")
    ok = password.matches(candidate)
    room.record_login(client, ok)
    if not ok:
        return render_template("teacher/login.html", error=_("That is not the teacher's password.")), 403
    minutes = settings().teacher_session_minutes
    session[SESSION_KEY] = {
        "until": time.time() + minutes * 60,
        "password": password.fingerprint(current_app.config["SECRET_KEY"]),
    }
    visitor_id()  # the teacher's browser keeps its own sandbox too, and the session is permanent
    return redirect(_safe_next(request.form.get("next")) or url_for("teacher.dashboard"), 303)


@bp.post("/logout")
def logout() -> Response:
    """End the teacher session (the browser's sandbox stays)."""
    session.pop(SESSION_KEY, None)
    flash(translated(_("You are logged out of the teacher's dashboard.")))
    return redirect(url_for("views.editor"), 303)


def _safe_next(target: str | None) -> str | None:
    """Only a path of this dashboard: never another site."""
    if target and target.startswith("/teacher") and _same_site(target):
        return target
    return None


def _same_site(target: str) -> bool:
    """A path on this site: not `//host` nor `/\\host`, which browsers read as another site."""
    return target.startswith("/") and not target.startswith(("//", "/\\")) and "\\" not in target


# -- the dashboard ------------------------------------------------------------------------------


@bp.get("")
def dashboard() -> ResponseReturnValue:
    """The class list, the class log, the class's settings and the actions."""
    return _dashboard()


def _dashboard(
    *, error: Message | str | None = None, status: int = 200, form: dict[str, str] | None = None
) -> ResponseReturnValue:
    room = classroom()
    service = playground()
    student = request.args.get("student") or None
    lesson = room.lesson()
    values = dict(form or {})
    if lesson is not None:
        values.setdefault("title", lesson.title)
        values.setdefault("text", lesson.text)
        values.setdefault("sql", lesson.sql)
        values.setdefault("grid", grid_text(lesson.grid))
    html = render_template(
        "teacher/dashboard.html",
        students=room.students(),
        log=room.class_log(student=student),
        student=student,
        show_values=request.args.get("values") == "1",
        read_only=room.read_only(),
        lesson=lesson,
        starting=room.starting_data(),
        actions=room.actions(),
        engine_labels={name: service.backend(name).label for name in service.engines},
        default_engine=service.default_engine,
        minutes=settings().teacher_session_minutes,
        refresh_seconds=REFRESH_SECONDS,
        shown_at=int(time.time() * 1000),
        error=error,
        form=values,
    )
    return html, status, {"Cache-Control": "no-store"}


@bp.get("/log")
def class_log() -> ResponseReturnValue:
    """The class log alone (`?fragment=1`: the part the page's script swaps in), filtered by `student`."""
    room = classroom()
    student = request.args.get("student") or None
    service = playground()
    html = render_template(
        "teacher/_log.html" if request.args.get("fragment") else "teacher/log.html",
        log=room.class_log(student=student),
        students=room.students(),
        student=student,
        show_values=request.args.get("values") == "1",
        engine_labels={name: service.backend(name).label for name in service.engines},
        refresh_seconds=REFRESH_SECONDS,
        shown_at=int(time.time() * 1000),
    )
    return html, 200, {"Cache-Control": "no-store"}


@bp.get("/students/<key>")
def projector(key: str) -> ResponseReturnValue:
    """A student's latest run, read-only, large enough for the projector: run again and rolled back, never kept."""
    room = classroom()
    if room.visitor_of(key) is None:
        return render_template("teacher/off.html", missing=True), 404
    latest, now = room.replay(key)
    service = playground()
    return (
        render_template(
            "teacher/projector.html",
            key=key,
            latest=latest,
            result=now if not isinstance(now, UserError) else None,
            failed=now.message if isinstance(now, UserError) else None,
            name=next((s.name for s in room.students() if s.key == key), None),
            show_values=request.args.get("values") == "1",
            engine_labels={name: service.backend(name).label for name in service.engines},
        ),
        200,
        {"Cache-Control": "no-store"},
    )


# -- the actions: each asks first, then acts, then says what it did -----------------------------


def _confirmed(what: Message, details: list[Message], fields: dict[str, str]) -> ResponseReturnValue | None:
    """None once the form says confirm=yes; otherwise the question, as a page with the same fields."""
    if request.form.get("confirm") == "yes":
        return None
    return (
        render_template("teacher/confirm.html", what=what, details=details, fields=fields, action=request.path),
        200,
        {"Cache-Control": "no-store"},
    )


def _done(message: Message, anchor: str) -> Response:
    # A flashed message waits in the session cookie as plain text: it is said now, in this request's language.
    flash(translated(message))
    return redirect(url_for("teacher.dashboard", _anchor=anchor), 303)


@bp.post("/reset")
def reset() -> ResponseReturnValue:
    """Reset one student's sandbox on one engine to the starting data."""
    room = classroom()
    key, engine = request.form.get("student", ""), request.form.get("engine", "")
    found = next((s for s in room.students() if s.key == key and s.engine == engine), None)
    if found is None:
        return _dashboard(error=_("There is no such student's sandbox in the class (any more)."), status=404)
    label = playground().backend(engine).label
    who = found.name or _("an unnamed student")
    asked = _confirmed(
        _("Reset the %(engine)s sandbox of %(who)s?", engine=label, who=who),
        [
            _("Every table and row they made there is replaced by the starting data."),
            _("Their History and their other sandboxes are not touched."),
        ],
        {"student": key, "engine": engine},
    )
    if asked:
        return asked
    try:
        room.reset(key, engine)
    except UserError as e:
        return _dashboard(error=e.message, status=e.status)
    return _done(
        _("The %(engine)s sandbox of %(who)s was reset to the starting data.", engine=label, who=who), "students"
    )


@bp.post("/reset-all")
def reset_all() -> ResponseReturnValue:
    """Reset every sandbox of the class to the starting data."""
    room = classroom()
    count = len(room.students())
    asked = _confirmed(
        _n("Reset the %(num)s sandbox of the class?", "Reset all %(num)s sandboxes of the class?", count),
        [_("Every student's tables and rows, on every engine, are replaced by the starting data.")],
        {},
    )
    if asked:
        return asked
    try:
        done = room.reset_all()
    except UserError as e:
        return _dashboard(error=e.message, status=e.status)
    return _done(
        _n(
            "%(num)s sandbox was reset to the starting data.",
            "%(num)s sandboxes were reset to the starting data.",
            done,
        ),
        "students",
    )


@bp.post("/read-only")
def read_only() -> ResponseReturnValue:
    """Switch the class to read-only for a demonstration, or back."""
    on = request.form.get("on") == "1"
    asked = _confirmed(
        _("Make the class read-only?") if on else _("Let the class write again?"),
        [
            _(
                "Students' writes (Commit, writing runs, Reset, loading Chinook) are refused with a message "
                "saying so, until you switch it back; reading works."
            )
            if on
            else _("Students can preview, commit and reset again.")
        ],
        {"on": "1" if on else "0"},
    )
    if asked:
        return asked
    classroom().set_read_only(on)
    return _done(_("The class is read-only now.") if on else _("The class can write again."), "settings")


@bp.post("/lesson")
def publish_lesson() -> ResponseReturnValue:
    """Publish a lesson (title, text, SQL, grid) at the top of every student's Examples."""
    form = {name: request.form.get(name, "") for name in ("title", "text", "sql", "grid")}
    try:
        grid = parse_grid_text(form["grid"])
    except ClassroomError as e:
        return _dashboard(error=e.message, status=400, form=form)
    asked = _confirmed(
        _("Publish the lesson “%(title)s”?", title=" ".join(form["title"].split())),
        [_("It appears at the top of every student's Examples at once, replacing the lesson published before.")],
        form,
    )
    if asked:
        return asked
    try:
        lesson = classroom().publish_lesson(form["title"], form["text"], form["sql"], grid)
    except UserError as e:
        return _dashboard(error=e.message, status=e.status, form=form)
    return _done(_("The lesson “%(title)s” is at the top of every student's Examples.", title=lesson.title), "lesson")


@bp.post("/lesson/withdraw")
def withdraw_lesson() -> ResponseReturnValue:
    """Take the published lesson off the students' Examples."""
    asked = _confirmed(_("Withdraw the published lesson?"), [_("It leaves every student's Examples.")], {})
    if asked:
        return asked
    classroom().withdraw_lesson()
    return _done(_("The lesson was withdrawn."), "lesson")


@bp.post("/starting-data")
def starting_data() -> ResponseReturnValue:
    """Set what new and reset sandboxes start with on one engine: the sample changed by a pasted SQL script."""
    form = {"engine": request.form.get("engine", ""), "starting_sql": request.form.get("starting_sql", "")}
    service = playground()
    if form["engine"] not in service.engines:
        return _dashboard(error=_("Choose one of the server's engines."), status=400, form=form)
    label = service.backend(form["engine"]).label
    asked = _confirmed(
        _("Set the starting data on %(engine)s?", engine=label),
        [
            _(
                "The script runs once on a fresh copy of the sample, under the same checks as a student's run, "
                "and is committed; new and reset sandboxes then start as a copy of the result."
            ),
            _("Sandboxes the students have now are not changed until they (or you) reset them."),
        ],
        form,
    )
    if asked:
        return asked
    try:
        classroom().set_starting_data(form["engine"], form["starting_sql"])
    except UserError as e:
        return _dashboard(
            error=_("The starting data was not changed: %(reason)s", reason=e.message), status=e.status, form=form
        )
    return _done(_("New and reset %(engine)s sandboxes start with your data now.", engine=label), "starting")


@bp.post("/starting-data/clear")
def clear_starting_data() -> ResponseReturnValue:
    """New and reset sandboxes on one engine start from the built-in sample again."""
    engine = request.form.get("engine", "")
    service = playground()
    if engine not in service.engines:
        return _dashboard(error=_("Choose one of the server's engines."), status=400)
    label = service.backend(engine).label
    asked = _confirmed(
        _("Go back to the built-in sample on %(engine)s?", engine=label),
        [_("New and reset sandboxes start from the sample again; sandboxes the students have now are not changed.")],
        {"engine": engine},
    )
    if asked:
        return asked
    classroom().clear_starting_data(engine)
    return _done(
        _("New and reset %(engine)s sandboxes start from the built-in sample again.", engine=label), "starting"
    )


# -- the students' side: a display name ---------------------------------------------------------


@names_bp.post("/name")
def set_name() -> Response:
    """The student's display name for the teacher's class list (no account: it belongs to this browser's sandbox)."""
    try:
        name = classroom().set_name(visitor_id(), request.form.get("name", ""))
        flash(translated(_("Your teacher sees you as “%(name)s”.", name=name)))
    except UserError as e:
        flash(translated(e.message))
    back = request.form.get("back", "")
    return redirect(back if _same_site(back) else url_for("views.editor"), 303)
