"""Explain: the plan of the statement under the cursor, on the page and in the API."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify, request
from flask.typing import ResponseReturnValue

from ..errors import UserError
from ..explain import Plan, PlanNode, explain
from ..messages import _
from ..service import RunRequest
from .api import BadRequest, json_body, run_request_from_body
from .views import render_editor, state_from_form
from .visitor import playground, visitor_id

bp = Blueprint("explain", __name__)


def _cursor(value: object) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    # ASCII digits only: "²" is a digit to isdigit() but not to int(), and int() refuses 4,301 of them.
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 18:
        return int(value)
    raise BadRequest(_('"cursor" must be a character offset in the SQL.'))


@bp.post("/explain")
def page() -> ResponseReturnValue:
    """The editor with the plan of the current statement below it (the grid's first row bound)."""
    state = state_from_form()
    try:
        plan = explain(
            playground(),
            visitor_id(),
            RunRequest(state.sql, state.engine, grid=state.grid),
            cursor=_cursor(request.form.get("cursor")),
        )
    except UserError as e:
        state.error = e.message
        return render_editor(state), e.status
    return render_editor(state, plan=plan), 200


def _node_json(node: PlanNode) -> dict[str, Any]:
    return {"detail": node.detail, "children": [_node_json(c) for c in node.children]}


def plan_json(plan: Plan) -> dict[str, Any]:
    return {
        "engine": plan.engine,
        "statement": plan.statement,
        "statement_sql": plan.statement_sql,
        "explain_sql": plan.explain_sql,
        "tree": [_node_json(n) for n in plan.tree],
        "text": list(plan.text),
    }


@bp.post("/api/explain")
def api_explain() -> ResponseReturnValue:
    """`{"sql", "params", "engine", "cursor"}`: the plan (SQLite: `tree`; PostgreSQL: `text`)."""
    cursor = _cursor(json_body().get("cursor"))
    return jsonify(plan_json(explain(playground(), visitor_id(), run_request_from_body(), cursor=cursor)))
