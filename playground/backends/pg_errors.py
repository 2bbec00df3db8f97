"""PostgreSQL errors as the student sees them: the server's message, turned into a UserError.

`translate_error` is `PostgresBackend.translate_error`; `first_line` and `message` are how every
PostgreSQL module quotes an error's text.
"""

from __future__ import annotations

import re

import psycopg2
import psycopg2.errors

from ..errors import RefusedStatement, SandboxFull, TimeLimitExceeded, UserError
from ..messages import _
from .base import Evidence


class SandboxBusy(UserError):
    """Too many runs at once on one sandbox."""

    status = 429


def translate_error(exc: BaseException, evidence: Evidence, time_limit_ms: int) -> UserError | None:
    """The UserError a failed statement means to the student, or None if it is not theirs."""
    if evidence.refusal:
        return RefusedStatement(evidence.refusal)
    if evidence.timed_out or (isinstance(exc, psycopg2.errors.QueryCanceled) and "statement timeout" in str(exc)):
        return TimeLimitExceeded(_("stopped at the time limit (%(ms)s ms); nothing was changed", ms=time_limit_ms))
    if isinstance(exc, psycopg2.Error):
        text = message(exc)
        code = exc.pgcode or ""
        if code == "42501":
            if "permission denied" not in text:
                text = f"permission denied: {text}"
            return RefusedStatement(text)
        if code == "53400" or "temp_file_limit" in text:
            # Not the sandbox's size: the server's cap on one session's temporary files.
            limit = re.search(r"temp_file_limit \(([^)]*)\)", text)
            setting = f"temp_file_limit = {limit.group(1)}" if limit else text
            return UserError(
                _(
                    "the statement needed more temporary disk space than this server allows (%(setting)s); "
                    "sort or group fewer rows, or add a WHERE",
                    setting=setting,
                )
            )
        if code == "53100":
            return SandboxFull(_("the database server's disk is full (%(error)s)", error=text))
        if code == "53300":
            return SandboxBusy(text)
        return UserError(text)
    if isinstance(exc, ValueError | TypeError | OverflowError):
        return UserError(str(exc))
    return None


def message(exc: psycopg2.Error) -> str:
    """The database's message (its first line), with its DETAIL and HINT, without a final period."""
    diag = getattr(exc, "diag", None)
    primary = getattr(diag, "message_primary", None) or first_line(exc)
    parts = [primary.rstrip(".")]
    for extra in (getattr(diag, "message_detail", None), getattr(diag, "message_hint", None)):
        if extra:
            parts.append(extra.strip().rstrip("."))
    return ". ".join(parts)


def first_line(exc: BaseException) -> str:
    """The first line of an error's text, without libpq's FATAL:/ERROR: prefix."""
    text = str(exc).strip()
    for prefix in ("FATAL:", "ERROR:"):
        text = text.removeprefix(prefix).strip()
    return text.splitlines()[0] if text else type(exc).__name__
