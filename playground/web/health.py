"""`GET /healthz`: 200 when the bookkeeping database and every engine answer, 503 with the reason otherwise."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify
from flask.typing import ResponseReturnValue

from ..health import check_health
from .visitor import playground

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz() -> ResponseReturnValue:
    """For a container's HEALTHCHECK or a load balancer; no session, no sandbox, no setting in the answer."""
    health = check_health(playground())
    body: dict[str, Any] = {
        "status": "ok" if health.ok else "unavailable",
        "checks": {check.name: check.problem or "ok" for check in health.checks},
    }
    if not health.ok:
        body["reason"] = health.reason
    response = jsonify(body)
    response.status_code = 200 if health.ok else 503
    response.headers["Cache-Control"] = "no-store"
    return response
