"""printf() and format() that cannot outlive the time limit inside one C call, on SQLite before 3.51.

SQLite before 3.51 (3.40.1 is Debian 12's, and the official Python images') writes `%.Nc` one
character at a time, and keeps looping after the value outgrew SQLITE_LIMIT_LENGTH:
`printf('%.*c', 2147483647, 'x')` spends 12-25 s in one C call, where neither the progress
handler nor interrupt() gets a turn, and then returns NULL. 3.51.1 answers it at once.

So on those versions the two names are replaced, per connection, by a function that first reads
the format's widths and precisions (linear in the format's length) and, when one would make a
value larger than the value limit, fails at once with SQLite's own "string or blob too big"; any
other call is handed to the built-in printf of a private in-memory connection, so the result is
SQLite's to the byte.

The cost: a function of the application is not "innocuous", so with `trusted_schema = OFF` a view
or trigger that calls printf() is refused ("unsafe use of printf()"; translated for the student).
"""

from __future__ import annotations

import re
import sqlite3
import threading
from collections.abc import Callable
from typing import Any

NEEDED = sqlite3.sqlite_version_info < (3, 51, 0)
NAMES = ("printf", "format")

# %[flags][width][.precision][l|ll]type, as SQLite's printf.c reads it; `*` takes the next argument.
_CONVERSION = re.compile(r"%([-+ 0#!,]*)(\*|\d+)?(?:\.(\*|\d*))?(?:ll|l)?(.?)", re.DOTALL)
# Types whose precision only shortens the value (the text is cut), never lengthens it.
_PRECISION_CUTS = frozenset("sqQwz")
# %% and %n take no argument in SQL's printf.
_NO_ARGUMENT = frozenset("%n")


def install(connection: sqlite3.Connection, max_length: int) -> None:
    """Replace printf() and format() on `connection` (only where the SQLite library needs it)."""
    if not NEEDED:
        return
    for name in NAMES:
        if _builtin(max_length).has(name):
            connection.create_function(name, -1, _guarded(name, max_length))


def _guarded(name: str, max_length: int) -> Callable[..., Any]:
    def call(*args: Any) -> Any:
        if args and isinstance(args[0], str) and _grows_past(args[0], args[1:], max_length):
            # A result past SQLITE_LIMIT_LENGTH makes SQLite itself fail the statement with
            # "string or blob too big", as it does for any other value that grows too large.
            return "x" * (max_length + 1)
        return _builtin(max_length).call(name, args)

    return call


def _grows_past(fmt: str, args: tuple[Any, ...], max_length: int) -> bool:
    """Whether a width or precision in `fmt` asks for a value longer than `max_length`."""
    position = 0

    def next_int() -> int:
        nonlocal position
        value = args[position] if position < len(args) else 0
        position += 1
        try:
            return abs(int(value if isinstance(value, int | float) else float(str(value) or 0)))
        except (ValueError, OverflowError, TypeError):
            return 0

    for match in _CONVERSION.finditer(fmt):
        width_text, precision_text, kind = match.group(2), match.group(3), match.group(4)
        width = next_int() if width_text == "*" else int(width_text or 0)
        precision = next_int() if precision_text == "*" else int(precision_text or 0)
        if kind not in _NO_ARGUMENT:
            position += 1
        # SQLite keeps the low 31 bits of a width or precision written in digits.
        width, precision = width & 0x7FFFFFFF, precision & 0x7FFFFFFF
        if width > max_length or (precision > max_length and kind not in _PRECISION_CUTS):
            return True
    return False


class _Builtin:
    """SQLite's own printf() and format(), on a private in-memory connection of this thread."""

    def __init__(self, max_length: int) -> None:
        self.connection = sqlite3.connect(":memory:")
        self.connection.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, max_length)
        self.statements: dict[tuple[str, int], str] = {}

    def has(self, name: str) -> bool:
        try:
            self.connection.execute(f"SELECT {name}('')")
        except sqlite3.OperationalError:
            return False
        return True

    def call(self, name: str, args: tuple[Any, ...]) -> Any:
        key = (name, len(args))
        sql = self.statements.get(key)
        if sql is None:
            sql = self.statements[key] = f"SELECT {name}({', '.join('?' * len(args))})"
        return self.connection.execute(sql, args).fetchone()[0]


_local = threading.local()


def _builtin(max_length: int) -> _Builtin:
    builtins: dict[int, _Builtin] = _local.__dict__.setdefault("builtins", {})
    found = builtins.get(max_length)
    if found is None:
        found = builtins[max_length] = _Builtin(max_length)
    return found
