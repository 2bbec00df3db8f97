"""The floor: the smallest Flask app that binds the same parameters and renders the same rows.

It does what a playground run does for the user, minus everything the playground adds (visitors
and their sandboxes, the guard, change detection, capturing what the driver received, CSRF, the
run log). It runs under the same gunicorn settings as `playground serve`:

    BENCH_FLOOR_DATABASE=/path/to/bench.sqlite3 gunicorn 'bench.floor_app:create_app()'
    BENCH_FLOOR_DATABASE=postgresql://... gunicorn 'bench.floor_app:create_app()'

SQLite: one connection per request (as sqlite3 users write it). PostgreSQL: psycopg2 with a
small thread-safe pool per worker process.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from flask import Flask, jsonify, render_template_string, request

PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>floor</title></head><body>
<table><thead><tr>{% for c in columns %}<th>{{ c }}</th>{% endfor %}</tr></thead><tbody>
{% for row in rows %}<tr>{% for v in row %}<td>{{ v }}</td>{% endfor %}</tr>{% endfor %}
</tbody></table></body></html>"""

SQL = {
    "w1": "SELECT * FROM users WHERE id = {id}",
    "w3": "SELECT * FROM users WHERE age > {age} LIMIT 1000",
    "w4": "SELECT count(*) FROM users WHERE age BETWEEN {lo} AND {hi}",
    "w5": "UPDATE users SET age = {age} WHERE id = {id}",
}


def create_app() -> Flask:
    target = os.environ["BENCH_FLOOR_DATABASE"]
    connection, style = (_postgresql if target.startswith("postgresql") else _sqlite)(target)
    sql = {name: text.format(**{k: style(k) for k in ("id", "age", "lo", "hi")}) for name, text in SQL.items()}
    app = Flask(__name__)

    def query(name: str, params: dict[str, Any]) -> tuple[list[str], list[tuple[Any, ...]]]:
        with connection() as conn:
            cur = conn.cursor()
            cur.execute(sql[name], params)
            rows = cur.fetchmany(1001)
            columns = [d[0] for d in cur.description]
            cur.close()
            conn.rollback()
        return columns, rows

    @app.get("/w1")
    def w1() -> str:
        columns, rows = query("w1", {"id": int(request.args["id"])})
        return render_template_string(PAGE, columns=columns, rows=rows)

    @app.post("/w2")
    def w2() -> Any:
        columns, rows = query("w1", {"id": int(request.get_json()["id"])})
        return jsonify(columns=columns, rows=[list(r) for r in rows])

    @app.get("/w3")
    def w3() -> str:
        columns, rows = query("w3", {"age": int(request.args["age"])})
        return render_template_string(PAGE, columns=columns, rows=rows)

    @app.post("/w4")
    def w4() -> Any:
        body = request.get_json()
        columns, rows = query("w4", {"lo": int(body["lo"]), "hi": int(body["hi"])})
        return jsonify(columns=columns, rows=[list(r) for r in rows])

    @app.post("/w5")
    def w5() -> Any:
        body = request.get_json()
        with connection() as conn:
            cur = conn.cursor()
            cur.execute(sql["w5"], {"age": int(body["age"]), "id": int(body["id"])})
            count = cur.rowcount
            cur.close()
            conn.commit()
        return jsonify(status="committed", rowcount=count)

    return app


def _sqlite(path: str) -> tuple[Callable[[], Any], Callable[[str], str]]:
    @contextmanager
    def connection() -> Iterator[sqlite3.Connection]:
        conn = sqlite3.connect(path, timeout=10)
        try:
            yield conn
        finally:
            conn.close()

    return connection, lambda name: f":{name}"


def _postgresql(url: str) -> tuple[Callable[[], Any], Callable[[str], str]]:
    from psycopg2.pool import ThreadedConnectionPool

    pool = ThreadedConnectionPool(1, 4, url)

    @contextmanager
    def connection() -> Iterator[Any]:
        conn = pool.getconn()
        try:
            yield conn
        finally:
            conn.rollback()
            pool.putconn(conn)

    return connection, lambda name: f"%({name})s"
