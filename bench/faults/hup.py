"""HUP under load: gunicorn replaces every worker while students run, preview and commit; nothing may be refused or lost.

On each engine a class runs a loop (a SELECT, a preview, its commit) while the master gets
SIGHUP three times. Every request must be answered (no refused connection, no 5xx), every
acknowledged commit must be in its sandbox exactly once, and every worker must be new after each
HUP.
"""

from __future__ import annotations

import signal
import tempfile
import threading
import time
from pathlib import Path

from .common import (
    INSERT,
    Findings,
    Load,
    Reply,
    Student,
    admin_deployment,
    live_server,
    new_prefix,
    postgres_env,
    wait_for,
)

HUPS = 3
WORKERS = 3


class Commits:
    """Names each student committed (answer 200), to count afterwards."""

    def __init__(self) -> None:
        self.by_student: dict[str, list[str]] = {}
        self.lock = threading.Lock()

    def work(self, student: Student, n: int) -> list[Reply]:
        name = f"{student.name}-{n}"
        replies = [student.run('SELECT "Name" FROM "Users" WHERE "Age" > :a', {"a": n % 40})]
        preview = student.run(INSERT, {"Name": name, "Age": n % 90})
        replies.append(preview)
        if preview.status == 200 and preview.json.get("token"):
            commit = student.commit(preview.json["token"])
            replies.append(commit)
            if commit.status == 200:
                with self.lock:
                    self.by_student.setdefault(student.name, []).append(name)
        return replies


def one_engine(findings: Findings, engine: str, env: dict[str, str], base: Path) -> None:
    base.mkdir(parents=True)
    with live_server(base, workers=WORKERS, env=env | {"PLAYGROUND_THREADS": "2"}) as server:
        commits = Commits()
        replaced = []
        with Load(server.url, 6, commits.work) as load:
            wait_for(lambda: load.answered >= 30, timeout=60)
            for _ in range(HUPS):
                old = set(server.workers())
                before = load.answered
                server.process.send_signal(signal.SIGHUP)
                new = wait_for(
                    lambda old=old: (
                        (pids := server.workers()) and len(pids) == WORKERS and not set(pids) & old and pids
                    ),
                    timeout=60,
                )
                replaced.append(bool(new))
                wait_for(lambda before=before: load.answered >= before + 30, timeout=60)
            time.sleep(0.5)
        students = {s.name: s for s in load.students}
        lost = doubled = 0
        total = 0
        for name, names in commits.by_student.items():
            rows = students[name].run(
                'SELECT "Name", count(*) FROM "Users" WHERE "Name" LIKE :p GROUP BY "Name"', {"p": f"{name}-%"}
            )
            counts = {row[0]: row[1] for row in rows.json["statements"][0]["rows"]} if rows.status == 200 else {}
            total += len(names)
            lost += sum(1 for n in names if counts.get(n, 0) == 0)
            doubled += sum(1 for n in names if counts.get(n, 0) > 1)
        statuses = dict(load.statuses)
        findings.say(
            f"{engine}: {HUPS} HUPs under load: {load.answered} requests, answers {statuses}; workers all replaced "
            f"each time: {all(replaced)}; {total} commits acknowledged, lost {lost}, doubled {doubled}"
        )
        findings.expect(all(replaced), f"{engine}: after a HUP the workers were not all replaced")
        findings.expect(
            not load.errors, f"{engine}: {len(load.errors)} requests refused or failed, e.g. {load.errors[:1]}"
        )
        findings.expect(lost == doubled == 0, f"{engine}: lost {lost}, doubled {doubled}")
        findings.expect(server.process.poll() is None, f"{engine}: the server stopped")


def run(findings: Findings, su: str | None) -> None:
    with tempfile.TemporaryDirectory(prefix="playground-faults-hup-") as tmp:
        one_engine(findings, "sqlite", {}, Path(tmp) / "sqlite")
        if su is None:
            findings.say("postgresql: skipped (no PostgreSQL URL)")
            return
        with admin_deployment(su, new_prefix()) as deployment:
            one_engine(findings, "postgresql", postgres_env(deployment), Path(tmp) / "pg")
