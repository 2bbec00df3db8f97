"""Builds the service from settings: the bookkeeping store and one backend per engine."""

from __future__ import annotations

from collections.abc import Callable

from .backends.base import Backend
from .backends.sqlite import SqliteBackend
from .config import ConfigError, Settings
from .service import Playground
from .store import Store, starting_point


def build_playground(settings: Settings) -> Playground:
    """SQLite always; PostgreSQL too (and by default) when PLAYGROUND_DATABASE_URL is set."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    backends: dict[str, Backend] = {}
    default = "sqlite"
    # The engines ask the bookkeeping for the teacher's starting data; the store is made after them,
    # so that an unusable PostgreSQL URL is said by the backend's own check, in one line.
    stores: list[Store] = []

    def starting(engine: str) -> Callable[[], str | None]:
        return lambda: starting_point(stores[0], engine)() if stores else None

    if settings.database_url:
        from .backends.postgresql import PostgresBackend

        # The constructor checks the server and the admin role's rights (ConfigError in one line).
        try:
            backends["postgresql"] = PostgresBackend(
                settings.database_url,
                settings.limits,
                sandbox_prefix=settings.postgres_prefix,
                spare_sandboxes=settings.postgres_spare_sandboxes,
                idle_connections=settings.postgres_idle_connections,
                starting_point=starting("postgresql"),
            )
        except ConfigError as e:
            raise ConfigError(f"PLAYGROUND_DATABASE_URL: {e}") from None
        default = "postgresql"
    backends["sqlite"] = SqliteBackend(settings.data_dir, settings.limits, starting_point=starting("sqlite"))
    store_url = settings.database_url or f"sqlite:///{(settings.data_dir / 'playground.db').resolve()}"
    stores.append(Store(store_url, run_log_flush_seconds=settings.run_log_flush_seconds))
    return Playground(settings, stores[0], backends, default)
