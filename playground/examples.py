"""The Examples menu: both lessons exactly as they are written, and examples that teach on Chinook.

Each example is SQL with its grid (one tuple of values per parameter, one value per grid row) and
two sentences saying what it shows. Every word a visitor reads is here, whole, so that a
translation can follow. An example on Chinook says so; the page then offers to load it.
"""

from __future__ import annotations

from dataclasses import dataclass

from .messages import Message, _

LESSONS = "lessons"
CHINOOK = "chinook"


@dataclass(frozen=True)
class Example:
    slug: str
    title: Message
    sql: str
    values: tuple[tuple[str, tuple[str, ...]], ...]  # (parameter, (row 1, row 2, ...))
    explanation: tuple[Message, Message]
    sample: str = LESSONS

    def query_args(self, engine: str) -> dict[str, str | list[str]]:
        """The editor's address for this example (GET: it fills the editor, it never runs)."""
        args: dict[str, str | list[str]] = {"sql": self.sql, "engine": engine, "example": self.slug}
        for name, cells in self.values:
            args[f"p.{name}"] = list(cells)
        return args


EXAMPLES: tuple[Example, ...] = (
    Example(
        "lesson1-select",
        _("Lesson 1: read the users"),
        'select * from "Users"',
        (),
        (
            _("Reading data is passing SQL to execute: the rows come back as the result."),
            _('The quotes keep "Users" capitalised; PostgreSQL folds unquoted names to lower case.'),
        ),
    ),
    Example(
        "lesson1-insert",
        _("Lesson 1: insert the users"),
        'INSERT INTO "Users" ("Name", "Age") VALUES(:Name, :Age)',
        (("Name", ("Петр", "Василий")), ("Age", ("20", "26"))),
        (
            _(
                "Each grid row is one of the lesson's dictionaries: the INSERT runs once per row, its values bound, never pasted into the SQL."
            ),
            _("The preview shows what would change; Commit makes it permanent, as session.commit() does."),
        ),
    ),
    Example(
        "lesson2-select",
        _("Lesson 2: SELECT with :y"),
        "SELECT x, y FROM some_table WHERE y > :y ORDER BY x, y",
        (("y", ("6",)),),
        (
            _('session.execute(stmt, {"y": 6}): the value travels beside the SQL as a bound parameter.'),
            _("Change the 6 in the grid and run again; the SQL stays the same."),
        ),
    ),
    Example(
        "lesson2-update",
        _("Lesson 2: UPDATE, two rows (executemany)"),
        "UPDATE some_table SET y=:y WHERE x=:x",
        (("x", ("9", "13")), ("y", ("11", "15"))),
        (
            _("A list of parameter dictionaries runs the statement once per dictionary: an executemany."),
            _("It commits as you go: nothing is kept until you press Commit."),
        ),
    ),
    Example(
        "dialects",
        _("Dialects: the same SQL, two engines"),
        "SELECT 7 / 2 AS int_division, 7 / 2.0 AS division, 1 = 1 AS truth, 'a' || 'b' AS joined, '2024-01-31' AS day",
        (),
        (
            _("Integer division, booleans and dates are where SQLite and PostgreSQL part ways."),
            _("On a server with both engines, press Compare engines to see the differences marked."),
        ),
    ),
    Example(
        "chinook-join",
        _("Chinook: albums of an artist (JOIN)"),
        "SELECT al.title, ar.name AS artist\nFROM album al\nJOIN artist ar ON ar.artist_id = al.artist_id\nWHERE ar.name = :artist\nORDER BY al.title",
        (("artist", ("AC/DC",)),),
        (
            _("JOIN pairs each album with the artist whose artist_id it holds."),
            _("The artist's name is a parameter: try Iron Maiden."),
        ),
        CHINOOK,
    ),
    Example(
        "chinook-group-by",
        _("Chinook: sales per country (GROUP BY)"),
        "SELECT billing_country, count(*) AS invoices, sum(total) AS revenue\nFROM invoice\nGROUP BY billing_country\nHAVING count(*) >= :at_least\nORDER BY revenue DESC",
        (("at_least", ("10",)),),
        (
            _("GROUP BY makes one row per country; count() and sum() summarise each group."),
            _("HAVING filters the groups, as WHERE filters the rows."),
        ),
        CHINOOK,
    ),
    Example(
        "chinook-update",
        _("Chinook: raise a genre's prices (UPDATE with WHERE)"),
        "UPDATE track SET unit_price = unit_price + :raise\nWHERE genre_id = (SELECT genre_id FROM genre WHERE name = :genre)",
        (("raise", ("0.10",)), ("genre", ("Jazz",))),
        (
            _("Only the rows the WHERE picks change, and the preview counts them before anything is kept."),
            _("Without the WHERE every track would change: the page would warn you before Commit."),
        ),
        CHINOOK,
    ),
    Example(
        "chinook-delete",
        _("Chinook: empty a playlist (DELETE)"),
        "DELETE FROM playlist_track WHERE playlist_id = :playlist",
        (("playlist", ("17",)),),
        (
            _("DELETE removes the rows its WHERE matches; the preview counts them and rolls back."),
            _("Discard, and nothing happened; Commit, and Reset brings the rows back."),
        ),
        CHINOOK,
    ),
    Example(
        "chinook-transaction",
        _("Chinook: several statements, one transaction"),
        "INSERT INTO genre (genre_id, name) VALUES (:id, :name);\nUPDATE track SET genre_id = :id WHERE composer LIKE :composer;\nSELECT g.name, count(*) AS tracks\nFROM track t JOIN genre g ON g.genre_id = t.genre_id\nWHERE g.genre_id = :id\nGROUP BY g.name",
        (("id", ("26",)), ("name", ("Baroque",)), ("composer", ("%Bach%",))),
        (
            _("The statements run in order in one transaction: the SELECT already sees the new genre."),
            _("The preview rolls all three back; Commit runs them again and keeps all of them or none."),
        ),
        CHINOOK,
    ),
    Example(
        "chinook-null",
        _("Chinook: customers without a company (NULL)"),
        "SELECT first_name, last_name, company, coalesce(company, 'private') AS shown\nFROM customer\nWHERE company IS NULL AND country = :country\nORDER BY last_name",
        (("country", ("Brazil",)),),
        (
            _("NULL is no value at all: company = NULL is never true, so the test is IS NULL."),
            _("coalesce() puts a value where NULL is; the result marks a real NULL apart from the text 'NULL'."),
        ),
        CHINOOK,
    ),
)


def example(slug: str | None) -> Example | None:
    return next((e for e in EXAMPLES if e.slug == slug), None)
