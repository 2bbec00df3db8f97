"""Structured logs: one JSON object per line on stderr, at the level PLAYGROUND_LOG_LEVEL names.

A line carries a message and the fields the caller gives (`event(...)`): a request's method,
path, status, duration and sandbox id; a run's sandbox id, engine, outcome, row count and
duration. Callers never pass parameter values, SQL text or passwords: the process log is read by
whoever operates the server, the run log in the bookkeeping database is the teacher's.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any

from sqlalchemy.exc import StatementError

_FIELDS = "playground_fields"


class JsonLines(logging.Formatter):
    """`{"ts", "level", "logger", "message", ...fields}` on one line; tracebacks folded into "exception"."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update(getattr(record, _FIELDS, None) or {})
        if record.exc_info:
            _hide_parameters(record.exc_info[1])
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


def _hide_parameters(error: BaseException | None) -> None:
    """A database error that escapes as a 500 prints the statement's parameters, a student's values: not here."""
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if isinstance(error, StatementError):
            error.hide_parameters = True
        error = error.__cause__ or error.__context__


def event(logger: logging.Logger, message: str, *, level: int = logging.INFO, **fields: Any) -> None:
    """Log one line with named fields (never parameter values, SQL text or passwords)."""
    if not logger.isEnabledFor(level):
        return
    # Where nobody listens (no handler: a test, a library use), a record costs more than a run.
    if level < logging.WARNING and not logger.hasHandlers():
        return
    logger.log(level, message, extra={_FIELDS: fields})


def handler_config(level: str) -> dict[str, Any]:
    """A logging.dictConfig for the whole process: JSON lines on stderr, gunicorn's own loggers included."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": JsonLines}},
        "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "json", "stream": sys.stderr}},
        "root": {"level": level.upper(), "handlers": ["stderr"]},
        "loggers": {
            # gunicorn's start, stop and worker messages, in the same format; its access log is
            # replaced by the app's own request line (which knows the sandbox).
            "gunicorn.error": {"level": level.upper(), "handlers": [], "propagate": True},
            "gunicorn.access": {"level": "WARNING", "handlers": [], "propagate": False},
        },
    }
