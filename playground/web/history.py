"""History: the visitor's last runs, as a page and in the API; each reopens in the editor with one click."""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import Blueprint, abort, jsonify, render_template, request, url_for
from flask.typing import ResponseReturnValue

from .. import history
from ..history import HistoryEntry
from .views import EditorState, render_editor
from .visitor import playground, visitor_id

bp = Blueprint("history", __name__)


def entry_json(entry: HistoryEntry) -> dict[str, Any]:
    return {
        "id": entry.id,
        "at": dt.datetime.fromtimestamp(entry.at, dt.UTC).isoformat(timespec="seconds"),
        "engine": entry.engine,
        "action": entry.action,
        "outcome": entry.outcome,
        "sql": entry.sql,
        "grid": {
            "columns": list(entry.grid.columns),
            "types": list(entry.grid.types),
            "rows": [list(r) for r in entry.grid.rows],
        },
        "rowcount": entry.rowcount,
        "elapsed_ms": entry.elapsed_ms,
        "error": entry.error,
        "open_url": url_for("history.reopen", entry_id=entry.id),
    }


@bp.get("/api/history")
def api_history() -> ResponseReturnValue:
    """The visitor's last 50 runs and commits, newest first; `refresh_after_ms`: when another worker's run shows."""
    entries = history.recent(playground().store, visitor_id())
    return jsonify(
        entries=[entry_json(e) for e in entries], refresh_after_ms=int(history.refresh_after_seconds() * 1000)
    )


@bp.get("/history")
def page() -> ResponseReturnValue:
    """The visitor's last runs as a page (without JavaScript, too); `?fragment=1`: only the list, for the editor's panel."""
    service = playground()
    return render_template(
        "_history_list.html" if request.args.get("fragment") else "history.html",
        entries=history.recent(service.store, visitor_id()),
        engine_labels={name: service.backend(name).label for name in service.engines},
        refresh_after_seconds=history.refresh_after_seconds(),
    )


@bp.get("/history/<int:entry_id>")
def reopen(entry_id: int) -> ResponseReturnValue:
    """One run of History back in the editor (SQL, grid, engine); nothing runs."""
    entry = history.entry(playground().store, visitor_id(), entry_id)
    if entry is None:
        abort(404)
    return render_editor(EditorState(sql=entry.sql, engine=entry.engine, grid=entry.grid)), 200
