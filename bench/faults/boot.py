"""Many workers booting at once on PostgreSQL, while a class arrives; and many processes setting up a new deployment at once.

A worker that fails to boot makes gunicorn stop the whole server ("Worker failed to boot"), so a
start-up race on a shared object (the secret table, the bookkeeping tables, the template) takes
the service down. Each round starts a real server with many workers on an existing deployment,
sends a class at it while the workers boot, and waits until every worker has said it is ready
(or, on a version that does not say so, until the server has stayed up for a while).
"""

from __future__ import annotations

import multiprocessing
import re
import tempfile
import time
from pathlib import Path
from typing import Any

from .common import Findings, Load, Reply, Student, admin_deployment, live_server, new_prefix, postgres_env, wait_for

READY = re.compile(r"worker (\d+) ready")
SETTLE_WITHOUT_READY_LINES = 15.0


def class_arriving(student: Student, n: int) -> list[Reply]:
    if n == 0 or not student.client.csrf:
        student.start()
    return [student.run('SELECT count(*) FROM "Users" WHERE "Age" > :a', {"a": n % 50})]


def _build(args: tuple[dict[str, str], Any]) -> str:
    """In a child process: what `playground serve` does in each worker, released at the same moment as the others."""
    env, barrier = args
    import os

    os.environ.update(env)
    from playground.config import Settings
    from playground.wiring import build_playground

    barrier.wait(timeout=60)
    try:
        build_playground(Settings.from_env()).close()
    except Exception as e:  # noqa: BLE001 - reported, not raised
        return f"{type(e).__name__}: {str(e).strip().splitlines()[0] if str(e).strip() else ''}"
    return "ok"


def processes_at_once(findings: Findings, su: str, *, rounds: int, processes: int, data: Path) -> None:
    """A brand-new deployment set up by many processes at the same moment (no master went first)."""
    context = multiprocessing.get_context("fork")
    for r in range(rounds):
        with admin_deployment(su, new_prefix()) as deployment:
            env = postgres_env(deployment) | {"PLAYGROUND_DATA_DIR": str(data / f"fresh{r}")}
            with context.Manager() as manager:
                barrier = manager.Barrier(processes)
                with context.Pool(processes) as pool:
                    results = pool.map(_build, [(env, barrier)] * processes)
        failed = [x for x in results if x != "ok"]
        findings.say(
            f"fresh deployment {r + 1}/{rounds}: {processes} processes set it up at once: "
            f"{processes - len(failed)} ok, {len(failed)} failed" + (f" ({failed[0]})" if failed else "")
        )
        findings.expect(
            not failed,
            f"{len(failed)} of {processes} processes failed to set up a new deployment: {failed[0] if failed else ''}",
        )


def servers_booting(findings: Findings, su: str, *, rounds: int, workers: int, data: Path) -> None:
    with admin_deployment(su, new_prefix()) as deployment:
        env = postgres_env(deployment) | {"PLAYGROUND_THREADS": "2"}
        for r in range(rounds):
            base = data / f"round{r}"
            base.mkdir(parents=True)
            started = time.monotonic()
            try:
                with live_server(base, workers=workers, env=env) as server, Load(server.url, 8, class_arriving) as load:
                    verdict = _wait_booted(server, workers)
                    time.sleep(0.5)
                    alive = server.process.poll() is None
                    answered, errors = load.answered, list(load.errors)
            except RuntimeError as e:  # the server exited before it answered
                findings.problem(f"round {r + 1}: the server never answered: {_reason(str(e))}")
                continue
            seconds = time.monotonic() - started
            line = f"round {r + 1}/{rounds}: {workers} workers, {verdict}; {answered} requests from a class arriving"
            line += f", {len(errors)} failed" if errors else ", all answered"
            findings.say(f"{line} ({seconds:.1f} s)")
            if not alive or "ready" not in verdict:
                findings.problem(f"round {r + 1}: {verdict}: {_reason(server.log())}")
            if errors:
                findings.problem(f"round {r + 1}: {len(errors)} requests failed, e.g. {errors[0]}")


def _wait_booted(server: Any, workers: int) -> str:
    """'all N ready', or why not: the master stopped, or workers were still missing."""

    def settled() -> str | None:
        if server.process.poll() is not None:
            return f"the server stopped (exit code {server.process.returncode})"
        ready = set(READY.findall(server.log()))
        if len(ready) >= workers:
            return f"all {workers} ready"
        return None

    verdict = wait_for(settled, timeout=90, every=0.2)
    if verdict is None and not READY.search(server.log()):
        # A version that does not log its workers' readiness: stay a while and see whether it falls over.
        verdict = (
            wait_for(
                lambda: (
                    server.process.poll() is not None and f"the server stopped (exit code {server.process.returncode})"
                ),
                timeout=SETTLE_WITHOUT_READY_LINES,
            )
            or f"still up after {SETTLE_WITHOUT_READY_LINES:.0f} s (no readiness lines: ready assumed)"
        )
    return verdict or "workers still booting after 90 s"


def _reason(log: str) -> str:
    """The lines of a server log that say why it stopped."""
    wanted = ("failed to boot", "concurrently", "Error", "exited with code", "Reason")
    lines = [line.strip() for line in log.splitlines() if any(w in line for w in wanted)]
    return " | ".join(dict.fromkeys(lines[-6:])) or log.strip().splitlines()[-1] if log.strip() else "no log"


def run(findings: Findings, su: str, *, rounds: int = 5, workers: int = 10) -> None:
    with tempfile.TemporaryDirectory(prefix="playground-faults-boot-") as tmp:
        data = Path(tmp)
        processes_at_once(findings, su, rounds=3, processes=8, data=data)
        servers_booting(findings, su, rounds=rounds, workers=workers, data=data)
