"""kill -9 in the middle of commits, then each student's next Commit, on SQLite and on PostgreSQL.

Every student previews a slow INSERT of a name of their own and presses Commit; while the
commits run, every worker is killed. Afterwards the script looks at what the cut-short commits
left (the token's state in the bookkeeping database, the row in the sandbox), and each student
presses Commit again until the answer is definitive. A committed answer must mean the row is
there exactly once; anything else ("being committed by another request" forever) is a problem.
"""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

from .common import (
    Findings,
    Student,
    admin_deployment,
    at_once,
    execute,
    live_server,
    message,
    new_prefix,
    postgres_env,
    settle_commit,
    wait_for,
)

STUDENTS = 24
WAVES = 3
SLOW_INSERT = {
    # About a third of a second of work before the row is written, so that a kill finds commits in flight.
    "sqlite": 'INSERT INTO "Users" ("Name", "Age") SELECT :Name, :Age FROM '
    "(WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 400000) SELECT max(x) FROM c)",
    "postgresql": 'INSERT INTO "Users" ("Name", "Age") SELECT :Name, :Age FROM pg_catalog.pg_sleep(0.3)',
}


def committing_tokens(engine: str, server: Any, su: str | None, database: str | None) -> int:
    """Tokens the bookkeeping database says are being committed right now."""
    sql = "SELECT count(*) FROM playground_pending_writes WHERE outcome = 'committing'"
    if engine == "sqlite":
        with sqlite3.connect(f"file:{server.data_dir / 'playground.db'}?mode=ro", uri=True, timeout=10) as conn:
            return int(conn.execute(sql).fetchone()[0])
    assert su and database
    return int(execute(su, sql, database=database)[0][0])


def one_engine(
    findings: Findings, engine: str, env: dict[str, str], base: Path, su: str | None, database: str | None
) -> None:
    base.mkdir(parents=True)
    with live_server(base, workers=3, env=env | {"PLAYGROUND_THREADS": "4"}) as server:
        students = [Student(server.url, f"{engine[:2]}{n}") for n in range(STUDENTS)]
        at_once([s.start for s in students], timeout=120)
        tokens: dict[str, str] = {}
        for s in students:
            preview = s.run(SLOW_INSERT[engine], {"Name": s.name, "Age": 7})
            if findings.expect(
                preview.status == 200 and preview.json["status"] == "preview",
                f"{s.name}: preview {preview.status} {message(preview)}",
            ):
                tokens[s.name] = preview.json["token"]
        first: dict[str, int] = {}
        lock = threading.Lock()

        def press(s: Student) -> None:
            status = s.commit(tokens[s.name]).status
            with lock:
                first[s.name] = status

        waves = [students[w::WAVES] for w in range(WAVES)]
        killed = 0
        for number, wave in enumerate(waves):
            threads = [threading.Thread(target=press, args=(s,)) for s in wave]
            for thread in threads:
                thread.start()
            wait_for(lambda: committing_tokens(engine, server, su, database) >= 2, timeout=20, every=0.02)
            # Each wave a little later: the kill finds commits running their statements, committing, or done.
            time.sleep(0.15 * number)
            old = server.workers()
            for pid in old:
                os.kill(pid, signal.SIGKILL)
            killed += len(old)
            for thread in threads:
                thread.join(timeout=60)
            server.wait_for_workers(3, other_than=set(old), timeout=60)
            wait_for(lambda: students[0].call("GET", "/api/session").status == 200, timeout=30)
        answered = Counter(first.values())
        cut_short = [s for s in students if first.get(s.name) != 200]
        stuck = committing_tokens(engine, server, su, database)
        applied = sum(1 for s in cut_short if s.count(s.name) == 1)
        findings.say(
            f"{engine}: killed {killed} workers in {WAVES} waves while {STUDENTS} commits ran: first answers {dict(answered)} "
            f"(0 = connection cut); {stuck} tokens left 'committing', of the cut-short commits {applied} applied, "
            f"{len(cut_short) - applied} not"
        )
        finals: Counter[str] = Counter()
        lost = doubled = unknown = errors = 0
        for s in random.sample(students, len(students)):
            reply = settle_commit(s, tokens[s.name])
            text = "committed" if reply.status == 200 else message(reply)
            finals[f"{reply.status} {text[:60]}"] += 1
            count = s.count(s.name)
            if reply.status >= 500 or reply.status == 0:
                errors += 1
            if reply.status == 200 or "already committed" in text:
                lost += count == 0
                doubled += (count or 0) > 1
            else:
                unknown += 1
            replay = s.commit(tokens[s.name])
            if not (replay.status == 410 and "already committed" in message(replay)):
                unknown += 1
        findings.say(f"{engine}: each student's next Commit: {dict(finals)}")
        findings.say(f"{engine}: lost {lost}, doubled {doubled}, left unknown {unknown}, answered 5xx {errors}")
        findings.expect(
            lost == doubled == unknown == errors == 0,
            f"{engine}: lost {lost}, doubled {doubled}, unknown {unknown}, 5xx {errors}",
        )


def run(findings: Findings, su: str | None) -> None:
    with tempfile.TemporaryDirectory(prefix="playground-faults-commits-") as tmp:
        one_engine(findings, "sqlite", {}, Path(tmp) / "sqlite", None, None)
        if su is None:
            findings.say("postgresql: skipped (no PostgreSQL URL)")
            return
        with admin_deployment(su, new_prefix()) as deployment:
            one_engine(findings, "postgresql", postgres_env(deployment), Path(tmp) / "pg", su, deployment.database)
