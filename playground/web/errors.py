"""Error pages and JSON errors: a user's mistake is a 4xx with a clear message, never a 500."""

from __future__ import annotations

from flask import Flask, jsonify, render_template, request
from flask.typing import ResponseReturnValue
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from ..errors import Unavailable, UserError
from ..messages import Message, _


def _wants_json() -> bool:
    return request.path.startswith("/api/")


def _error(message: str | Message, status: int, **extra: object) -> ResponseReturnValue:
    if _wants_json():
        return jsonify(status="error", error={"message": message, **extra}), status
    return render_template("error.html", message=message, status=status), status


def register(app: Flask) -> None:
    """Install the handlers on the app."""

    @app.errorhandler(UserError)
    def _user_error(e: UserError) -> ResponseReturnValue:
        extra: dict[str, object] = {"statement": e.statement} if e.statement is not None else {}
        if e.position is not None:
            extra["position"] = {"line": e.position.line, "column": e.position.column, "offset": e.position.offset}
        response = app.make_response(_error(e.message, e.status, **extra))
        if isinstance(e, Unavailable):
            response.headers["Retry-After"] = str(e.retry_after_seconds)
        return response

    @app.errorhandler(CSRFError)
    def _csrf_error(e: CSRFError) -> ResponseReturnValue:
        # Flask-WTF's reason stays as it says it (English): the sentence around it is what a visitor reads.
        return _error(
            _(
                "The form's security token is missing or stale (%(reason)s). Reload the page and try again.",
                reason=e.description,
            ),
            400,
        )

    @app.errorhandler(HTTPException)
    def _http_error(e: HTTPException) -> ResponseReturnValue:
        messages = {
            413: _("The request is too large for this server."),
            404: _("There is nothing at this address."),
            405: _("This address does not take that method."),
        }
        return _error(messages.get(e.code or 0, e.description or e.name), e.code or 400)
