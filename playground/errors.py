"""Errors a user caused: each carries a message for the page or the API and an HTTP status."""

from __future__ import annotations


class UserError(Exception):
    """Something the user typed or sent cannot run; never a 500."""

    status = 400

    def __init__(self, message: str, *, statement: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.statement = statement


class RefusedStatement(UserError):
    """A statement the sandbox does not allow (transaction control, ATTACH, ...)."""

    status = 403


class TimeLimitExceeded(UserError):
    """A statement ran past the time limit and was stopped."""

    status = 408


class SandboxFull(UserError):
    """The sandbox reached its size cap."""

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
