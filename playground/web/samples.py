"""Load the optional Chinook sample into the visitor's sandbox on one engine."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, request, url_for
from werkzeug import Response

from ..errors import UserError
from ..examples import example
from ..messages import N_, Message
from ..samples import load_chinook
from .i18n import translated
from .visitor import playground, visitor_id

bp = Blueprint("samples", __name__)

LOADED = N_("Chinook is in your %(engine)s sandbox now: 11 tables of a music store. Reset takes it away again.")


@bp.post("/samples/chinook")
def chinook() -> Response:
    """Load Chinook (committed) and go back to the editor, to the example that asked for it."""
    engine = request.form.get("engine") or None
    back = example(request.form.get("example"))
    try:
        name = load_chinook(playground(), visitor_id(), engine)
        # A flashed message waits in the session cookie as plain text: it is said now, in this request's language.
        flash(translated(Message(LOADED, {"engine": playground().backend(name).label})))
    except UserError as e:
        name = playground().backend(engine).name
        flash(translated(e.message))
    if back is not None:
        args: dict[str, Any] = back.query_args(name)
        return redirect(url_for("views.editor", **args))
    return redirect(url_for("views.editor", engine=name))
