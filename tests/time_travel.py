"""Time passing, for the bookkeeping: move a row's timestamps into the past instead of sleeping.

An idle sandbox, an hour-old preview or a sweep made a minute ago are rows whose times lie in
the past; writing those times is how a test gets there without waiting (and without racing a
clock on a loaded machine). Every process reads the same rows, so the service under test sees
exactly what it would see after that much time. Nothing else is faked: the service, its store
and its databases are the real ones.
"""

from __future__ import annotations

from sqlalchemy import update

from playground.store import Store, housekeeping, pending_writes, sandboxes

SWEEP_CLAIM = "idle-sandboxes"


def age_sandbox(store: Store, visitor: str, engine: str, seconds: float) -> None:
    """The visitor's sandbox was last used `seconds` earlier than the registry says."""
    with store.engine.begin() as conn:
        changed = conn.execute(
            update(sandboxes)
            .where(sandboxes.c.visitor == visitor, sandboxes.c.engine == engine)
            .values(last_used_at=sandboxes.c.last_used_at - seconds, created_at=sandboxes.c.created_at - seconds)
        ).rowcount
    assert changed == 1, f"no registered {engine} sandbox for {visitor}"


def age_preview(store: Store, token: str, seconds: float) -> None:
    """The preview behind `token` was made `seconds` earlier than it was."""
    with store.engine.begin() as conn:
        changed = conn.execute(
            update(pending_writes)
            .where(pending_writes.c.token == token)
            .values(created_at=pending_writes.c.created_at - seconds)
        ).rowcount
    assert changed == 1, f"no preview with token {token}"


def age_last_sweep(store: Store, seconds: float) -> None:
    """The last idle sweep (by any process) happened `seconds` earlier than it did."""
    with store.engine.begin() as conn:
        changed = conn.execute(
            update(housekeeping).where(housekeeping.c.name == SWEEP_CLAIM).values(at=housekeeping.c.at - seconds)
        ).rowcount
    assert changed == 1, "no sweep has been recorded yet"


def registered(store: Store, engine: str) -> set[str]:
    """The visitors whose sandboxes on `engine` the registry holds."""
    return set(store.idle_sandboxes(engine, float("inf")))


def preview_tokens(store: Store) -> set[str]:
    """Every preview the store still keeps, used or not."""
    with store.engine.connect() as conn:
        return set(conn.execute(pending_writes.select().with_only_columns(pending_writes.c.token)).scalars())
