"""The schema panel's tables: columns and row counts read as the visitor, capped."""

from __future__ import annotations

from playground.catalog import ROW_COUNT_CAP, summarise
from playground.service import Playground, RunRequest


def test_each_table_has_its_row_count(playground: Playground, visitor: str) -> None:
    tables = {t.name: t for t in summarise(playground, visitor)}
    assert tables["Users"].rows == 2 and tables["some_table"].rows == 6
    assert [c.name for c in tables["Users"].columns] == ["Id", "Name", "Age"]


def test_a_huge_table_is_counted_up_to_the_cap(playground: Playground, visitor: str) -> None:
    sql = f'CREATE TABLE "Big one" AS WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {ROW_COUNT_CAP + 5}) SELECT i FROM n'
    outcome = playground.run(visitor, RunRequest(sql))
    assert outcome.token
    playground.commit(visitor, outcome.token)
    big = next(t for t in summarise(playground, visitor) if t.name == "Big one")
    assert (big.rows, big.more) == (ROW_COUNT_CAP, True)


def test_the_panel_follows_every_commit_and_reset_and_not_a_preview(playground: Playground, visitor: str) -> None:
    """A process keeps the panel between pages (catalog._panels): whatever changed the data shows at once."""

    def counts() -> dict[str, int | None]:
        return {t.name: t.rows for t in summarise(playground, visitor)}

    assert counts()["some_table"] == 6
    assert counts()["some_table"] == 6  # shown again, unchanged
    preview = playground.run(visitor, RunRequest("DELETE FROM some_table WHERE x > 5"))
    assert counts()["some_table"] == 6  # a preview is rolled back
    playground.commit(visitor, preview.token)
    assert counts()["some_table"] < 6
    playground.commit(visitor, playground.run(visitor, RunRequest("CREATE TABLE notes (body text)")).token)
    assert counts()["notes"] == 0
    playground.commit(visitor, playground.run(visitor, RunRequest("INSERT INTO notes VALUES ('a')")).token)
    assert counts()["notes"] == 1
    playground.reset(visitor)
    assert "notes" not in counts() and counts()["some_table"] == 6
