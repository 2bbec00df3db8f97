"""The injection lab: one lookup done two ways on the visitor's own sandbox, bound and formatted.

The bound side is what the playground always does: `text()` with `:value`, the value handed to
the driver beside the SQL. The formatted side is the mistake the lessons warn against: the value
pasted into the SQL text with an f-string. Both run through the service's `evaluate` (the same
statement check, limits, sandbox and time limit as every run), in a transaction that is always
rolled back and that never leaves a commit token behind: the lab shows what an attack would do
("this would delete 2 rows") and can never do it.

Every sentence a person reads is here, whole, one per case, so that a translation can follow.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from .errors import CapacityReached, RefusedStatement, SqlPosition, Unavailable, UserError
from .logs import event
from .messages import Message, _, _n
from .runner import RunResult, StatementResult
from .service import Playground, RunRequest
from .values import json_value

log = logging.getLogger("playground.lab")

# The lookup: the sample's "Users" (lesson 1), the name a visitor types, and a condition after it
# that a comment can cut off (Петр, 20, is not found; cut the age check off and he is).
LOOKUP_TABLE = "Users"
BOUND_SQL = 'SELECT "Id", "Name", "Age" FROM "Users" WHERE "Name" = :value AND "Age" >= 21'
COUNT_USERS_SQL = 'SELECT count(*) FROM "Users"'


def formatted_sql(value: str) -> str:
    """The mistake itself: the value pasted into the SQL text between quotes, as an f-string does."""
    return f'SELECT "Id", "Name", "Age" FROM "Users" WHERE "Name" = \'{value}\' AND "Age" >= 21'


# The Python each side stands for, as a class would write it (shown above each side).
BOUND_CODE = (
    "session.execute(\n"
    '    text(\'SELECT "Id", "Name", "Age" FROM "Users" WHERE "Name" = :value AND "Age" >= 21\'),\n'
    '    {"value": value},\n'
    ")"
)
FORMATTED_CODE = (
    "session.execute(\n"
    '    text(f"""SELECT "Id", "Name", "Age" FROM "Users" WHERE "Name" = \'{value}\' AND "Age" >= 21""")\n'
    ")"
)

Kind = Literal["bound", "formatted"]


@dataclass(frozen=True)
class Preset:
    """A value to try, and what to point out when a teacher projects it."""

    slug: str
    title: str  # a Message, or the value itself where that is the name
    value: str
    point: Message


PRESETS: tuple[Preset, ...] = (
    Preset(
        "plain",
        _("A plain name"),
        "Василий",
        _("An ordinary value: both sides find the same user. The difference only shows once the value holds a quote."),
    ),
    Preset(
        "or-true",
        "' OR '1'='1",
        "' OR '1'='1",
        _(
            "The quote ends the name early and OR '1'='1' is true for every row: the formatted lookup returns "
            "users nobody asked for."
        ),
    ),
    Preset(
        "union",
        _("UNION SELECT from another table"),
        "' UNION SELECT x, CAST(y AS TEXT), y FROM some_table --",
        _(
            "UNION glues a second query onto the lookup: the formatted side returns the rows of some_table, "
            "a table the lookup never meant to show."
        ),
    ),
    Preset(
        "stacked-delete",
        _("A stacked DELETE"),
        '\'; DELETE FROM "Users"; --',
        _(
            "The semicolon ends the lookup and starts a statement of the attacker's own: the formatted side "
            "would delete every user. Here it is rolled back; in a real application it would not be."
        ),
    ),
    Preset(
        "comment",
        _("A comment cuts off the age check"),
        "Петр' --",
        _(
            "-- turns the rest of the line into a comment, so the check on the age is gone: the formatted side "
            "finds Петр, who is 20 and should stay hidden."
        ),
    ),
    Preset(
        "apostrophe",
        _("O'Brien (not an attack)"),
        "O'Brien",
        _(
            "A real name with an apostrophe: no attack at all, and still the formatted SQL breaks. Bound, it is "
            "just a name to look up."
        ),
    ),
)


