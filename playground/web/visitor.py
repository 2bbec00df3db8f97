"""Who is asking: a random visitor id kept in the signed session cookie, and the service."""

from __future__ import annotations

import secrets
import time

from flask import current_app, session

from ..backends.base import VISITOR_ID
from ..service import Playground


def playground() -> Playground:
    """The one service behind the pages and the API."""
    return current_app.extensions["playground"]  # type: ignore[no-any-return]


# The cookie's expiry is moved forward when the visitor comes back, at most once an hour: signing
# and setting the cookie again on every response costs more than the run of a small query.
REFRESH_SECONDS = 3600


def visitor_id() -> str:
    """The visitor's id, made on first use; it names their sandboxes and is never shown to others."""
    visitor = session.get("visitor")
    if not isinstance(visitor, str) or not VISITOR_ID.fullmatch(visitor):
        visitor = secrets.token_hex(16)
        session["visitor"] = visitor
        session.permanent = True
    hour = int(time.time() // REFRESH_SECONDS)
    if session.get("refreshed") != hour:
        session["refreshed"] = hour  # a changed session is sent again, with a new expiry
    return visitor
