"""The `playground` command: serve with a pre-forking WSGI server (gunicorn), or sweep idle sandboxes."""

from __future__ import annotations

import argparse
import multiprocessing
import os
import sys
from typing import Any

from .config import ConfigError, Settings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="playground", description="SQL Playground")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="serve the playground with gunicorn")
    serve.add_argument("--host", default=os.environ.get("PLAYGROUND_HOST", "127.0.0.1"))
    serve.add_argument("--port", type=int, default=int(os.environ.get("PLAYGROUND_PORT", "5000")))
    serve.add_argument(
        "--workers",
        type=int,
        default=int(os.environ.get("PLAYGROUND_WORKERS", "0")) or multiprocessing.cpu_count() * 2 + 1,
        help="worker processes (default: 2 x cores + 1)",
    )
    serve.add_argument("--threads", type=int, default=int(os.environ.get("PLAYGROUND_THREADS", "4")))
    commands.add_parser("sweep", help="drop sandboxes idle for longer than PLAYGROUND_SANDBOX_TTL")
    args = parser.parse_args(argv)

    try:
        settings = Settings.from_env()
        if args.command == "sweep":
            return _sweep(settings)
        _check(settings)
    except ConfigError as e:
        print(f"playground: {e}", file=sys.stderr)
        return 2
    return _serve(settings, args)


def _check(settings: Settings) -> None:
    """Fail at start, in one line, rather than in every worker: the data folder, the key, the database."""
    from .wiring import build_playground

    settings.resolved_secret_key()
    build_playground(settings).close()


def _sweep(settings: Settings) -> int:
    from .wiring import build_playground

    playground = build_playground(settings)
    try:
        dropped = playground.sweep_idle_sandboxes(force=True)
    finally:
        playground.close()
    print(f"dropped {len(dropped)} idle sandbox(es)")
    return 0


def _serve(settings: Settings, args: argparse.Namespace) -> int:
    from gunicorn.app.base import BaseApplication

    class PlaygroundServer(BaseApplication):  # type: ignore[misc]
        """gunicorn, configured here, loading the app factory in each worker (never before the fork)."""

        def __init__(self, options: dict[str, Any]) -> None:
            self.options = options
            super().__init__()

        def load_config(self) -> None:
            for key, value in self.options.items():
                self.cfg.set(key, value)

        def load(self) -> Any:
            from . import create_app

            return create_app(settings)

    print(f"SQL Playground on http://{args.host}:{args.port}/ (data in {settings.data_dir.resolve()})", flush=True)
    PlaygroundServer(
        {
            "bind": f"{args.host}:{args.port}",
            "workers": args.workers,
            "worker_class": "gthread",
            "threads": args.threads,
            # A request can take several statements' time limits; a stuck worker is replaced after this.
            "timeout": max(60, settings.limits.time_limit_ms // 1000 * 6),
            "graceful_timeout": 10,
            "accesslog": "-",
            "errorlog": "-",
            # A worker that stops writes its batched run log lines first.
            "worker_exit": _close_worker_playground,
        }
    ).run()
    return 0


def _close_worker_playground(_arbiter: Any, worker: Any) -> None:
    app = getattr(worker, "wsgi", None)
    playground = getattr(app, "extensions", {}).get("playground")
    if playground is not None:
        playground.close()


if __name__ == "__main__":
    sys.exit(main())