def preset(slug: str | None) -> Preset | None:
    return next((p for p in PRESETS if p.slug == slug), None)


class LabValueError(UserError):
    """The lab's value cannot be tried (too long, a NUL byte); nothing ran."""


@dataclass(frozen=True)
class LabSide:
    """One way of running the lookup: the SQL text, the values sent beside it, and what came back."""

    kind: Kind
    sql: str  # the SQL text as the playground ran it
    parameters: tuple[tuple[str, str], ...]  # (name, value) bound beside the SQL; none on the formatted side
    result: RunResult | None = None
    error: str | None = None
    refused: bool = False  # the sandbox's statement check refused it (nothing ran)
    error_position: SqlPosition | None = None

    @property
    def rows(self) -> tuple[tuple[Any, ...], ...]:
        """Every row the side returned, all its statements together."""
        return tuple(row for s in self.statements if s.returns_rows for row in s.rows)

    @property
    def statements(self) -> tuple[StatementResult, ...]:
        return self.result.statements if self.result else ()

    @property
    def writes(self) -> tuple[StatementResult, ...]:
        """The statements that would have changed data (all rolled back)."""
        return tuple(s for s in self.statements if s.wrote)


@dataclass(frozen=True)
class LabRun:
    """The lookup done both ways, and the sentences that say what differs."""

    engine: str
    value: str
    preset: Preset | None
    bound: LabSide
    formatted: LabSide
    explanation: tuple[Message, ...]
    # The rows of "Users" counted before the lab ran and after it (None where they could not be
    # counted): the class sees the formatted side's DELETE kept nothing.
    users_before: int | None = None
    users_after: int | None = None

    @property
    def unchanged_note(self) -> Message | None:
        if self.users_before is None or self.users_after is None:
            return None
        return unchanged(self.users_before, self.users_after)


# -- the sentences ------------------------------------------------------------------------------

# What each driver does with a bound value: shown on every lab page, whatever the engine.
DRIVERS = _(
    "On SQLite the statement and its values travel to the database separately (? and a list of values); "
    "psycopg2 binds on the client instead: it quotes each value and sends one finished SQL text, shown here "
    "from its cursor.query, in which the quoted value stays a value."
)
ROLLED_BACK = _(
    "Both sides run on your own sandbox, under the same statement check and limits as the editor, in a "
    "transaction that is always rolled back: whatever the formatted SQL would do, your data stays as it is."
)


def unchanged(before: int, after: int) -> Message:
    # Counts without a noun to agree with: no plural forms needed in any language.
    return _('Rows in "Users" before the lab ran: %(before)s; after it: %(after)s.', before=before, after=after)


# Each sentence counts rows with its language's plural forms (`num` is the count).
def _different_count(n: int, bound: int) -> Message:
    return _n(
        "The formatted query returned %(num)s row instead of %(bound)s: the value became part of the SQL.",
        "The formatted query returned %(num)s rows instead of %(bound)s: the value became part of the SQL.",
        n,
        bound=bound,
    )


def _different_rows(n: int) -> Message:
    return _n(
        "The formatted query returned %(num)s row, but not the bound one's: the value became part of the SQL.",
        "The formatted query returned %(num)s rows, but not the bound one's: the value became part of the SQL.",
        n,
    )


def _same_safe(n: int) -> Message:
    return _n(
        "Both queries returned the same %(num)s row: with no quote in it, the value stayed inside the formatted "
        "text literal.",
        "Both queries returned the same %(num)s rows: with no quote in it, the value stayed inside the formatted "
        "text literal.",
        n,
    )


def _same_by_chance(n: int) -> Message:
    return _n(
        "Both queries returned the same %(num)s row, but only by chance: the quote in the value ended the "
        "formatted text early, and the rest of the value became SQL.",
        "Both queries returned the same %(num)s rows, but only by chance: the quote in the value ended the "
        "formatted text early, and the rest of the value became SQL.",
        n,
    )


