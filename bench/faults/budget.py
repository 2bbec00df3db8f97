"""PostgreSQL connections: more workers than the server can hold, a class bigger than the budget, and a full server.

Runs on a PostgreSQL server of its own with a small max_connections (never on the machine's shared
server, which other people's tests use). Three things are checked:

1. a server whose workers and threads could need more connections than PostgreSQL allows does
   not start: it stops with one line and exit code 2;
2. a class bigger than the budget is served: requests queue inside the playground instead of
   being refused by PostgreSQL, and every acknowledged commit is there once;
3. when PostgreSQL itself refuses connections (something else took every slot), students get a
   503 "busy, try again", never a 500, and every commit's outcome is settled by the next Commit.
"""

from __future__ import annotations

import secrets
import subprocess
import tempfile
import time
from collections import Counter
from pathlib import Path

import psycopg2

from .common import (
    INSERT,
    Findings,
    Student,
    admin_deployment,
    at_once,
    execute,
    libpq_url,
    live_server,
    message,
    new_prefix,
    postgres_env,
    private_postgres,
    serve_command,
    settle_commit,
    stop,
)

MAX_CONNECTIONS = 40
CLASS = 40


def too_many_workers(findings: Findings, env: dict[str, str], data: Path) -> None:
    import os

    workers, threads = 30, 4
    command = [*serve_command(workers), "--threads", str(threads)]
    clean = {k: v for k, v in os.environ.items() if not k.startswith("PLAYGROUND_")}
    process = subprocess.Popen(
        command,
        env=clean | env | {"PLAYGROUND_DATA_DIR": str(data / "too-many")},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        out, err = process.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        stop(process)  # type: ignore[arg-type]
        findings.problem(
            f"{workers} workers x {threads} threads started against max_connections = {MAX_CONNECTIONS} "
            "(no connection budget was checked)"
        )
        return
    lines = err.strip().splitlines()
    findings.say(
        f"{workers} workers x {threads} threads, max_connections = {MAX_CONNECTIONS}: exit code {process.returncode}: {lines[-1] if lines else out.strip()}"
    )
    findings.expect(
        process.returncode == 2 and len(lines) == 1,
        f"expected one line and exit code 2, got {process.returncode}: {err.strip()[-400:]}",
    )


def hog(su: str, role: str) -> list[psycopg2.extensions.connection]:
    """Take every connection slot PostgreSQL gives a non-superuser."""
    taken = []
    while True:
        try:
            taken.append(psycopg2.connect(libpq_url(su, username=role, database="postgres"), connect_timeout=5))
        except psycopg2.OperationalError:
            return taken


def a_class(findings: Findings, su: str, env: dict[str, str], data: Path) -> None:
    workers, threads = 3, 4
    (data / "class").mkdir()
    with live_server(data / "class", workers=workers, env=env | {"PLAYGROUND_THREADS": str(threads)}) as server:
        students = [Student(server.url, f"s{n}") for n in range(CLASS)]
        at_once([s.start for s in students], timeout=120)

        # 1. More students at once than the budget has connections: they queue, nobody gets a 500.
        def first_commit(s: Student) -> tuple[str, int]:
            name = f"{s.name}-a"
            preview = s.run(INSERT, {"Name": name, "Age": 1})
            if preview.status != 200:
                return name, preview.status
            return name, s.commit(preview.json["token"]).status

        started = time.monotonic()
        first = at_once([lambda s=s: (s, *first_commit(s)) for s in students], timeout=300)
        statuses = Counter(status for _s, _n, status in first)
        from playground.connections import ConnectionBudget

        budget = ConnectionBudget(workers, threads)
        findings.say(
            f"a class of {CLASS} at once on {workers} workers x {threads} threads (a budget of {budget.total} "
            f"connections, {workers * threads} runs at a time): answers {dict(statuses)} in {time.monotonic() - started:.1f} s"
        )
        findings.expect(set(statuses) <= {200, 503}, f"a class bigger than the budget got {dict(statuses)}")

        # 2. Something else takes every connection PostgreSQL has left: 503, never 500.
        tokens = {}
        for s in students:
            preview = s.run(INSERT, {"Name": f"{s.name}-b", "Age": 2})
            if preview.status == 200:
                tokens[s.name] = preview.json["token"]
        role = f"hog_{secrets.token_hex(3)}"
        execute(su, f'CREATE ROLE "{role}" LOGIN')
        held = hog(su, role)
        try:
            during = at_once(
                [
                    lambda s=s: (s, s.run('SELECT count(*) FROM "Users"').status, s.commit(tokens[s.name]).status)
                    for s in students
                    if s.name in tokens
                ],
                timeout=300,
            )
            runs = Counter(r for _s, r, _c in during)
            commits = Counter(c for _s, _r, c in during)
            example = next((s for s, r, _c in during if r not in (200,)), None)
            findings.say(
                f"with PostgreSQL full ({len(held)} connections taken by another role): runs {dict(runs)}, "
                f"commits {dict(commits)}" + (f"; e.g. {message(example.run('SELECT 1'))!r}" if example else "")
            )
            findings.expect(
                not ({*runs, *commits} - {200, 410, 429, 503}),
                "a full database server was answered with something else than 503",
            )
        finally:
            for connection in held:
                connection.close()
            execute(su, f'DROP ROLE "{role}"')

        # 3. The slots are back: each student's next Commit says what happened, and nothing is lost or doubled.
        lost = doubled = unknown = 0
        finals: Counter[str] = Counter()
        for s, name, status in first:
            if status == 200 and s.count(name) != 1:
                lost += 1
        for s in students:
            if s.name not in tokens:
                continue
            reply = settle_commit(s, tokens[s.name])
            text = message(reply) if reply.status != 200 else "committed"
            finals[f"{reply.status} {text[:50]}"] += 1
            count = s.count(f"{s.name}-b")
            if reply.status == 200 or "already committed" in text:
                lost += count == 0
                doubled += (count or 0) > 1
            else:
                unknown += 1
        findings.say(f"after the slots came back, each student's next Commit: {dict(finals)}")
        findings.say(f"lost {lost}, doubled {doubled}, left unknown {unknown}")
        findings.expect(lost == doubled == unknown == 0, f"lost {lost}, doubled {doubled}, unknown {unknown}")
        findings.expect(server.process.poll() is None, "the server stopped")


def run(findings: Findings, _su: str) -> None:
    with (
        tempfile.TemporaryDirectory(prefix="playground-faults-budget-") as tmp,
        private_postgres(max_connections=MAX_CONNECTIONS) as su,
    ):
        data = Path(tmp)
        with admin_deployment(su, new_prefix()) as deployment:
            env = postgres_env(deployment)
            too_many_workers(findings, env, data)
            a_class(findings, su, env, data)
