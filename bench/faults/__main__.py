"""The fault script: a real server under the faults of issue 13, each printing what happened.

    python -m bench.faults [boot] [budget] [commits] [disk] [hup]      (all of them by default)

boot     many workers booting at once on PostgreSQL while a class arrives (and many processes
         setting up a new deployment at once)
budget   more workers than PostgreSQL's max_connections allows, a class bigger than the
         connection budget, and PostgreSQL refusing connections (on a PostgreSQL server of its own)
commits  kill -9 of every worker while commits run, then each student's next Commit
disk     SQLite with the data folder's disk full, then space back (needs root to mount a tmpfs)
hup      SIGHUP to the master under load

PostgreSQL comes from PLAYGROUND_TEST_POSTGRES_URL (a role that may create roles and databases;
default postgresql://postgres@127.0.0.1:5432/test). The script exits 1 if anything was lost,
applied twice, left unknown or answered with a 500, and prints each problem.
"""

from __future__ import annotations

import os
import sys
import time

from . import boot, budget, commits, disk, hup
from .common import Findings

SCENARIOS = {"boot": boot.run, "budget": budget.run, "commits": commits.run, "disk": disk.run, "hup": hup.run}


def main(argv: list[str]) -> int:
    chosen = argv or list(SCENARIOS)
    unknown = [name for name in chosen if name not in SCENARIOS]
    if unknown:
        print(f"unknown scenario(s) {unknown}; choose from {list(SCENARIOS)}", file=sys.stderr)
        return 2
    su = os.environ.get("PLAYGROUND_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
    failed = []
    for name in chosen:
        findings = Findings(name)
        started = time.monotonic()
        try:
            SCENARIOS[name](findings, su)
        except Exception as e:  # noqa: BLE001 - a scenario that crashes is a finding too
            findings.problem(f"the scenario itself failed: {type(e).__name__}: {e}")
        verdict = "ok" if not findings.problems else f"{len(findings.problems)} problem(s)"
        findings.say(f"{verdict} ({time.monotonic() - started:.0f} s)")
        if findings.problems:
            failed.append(name)
    print(f"faults: {'all passed' if not failed else 'FAILED: ' + ', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
