"""Simulated visitors of a running playground: a session cookie, its CSRF token, and a sandbox.

Used by the benchmark (each wrk connection is one visitor whose sandbox holds the users table)
and by the classroom load test.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from http.cookiejar import CookieJar
from typing import Any

from .dataset import SCRIPT


@dataclass(frozen=True)
class Reply:
    status: int
    body: bytes
    elapsed_ms: float

    @property
    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Visitor:
    """One browser: its cookie jar (the session, so the sandbox) and the CSRF token."""

    base_url: str
    engine: str
    csrf: str = ""
    cookies: CookieJar = field(default_factory=CookieJar)

    def __post_init__(self) -> None:
        self._opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.cookies))

    def request(self, method: str, path: str, body: Any = None, timeout: float = 60) -> Reply:
        headers = {"X-CSRFToken": self.csrf} if self.csrf else {}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        started = time.perf_counter()
        req = urllib.request.Request(self.base_url + path, data=data, method=method, headers=headers)
        try:
            with self._opener.open(req, timeout=timeout) as response:
                return Reply(response.status, response.read(), (time.perf_counter() - started) * 1000)
        except urllib.error.HTTPError as e:
            with e:
                return Reply(e.code, e.read(), (time.perf_counter() - started) * 1000)

    def start(self) -> Visitor:
        reply = self.request("GET", "/api/session")
        if reply.status != 200:
            raise RuntimeError(f"GET /api/session answered {reply.status}")
        self.csrf = reply.json["csrf_token"]
        return self

    def run(self, sql: str, params: Any = None) -> Reply:
        body: dict[str, Any] = {"sql": sql, "engine": self.engine}
        if params is not None:
            body["params"] = params
        return self.request("POST", "/api/run", body)

    def commit(self, token: str) -> Reply:
        return self.request("POST", "/api/commit", {"token": token})

    def run_and_commit(self, sql: str, params: Any = None) -> Reply:
        preview = self.run(sql, params)
        if preview.status != 200 or preview.json["status"] != "preview":
            raise RuntimeError(f"expected a preview, got {preview.status}: {preview.body[:500]!r}")
        committed = self.commit(preview.json["token"])
        if committed.status != 200:
            raise RuntimeError(f"the commit answered {committed.status}: {committed.body[:500]!r}")
        return committed

    def session_cookie(self) -> str:
        for cookie in self.cookies:
            if cookie.name == "session" and cookie.value:
                return cookie.value
        raise RuntimeError("no session cookie")

    def load_users_table(self) -> None:
        """The benchmark's 100,000-row table in this visitor's sandbox, through the API like any student SQL."""
        # SQLite's names ignore case: the sample's "Users" would be the benchmark's users.
        self.run_and_commit('DROP TABLE IF EXISTS "Users";\n' + SCRIPT[self.engine])
        count = self.run("select count(*) from users")
        assert count.json["statements"][0]["rows"] == [[100_000]], count.body[:300]
