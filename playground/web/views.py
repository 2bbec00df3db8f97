"""The pages: the editor with its parameter grid, and the Run / Commit / Discard / Reset forms.

Every form here is Post/Redirect/Get: a POST acts, keeps the page it leads to as a snapshot in the
bookkeeping database (playground/snapshots.py) and redirects to `GET /editor/<id>`, which shows it.
Reload and Back therefore never send a form again, never run anything, and work on any worker.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from flask import Blueprint, current_app, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from werkzeug import Response

from .. import history
from ..catalog import TableSummary, summarise
from ..classroom import LESSON_SLUG, Classroom
from ..errors import CapacityReached, Unavailable, UserError
from ..examples import EXAMPLES, Example, example
from ..grid import COLUMN_TYPES, ParameterGrid
from ..messages import _
from ..per_row import counts_per_row
from ..samples import CHINOOK_TABLES
from ..service import MissingValues, Outcome, RunRequest
from ..sharing import grid_from_query
from ..snapshots import EditorSnapshots
from .editor_state import (  # state_from_form: the pages built on the editor (explain, compare, ...) use it
    EditorState,
    bring_back_aside,
    follow_sql,
    set_aside,
    state_from_form,
    state_or_error_from_form,
)
from .shown import ShownError, ShownOutcome, error_excerpt, shown_outcome
from .visitor import playground, visitor_id

bp = Blueprint("views", __name__)
__all__ = ["EditorState", "bp", "render_editor", "state_from_form"]

# What a preview's token became, as the page says it when the preview is shown again (Back, reload).
_DECIDED = {
    "committed": _("This preview was committed."),
    "conflict": _("This preview was replaced by a newer one: the data had changed."),
    "failed": _("This preview's commit failed; nothing was applied."),
    "discarded": _("This preview was discarded; nothing was applied."),
    "expired": _("This preview has expired; run the SQL again to see a fresh one."),
}


def snapshots() -> EditorSnapshots:
    return current_app.extensions["playground.snapshots"]  # type: ignore[no-any-return]


# Each example's address, made once per process (and script root): every editor page lists them,
# and building them quotes every example's SQL into a query string.
_example_links: dict[tuple[str, str], tuple[tuple[Example, str], ...]] = {}


@bp.app_template_global()
def example_links(engine: str) -> tuple[tuple[Example, str], ...]:
    """Each example with its address in the editor (GET: it fills it, never runs); the page words its title."""
    key = (request.script_root, engine)
    links = _example_links.get(key)
    if links is None:
        links = tuple((e, url_for("views.editor", **e.query_args(engine))) for e in EXAMPLES)
        _example_links[key] = links
    return links


# -- the pages --------------------------------------------------------------------------------


@bp.get("/")
def editor() -> str:
    """The editor; query arguments may pre-fill it (sql, engine, p.NAME once per row, t.NAME), but a GET never runs SQL."""
    sql = request.args.get("sql", "")
    engine = request.args.get("engine") or playground().default_engine
    grid = ParameterGrid()
    if sql:
        try:
            names = playground().parameters_of(sql, engine)
        except UserError:
            names = ()
        grid = grid_from_query(request.args, names, max_rows=playground().settings.limits.max_grid_rows)
    return render_editor(EditorState(sql=sql, engine=engine, grid=grid, example=_example(request.args.get("example"))))


@bp.get("/editor/<snapshot_id>")
def snapshot(snapshot_id: str) -> ResponseReturnValue:
    """The editor as an action left it (a result, a preview, a commit, an error); shown again, never run again."""
    page = snapshots().load(visitor_id(), snapshot_id)
    if page is None:
        message = _("This page is no longer kept (each visitor's last 50, for a day); here is a fresh editor.")
        return render_editor(EditorState(error=ShownError(message))), 404
    state = EditorState.from_page(page)
    confirm = request.args.get("reset")
    html = render_editor(
        state,
        snapshot_id=snapshot_id,
        confirm_reset=confirm if confirm in playground().engines else None,
        clear_history=request.args.get("clear_history") == "1",
    )
    # Back must ask again: a preview shown from the browser's cache would offer a Commit already made.
    return html, state.status, {"Cache-Control": "no-store"}


# -- the forms (each ends in a redirect to the page it leads to) ----------------------------------


@bp.post("/run")
def run() -> Response:
    """Run the SQL with the grid (or only rearrange the grid, for the buttons that do that)."""
    state = state_or_error_from_form()
    if state.error:
        return _kept(state, "error")
    action = request.form.get("action", "run")
    if action != "run":
        return _kept(_rearranged(state, action), "param-grid")
    bring_back_aside(state)
    submitted = state.grid
    try:
        outcome = playground().run(visitor_id(), RunRequest(state.sql, state.engine, grid=submitted, follow_sql=True))
    except MissingValues as e:  # the SQL has parameters the grid lacks: the page adds them, empty
        state.grid = e.grid or submitted
        set_aside(state, submitted)
        return _kept(state.failed(e), "error")
    except UserError as e:
        # The grid follows the SQL as submitted here too, unless the SQL cannot be read (then it stays).
        follow_sql(state)
        return _kept(state.failed(e), "error")
    state.grid = outcome.request.grid if outcome.request and outcome.request.grid else submitted
    set_aside(state, submitted)
    state.outcome = _shown(outcome)
    return _kept(state, "outcome")


@bp.post("/commit")
def commit() -> Response:
    """Commit a previewed write (once); a changed count shows the new preview instead."""
    try:
        outcome = playground().commit(visitor_id(), request.form.get("token", ""))
    except UserError as e:
        # Busy or cut short (503, 507): the preview stays on the page, to be committed again.
        return _kept(_state_from_snapshot(keep_outcome=isinstance(e, Unavailable)).failed(e), "error")
    state = EditorState.from_request(outcome.request)
    state.outcome = _shown(outcome)
    state.status = 409 if outcome.status == "conflict" else 200
    return _kept(state, "outcome")


@bp.post("/discard")
def discard() -> Response:
    """Forget a preview; the editor keeps the SQL and the grid."""
    try:
        previewed = playground().discard(visitor_id(), request.form.get("token", ""))
    except UserError as e:
        return _kept(_state_from_snapshot().failed(e), "error")
    state = EditorState.from_request(previewed)
    state.notice = _("Discarded: nothing was changed.")
    return _kept(state, "notice")


@bp.post("/reset")
def reset() -> Response:
    """Restore the sample data in the sandbox of the engine the editor shows, once confirmed; the editor is kept."""
    state = _state_from_snapshot() if "from" in request.form else state_or_error_from_form()
    engine = request.form.get("engine") or state.engine or playground().default_engine
    label = _label(engine)  # an unknown engine is a UserError (400) here, before anything else
    state.engine, state.error, state.status = engine, None, 200
    clear_history = request.form.get("clear_history") == "1"
    if request.form.get("confirm") != "yes":
        # Without JavaScript the question is a page of its own (with JavaScript, a dialog asked already).
        snapshot_id = snapshots().keep(visitor_id(), state.page())
        asked = {"reset": engine} | ({"clear_history": "1"} if clear_history else {})
        return redirect(url_for("views.snapshot", snapshot_id=snapshot_id, _anchor="reset-confirm", **asked), 303)
    playground().reset(visitor_id(), engine)
    if clear_history:
        history.clear(playground().store, visitor_id(), engine)
    state.outcome = None
    state.notice = _("Your %(engine)s sandbox was reset to the sample data.", engine=label)
    return _kept(state, "notice")


# -- helpers --------------------------------------------------------------------------------------


def _state_from_snapshot(*, keep_outcome: bool = False) -> EditorState:
    """After a refused commit or discard: the page the form was on (its snapshot), so nothing typed is lost."""
    page = snapshots().load(visitor_id(), request.form.get("from", ""))
    state = EditorState.from_page(page) if page else EditorState()
    state.error = state.notice = None
    if not keep_outcome:
        state.outcome = None
    return state


def _rearranged(state: EditorState, action: str) -> EditorState:
    """Add or remove a row, or make the columns follow the SQL, without running anything."""
    grid = state.grid
    if action == "add_row":
        if len(grid.rows) >= playground().settings.limits.max_grid_rows:
            state.error = ShownError(_("The grid already has as many rows as can run at once."))
            state.status = 400
        else:
            grid = replace(grid, rows=grid.rows + (("",) * len(grid.columns),))
    elif action.startswith("remove_row:"):
        index = action.partition(":")[2]
        if index.isdigit() and int(index) < len(grid.rows) and len(grid.rows) > 1:
            grid = replace(grid, rows=grid.rows[: int(index)] + grid.rows[int(index) + 1 :])
    state.grid = grid
    bring_back_aside(state)
    try:
        follow_sql(state, quietly=False)
    except UserError as e:
        return state if state.error else state.failed(e)
    return state


def _kept(state: EditorState, anchor: str) -> Response:
    """Keep the page and send the browser to it (303: the browser follows with a GET)."""
    snapshot_id = snapshots().keep(visitor_id(), state.page())
    return redirect(url_for("views.snapshot", snapshot_id=snapshot_id, _anchor=anchor), 303)


def _example(slug: str | None) -> Example | None:
    """A built-in example, or the teacher's published lesson."""
    if slug == LESSON_SLUG and playground().settings.teacher_password is not None:
        lesson = Classroom(playground(), current_app.config["SECRET_KEY"]).lesson()
        return lesson.as_example() if lesson else None
    return example(slug)


