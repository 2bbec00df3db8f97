"""The `playground` command: serve with a pre-forking WSGI server (gunicorn), sweep idle sandboxes, or ask a
running server whether it is healthy."""

from __future__ import annotations

import argparse
import errno
import logging
import logging.config
import os
import signal
import socket
import sys
import urllib.error
import urllib.request
from dataclasses import replace
from typing import Any

from .config import ConfigError, Limits, Settings
from .errors import Unavailable
from .logs import event, handler_config

log = logging.getLogger("playground.server")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="playground", description="SQL Playground")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="serve the playground with gunicorn")
    serve.add_argument("--host", help="address to listen on (default: PLAYGROUND_HOST or 127.0.0.1)")
    serve.add_argument("--port", type=_port, help="port, 0 for any free one (default: PLAYGROUND_PORT or 5000)")
    serve.add_argument(
        "--workers",
        type=_positive,
        help="worker processes (default: PLAYGROUND_WORKERS or 2 x cores + 1, fewer if PostgreSQL's connections cannot hold them)",
    )
    serve.add_argument("--threads", type=_positive, help="threads per worker (default: PLAYGROUND_THREADS or 4)")
    commands.add_parser("sweep", help="drop sandboxes idle for longer than PLAYGROUND_SANDBOX_TTL")
    commands.add_parser(
        "health", help="ask the server at PLAYGROUND_HOST:PLAYGROUND_PORT for /healthz (exit 0 if healthy)"
    )
    args = parser.parse_args(argv)

    try:
        settings = _with_arguments(Settings.from_env(), args)
        if args.command == "health":
            return _health(settings)
        logging.config.dictConfig(handler_config(settings.log_level))
        settings.check_data_dir()
        if args.command == "sweep":
            return _sweep(settings)
        settings = _check(settings)
    except (ConfigError, Unavailable) as e:
        print(f"playground: {e}", file=sys.stderr)
        return 2
    return _serve(settings)


def _positive(raw: str) -> int:
    value = int(raw)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be positive, not {value}")
    return value


def _port(raw: str) -> int:
    value = int(raw)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 (any free port) or more, not {value}")
    return value


def _with_arguments(settings: Settings, args: argparse.Namespace) -> Settings:
    """Command-line options win over PLAYGROUND_HOST, _PORT, _WORKERS and _THREADS."""
    names = ("host", "port", "workers", "threads")
    given: dict[str, Any] = {name: getattr(args, name) for name in names if getattr(args, name, None) is not None}
    if "port" in given and given["port"] > 65535:
        raise ConfigError(f"--port must be at most 65535, not {given['port']}")
    return replace(settings, server=replace(settings.server, **given)) if given else settings


def _check(settings: Settings) -> Settings:
    """Fail at start, in one line, rather than in every worker: the key, the bookkeeping, every engine, the address.

    With PostgreSQL, also the connection budget: the workers and threads must fit the server's
    connections (see connections.py). Returns the settings with the number of workers to start.
    """
    from .connections import ConnectionBudget, workers_that_fit
    from .wiring import build_playground

    key_file = settings.data_dir / "secret_key"
    key_was_kept = key_file.exists()
    settings.resolved_secret_key()
    playground = build_playground(settings)
    try:
        postgres = playground.backends.get("postgresql")
        slots = postgres.connection_slots() if postgres is not None else None  # type: ignore[attr-defined]
    finally:
        playground.close()
    _check_address(settings.server.host, settings.server.port)
    if not settings.secret_key:
        if key_was_kept:
            event(
                log,
                "PLAYGROUND_SECRET_KEY is not set: using the secret key kept in the data folder",
                path=str(key_file),
            )
        else:
            event(
                log,
                "PLAYGROUND_SECRET_KEY is not set: generated a secret key into the data folder "
                "(keep the folder; set PLAYGROUND_SECRET_KEY to share one key between servers)",
                level=logging.WARNING,
                path=str(key_file),
            )
    workers = settings.server.workers
    if slots is None:
        return settings
    threads = settings.server.threads
    idle = settings.postgres_idle_connections
    if workers is None:
        # Not asked for: as many as the cores suggest and the server's connections hold.
        wanted = _usable_cores() * 2 + 1
        workers = workers_that_fit(wanted, threads, slots, idle) or 1
        if workers < wanted:
            event(log, f"{workers} workers, not {wanted}: PostgreSQL's connections hold no more", level=logging.WARNING)
    budget = ConnectionBudget(workers, threads, idle)
    budget.check(slots)
    event(log, f"PostgreSQL connections: at most {budget.explain()}, of {slots.available}")
    return replace(settings, server=replace(settings.server, workers=workers))


def _check_address(host: str, port: int) -> None:
    """The address is free to listen on, or one line saying why not (gunicorn would retry, then exit 1).

    Bound and let go at once; SO_REUSEADDR as gunicorn sets it, so a port whose last connections
    are still closing (TIME_WAIT) counts as free. Port 0 takes any free port: nothing to check.
    """
    if port == 0:
        return
    where = f"port {port} on {host}"
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
    except socket.gaierror as e:
        raise ConfigError(f"cannot listen on {host}: {e.strerror}; check --host or PLAYGROUND_HOST") from None
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as e:
            if e.errno == errno.EADDRINUSE:
                reason = f"{where} is already in use (another server?); stop it, or choose another port with --port"
            elif e.errno == errno.EACCES:
                reason = f"not allowed to listen on {where} (below 1024 needs privileges); choose a port with --port"
            elif e.errno == errno.EADDRNOTAVAIL:
                reason = f"{host} is not an address of this machine; choose one with --host (0.0.0.0: every address)"
            else:
                reason = f"cannot listen on {where}: {e.strerror}; choose another with --host or --port"
            raise ConfigError(f"{reason} (or PLAYGROUND_HOST, PLAYGROUND_PORT)") from None