def _failed_apostrophe(n: int) -> Message:
    return _n(
        "The formatted query failed, where the bound one returned %(num)s row: the quote in the value ended the "
        "text literal early, and what followed was read as SQL.",
        "The formatted query failed, where the bound one returned %(num)s rows: the quote in the value ended the "
        "text literal early, and what followed was read as SQL.",
        n,
    )


def _failed(n: int) -> Message:
    return _n(
        "The formatted query failed, where the bound one returned %(num)s row: the value became part of the SQL.",
        "The formatted query failed, where the bound one returned %(num)s rows: the value became part of the SQL.",
        n,
    )


def _refused(n: int) -> Message:
    return _n(
        "The sandbox refused the formatted SQL, where the bound query returned %(num)s row: the value became SQL "
        "that is not allowed here.",
        "The sandbox refused the formatted SQL, where the bound query returned %(num)s rows: the value became SQL "
        "that is not allowed here.",
        n,
    )


# A write the formatted SQL would make, by its keyword: (some rows, no row).
_WOULD_WRITE: dict[str, tuple[Callable[[int], Message], Message]] = {
    "DELETE": (
        lambda n: _n(
            "The formatted SQL would delete %(num)s row: the value added a DELETE of its own. It was rolled back, "
            "so nothing was deleted.",
            "The formatted SQL would delete %(num)s rows: the value added a DELETE of its own. It was rolled "
            "back, so nothing was deleted.",
            n,
        ),
        _("The formatted SQL ran a DELETE of its own, which found no row to delete this time; it was rolled back."),
    ),
    "UPDATE": (
        lambda n: _n(
            "The formatted SQL would change %(num)s row: the value added an UPDATE of its own. It was rolled back, "
            "so nothing was changed.",
            "The formatted SQL would change %(num)s rows: the value added an UPDATE of its own. It was rolled "
            "back, so nothing was changed.",
            n,
        ),
        _("The formatted SQL ran an UPDATE of its own, which found no row to change this time; it was rolled back."),
    ),
    "INSERT": (
        lambda n: _n(
            "The formatted SQL would insert %(num)s row: the value added an INSERT of its own. It was rolled back, "
            "so nothing was inserted.",
            "The formatted SQL would insert %(num)s rows: the value added an INSERT of its own. It was rolled "
            "back, so nothing was inserted.",
            n,
        ),
        _("The formatted SQL ran an INSERT of its own, which inserted no row; it was rolled back."),
    ),
}


def _would_write_other(keyword: str) -> Message:
    return _(
        "The formatted SQL would run a %(keyword)s of its own: the value became a statement. It was rolled back, "
        "so nothing changed.",
        keyword=keyword,
    )


def _bound_only_looked(n: int) -> Message:
    return _n(
        "The bound query only looked the value up as a name and returned %(num)s row.",
        "The bound query only looked the value up as a name and returned %(num)s rows.",
        n,
    )


_BOUND_FAILED = _(
    'The bound lookup failed as well, so the lab cannot compare: does your sandbox still have the "Users" '
    "table with its columns? Reset in the editor restores the sample data."
)


def explanation(value: str, bound: LabSide, formatted: LabSide) -> tuple[Message, ...]:
    """What the difference between the two sides says, in a sentence or two."""
    if bound.error is not None:
        return (_BOUND_FAILED,)
    found = len(bound.rows)
    if formatted.error is not None:
        if formatted.refused:
            return (_refused(found),)
        return ((_failed_apostrophe if "'" in value else _failed)(found),)
    if formatted.writes:
        said = []
        for statement in formatted.writes:
            sentences = _WOULD_WRITE.get(statement.keyword)
            if sentences is None:
                said.append(_would_write_other(statement.keyword))
            elif statement.changed == 0:
                said.append(sentences[1])
            else:
                said.append(sentences[0](statement.changed))
        return (*said, _bound_only_looked(found))
    returned = formatted.rows
    if len(returned) != found:
        return (_different_count(len(returned), found),)
    if _keys(returned) != _keys(bound.rows):
        return (_different_rows(len(returned)),)
    return ((_same_by_chance if "'" in value else _same_safe)(found),)


