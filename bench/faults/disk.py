"""SQLite with the data folder's disk full: reads and pages keep working, writes get a clear 507, and it all comes back.

The data folder is a small filesystem of its own (a tmpfs where mounting is allowed, else an ext4
image on a loop device). Students make sandboxes and a preview; then a file fills the disk. While
it is full: the editor page, a SELECT, the schema; a new preview, a commit, a new visitor's
sandbox, a reset. Afterwards the filler goes and the same students carry on.
"""

from __future__ import annotations

import re
import tempfile
import time
from collections import Counter
from pathlib import Path

from disk_support import CannotMount, fill, small_filesystem

from .common import INSERT, Findings, Reply, Student, live_server, message

MEGABYTES = 24


def run(findings: Findings, _su: str | None) -> None:
    with tempfile.TemporaryDirectory(prefix="playground-faults-disk-") as tmp:
        base = Path(tmp)
        try:
            with small_filesystem(base / "data", megabytes=MEGABYTES) as how:
                findings.say(f"data folder on a {how}")
                _full_disk(findings, base)
        except CannotMount as e:
            findings.say(f"skipped: no small filesystem can be mounted here ({e})")


def _full_disk(findings: Findings, base: Path) -> None:
    answers: Counter[int] = Counter()

    def seen(label: str, reply: Reply, *expected: int) -> Reply:
        answers[reply.status] += 1
        ok = reply.status in expected
        text = "" if reply.status in (200, 302) else f": {message(reply)[:110]}"
        findings.say(f"  {label}: {reply.status}{text}")
        findings.expect(ok, f"{label}: expected {expected}, got {reply.status} {message(reply)[:200]}")
        return reply

    with live_server(base, workers=2, env={"PLAYGROUND_RUN_LOG_FLUSH_SECONDS": "1"}) as server:
        sandboxes = server.data_dir / "sandboxes" / "sqlite"
        ann, bob = Student(server.url, "ann").start(), Student(server.url, "bob").start()
        assert ann.count("Петр") == 1 and bob.count("Петр") == 1
        token = ann.run(INSERT, {"Name": "before-the-disk-filled", "Age": 1}).json["token"]

        filler = fill(server.data_dir)
        findings.say(f"disk full ({filler.stat().st_size / 1e6:.1f} MB of filler)")
        time.sleep(1.5)  # a run-log flush meets the full disk
        newcomer = Student(server.url, "newcomer")
        seen("a new visitor opens the editor", newcomer.call("GET", "/"), 200)
        newcomer.start()
        seen("ann runs a SELECT", ann.run('SELECT "Name" FROM "Users" ORDER BY "Id"'), 200)
        seen("ann's schema", ann.call("GET", "/api/schema"), 200)
        seen("ann's editor page", ann.call("GET", "/"), 200)
        seen("ann previews an INSERT", ann.run(INSERT, {"Name": "while-full", "Age": 2}), 200, 507)
        seen("ann commits her earlier preview", ann.commit(token), 507)
        seen("a new visitor runs a SELECT (a new sandbox)", newcomer.run("SELECT 1"), 507)
        seen("bob resets his sandbox", bob.call("POST", "/api/reset", {}), 507)
        seen("bob's data after the failed reset", bob.run('SELECT count(*) FROM "Users"'), 200)
        leftovers = [p.name for p in sandboxes.iterdir() if p.suffix == ".tmp" or p.stat().st_size == 0]
        findings.say(f"  files left half-made in the sandboxes folder: {leftovers or 'none'}")
        findings.expect(not leftovers, f"half-made files left behind: {leftovers}")

        filler.unlink()
        findings.say("space is back")
        committed = seen("ann commits her earlier preview again", ann.commit(token), 200)
        if committed.status == 200:
            findings.expect(ann.count("before-the-disk-filled") == 1, "ann's commit is not there exactly once")
        seen("ann replays that commit", ann.commit(token), 410)
        seen("the new visitor runs a SELECT", newcomer.run("SELECT 1"), 200)
        again = seen("bob previews an INSERT", bob.run(INSERT, {"Name": "after", "Age": 3}), 200)
        if again.status == 200:
            seen("bob commits it", bob.commit(again.json["token"]), 200)
            findings.expect(bob.count("after") == 1, "bob's commit is not there exactly once")
        seen("bob resets his sandbox", bob.call("POST", "/api/reset", {}), 200)
        findings.expect(server.process.poll() is None, "the server stopped")
        log = server.log()
        raised = sorted(
            {line.strip()[:150] for line in log.splitlines() if re.match(r"^[\w.]+(Error|Exception|Full): ", line)}
        )
        findings.say(f"answers: {dict(answers)}; tracebacks in the server log: {log.count('Traceback')} {raised}")
        findings.expect(not any(status == 500 for status in answers), "a request was answered with a 500")
