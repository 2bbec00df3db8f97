"""The headers a browser is told to enforce, on a real server; and the editor, CodeMirror included, under them in Chromium.

Every response says nosniff and same-origin referrers; pages carry a Content-Security-Policy with no
inline script and no framing, whose style nonce is new for each response; the session cookie is
HttpOnly and SameSite=Lax, and Secure when PLAYGROUND_HTTPS says the server is behind HTTPS.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import test_browser
from bs4 import BeautifulSoup
from server_support import HttpClient, LiveServer, Reply, live_server
from test_browser import _open_page, type_sql

browser = test_browser.browser  # the same module-scoped Chromium fixture
TEMPLATES = Path(__file__).resolve().parent.parent / "templates"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with live_server(tmp_path_factory.mktemp("headers"), workers=1) as running:
        yield running


def policy(reply: Reply) -> dict[str, list[str]]:
    """The Content-Security-Policy as directive: sources."""
    header = reply.headers.get("Content-Security-Policy")
    assert header, f"no Content-Security-Policy on {reply.status} {reply.content_type}"
    directives = [d.split() for d in header.split(";") if d.strip()]
    return {d[0]: d[1:] for d in directives}


def responses(server: LiveServer) -> dict[str, Reply]:
    """One of each kind of response a visitor gets: pages, errors, JSON, assets, a download."""
    client = HttpClient(server.url).start()
    editor = client.request("GET", "/")
    soup = BeautifulSoup(editor.text, "html.parser")
    csrf = str(soup.select_one('meta[name="csrf-token"]')["content"])  # type: ignore[index]
    asset = str(soup.select_one("script[src]")["src"])  # type: ignore[index]
    form = {"csrf_token": csrf, "sql": "SELECT 1 AS one", "rows": "1", "action": "run"}
    return {
        "the editor": editor,
        "a run from the page": client.request("POST", "/run", form=form),
        "the history page": client.request("GET", "/history"),
        "a page that is not there": client.request("GET", "/no/such/page"),
        "a form without its token": HttpClient(server.url).request("POST", "/run", form={"sql": "SELECT 1"}),
        "an API answer": client.post_json("/api/run", {"sql": "SELECT 1"}),
        "an API error": client.post_json("/api/run", {"sql": "SELEC 1"}),
        "a script": client.request("GET", asset),
        "a download": client.request("POST", "/download.csv", form=form),
    }


def test_every_response_says_nosniff_and_same_origin_referrers(server: LiveServer) -> None:
    for kind, reply in responses(server).items():
        assert reply.headers.get("X-Content-Type-Options") == "nosniff", kind
        assert reply.headers.get("Referrer-Policy") == "same-origin", kind


def test_pages_allow_only_their_own_scripts_and_no_frame(server: LiveServer) -> None:
    pages = {kind: r for kind, r in responses(server).items() if r.content_type.startswith("text/html")}
    assert set(pages) >= {"the editor", "a run from the page", "the history page", "a page that is not there"}
    for kind, reply in pages.items():
        directives = policy(reply)
        assert directives["script-src"] == ["'self'"], kind
        assert directives["frame-ancestors"] == ["'none'"], kind
        assert directives["object-src"] == ["'none'"], kind
        assert "'unsafe-inline'" not in directives["style-src"], kind
        assert "'unsafe-inline'" not in directives.get("default-src", []), kind


def test_the_style_nonce_is_the_pages_and_new_for_each_response(server: LiveServer) -> None:
    client = HttpClient(server.url)
    nonces = []
    for _ in range(2):
        page = client.request("GET", "/")
        (nonce,) = [s.removeprefix("'nonce-").removesuffix("'") for s in policy(page)["style-src"] if "nonce-" in s]
        meta = BeautifulSoup(page.text, "html.parser").select_one('meta[name="csp-nonce"]')
        assert meta is not None and meta["content"] == nonce
        nonces.append(nonce)
    assert nonces[0] != nonces[1]
    assert len(nonces[0]) >= 16


def session_cookie(reply: Reply) -> str:
    (cookie,) = [c for c in reply.headers.get_all("Set-Cookie") or [] if c.startswith("session=")]
    return str(cookie)


def cookie_flags(cookie: str) -> set[str]:
    return {part.strip().split("=")[0].lower() for part in cookie.split(";")[1:]}


def test_the_session_cookie_is_httponly_and_samesite_lax_and_not_secure_by_default(server: LiveServer) -> None:
    cookie = session_cookie(HttpClient(server.url).request("GET", "/api/session"))
    assert {"httponly", "samesite"} <= cookie_flags(cookie)
    assert re.search(r";\s*SameSite=Lax", cookie, re.IGNORECASE)
    assert "secure" not in cookie_flags(cookie)  # a server on plain HTTP would lose its visitors' sessions


def test_behind_https_the_session_cookie_is_secure(tmp_path: Path) -> None:
    with live_server(tmp_path, workers=1, env={"PLAYGROUND_HTTPS": "true"}) as https_server:
        cookie = session_cookie(HttpClient(https_server.url).request("GET", "/api/session"))
    assert {"httponly", "samesite", "secure"} <= cookie_flags(cookie)


# -- the templates hold no inline script --------------------------------------------------------

TEMPLATE_FILES = sorted(TEMPLATES.rglob("*.html"))


@pytest.mark.parametrize("template", TEMPLATE_FILES, ids=lambda p: p.name)
def test_no_template_has_an_inline_script_handler_or_style(template: Path) -> None:
    soup = BeautifulSoup(template.read_text("utf-8"), "html.parser")
    inline = [str(s)[:80] for s in soup.find_all("script") if not s.get("src")]
    assert inline == [], f"{template.name}: inline <script>"
    handlers = [
        f"<{tag.name} {name}>" for tag in soup.find_all(True) for name in tag.attrs if name.lower().startswith("on")
    ]
    assert handlers == [], f"{template.name}: event handler attributes"
    urls = [tag.name for tag in soup.find_all(True) for v in tag.attrs.values() if "javascript:" in str(v).lower()]
    assert urls == [], f"{template.name}: javascript: addresses"
    styled = [tag.name for tag in soup.find_all(True) if "style" in tag.attrs] + [
        s.name for s in soup.find_all("style")
    ]
    assert styled == [], f"{template.name}: inline styles, which the policy blocks"


# -- in a real browser ----------------------------------------------------------------------------


def csp_violations(page: Any) -> list[str]:
    """The Content-Security-Policy refusals Chromium reports in the console, as they come."""
    seen: list[str] = []
    page.on(
        "console",
        lambda message: seen.append(message.text) if "Content Security Policy" in message.text else None,
    )
    return seen


def test_the_editor_with_codemirror_runs_under_the_policy_without_a_violation(browser: Any, server: LiveServer) -> None:
    from playwright.sync_api import expect

    for page in _open_page(browser, server):
        violations = csp_violations(page)
        page.goto("/")
        editor = page.locator("#sql-editor .cm-editor")
        expect(editor).to_be_visible()
        # CodeMirror's own stylesheet is a <style> element it adds: applied only if it carries the nonce.
        assert page.evaluate("getComputedStyle(document.querySelector('#sql-editor .cm-editor')).display") == "flex"
        type_sql(page, "SELECT x, y FROM some_table WHERE y > :y")
        page.get_by_label("y", exact=True).fill("6")
        page.locator("#run-button").click()
        expect(page.locator("#statement-1 table.result")).to_be_visible()
        expect(page.locator("#sql-editor .cm-editor")).to_be_visible()
        # The page's own history panel and completion come from scripts too; all of it without a refusal.
        page.goto("/history")
        expect(page.locator("main")).to_be_visible()
        page.go_back()
        expect(page.locator("#sql-editor .cm-editor")).to_be_visible()
        assert violations == []

        # The check can fail: a style element without the nonce is refused, and reported.
        with page.expect_console_message(lambda message: "Content Security Policy" in message.text):
            page.evaluate("document.head.appendChild(document.createElement('style')).textContent = 'body{}'")
        assert violations and all("inline style" in v for v in violations), violations
