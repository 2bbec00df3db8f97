"""Spare PostgreSQL sandboxes, made ahead of time, so that a class arriving at once does not wait.

Making a sandbox (a database copied from the template, two roles, the sample handed over, the
grants) takes a few hundred milliseconds of the server's time; a hundred students arriving within
ten seconds queue behind each other for seconds. A spare is a complete sandbox under a random
name that no visitor id maps to, marked by a comment naming the template it was copied from.
Claiming one renames its database and its two roles to the visitor's names and sets the login
role's password, in one transaction: either the visitor has a whole sandbox or the spare stays a
spare (two processes claiming the same spare: one rename waits for the other and then finds no
such database). A background thread in one process at a time (an advisory lock) makes new
spares until PLAYGROUND_POSTGRES_SPARE_SANDBOXES are ready again.
"""

from __future__ import annotations

import logging
import secrets
import threading
from collections.abc import Callable
from typing import Any

import psycopg2
import psycopg2.errors
import psycopg2.extensions

from .pg_admin import PgAdmin, ident
from .pg_errors import first_line
from .pg_roles import owner_of

log = logging.getLogger("playground.postgresql")

_TOP_UP_LOCK = 123589619970420  # the advisory lock one topping-up process holds ("pgspare")
_LOCK_POLL_SECONDS = 0.5
_ATTEMPTS = 5  # failed passes in a row before the thread gives up until the next `top_up`
_RETRY_SECONDS = 1.0  # times the number of failures so far
_COMMENT = "SQL Playground spare sandbox from {template}"


