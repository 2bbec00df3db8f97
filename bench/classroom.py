"""The classroom load test: a class working at once on one server, and a class arriving at once.

    python -m bench.classroom                         # SQLite, 60 students for 120 s, then 100 arrivals
    python -m bench.classroom --engine postgresql     # the same on PostgreSQL (BENCH_POSTGRES_URL)
    python -m bench.classroom --duration 20 --students 20 --arrivals 30   # a quick run

Each student has a sandbox of their own and, with a few seconds' thought between runs, mostly
runs SELECTs, sometimes previews a write and leaves or discards it, sometimes commits one,
sometimes makes an error, and now and then starts a runaway query that ends at the time limit.
It prints p50/p99 per kind of run and the server's peak memory, and checks that nothing was lost:
every commit the server acknowledged is in its sandbox exactly once, no preview was ever
committed, and no answer was a 5xx. Then a class arrives: new visitors within a few seconds,
each loading the page and running a first query (time to first result, disk and memory per
sandbox), and every one of them presses Reset.
"""

from __future__ import annotations

import argparse
import os
import random
import secrets
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import servers
from .visitors import Reply, Visitor

JOURNAL = "CREATE TABLE journal (marker text NOT NULL, kind text NOT NULL)"
SELECTS = (
    ("SELECT x, y FROM some_table WHERE y > :y ORDER BY x, y", {"y": 6}),
    ('SELECT * FROM "Users"', None),
    ("SELECT count(*) FROM journal", None),
)
RUNAWAY = {
    "sqlite": "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c",
    "postgresql": "SELECT count(*) FROM generate_series(1, 1000000000)",
}
# Shares of each kind of run (the rest are SELECTs).
MIX = (("runaway", 0.01), ("error", 0.05), ("commit", 0.08), ("preview", 0.08))


@dataclass
class Tally:
    """What happened, from the students' side."""

    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    statuses: dict[str, dict[int, int]] = field(default_factory=lambda: defaultdict(lambda: defaultdict(int)))
    acknowledged: dict[int, list[str]] = field(default_factory=lambda: defaultdict(list))  # student -> markers
    previewed: dict[int, list[str]] = field(default_factory=lambda: defaultdict(list))
    server_errors: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def note(self, kind: str, reply: Reply) -> None:
        with self.lock:
            self.latencies[kind].append(reply.elapsed_ms)
            self.statuses[kind][reply.status] += 1
            if reply.status >= 500:
                self.server_errors.append(f"{kind}: {reply.status} {reply.body[:200]!r}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.classroom", description=__doc__.split("\n\n")[0])
    parser.add_argument("--engine", default="sqlite", choices=("sqlite", "postgresql"))
    parser.add_argument("--students", type=int, default=60)
    parser.add_argument("--duration", type=int, default=120, help="seconds of class work")
    parser.add_argument("--think", type=float, default=1.5, help="mean seconds between a student's runs")
    parser.add_argument("--arrivals", type=int, default=100, help="new visitors arriving at once (0: none)")
    parser.add_argument("--arrival-window", type=float, default=10.0, help="seconds over which they arrive")
    parser.add_argument(
        "--workers", type=int, default=int(os.environ.get("PLAYGROUND_WORKERS", "0")) or os.cpu_count() * 2 + 1
    )  # type: ignore[operator]
    parser.add_argument("--threads", type=int, default=int(os.environ.get("PLAYGROUND_THREADS", "4")))
    parser.add_argument("--postgres-url", default=os.environ.get("BENCH_POSTGRES_URL", ""))
    parser.add_argument("--playground-root", type=Path, default=servers.ROOT, help="serve this checkout")
    parser.add_argument(
        "--spares", type=int, default=-1, help="PostgreSQL spare sandboxes to keep (default: one per arriving visitor)"
    )
    args = parser.parse_args(argv)
    if args.engine == "postgresql" and not args.postgres_url:
        parser.error("PostgreSQL needs BENCH_POSTGRES_URL (or --postgres-url)")
    if args.spares < 0:
        args.spares = args.arrivals
    settings = servers.ServerSettings(args.workers, args.threads)
    load = os.getloadavg()
    print(
        f"machine: {os.cpu_count()} cores, load {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; "
        f"server: {settings.workers} workers x {settings.threads} threads; engine {args.engine}",
        flush=True,
    )
    with tempfile.TemporaryDirectory(prefix="classroom-") as tmp:
        env = {"PLAYGROUND_DATA_DIR": str(Path(tmp) / "data")}
        prefix = args.prefix = f"class{secrets.token_hex(3)}"
        if args.engine == "postgresql":
            # Spares for the whole arriving class, made while the first class works (see pg_spares).
            env |= {
                "PLAYGROUND_DATABASE_URL": args.postgres_url,
                "PLAYGROUND_POSTGRES_PREFIX": prefix,
                "PLAYGROUND_POSTGRES_SPARE_SANDBOXES": str(args.spares),
            }
        try:
            with servers.playground(settings, Path(tmp), env, args.playground_root) as server:
                memory = MemoryWatch(server)
                ok = _class_at_work(server, args, memory)
                if args.arrivals:
                    ok &= _class_arriving(server, args, memory, Path(tmp) / "data")
                memory.stop()
        finally:
            if args.engine == "postgresql":
                from .compare import _drop_postgres_sandboxes

                _drop_postgres_sandboxes(args.postgres_url, prefix)
    print("RESULT:", "nothing lost, no 5xx" if ok else "FAILED (see above)")
    return 0 if ok else 1


