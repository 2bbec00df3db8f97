"""The preview in plain words, and the warning for an UPDATE or DELETE without WHERE."""

from __future__ import annotations

import pytest

from playground.describe import describe_write, target_of


@pytest.mark.parametrize(
    ("sql", "count", "sentence", "warning"),
    [
        ("UPDATE some_table SET y=:y WHERE x=:x", 2, "This UPDATE changes 2 rows of some_table.", None),
        ("DELETE FROM some_table WHERE x = 1", 1, "This DELETE removes 1 row from some_table.", None),
        ('INSERT INTO "Users" ("Name", "Age") VALUES(:Name, :Age)', 2, 'This INSERT adds 2 rows to "Users".', None),
        (
            "update some_table set y = 0",
            6,
            "This UPDATE changes 6 rows of some_table.",
            "This UPDATE has no WHERE: it changes every row of some_table.",
        ),
        (
            "DELETE FROM some_table -- WHERE x = 1",
            6,
            "This DELETE removes 6 rows from some_table.",
            "This DELETE has no WHERE: it removes every row of some_table.",
        ),
        (
            "UPDATE some_table SET y = (SELECT max(y) FROM some_table WHERE x > 1)",
            6,
            "This UPDATE changes 6 rows of some_table.",
            "This UPDATE has no WHERE: it changes every row of some_table.",
        ),
        (
            "UPDATE t SET note = 'WHERE'",
            3,
            "This UPDATE changes 3 rows of t.",
            "This UPDATE has no WHERE: it changes every row of t.",
        ),
        ("UPDATE public.t SET a = 1 WHERE b", 0, "This UPDATE changes no row of public.t: no row matches.", None),
    ],
)
def test_sentences(sql: str, count: int, sentence: str, warning: str | None) -> None:
    described = describe_write(sql, "postgresql", count)
    assert described is not None
    assert (described.sentence, described.every_row_warning) == (sentence, warning)


def test_committed_sentences_are_in_the_past() -> None:
    described = describe_write("UPDATE some_table SET y=:y WHERE x=:x", "sqlite", 2, committed=True)
    assert described is not None and described.sentence == "This UPDATE changed 2 rows of some_table."


def test_other_statements_have_no_sentence() -> None:
    assert describe_write("SELECT 1", "sqlite", 1) is None
    assert describe_write("CREATE TABLE t (a int)", "sqlite", 0) is None
    assert target_of("INSERT OR REPLACE INTO [t] VALUES (1)", "sqlite").table == "[t]"  # type: ignore[union-attr]