class SpareSandboxes:
    """`claim(name)` turns a ready spare into sandbox `name`; `top_up()` makes spares in the background."""

    def __init__(
        self,
        admin: PgAdmin,
        keep: int,
        *,
        template: Callable[[], str],
        make: Callable[[str, str], None],
        drop: Callable[[str], None],
        password: Callable[[str], str],
    ) -> None:
        self.admin = admin
        self.keep = keep
        self._template = template  # the current template's name
        self._make = make  # makes a complete sandbox under a name, copied from a template
        self._drop = drop  # drops a sandbox's database and roles by name
        self._password = password
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()  # guards the three flags below
        self._stopped = False  # set by `stop()`: no more spares from this process
        self._running = False  # a thread of this process is topping up
        self._wanted = False  # `top_up` was called since that thread last counted
        self._stopping = threading.Event()  # `stop()` cuts the thread's waits short

    def claim(self, name: str) -> bool:
        """Make a spare sandbox `name`'s own; False if none was ready."""
        if not self.keep:
            return False
        comment = _COMMENT.format(template=self._template())
        with self.admin.cursor() as cur:
            cur.execute(
                "SELECT d.datname FROM pg_database d WHERE d.datname ~ %s "
                "AND pg_catalog.shobj_description(d.oid, 'pg_database') = %s ORDER BY random() LIMIT 20",
                (self.admin.pattern("sb"), comment),
            )
            candidates = [r[0] for r in cur.fetchall()]
        try:
            for spare in candidates:
                try:
                    self._rename(spare, name)
                    return True
                except (
                    psycopg2.errors.InvalidCatalogName,
                    psycopg2.errors.UndefinedObject,
                    psycopg2.errors.ObjectInUse,
                    psycopg2.errors.LockNotAvailable,
                ):
                    continue  # another visitor is claiming it, or claimed it a moment ago
                except psycopg2.Error as e:
                    log.warning("spare sandbox %s not claimed: %s", spare, first_line(e))
            return False
        finally:
            # After the claim, not before: a count taken before it would still see this spare.
            self.top_up()

    def _rename(self, spare: str, name: str) -> None:
        with self.admin.cursor() as cur:
            conn = cur.connection
            conn.autocommit = False
            try:
                verifier = psycopg2.extensions.encrypt_password(self._password(name), name, conn, "scram-sha-256")
                # A class arriving at once claims spares at once: one that another visitor is
                # renaming is skipped at once rather than waited for (candidates come in random order).
                cur.execute("SET LOCAL lock_timeout = '100ms'")
                cur.execute(f"ALTER DATABASE {ident(spare)} RENAME TO {ident(name)}")
                cur.execute(f"COMMENT ON DATABASE {ident(name)} IS NULL")
                cur.execute(f"ALTER ROLE {ident(spare)} RENAME TO {ident(name)}")
                cur.execute(f"ALTER ROLE {ident(name)} PASSWORD %s", (verifier,))
                cur.execute(f"ALTER ROLE {ident(owner_of(spare))} RENAME TO {ident(owner_of(name))}")
                conn.commit()
            except BaseException:
                conn.rollback()
                raise
            finally:
                conn.autocommit = True

    def top_up(self) -> None:
        """Make spares until `keep` are ready, in a background thread (one process at a time).

        A call while this process's thread is at work is not lost: the thread counts again before
        it ends (the call may come after its last count, from a claim or new starting data).
        """
        if not self.keep:
            return
        with self._lock:
            if self._stopped:
                return
            self._wanted = True
            if self._running:
                return
            self._running = True
            self._thread = threading.Thread(target=self._top_up, name="playground-spares", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """Make no more spares in this process, and wait for the one being made.

        Dropping everything of a prefix while a spare is being made would leave that spare's
        database (listed too late) holding objects its roles own.
        """
        with self._lock:
            self._stopped = True
        self._stopping.set()
        self.wait()

    def wait(self, timeout: float | None = None) -> None:
        """Until this process's topping up is done (for tests and the benchmark)."""
        thread = self._thread
        if thread is not None:
            thread.join(timeout)

    def _top_up(self) -> None:
        """The thread: top up while calls keep coming; after a failure, try again a little later."""
        failures = 0
        while True:
            with self._lock:
                # Decided under the lock that `top_up` takes: a call either sees this thread
                # running and leaves a wish it will read, or starts a new thread.
                if self._stopped or not self._wanted:
                    self._running = False
                    return
                self._wanted = False
            if self._top_up_once():
                failures = 0
                continue
            failures += 1
            if failures >= _ATTEMPTS:
                log.warning("no more spare sandboxes until the next claim: %d attempts failed", failures)
                with self._lock:
                    self._running = False
                return
            with self._lock:
                self._wanted = True
            # A busy server (a catalog row two sessions change at once, a template still in use):
            # waiting a little usually lets the next attempt through.
            self._stopping.wait(_RETRY_SECONDS * failures)

    def _top_up_once(self) -> bool:
        """One pass: hold the advisory lock and make spares until `keep` are ready; False if it failed."""
        try:
            conn = psycopg2.connect(
                self.admin.url.set(drivername="postgresql").render_as_string(hide_password=False),
                connect_timeout=10,
                application_name="playground-admin",
            )
        except psycopg2.Error as e:
            log.warning("no spare sandboxes made: %s", first_line(e))
            return False
        try:
            conn.autocommit = True
            with conn.cursor() as cur:
                # Another process may be making spares: wait for it, then count again ourselves. Its
                # count may have been taken before this process changed the template (the teacher's
                # starting data), and nobody else would make the new spares.
                while True:
                    cur.execute("SELECT pg_catalog.pg_try_advisory_lock(%s)", (_TOP_UP_LOCK,))
                    if cur.fetchone()[0]:
                        break
                    if self._stopping.wait(_LOCK_POLL_SECONDS):
                        return True
                try:
                    self._make_missing(cur)
                finally:
                    cur.execute("SELECT pg_catalog.pg_advisory_unlock(%s)", (_TOP_UP_LOCK,))
            return True
        except Exception:
            log.exception("making spare sandboxes failed")
            return False
        finally:
            conn.close()

    def _make_missing(self, cur: Any) -> None:
        """Make spares until `keep` are ready, counting again after each (visitors claim them meanwhile)."""
        while not self._stopped:
            # Asked each time: the teacher may set other starting data while spares are being made.
            template = self._template()
            comment = _COMMENT.format(template=template)
            cur.execute(
                "SELECT d.datname, pg_catalog.shobj_description(d.oid, 'pg_database') FROM pg_database d "
                "WHERE d.datname ~ %s AND pg_catalog.shobj_description(d.oid, 'pg_database') LIKE %s",
                (self.admin.pattern("sb"), _COMMENT.format(template="%")),
            )
            ready = 0
            for spare, its_comment in cur.fetchall():
                if its_comment == comment:
                    ready += 1
                else:  # copied from an older template: not what a new visitor should get
                    self._drop(spare)
            if ready >= self.keep:
                return
            spare = f"{self.admin.prefix}_sb_{secrets.token_hex(12)}"
            try:
                self._make(spare, template)  # the template its comment names, even if it changed since
                cur.execute(f"COMMENT ON DATABASE {ident(spare)} IS %s", (comment,))
            except BaseException:
                # Half made, it has no comment: neither a spare nor anyone's sandbox, it would stay.
                try:
                    self._drop(spare)
                except Exception as e:
                    log.warning("a half-made spare sandbox %s was not dropped: %s", spare, first_line(e))
                raise