class MemoryWatch:
    """Samples the server's memory (master and workers, proportional set size) every half second."""

    def __init__(self, server: servers.Server) -> None:
        self.server = server
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def now(self) -> int:
        return servers.rss_bytes(self.server.pids())

    def _run(self) -> None:
        while not self._stop.wait(0.5):
            self.peak = max(self.peak, self.now())

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


def _class_at_work(server: servers.Server, args: Any, memory: MemoryWatch) -> bool:
    print(
        f"\nA class of {args.students} for {args.duration} s (a run every ~{args.think:.1f} s per student):", flush=True
    )
    students = []
    for _ in range(args.students):
        student = Visitor(server.url, args.engine).start()
        student.run_and_commit(JOURNAL)
        students.append(student)
    tally = Tally()
    memory.peak = memory.now()
    deadline = time.monotonic() + args.duration
    threads = [
        threading.Thread(target=_student, args=(n, s, args, tally, deadline), daemon=True)
        for n, s in enumerate(students)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=args.duration + 120)
    _print_latencies(tally)
    print(f"server peak memory (PSS, master + workers): {memory.peak / 1e6:,.0f} MB")
    return _check_nothing_lost(students, tally)


def _student(n: int, student: Visitor, args: Any, tally: Tally, deadline: float) -> None:
    rng = random.Random(n)
    while time.monotonic() < deadline:
        time.sleep(rng.expovariate(1 / args.think))
        kind = _pick(rng)
        marker = f"{n}-{secrets.token_hex(6)}"
        if kind == "select":
            sql, params = rng.choice(SELECTS)
            tally.note(kind, student.run(sql, params))
        elif kind == "error":
            tally.note(kind, student.run(rng.choice(["SELEC 1", "SELECT :missing", "SELECT * FROM no_such_table"])))
        elif kind == "runaway":
            tally.note(kind, student.run(RUNAWAY[args.engine]))
        else:
            insert = "INSERT INTO journal (marker, kind) VALUES (:marker, :kind)"
            preview = student.run(insert, {"marker": marker, "kind": kind})
            tally.note(f"{kind} (run)", preview)
            if preview.status != 200:
                continue
            token = preview.json.get("token")
            if kind == "preview":
                with tally.lock:
                    tally.previewed[n].append(marker)
                if rng.random() < 0.5:
                    tally.note("discard", student.request("POST", "/api/discard", {"token": token}))
            else:
                committed = student.commit(token)
                tally.note("commit", committed)
                if committed.status == 200 and committed.json.get("status") == "committed":
                    with tally.lock:
                        tally.acknowledged[n].append(marker)


def _pick(rng: random.Random) -> str:
    r = rng.random()
    for kind, share in MIX:
        if r < share:
            return kind
        r -= share
    return "select"


def _print_latencies(tally: Tally) -> None:
    print(f"{'kind':<16} {'runs':>6} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8}  statuses")
    for kind in sorted(tally.latencies):
        found = sorted(tally.latencies[kind])
        statuses = ", ".join(f"{code}: {count}" for code, count in sorted(tally.statuses[kind].items()))
        print(
            f"{kind:<16} {len(found):>6} {_pct(found, 50):>8.1f} {_pct(found, 99):>8.1f} {found[-1]:>8.1f}  {statuses}"
        )


def _pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def _check_nothing_lost(students: list[Visitor], tally: Tally) -> bool:
    ok = True
    acknowledged = sum(len(m) for m in tally.acknowledged.values())
    previews = sum(len(m) for m in tally.previewed.values())
    duplicated = missing = leaked = 0
    for n, student in enumerate(students):
        reply = student.run("SELECT marker, kind FROM journal")
        if reply.status != 200:
            print(f"student {n}: the journal could not be read ({reply.status})")
            ok = False
            continue
        counts: dict[str, int] = defaultdict(int)
        for marker, kind in reply.json["statements"][0]["rows"]:
            counts[marker] += 1
            leaked += kind == "preview"
        for marker in tally.acknowledged[n]:
            missing += counts[marker] == 0
            duplicated += counts[marker] > 1
        leaked += sum(counts[m] for m in tally.previewed[n])
    print(
        f"acknowledged commits: {acknowledged}, each present exactly once: "
        f"{'yes' if not (missing or duplicated) else f'NO ({missing} missing, {duplicated} duplicated)'}; "
        f"previews never committed: {previews}, found committed: {leaked}; 5xx answers: {len(tally.server_errors)}"
    )
    for line in tally.server_errors[:10]:
        print("  5xx:", line)
    return ok and not (missing or duplicated or leaked or tally.server_errors)


