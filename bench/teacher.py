"""What the teacher's dashboard costs: the class list and log for a class, and each action, timed in-process.

    python -m bench.teacher --students 30                      # SQLite
    BENCH_POSTGRES_URL=postgresql://postgres@127.0.0.1:5432/test python -m bench.teacher --students 30

The service is the real one (the same store, backends and checks as a server); each student runs a few
queries first, as a class would. Printed: the median of a few timings of each operation, in ms.
"""

from __future__ import annotations

import argparse
import os
import secrets
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from playground.classroom import Classroom
from playground.config import Settings
from playground.service import RunRequest
from playground.wiring import build_playground


def timed(call: Callable[[], object], repeat: int) -> float:
    took = []
    for _ in range(repeat):
        started = time.perf_counter()
        call()
        took.append((time.perf_counter() - started) * 1000)
    return statistics.median(took)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--students", type=int, default=30)
    parser.add_argument("--runs-each", type=int, default=5)
    args = parser.parse_args()
    url = os.environ.get("BENCH_POSTGRES_URL")
    with tempfile.TemporaryDirectory() as folder:
        prefix = f"bt{secrets.token_hex(3)}"
        settings = Settings(
            data_dir=Path(folder),
            secret_key="bench-secret-0123456789",
            database_url=url,
            postgres_prefix=prefix,
            postgres_spare_sandboxes=0,
        )
        service = build_playground(settings)
        engine = service.default_engine
        room = Classroom(service, "bench-secret-0123456789")
        try:
            started = time.perf_counter()
            for n in range(args.students):
                visitor = secrets.token_hex(16)
                room.set_name(visitor, f"Student {n}")
                for _ in range(args.runs_each):
                    service.run(
                        visitor, RunRequest("SELECT x, y FROM some_table WHERE x > :x", engine, params={"x": 1})
                    )
            print(
                f"engine {engine}: {args.students} students x {args.runs_each} runs set up in {time.perf_counter() - started:.1f} s"
            )
            service.store.run_log.flush()
            print(f"class list            {timed(room.students, 5):8.1f} ms")
            print(f"class log (100 lines) {timed(room.class_log, 5):8.1f} ms")
            key = room.students()[0].key
            print(f"latest run, replayed  {timed(lambda: room.replay(key), 5):8.1f} ms")
            print(
                f"read-only on and off  {timed(lambda: (room.set_read_only(True), room.set_read_only(False)), 5):8.1f} ms"
            )
            script = "CREATE TABLE pupils (name varchar(40), grade integer);\nINSERT INTO pupils VALUES ('Ann', 5), ('Boris', 4)"
            print(f"starting data         {timed(lambda: room.set_starting_data(engine, script), 3):8.1f} ms")
            print(f"reset all ({args.students})        {timed(room.reset_all, 1):8.1f} ms")
            room.clear_starting_data(engine)
        finally:
            for visitor in service.store.idle_sandboxes(engine, float("inf")):
                service.backends[engine].drop_sandbox(visitor)
            drop_everything = getattr(service.backends[engine], "drop_everything", None)
            if drop_everything:
                drop_everything()
            service.close()


if __name__ == "__main__":
    main()
