"""The injection lab's page and API: the lookup bound and formatted, side by side (see playground/lab.py).

The page is a GET form: both sides always roll back and no commit token is ever made, so asking
again (reload, Back, a teacher's projected link) changes nothing and the address is the example.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import Blueprint, jsonify, render_template, request
from flask.typing import ResponseReturnValue

from ..errors import CapacityReached, Unavailable, UserError
from ..lab import (
    BOUND_CODE,
    BOUND_SQL,
    DRIVERS,
    FORMATTED_CODE,
    MAX_VALUE_CHARS,
    PRESETS,
    ROLLED_BACK,
    LabRun,
    LabSide,
    preset,
    run_lab,
)
from ..messages import Message, _
from .api import BadRequest, json_body
from .present import python_repr, run_json
from .shown import ShownError, ShownStatement, error_excerpt, shown_statement
from .visitor import playground, visitor_id

bp = Blueprint("lab", __name__)


@dataclass(frozen=True)
class ShownSide:
    """One side as the page shows it: its Python, its SQL and values, and each statement's result or the error."""

    kind: str  # bound, formatted
    title: str
    code: str
    sql: str
    parameters: tuple[tuple[str, str], ...]  # (":value", the value as Python prints it)
    statements: tuple[ShownStatement, ...]
    error: ShownError | None
    excerpt: tuple[Any, ...]
    summary: str  # "0 rows returned", "statement 1: 0 rows returned; statement 2: would change 2 rows", ...


_TITLES = {
    "bound": _("Bound: text() with :value"),
    "formatted": _("Formatted: the value pasted in with an f-string"),
}
_CODE = {"bound": BOUND_CODE, "formatted": FORMATTED_CODE}


def _shown_side(side: LabSide, engine: str, max_rows: int) -> ShownSide:
    error = None
    if side.error is not None:
        position = side.error_position
        error = (
            ShownError(side.error, position.line, position.column, position.offset)
            if position
            else ShownError(side.error)
        )
    statements = tuple(shown_statement(s, engine, max_rows=max_rows) for s in side.statements)
    summary: str
    if error is not None:
        summary = _("The sandbox refused it.") if side.refused else _("It failed.")
    elif len(statements) > 1:
        # One part per statement, each said in the page's language; the joining "; " is no word to translate.
        parts = {
            f"part{i}": _("statement %(index)s: %(summary)s", index=s.index, summary=s.summary)
            for i, s in enumerate(statements)
        }
        summary = Message("; ".join(f"%({name})s" for name in parts), parts)
    else:
        summary = statements[0].summary if statements else _("done")
    return ShownSide(
        kind=side.kind,
        title=_TITLES[side.kind],
        code=_CODE[side.kind],
        sql=side.sql,
        parameters=tuple((f":{name}", python_repr(value)) for name, value in side.parameters),
        statements=statements,
        error=error,
        excerpt=error_excerpt(side.sql, error) if error else (),
        summary=summary,
    )


@bp.get("/lab")
def page() -> ResponseReturnValue:
    """The lab; with `value` (or `preset`) it runs the lookup both ways on the visitor's sandbox and rolls back."""
    service = playground()
    engine = request.args.get("engine") or service.default_engine
    chosen = preset(request.args.get("preset"))
    value = chosen.value if chosen else request.args.get("value")
    run: LabRun | None = None
    error = None
    status = 200
    if value is not None:
        try:
            run = run_lab(service, visitor_id(), value, engine)
        except (Unavailable, CapacityReached):
            raise  # the error page says the server is busy, as on every page
        except UserError as e:
            error, status = e.message, e.status
    if engine not in service.engines:
        engine = service.default_engine
    max_rows = service.settings.limits.max_rows
    sides = (
        (_shown_side(run.bound, run.engine, max_rows), _shown_side(run.formatted, run.engine, max_rows)) if run else ()
    )
    html = render_template(
        "lab.html",
        run=run,
        sides=sides,
        value=value if value is not None else PRESETS[0].value,
        engine=engine,
        engine_labels={name: service.backend(name).label for name in service.engines},
        presets=PRESETS,
        error=error,
        bound_sql=BOUND_SQL,
        drivers=DRIVERS,
        rolled_back=ROLLED_BACK,
        max_value_chars=MAX_VALUE_CHARS,
    )
    return html, status


def _side_json(side: LabSide) -> dict[str, Any]:
    data: dict[str, Any] = {
        "sql": side.sql,
        "parameters": dict(side.parameters),
        "status": ("refused" if side.refused else "error") if side.error is not None else "ok",
    }
    if side.result is not None:
        data |= run_json(side.result)
    if side.error is not None:
        error: dict[str, Any] = {"message": side.error}
        if side.error_position is not None:
            position = side.error_position
            error["position"] = {"line": position.line, "column": position.column, "offset": position.offset}
        data["error"] = error
    return data


def lab_json(run: LabRun) -> dict[str, Any]:
    return {
        "engine": run.engine,
        "value": run.value,
        "preset": run.preset.slug if run.preset else None,
        "bound": _side_json(run.bound),
        "formatted": _side_json(run.formatted),
        "explanation": list(run.explanation),
        "rolled_back": True,
        "users_before": run.users_before,
        "users_after": run.users_after,
    }


@bp.post("/api/lab")
def api_lab() -> ResponseReturnValue:
    """`{"value"}` or `{"preset"}`, and `"engine"`: the lookup both ways, each side's SQL, values, rows or error."""
    data = json_body()
    engine = data.get("engine")
    if engine is not None and not isinstance(engine, str):
        raise BadRequest(_('"%(name)s" must be a string.', name="engine"))
    slug = data.get("preset")
    if slug is not None:
        chosen = preset(slug) if isinstance(slug, str) else None
        if chosen is None:
            known = ", ".join(p.slug for p in PRESETS)
            raise BadRequest(_('"preset" must be one of: %(known)s.', known=known))
        value = chosen.value
    else:
        typed = data.get("value")
        if not isinstance(typed, str):
            raise BadRequest(_('"value" must be a string (or send "preset" instead).'))
        value = typed
    return jsonify(lab_json(run_lab(playground(), visitor_id(), value, engine or None)))