def _label(engine: str) -> str:
    return playground().backend(engine).label


def _shown(outcome: Outcome) -> ShownOutcome:
    """The page's picture of an outcome, everything counted now (a reload of the page runs nothing)."""
    service = playground()
    return shown_outcome(
        outcome,
        _label(outcome.engine),
        max_rows=service.settings.limits.max_rows,
        row_counts=counts_per_row(service, visitor_id(), outcome),
    )


def render_editor(state: EditorState, *, snapshot_id: str | None = None, **panels: Any) -> str:
    """The editor page; `panels` are what a feature adds below it (a plan, a comparison, a link, a question)."""
    service = playground()
    if state.engine not in service.engines:
        state.engine = service.default_engine
    if isinstance(state.error, str):
        state.error = ShownError(state.error)
    tables: list[TableSummary]
    try:
        tables = summarise(service, visitor_id(), state.engine)
    except CapacityReached:
        raise  # no sandbox for this visitor at all: the 503 page says why, not an editor without tables
    except UserError as e:
        tables = []  # the schema is a side panel: a busy sandbox must not hide the run's own message
        if isinstance(e, Unavailable) and not state.error:
            # The disk is full, the database busy: the page still opens, and says why.
            state.error = ShownError(e.message)
    decided = None
    if state.outcome and state.outcome.token:
        try:
            outcome = service.store.pending_write_outcome(visitor_id(), state.outcome.token)
        except UserError:
            outcome = "pending"  # the bookkeeping cannot say now; Commit itself will
        decided = _DECIDED.get(outcome or "expired")
    lesson_example, display_name = None, None
    if service.settings.teacher_password is not None:
        # A class with a teacher: the published lesson heads the Examples, and a student may name themselves.
        room = Classroom(service, current_app.config["SECRET_KEY"])
        try:
            lesson = room.lesson()
            display_name = room.name_of(visitor_id())
        except UserError:
            lesson = None  # the bookkeeping cannot say now; the editor still opens
        if lesson is not None:
            lesson_example = lesson.as_example()
    return render_template(
        "editor.html",
        state=state,
        display_name=display_name,
        class_has_teacher=service.settings.teacher_password is not None,
        snapshot_id=snapshot_id,
        decided=decided,
        excerpt=error_excerpt(state.sql, state.error) if state.error else (),
        engine_labels={name: service.backend(name).label for name in service.engines},
        column_types=COLUMN_TYPES,
        tables=tables,
        examples=EXAMPLES,
        lesson_example=lesson_example,
        chinook_loaded={t.name for t in tables} >= CHINOOK_TABLES,
        limits=service.settings.limits,
        # Every run before this page is in the history once each worker has written its batch.
        history_settle_ms=int(service.settings.run_log_flush_seconds * 1000) + 500,
        **panels,
    )
