"""The scanner: which `:name` are parameters, and the text() clause that binds exactly those."""

from __future__ import annotations

import pytest
from sqlalchemy.dialects import postgresql, sqlite

from playground.backends.sqlite import SqliteBackend
from playground.config import Limits
from playground.errors import UserError
from playground.script import parse_script
from playground.sqltext import clause_parameter_names, parameter_names, text_clause, tokenize


@pytest.mark.parametrize(
    ("sql", "dialect", "names"),
    [
        ("SELECT x, y FROM some_table WHERE y > :y ORDER BY x, y", "sqlite", ["y"]),
        ('INSERT INTO "Users" ("Name", "Age") VALUES(:Name, :Age)', "sqlite", ["Name", "Age"]),
        # text() alone would take these for parameters: inside a literal and a comment.
        ("SELECT 'a :b' -- :c", "sqlite", []),
        ("SELECT 1 /* :c */, :d", "sqlite", ["d"]),
        ('SELECT ":quoted" FROM t', "sqlite", []),
        ("SELECT [:bracketed], `:back` FROM t", "sqlite", []),
        ("SELECT 'it''s :no', :yes", "sqlite", ["yes"]),
        ("SELECT :a, :a, :b", "sqlite", ["a", "b"]),
        ("SELECT :Имя", "sqlite", ["Имя"]),
        ("SELECT 'a:b', a:b", "sqlite", []),
        # PostgreSQL: casts are not parameters; a parameter followed by a cast is one.
        ("SELECT x::text FROM t", "postgresql", []),
        ("SELECT :x::int", "postgresql", ["x"]),
        ("SELECT E'it\\'s :no', :yes", "postgresql", ["yes"]),
        ("SELECT $$ :no $$, $tag$ :no $tag$, :yes", "postgresql", ["yes"]),
        ("SELECT 1 /* :a /* :b */ :c */, :d", "postgresql", ["d"]),
        ("SELECT arr[1:2] FROM t", "postgresql", []),
    ],
)
def test_parameters_are_the_names_outside_literals_and_comments(sql: str, dialect: str, names: list[str]) -> None:
    tokens = tokenize(sql, dialect)  # type: ignore[arg-type]
    assert parameter_names(tokens) == names
    assert clause_parameter_names(text_clause(tokens)) == names


@pytest.mark.parametrize(
    ("sql", "dialect", "compiled"),
    [
        ("SELECT 'a :b' -- :c", "sqlite", "SELECT 'a :b' -- :c"),
        ("SELECT 'x\\:y', :p", "sqlite", "SELECT 'x\\:y', ?"),
        ("SELECT 'a::' || :p", "sqlite", "SELECT 'a::' || ?"),
        ("SELECT x::text, :y::int FROM t", "postgresql", "SELECT x::text, %(y)s::int FROM t"),
        ("SELECT '%' || :p", "postgresql", "SELECT '%%' || %(p)s"),
        ("SELECT $$ :no $$", "postgresql", "SELECT $$ :no $$"),
    ],
)
def test_the_driver_receives_the_text_unchanged_but_for_the_parameters(sql: str, dialect: str, compiled: str) -> None:
    clause = text_clause(tokenize(sql, dialect))  # type: ignore[arg-type]
    driver_dialect = sqlite.dialect() if dialect == "sqlite" else postgresql.psycopg2.dialect()  # type: ignore[attr-defined]
    assert str(clause.compile(dialect=driver_dialect)) == compiled


def _split(sql: str, tmp_path) -> list[str]:  # type: ignore[no-untyped-def]
    backend = SqliteBackend(tmp_path, Limits())
    script = parse_script(sql, "sqlite", backend.split, max_bytes=100_000)
    return [s.sql for s in script.statements]


def test_sqlite_split_keeps_semicolons_inside_literals_comments_and_triggers(tmp_path) -> None:  # type: ignore[no-untyped-def]
    sql = (
        "SELECT 'a;b'; -- c;d\n"
        "CREATE TRIGGER t AFTER INSERT ON x BEGIN UPDATE x SET a = 1; DELETE FROM y; END;\n"
        'SELECT "q;q" /* ; */ FROM x;;'
    )
    assert _split(sql, tmp_path) == [
        "SELECT 'a;b';",
        "-- c;d\nCREATE TRIGGER t AFTER INSERT ON x BEGIN UPDATE x SET a = 1; DELETE FROM y; END;",
        'SELECT "q;q" /* ; */ FROM x;',
    ]


def test_a_script_of_only_comments_is_an_empty_query(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(UserError, match="no SQL to run"):
        _split("-- nothing\n ; /* here */", tmp_path)


def test_native_sqlite_placeholders_are_refused_with_a_hint(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(UserError, match=r"write parameters as :name"):
        _split("SELECT * FROM t WHERE a = ?", tmp_path)
    # ... but a question mark inside a literal is just text.
    assert _split("SELECT 'why?'", tmp_path) == ["SELECT 'why?'"]
