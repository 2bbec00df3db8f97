"""SQLite's qmark binding without SQLAlchemy's rewrite of literal text that looks like one of our parameters.

For a positional paramstyle (sqlite3's qmark), SQLAlchemy writes each bound parameter as `%(name)s`
first and then replaces every match of that pattern whose name is a parameter, inside string
literals, quoted names and comments too: `SELECT :a, '%(a)s'` reached sqlite3 as `SELECT ?, ?`
with two values ("Incorrect number of bindings supplied"). This compiler writes parameters with a
NUL on each side instead, a character the service never lets into SQL, and replaces only those.
The driver still gets qmark, which the pages show ("what the driver got").
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy.dialects.sqlite.base import SQLiteCompiler
from sqlalchemy.engine import Engine
from sqlalchemy.sql.compiler import SQLCompiler

_MARK = "\x00"


class LiteralSafeCompiler(SQLiteCompiler):
    """SQLite's compiler, its parameters marked so that no text of the statement can be taken for one."""

    # group 1: one of our marked parameters; group 2: SQLAlchemy's own post-compile parameters, as before.
    _positional_pattern = re.compile(f"{_MARK}([^{_MARK}]+){_MARK}|{SQLCompiler._post_compile_pattern.pattern}")

    # SQLCompiler.__init__ assigns the template before it compiles; this one stays.
    @property  # type: ignore[override]
    def compilation_bindtemplate(self) -> str:
        return f"{_MARK}%(name)s{_MARK}"

    @compilation_bindtemplate.setter
    def compilation_bindtemplate(self, _value: Any) -> None:
        pass


def bind_literally_safe(engine: Engine) -> None:
    """Compile this SQLite engine's statements with LiteralSafeCompiler."""
    engine.dialect.statement_compiler = LiteralSafeCompiler
