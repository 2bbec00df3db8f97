"""The benchmark: the playground under its production server, Datasette and a bare floor, side by side.

    python -m bench                      # SQLite and (with BENCH_POSTGRES_URL) PostgreSQL, 10 s per cell
    python -m bench --duration 3 --engines sqlite --workloads w2,w4 --concurrency 32

Each system serves the same 100,000-row users table (bench/dataset.py); the playground gives every
simulated visitor a sandbox holding it. wrk drives the systems one after the other for each
workload and concurrency (alternating, so that a change in the machine's load hits all of them),
and the table gives each figure's ratio to the floor and to Datasette from the same run.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import servers
from .dataset import build_postgresql, build_sqlite
from .visitors import Visitor

LUA = Path(__file__).with_name("load.lua")

WORKLOADS = {
    "w1": "row by id, HTML page",
    "w2": "row by id, JSON API",
    "w3": "age > :age limit 1000, HTML page",
    "w4": "count(*) over an age range, JSON",
    "w5": "write previewed, then committed",
}
# The targets: the playground's requests/s as a share of the floor's, from the same run.
TARGETS = {"w1": 0.7, "w2": 0.7, "w3": 0.5, "w4": 0.7, "w5": 0.5}
POSTGRES_TARGET = 0.5


@dataclass(frozen=True)
class Figure:
    system: str
    requests_per_s: float  # for W5: committed writes per second
    p50_ms: float
    p99_ms: float
    errors: int
    server_errors: int


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--engines", default="sqlite,postgresql")
    parser.add_argument("--workloads", default=",".join(WORKLOADS))
    parser.add_argument("--concurrency", default="1,32")
    parser.add_argument("--duration", type=int, default=10, help="seconds per measurement")
    parser.add_argument("--rounds", type=int, default=1, help="alternations per cell; the median is shown")
    parser.add_argument(
        "--workers", type=int, default=int(os.environ.get("PLAYGROUND_WORKERS", "0")) or os.cpu_count() * 2 + 1
    )  # type: ignore[operator]
    parser.add_argument("--threads", type=int, default=int(os.environ.get("PLAYGROUND_THREADS", "4")))
    parser.add_argument("--postgres-url", default=os.environ.get("BENCH_POSTGRES_URL", ""))
    parser.add_argument("--json", type=Path, help="also write every figure to this file")
    parser.add_argument(
        "--playground-root",
        type=Path,
        default=servers.ROOT,
        help="serve the playground from this checkout (default: this one)",
    )
    args = parser.parse_args(argv)
    if shutil.which("wrk") is None:
        print("bench: wrk is not installed (Debian: apt-get install wrk)", file=sys.stderr)
        return 2
    engines = args.engines.split(",")
    if "postgresql" in engines and not args.postgres_url:
        print("bench: no BENCH_POSTGRES_URL (or --postgres-url): PostgreSQL skipped", file=sys.stderr)
        engines.remove("postgresql")
    settings = servers.ServerSettings(args.workers, args.threads)
    concurrency = [int(c) for c in args.concurrency.split(",")]
    workloads = args.workloads.split(",")
    print(_machine(settings), flush=True)
    results: dict[str, Any] = {}
    for engine in engines:
        with tempfile.TemporaryDirectory(prefix=f"bench-{engine}-") as tmp:
            results[engine] = _bench_engine(engine, Path(tmp), settings, workloads, concurrency, args)
        _print_table(engine, results[engine], workloads, concurrency)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    return 0


def _bench_engine(
    engine: str, tmp: Path, settings: servers.ServerSettings, workloads: list[str], concurrency: list[int], args: Any
) -> dict[str, Any]:
    figures: dict[str, Any] = {}
    with ExitStack() as stack:
        systems: dict[str, servers.Server] = {}
        env = {"PLAYGROUND_DATA_DIR": str(tmp / "playground")}
        prefix = f"bench{secrets.token_hex(3)}"
        if engine == "sqlite":
            database = build_sqlite(tmp / "bench.sqlite3")
            systems["floor"] = stack.enter_context(servers.floor(settings, tmp, str(database)))
            systems["datasette"] = stack.enter_context(servers.datasette(settings, tmp, database))
        else:
            build_postgresql(args.postgres_url)
            systems["floor"] = stack.enter_context(servers.floor(settings, tmp, args.postgres_url))
            env |= {"PLAYGROUND_DATABASE_URL": args.postgres_url, "PLAYGROUND_POSTGRES_PREFIX": prefix}
            stack.callback(_drop_postgres_sandboxes, args.postgres_url, prefix)
        playground = stack.enter_context(servers.playground(settings, tmp, env, args.playground_root))
        systems["playground"] = playground
        visitors = _visitors(playground.url, engine, max(concurrency), tmp / "visitors.tsv")
        order = ["floor", "playground", "datasette"]
        for workload in workloads:
            for c in concurrency:
                runs: dict[str, list[Figure]] = {name: [] for name in systems}
                for _ in range(args.rounds):
                    for name in [n for n in order if n in systems]:
                        runs[name].append(_wrk(systems[name], name, workload, engine, c, args.duration, visitors))
                figures[f"{workload}/{c}"] = {name: _median(found).__dict__ for name, found in runs.items()}
                print(
                    f"  {engine} {workload} c={c}: "
                    + ", ".join(f"{n} {figures[f'{workload}/{c}'][n]['requests_per_s']:,.0f}/s" for n in runs),
                    flush=True,
                )
        figures["memory"] = {name: servers.rss_bytes(server.pids()) for name, server in systems.items()}
        print(
            "  server memory after the runs (PSS, master + workers): "
            + ", ".join(f"{name} {size / 1e6:,.0f} MB" for name, size in figures["memory"].items()),
            flush=True,
        )
    return figures


def _visitors(url: str, engine: str, count: int, path: Path) -> Path:
    """`count` visitors, each with the users table in its own sandbox; their cookies and tokens in a file."""
    lines = []
    for _ in range(count):
        visitor = Visitor(url, engine).start()
        visitor.load_users_table()
        lines.append(f"{visitor.session_cookie()}\t{visitor.csrf}")
    path.write_text("\n".join(lines) + "\n")
    return path


def _wrk(
    server: servers.Server, system: str, workload: str, engine: str, connections: int, duration: int, visitors: Path
) -> Figure:
    env = {
        **os.environ,
        "BENCH_SYSTEM": system,
        "BENCH_WORKLOAD": workload,
        "BENCH_ENGINE": engine,
        "BENCH_VISITORS": str(visitors),
    }
    command = [
        "wrk",
        f"-t{connections}",
        f"-c{connections}",
        f"-d{duration}s",
        "--timeout",
        "30s",
        "-s",
        str(LUA),
        server.url,
    ]
    out = subprocess.run(command, env=env, capture_output=True, text=True, check=True).stdout
    data = json.loads(out.strip().splitlines()[-1])
    seconds = data["duration_us"] / 1e6
    if workload == "w5":
        done = data["writes"]
    elif system == "playground" and workload in ("w1", "w3"):
        done = data["pages"]  # a Run and the page it redirects to (see load.lua)
    else:
        done = data["requests"]
    errors = (
        data["errors_status"]
        + data["errors_connect"]
        + data["errors_read"]
        + data["errors_write"]
        + data["errors_timeout"]
    )
    return Figure(system, done / seconds, data["p50_us"] / 1000, data["p99_us"] / 1000, errors, data["server_errors"])


def _median(figures: list[Figure]) -> Figure:
    middle = sorted(figures, key=lambda f: f.requests_per_s)[len(figures) // 2]
    return Figure(
        middle.system,
        statistics.median(f.requests_per_s for f in figures),
        statistics.median(f.p50_ms for f in figures),
        statistics.median(f.p99_ms for f in figures),
        sum(f.errors for f in figures),
        sum(f.server_errors for f in figures),
    )


def _print_table(engine: str, figures: dict[str, Any], workloads: list[str], concurrency: list[int]) -> None:
    target_of = (lambda w: POSTGRES_TARGET) if engine == "postgresql" else TARGETS.get
    print(f"\n{engine}: requests/s (W5: committed writes/s), latency per request; ratios of requests/s")
    header = f"{'workload':<40} {'c':>3}  {'system':<11} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'x floor':>8} {'x dsette':>8} {'errors':>6}"
    print(header)
    print("-" * len(header))
    for workload in workloads:
        for c in concurrency:
            cell = figures[f"{workload}/{c}"]
            floor, datasette = cell.get("floor"), cell.get("datasette")
            for name, f in cell.items():
                label = f"{workload.upper()} {WORKLOADS[workload]}"
                print(
                    f"{label:<40} {c:>3}  {name:<11} {f['requests_per_s']:>8,.0f} {f['p50_ms']:>8.1f} {f['p99_ms']:>8.1f} "
                    f"{_ratio(f, floor):>8} {_ratio(f, datasette):>8} {f['errors']:>6}"
                )
            mine = (
                cell["playground"]["requests_per_s"] / floor["requests_per_s"]
                if floor and floor["requests_per_s"]
                else 0
            )
            target = target_of(workload) or 0
            verdict = "met" if mine >= target else f"missed by {target - mine:.2f}"
            print(f"{'':<40} {'':>3}  target: playground >= {target:.1f} x floor: {verdict}")
    print()


def _ratio(figure: dict[str, Any], peer: dict[str, Any] | None) -> str:
    """The figure's requests/s as a multiple of the peer's ("-" where the peer did not run)."""
    if not peer or not peer["requests_per_s"]:
        return "-"
    return f"{figure['requests_per_s'] / peer['requests_per_s']:.2f}"


def _machine(settings: servers.ServerSettings) -> str:
    load = os.getloadavg()
    return (
        f"machine: {os.cpu_count()} cores, load {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; "
        f"every server: gunicorn, {settings.workers} workers x {settings.threads} threads"
    )


def _drop_postgres_sandboxes(url: str, prefix: str) -> None:
    from playground.backends.postgresql import PostgresBackend
    from playground.config import Limits

    backend = PostgresBackend(url, Limits(), sandbox_prefix=prefix)
    backend.drop_everything()
    backend.close()