def _sweep(settings: Settings) -> int:
    from .wiring import build_playground

    playground = build_playground(settings)
    try:
        dropped = playground.sweep_idle_sandboxes(force=True)
    finally:
        playground.close()
    print(f"dropped {len(dropped)} idle sandbox(es)")
    return 0


def _health(settings: Settings) -> int:
    """GET /healthz of the server this environment configures; print its answer; 0 only for a 200."""
    host = settings.server.host
    # A server listening on every address is asked on the loopback one.
    host = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(host, host)
    url = f"http://{f'[{host}]' if ':' in host else host}:{settings.server.port}/healthz"
    try:
        with urllib.request.urlopen(url, timeout=8) as response:
            print(response.read().decode("utf-8", "replace"))
            return 0
    except urllib.error.HTTPError as e:
        with e:
            print(e.read().decode("utf-8", "replace"))
        return 1
    except (urllib.error.URLError, OSError) as e:
        print(f"playground: no answer from {url}: {getattr(e, 'reason', e)}", file=sys.stderr)
        return 1


def request_budget_seconds(limits: Limits) -> int:
    """How long one request may take: a run's time limit twice (a commit runs its preview's SQL again), never under a minute.

    It is both gunicorn's timeout for a stuck worker and the time a stopping server gives the runs
    in flight to finish; a run still going after that dies with its worker, and its database
    transaction is rolled back by the database (nothing is ever half-committed).
    """
    return max(60, limits.time_limit_ms // 1000 * 6, limits.run_time_limit_ms // 1000 * 2 + 30)


def _announce_stop(worker: Any) -> None:
    """In each worker: on SIGTERM, stop as gunicorn does (finish what is in flight), and say so."""
    stop = signal.getsignal(signal.SIGTERM)

    def on_sigterm(signum: int, frame: Any) -> None:
        if callable(stop):
            stop(signum, frame)  # gunicorn: accept nothing new, finish the requests in flight
        event(
            log,
            "stopping: the requests in flight finish first",
            pid=os.getpid(),
            connections=getattr(worker, "nr_conns", None),
        )

    signal.signal(signal.SIGTERM, on_sigterm)


def _worker_booted(worker: Any) -> None:
    """gunicorn's post_worker_init: the app is loaded; say so, and say so again when SIGTERM comes."""
    from .startup import announce_ready

    _announce_stop(worker)
    announce_ready(worker)


def _usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))  # what this process (or its container) may use
    except AttributeError:
        return os.cpu_count() or 1


def _serve(settings: Settings) -> int:
    from gunicorn.app.base import BaseApplication

    from .startup import load_app_in_worker

    class PlaygroundServer(BaseApplication):  # type: ignore[misc]
        """gunicorn, configured here, loading the app factory in each worker (never before the fork)."""

        def __init__(self, options: dict[str, Any]) -> None:
            self.options = options
            super().__init__()

        def load_config(self) -> None:
            for key, value in self.options.items():
                self.cfg.set(key, value)
            # gunicorn 24+ opens a control socket under $HOME, shared by every server of that user
            # (and, in the container, inside the data volume); nothing here uses it.
            if "control_socket_disable" in self.cfg.settings:
                self.cfg.set("control_socket_disable", True)

        def load(self) -> Any:
            # The package as it is on disk now (a HUP runs new code), waiting out start-up races.
            return load_app_in_worker()

    server = settings.server
    host = f"[{server.host}]" if ":" in server.host else server.host
    budget = request_budget_seconds(settings.limits)
    workers = server.workers or _usable_cores() * 2 + 1

    def announce(arbiter: Any) -> None:
        # Once bound, with the address the system gave: port 0 takes any free port, and this line
        # (not gunicorn's own wording) is how an operator's script or a test learns which.
        for listener in arbiter.LISTENERS:
            event(
                log,
                f"SQL Playground on {listener}/ (data in {settings.data_dir.resolve()})",
                engines=["postgresql", "sqlite"] if settings.database_url else ["sqlite"],
                workers=workers,
                threads=server.threads,
                shutdown_grace_s=budget,
            )

    PlaygroundServer(
        {
            "bind": f"{host}:{server.port}",
            "workers": workers,
            "worker_class": "gthread",
            "threads": server.threads,
            # A worker accepts a connection only when one of its threads is free for it: otherwise
            # gthread accepts up to 1,000 and queues them behind its busy threads, so a classmate's
            # request could wait behind one visitor's long runs while another worker idles. The
            # kernel's backlog (and the other workers) take the rest. Keep-alive goes with it.
            "worker_connections": server.threads,
            "keepalive": 0,
            # A stuck worker is replaced after this; on SIGTERM, runs in flight get as long to finish.
            "timeout": budget,
            "graceful_timeout": budget,
            "post_worker_init": _worker_booted,
            "loglevel": settings.log_level,
            "logconfig_dict": handler_config(settings.log_level),
            # One line per request comes from the app (it knows the sandbox); gunicorn's would repeat it.
            "accesslog": None,
            "errorlog": "-",
            # A worker that stops writes its batched run log lines first.
            "worker_exit": _close_worker_playground,
            "when_ready": announce,
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
