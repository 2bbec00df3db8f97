"""The JSON API: the same service and rules as the pages."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify, request
from flask.typing import ResponseReturnValue
from flask_wtf.csrf import generate_csrf

from .. import history
from ..errors import UserError
from ..messages import _
from ..request_json import read_json
from ..service import RunRequest
from .present import outcome_json, schema_json
from .visitor import playground, visitor_id

bp = Blueprint("api", __name__, url_prefix="/api")


class BadRequest(UserError):
    """The request body is not what the endpoint takes."""


def json_body() -> dict[str, Any]:
    """The body's JSON object, checked (see request_json): a clear 400 for anything else."""
    if not request.is_json:
        raise BadRequest(_("The request body must be JSON (Content-Type: application/json)."))
    data = read_json(request.get_data(cache=True))
    if not isinstance(data, dict):
        raise BadRequest(_("The request body must be a JSON object."))
    return data


def optional_json_body() -> dict[str, Any]:
    """For endpoints whose body is optional: no body, or one that is not a JSON object, means no options."""
    if not request.is_json or not request.get_data(cache=True).strip():
        return {}
    data = read_json(request.get_data(cache=True))
    return data if isinstance(data, dict) else {}


def _text_field(data: dict[str, Any], name: str, *, required: bool = True) -> str | None:
    value = data.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str):
        raise BadRequest(_('"%(name)s" must be a string.', name=name))
    return value


@bp.get("/session")
def session_info() -> ResponseReturnValue:
    """A CSRF token for API clients, the engines on offer and the limits."""
    service = playground()
    limits = service.settings.limits
    return jsonify(
        csrf_token=generate_csrf(),
        engines=service.engines,
        default_engine=service.default_engine,
        limits={
            "max_rows": limits.max_rows,
            "time_limit_ms": limits.time_limit_ms,
            "run_time_limit_ms": limits.run_time_limit_ms,
            "max_statements": limits.max_statements,
            "max_sql_bytes": limits.max_sql_bytes,
            "max_grid_rows": limits.max_grid_rows,
        },
    )


def run_request_from_body() -> RunRequest:
    """The request body's `sql`, `params` and `engine`, as every endpoint that runs SQL takes them."""
    data = json_body()
    return RunRequest(
        sql=_text_field(data, "sql") or "",
        engine=_text_field(data, "engine", required=False),
        params=data.get("params"),
    )


@bp.post("/run")
def run() -> ResponseReturnValue:
    """Run SQL with parameters: a result (status ok) or a preview with a commit token."""
    return jsonify(outcome_json(playground().run(visitor_id(), run_request_from_body())))


@bp.post("/parameters")
def parameters() -> ResponseReturnValue:
    """The SQL's `:name` parameters as the server reads them (the grid's columns); runs nothing."""
    data = json_body()
    sql = _text_field(data, "sql") or ""
    engine = _text_field(data, "engine", required=False) or None
    return jsonify(parameters=list(playground().parameters_of(sql, engine)))


@bp.post("/commit")
def commit() -> ResponseReturnValue:
    """Commit a preview once; 409 with the new preview if the counts changed."""
    outcome = playground().commit(visitor_id(), _text_field(json_body(), "token") or "")
    body = outcome_json(outcome)
    return jsonify(body), 409 if outcome.status == "conflict" else 200


@bp.post("/discard")
def discard() -> ResponseReturnValue:
    """Forget a preview."""
    playground().discard(visitor_id(), _text_field(json_body(), "token") or "")
    return jsonify(status="discarded")


@bp.post("/reset")
def reset() -> ResponseReturnValue:
    """Restore the sample data; `"clear_history": true` also clears History on that engine."""
    data = optional_json_body()
    engine = data.get("engine")
    name = playground().reset(visitor_id(), engine if isinstance(engine, str) else None)
    if data.get("clear_history") is True:
        history.clear(playground().store, visitor_id(), name)
    return jsonify(status="reset", engine=name)


@bp.get("/schema")
def schema() -> ResponseReturnValue:
    """The tables and columns of the visitor's sandbox."""
    tables = playground().schema(visitor_id(), request.args.get("engine") or None)
    return jsonify(schema_json(tables))