def _keys(rows: tuple[tuple[Any, ...], ...]) -> list[str]:
    return sorted(json.dumps(json_value(list(row))) for row in rows)


# -- running -------------------------------------------------------------------------------------


# A lookup's value, attacks included, is a line: and the page sends it in its address, which
# gunicorn caps at about 4 KB (500 characters, each up to 6 bytes once percent-encoded, fit).
MAX_VALUE_CHARS = 500


def check_value(value: str, *, max_value_bytes: int) -> None:
    """Refuse, before anything runs, a value neither side could take."""
    if "\x00" in value:
        raise LabValueError(_("The value contains a NUL byte, which neither SQLite nor PostgreSQL can take in text."))
    if len(value) > MAX_VALUE_CHARS or len(value.encode()) > max_value_bytes:
        limit = min(MAX_VALUE_CHARS, max_value_bytes)
        raise LabValueError(
            _("The value is longer than %(limit)s characters, the lab's limit for a value.", limit=limit)
        )


def run_lab(playground: Playground, visitor: str, value: str, engine: str | None = None) -> LabRun:
    """The lookup, bound and formatted, on the visitor's sandbox; both always rolled back."""
    backend = playground.backend(engine)
    check_value(value, max_value_bytes=playground.settings.limits.max_value_bytes)
    before = _users(playground, visitor, backend.name)
    bound_request = RunRequest(BOUND_SQL, backend.name, params={"value": value})
    bound = _side(playground, visitor, "bound", bound_request, (("value", value),))
    formatted_request = RunRequest(formatted_sql(value), backend.name, params=None)
    formatted = _side(playground, visitor, "formatted", formatted_request, ())
    after = _users(playground, visitor, backend.name)
    said = explanation(value, bound, formatted)
    run = LabRun(backend.name, value, _preset_for(value), bound, formatted, said, before, after)
    # The process log (no value, no SQL): that the lab ran, where, and how each side ended.
    event(
        log,
        "lab",
        sandbox=visitor,
        engine=backend.name,
        preset=run.preset.slug if run.preset else None,
        bound=_ending(bound),
        formatted=_ending(formatted),
    )
    return run


def _users(playground: Playground, visitor: str, engine: str) -> int | None:
    """The rows of "Users" now, or None if the sandbox has no such table any more."""
    try:
        result = playground.evaluate(visitor, RunRequest(COUNT_USERS_SQL, engine))
    except (Unavailable, CapacityReached):
        raise
    except UserError:
        return None
    return int(result.statements[0].rows[0][0])


def _ending(side: LabSide) -> str:
    if side.error is not None:
        return "refused" if side.refused else "error"
    return "would write" if side.writes else "ok"


def _preset_for(value: str) -> Preset | None:
    return next((p for p in PRESETS if p.value == value), None)


def _side(
    playground: Playground, visitor: str, kind: Kind, request: RunRequest, parameters: tuple[tuple[str, str], ...]
) -> LabSide:
    # `evaluate`, not `run`: no commit token is ever made, so no write of the lab can be committed.
    try:
        result = playground.evaluate(visitor, request)
    except (Unavailable, CapacityReached):
        raise  # the server, not the SQL: the page answers 503 as every page does
    except UserError as e:
        return LabSide(
            kind,
            request.sql,
            parameters,
            error=e.message,
            refused=isinstance(e, RefusedStatement),
            error_position=e.position,
        )
    return LabSide(kind, request.sql, parameters, result=result)