def _class_arriving(server: servers.Server, args: Any, memory: MemoryWatch, data_dir: Path) -> bool:
    print(f"\nA class of {args.arrivals} arriving within {args.arrival_window:.0f} s:", flush=True)
    if args.engine == "postgresql":
        print(f"spare sandboxes ready: {_wait_for_spares(args)}", flush=True)
    time.sleep(3)  # let the server settle after the class at work
    idle_before = memory.now()
    rng = random.Random(42)
    arrivals = sorted(rng.uniform(0, args.arrival_window) for _ in range(args.arrivals))
    first_results: list[float] = []
    failures: list[str] = []
    visitors: list[Visitor] = []
    lock = threading.Lock()
    start = time.monotonic()

    def arrive(at: float) -> None:
        time.sleep(max(0.0, start + at - time.monotonic()))
        began = time.perf_counter()
        visitor = Visitor(server.url, args.engine)
        try:
            page = visitor.request("GET", "/")
            reply = visitor.start().run(*SELECTS[0])
        except OSError as e:
            with lock:
                failures.append(f"arrival: no answer ({e})")
            return
        with lock:
            if page.status != 200 or reply.status != 200:
                failures.append(f"page {page.status}, first run {reply.status}: {reply.body[:200]!r}")
            first_results.append((time.perf_counter() - began) * 1000)
            visitors.append(visitor)

    _all_at_once([lambda at=at: arrive(at) for at in arrivals])
    first_results.sort()
    print(
        f"time to first result (page + session + first run): p50 {_pct(first_results, 50):,.0f} ms, "
        f"p99 {_pct(first_results, 99):,.0f} ms, max {first_results[-1]:,.0f} ms"
    )
    time.sleep(3)
    idle_after = memory.now()
    total, count = _sandbox_disk(args, data_dir)
    print(f"disk per sandbox: {total / max(count, 1) / 1e6:,.2f} MB (the average over {count} sandboxes)")
    print(
        f"server memory per idle sandbox: {(idle_after - idle_before) / args.arrivals / 1e3:,.0f} KB "
        f"({idle_before / 1e6:,.0f} MB before the arrivals, {idle_after / 1e6:,.0f} MB after)"
    )
    resets: list[float] = []

    def reset(visitor: Visitor) -> None:
        try:
            reply = visitor.request("POST", "/api/reset", {"engine": args.engine})
        except OSError as e:  # the client's own time-out (60 s): an answer that did not come
            with lock:
                failures.append(f"reset: no answer ({e})")
            return
        with lock:
            resets.append(reply.elapsed_ms)
            if reply.status != 200:
                failures.append(f"reset {reply.status}: {reply.body[:200]!r}")

    began = time.perf_counter()
    _all_at_once([lambda v=v: reset(v) for v in visitors])
    resets.sort()
    print(
        f"all {len(visitors)} reset at once: {(time.perf_counter() - began):,.1f} s in all; per reset p50 "
        f"{_pct(resets, 50):,.0f} ms, p99 {_pct(resets, 99):,.0f} ms"
    )
    for line in failures[:10]:
        print("  failed:", line)
    return not failures


def _wait_for_spares(args: Any, timeout: float = 300) -> int:
    """Until the server has made the spares it keeps (or the time is up); how many are ready."""
    import psycopg2

    deadline = time.monotonic() + timeout
    while True:
        with psycopg2.connect(args.postgres_url) as conn, conn.cursor() as cur:
            cur.execute(
                "SELECT count(*) FROM pg_database WHERE datname ~ %s "
                "AND shobj_description(oid, 'pg_database') LIKE 'SQL Playground spare sandbox%%'",
                (f"^{args.prefix}_sb_",),
            )
            ready = int(cur.fetchone()[0])
        conn.close()
        if ready >= args.spares or time.monotonic() > deadline:
            return ready
        time.sleep(2)


def _all_at_once(calls: list[Callable[[], None]]) -> None:
    threads = [threading.Thread(target=call, daemon=True) for call in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=600)


def _sandbox_disk(args: Any, data_dir: Path) -> tuple[int, int]:
    """The bytes the sandboxes take on disk, and how many there are (PostgreSQL: spares included)."""
    if args.engine == "sqlite":
        files = list((data_dir / "sandboxes" / "sqlite").glob("*.sqlite3"))
        return sum(p.stat().st_size for p in files), len(files)
    import psycopg2

    with psycopg2.connect(args.postgres_url) as conn, conn.cursor() as cur:
        cur.execute(
            "SELECT coalesce(sum(pg_database_size(datname)), 0), count(*) FROM pg_database WHERE datname ~ %s",
            (f"^{args.prefix}_sb_",),
        )
        total, count = cur.fetchone()
    conn.close()
    return int(total), int(count)


if __name__ == "__main__":
    import sys

    sys.exit(main())
