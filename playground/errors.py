"""Errors a user caused: each carries a message for the page or the API and an HTTP status."""

from __future__ import annotations

from dataclasses import dataclass

from .messages import Message, _, clause


@dataclass(frozen=True)
class SqlPosition:
    """A place in the SQL as the user typed it: a character offset, and the line and column people read."""

    offset: int  # 0-based, in characters of the whole SQL text
    line: int  # 1-based
    column: int  # 1-based, in characters

    @classmethod
    def in_text(cls, sql: str, offset: int) -> SqlPosition:
        offset = max(0, min(offset, len(sql)))
        before = sql[:offset]
        line_start = before.rfind("\n") + 1
        return cls(offset, before.count("\n") + 1, offset - line_start + 1)


class UserError(Exception):
    """Something the user typed or sent cannot run; never a 500.

    `offset` is where in the SQL the problem is, when the engine (or our reading) says so: in
    characters of statement `statement`'s text when that is given, else of the whole SQL. The
    service turns it into `position` (line and column in the whole SQL) before it is shown.
    """

    status = 400

    def __init__(self, message: str | Message, *, statement: int | None = None, offset: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.statement = statement
        self.offset = offset
        self.position: SqlPosition | None = None


class RefusedStatement(UserError):
    """A statement the sandbox does not allow (transaction control, ATTACH, ...)."""

    status = 403


class TimeLimitExceeded(UserError):
    """A statement ran past the time limit and was stopped.

    422, not 408: browsers (Chromium at least) silently send a request again when it is answered
    with 408, so one click would run a runaway query twice.
    """

    status = 422


class RunLimitExceeded(UserError):
    """A run went past its total time or its number of statements; it was stopped and rolled back (422, as the time limit)."""

    status = 422


class SandboxFull(UserError):
    """The sandbox reached its size cap."""

    status = 413


class ValueTooBig(UserError):
    """A value (a string, a blob, a row) grew past the configured value size."""

    status = 413


class TokenSpent(UserError):
    """A commit or discard for a preview that was already committed or discarded."""

    status = 410


class TokenUnknown(UserError):
    """A commit or discard for a preview that does not exist (or belongs to someone else)."""

    status = 404


class CapacityReached(UserError):
    """The server holds as many sandboxes as it is configured for."""

    status = 503


class Unavailable(UserError):
    """The server cannot do it right now (busy, or out of a resource); nothing was changed, and it may work later.

    Not the user's doing, and not a bug either: a clear answer that says to try again, never a 500.
    """

    status = 503
    retry_after_seconds = 2


class ServerBusy(Unavailable):
    """The database refused a connection (every slot taken), or none came free in time."""


class DiskFull(Unavailable):
    """The disk the server writes to is full: a write, a preview's token or a new sandbox cannot be kept."""

    status = 507
    retry_after_seconds = 30


class CommitInProgress(Unavailable):
    """Another request is committing (or writing to) this sandbox right now; this one applied nothing."""


class AlreadyCommitted(TokenSpent):
    """The sandbox itself says this preview was committed (its commit log holds the preview's mark)."""

    def __init__(self) -> None:
        super().__init__(_("This preview was already committed; nothing was applied again."))


class ClassReadOnly(UserError):
    """The teacher switched the class to read-only for a demonstration: writes wait, reads work."""

    status = 423

    def __init__(self) -> None:
        super().__init__(
            _(
                "Your teacher has made the class read-only for a demonstration: nothing was changed. "
                "Reading works as usual; writing works again once your teacher switches it back."
            )
        )


def statement_not_allowed(label: str, reason: str) -> Message:
    """ "Statement 2 (ATTACH) is not allowed: <why>." (the reason a Message, or the database's own words)."""
    return _("%(statement)s is not allowed: %(reason)s.", statement=label, reason=clause(reason))


def statement_failed(label: str, reason: str) -> Message:
    """ "Statement 2 (INSERT) failed: <the database's message>." """
    return _("%(statement)s failed: %(reason)s.", statement=label, reason=clause(reason))
