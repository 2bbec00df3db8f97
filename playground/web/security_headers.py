"""Headers that tell the browser what this site never does: sniff types, run inline scripts, sit in a frame.

Every response says `nosniff` and `Referrer-Policy: same-origin` (an address can hold a student's
SQL). Pages carry a Content-Security-Policy: scripts from this origin only (no inline script, no
`on...=` handler), never framed, forms posted here only. Styles come from this origin too, plus the
`<style>` elements CodeMirror adds at run time, which carry the page's one-response nonce (the
editor reads it from `<meta name="csp-nonce">`, see static/js/editor.js).
"""

from __future__ import annotations

import secrets

from flask import Flask, Response, g

REFERRER_POLICY = "same-origin"


def csp_nonce() -> str:
    """This response's nonce for `<style>` elements, made on first use."""
    nonce: str | None = g.get("csp_nonce")
    if nonce is None:
        nonce = g.csp_nonce = secrets.token_urlsafe(18)
    return nonce


def content_security_policy(nonce: str) -> str:
    return "; ".join(
        [
            "default-src 'self'",
            "script-src 'self'",
            f"style-src 'self' 'nonce-{nonce}'",
            "img-src 'self' data:",
            "font-src 'self'",
            "connect-src 'self'",
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        ]
    )


def register(app: Flask) -> None:
    """Give the templates the nonce and every response its headers."""
    app.jinja_env.globals["csp_nonce"] = csp_nonce

    @app.after_request
    def _security_headers(response: Response) -> Response:
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = REFERRER_POLICY
        if response.mimetype == "text/html":
            response.headers["Content-Security-Policy"] = content_security_policy(csp_nonce())
            # For browsers older than frame-ancestors.
            response.headers["X-Frame-Options"] = "DENY"
        return response
