"""Share links: made from the editor's form or the API, opened pre-filled (never run)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, current_app, jsonify, request, url_for
from flask.typing import ResponseReturnValue

from ..grid import COLUMN_TYPES, GridError, ParameterGrid
from ..messages import _
from ..sharing import SharedLinks, SharedWork, link_for
from .api import BadRequest, json_body
from .views import EditorState, render_editor, state_from_form
from .visitor import playground

bp = Blueprint("share", __name__)


def shared_links() -> SharedLinks:
    """The stored links, on the bookkeeping database (its table is made on first use in this process)."""
    links = current_app.extensions.get("playground.shared_links")
    if links is None:
        links = current_app.extensions["playground.shared_links"] = SharedLinks(playground().store.engine)
    return links  # type: ignore[no-any-return]


def absolute_link(work: SharedWork) -> str:
    path = link_for(
        work,
        shared_links(),
        editor_path=url_for("views.editor"),
        stored_path=lambda share_id: url_for("share.open_stored", share_id=share_id),
    )
    return request.host_url.rstrip("/") + path


@bp.post("/share")
def page() -> ResponseReturnValue:
    """The editor as it is, with its share link shown where it can be copied; nothing runs."""
    state = state_from_form()
    work = SharedWork(state.sql, state.engine, state.grid)
    return render_editor(state, share_link=absolute_link(work)), 200


@bp.get("/s/<share_id>")
def open_stored(share_id: str) -> ResponseReturnValue:
    """A stored link: the editor pre-filled with the shared work, on the visitor's own sandbox; nothing runs."""
    work = shared_links().load(share_id) if share_id.isalnum() and len(share_id) <= 16 else None
    if work is None:
        abort(404)
    return render_editor(EditorState(sql=work.sql, engine=work.engine, grid=work.grid)), 200


def _grid_from_json(data: Any) -> ParameterGrid:
    if data is None:
        return ParameterGrid()
    try:
        columns = tuple(str(c) for c in data["columns"])
        types = tuple(t if t in COLUMN_TYPES else "auto" for t in data.get("types") or ["auto"] * len(columns))
        rows = tuple(tuple("" if v is None else str(v) for v in row) for row in data["rows"])
    except (KeyError, TypeError) as e:
        raise GridError(_('"grid" must be {"columns": [...], "types": [...], "rows": [[...], ...]}.')) from e
    return ParameterGrid(columns, types, rows or ((),))


@bp.post("/api/share")
def api_share() -> ResponseReturnValue:
    """`{"sql", "engine", "grid": {"columns", "types", "rows"}}`: a link that opens the editor pre-filled."""
    data = json_body()
    sql = data.get("sql")
    if not isinstance(sql, str):
        raise BadRequest(_('"%(name)s" must be a string.', name="sql"))
    engine = data.get("engine") or playground().default_engine
    if engine not in playground().engines:
        raise BadRequest(_("Unknown engine %(engine)s.", engine=repr(engine)))
    return jsonify(url=absolute_link(SharedWork(sql, engine, _grid_from_json(data.get("grid")))))
