"""Datasette over the benchmark's SQLite file, as an ASGI app for gunicorn's uvicorn worker.

    BENCH_DATASETTE_DATABASE=/path/to/bench.sqlite3 gunicorn -k uvicorn_worker.UvicornWorker \\
        'bench.datasette_app:create_app()'

W5 is a canned write query (`/bench/set_age`), Datasette's way of running an UPDATE from the web.
"""

from __future__ import annotations

import os
from typing import Any

from datasette.app import Datasette

METADATA = {
    "databases": {
        "bench": {"queries": {"set_age": {"sql": "update users set age = :age where id = :id", "write": True}}}
    }
}


def create_app() -> Any:
    return Datasette(files=[os.environ["BENCH_DATASETTE_DATABASE"]], metadata=METADATA).app()
