"""Compare: the same SQL and grid on SQLite and PostgreSQL, on the page and in the API."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify
from flask.typing import ResponseReturnValue

from ..compare import Comparison, Side, compare
from ..errors import UserError
from ..service import RunRequest
from .api import run_request_from_body
from .present import outcome_json
from .views import render_editor, state_from_form
from .visitor import playground, visitor_id

bp = Blueprint("compare", __name__)


@bp.post("/compare")
def page() -> ResponseReturnValue:
    """The editor with both engines' outcomes side by side, differences marked."""
    state = state_from_form()
    try:
        comparison = compare(playground(), visitor_id(), RunRequest(state.sql, state.engine, grid=state.grid))
    except UserError as e:
        state.error = e.message
        return render_editor(state), e.status
    return render_editor(state, comparison=comparison), 200


def _side_json(side: Side) -> dict[str, Any]:
    if side.outcome is not None:
        return outcome_json(side.outcome)
    return {
        "status": "error",
        "engine": side.engine,
        "error": {"message": side.error, "statement": side.error_statement},
    }


def comparison_json(comparison: Comparison) -> dict[str, Any]:
    return {
        "differs": comparison.differs,
        "sides": [_side_json(comparison.left), _side_json(comparison.right)],
        "differences": [
            {
                "statement": d.index,
                "columns": sorted(d.columns),
                "row_counts": d.row_counts_differ,
                "cells": sorted([list(cell) for cell in d.cells]),
                "only_one_side": d.only_one_side,
            }
            for d in comparison.statements
            if d.differs
        ],
    }


@bp.post("/api/compare")
def api_compare() -> ResponseReturnValue:
    """`{"sql", "params"}`: both outcomes (each as /api/run answers, or an error) and what differs."""
    return jsonify(comparison_json(compare(playground(), visitor_id(), run_request_from_body())))
