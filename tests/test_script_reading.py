"""Reading a script (splitting it, reading its parameters) is linear, and cuts exactly where the engines' own readers do.

The one-pass splitters are compared with the straightforward (quadratic) readings they replaced,
which ask SQLite's `sqlite3_complete` at every `;` and PostgreSQL's parser for each statement's
location. (tests/test_limits.py reads the review's 100 KB scripts through a real server.)
"""

from __future__ import annotations

import sqlite3

import pytest
from pglast import parser

from playground.backends.pg_statements import _masked, split_statements
from playground.backends.sqlite_split import split as sqlite_split
from playground.sqltext import tokenize


def sqlite_reference(sql: str) -> list[str]:
    """Cut where `sqlite3.complete_statement` says the text so far is a whole statement (asked at every `;`)."""
    chunks, start = [], 0
    for token in tokenize(sql, "sqlite"):
        if token.kind != "code":
            continue
        for i, ch in enumerate(token.text):
            end = token.start + i + 1
            if ch == ";" and sqlite3.complete_statement(sql[start:end]):
                chunks.append(sql[start:end])
                start = end
    chunks.append(sql[start:])
    return chunks


def postgresql_reference(sql: str) -> list[str]:
    """Cut after the last `;` before each statement's location in PostgreSQL's own parse tree (searched anew each time)."""
    tokens = tokenize(sql, "postgresql")
    semicolons = [t.start + i for t in tokens if t.kind == "code" for i, ch in enumerate(t.text) if ch == ";"]
    masked = _masked(tokens)
    try:
        statements = parser.parse_sql(masked)
    except parser.ParseError:
        cuts = [s + 1 for s in semicolons]
    else:
        cuts, previous = [], 0
        for raw in statements[1:]:
            start = raw.stmt_location  # pglast gives it in characters (the splitter once read it as bytes)
            before = [s for s in semicolons if previous <= s < start]
            cuts.append(before[-1] + 1 if before else start)
            previous = cuts[-1]
    bounds = [0, *cuts, len(sql)]
    return [sql[a:b] for a, b in zip(bounds, bounds[1:], strict=False) if b > a]


SCRIPTS = [
    "SELECT 1",
    "SELECT 1; SELECT 2;",
    ";;; SELECT 1;;",
    "SELECT ';' AS a; SELECT \";\" AS b -- ; comment\n; /* ; */ SELECT 3",
    "CREATE TRIGGER t AFTER INSERT ON some_table BEGIN SELECT 1; SELECT 'end;'; END; SELECT 2",
    "create temp trigger t after insert on x begin insert into y values (1); end ; select 9",
    "EXPLAIN CREATE TRIGGER t AFTER INSERT ON x BEGIN SELECT 1; END; SELECT 2",
    "CREATE TABLE trigger_log (a); CREATE INDEX i ON trigger_log (a); SELECT end_date FROM t;",
    "CREATE TRIGGER t BEFORE DELETE ON x BEGIN SELECT CASE WHEN 1 THEN 2 END; END; SELECT :end, $end, @end;",
    "CREATE TRIGGER t AFTER INSERT ON x BEGIN ;;;; END;; SELECT 1",
    "CREATE TRIGGER x AFTER INSERT ON some_table BEGIN " + ";" * 500,
    "SELECT 'unclosed; SELECT 2",
    "SELECT [a;b], `c;d` FROM t; SELECT 2 /* unclosed ;",
    "SELECT 'é;ü' AS ünï; SELECT $$;$$; SELECT $tag$ ; $tag$ ;  -- trailing ;\n SELECT 3",
    "SELECT 1 + ; SELECT 2; SELEC 3;",
    "SELECT :a::int; DO $$ BEGIN PERFORM 1; END $$; SELECT E'\\';' ;",
]


@pytest.mark.parametrize("sql", SCRIPTS)
def test_the_one_pass_splitters_cut_where_the_engines_own_readers_do(sql: str) -> None:
    assert sqlite_split(sql) == sqlite_reference(sql)
    assert split_statements(sql) == postgresql_reference(sql)
