"""One log line per request: method, path (never the query string), status, duration, sandbox id."""

from __future__ import annotations

import logging
import time

from flask import Flask, Response, g, request, session

from ..backends.base import VISITOR_ID
from ..logs import event

log = logging.getLogger("playground.requests")


def register(app: Flask) -> None:
    """Time every request and log it when its response is ready."""

    @app.before_request
    def _started() -> None:
        g.request_started = time.perf_counter()

    @app.after_request
    def _finished(response: Response) -> Response:
        started = g.get("request_started")
        visitor = session.get("visitor")
        # A container's health check every 30 s would drown the log; a failing one is a warning.
        level = logging.INFO
        if request.path == "/healthz":
            level = logging.DEBUG if response.status_code == 200 else logging.WARNING
        event(
            log,
            "request",
            level=level,
            method=request.method,
            # The path only: a GET of the editor may carry SQL and parameter values in its query.
            path=request.path,
            status=response.status_code,
            duration_ms=round((time.perf_counter() - started) * 1000, 1) if started is not None else None,
            sandbox=visitor if isinstance(visitor, str) and VISITOR_ID.fullmatch(visitor) else None,
        )
        return response
