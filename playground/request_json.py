"""A request body's JSON, read so that whatever a client sends is either plain data or a clear 400.

Python's decoder accepts more than the service can use: lone surrogates (`"\\udc80"` decodes to a
`str` that cannot be encoded, so it fails wherever it is written: the database, the run log, a
page), nesting deep enough to hit the recursion limit (a RecursionError, not a ValueError), NaN
and Infinity (not JSON at all), and numbers too large for a float (`1e999` decodes to infinity).
Each is refused here, before any of it reaches the service, with a message that says where.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from .errors import UserError
from .messages import _

# The deepest body the API takes is an object > params list > row object > value: a few levels.
MAX_DEPTH = 32
# A strictly decoded UTF-8 text holds no surrogate: one can only come from a \uD800-\uDFFF escape.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


class BadJson(UserError):
    """The request body is not JSON the API can use."""


def read_json(raw: bytes) -> Any:
    """The body's JSON value, checked: UTF-8, standard JSON, at most MAX_DEPTH levels, valid Unicode text."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise BadJson(
            _("The request body is not UTF-8 text (an invalid byte at offset %(offset)s).", offset=e.start)
        ) from None
    try:
        data = json.loads(text, parse_constant=_refuse_constant, parse_float=_finite_float)
    except RecursionError:
        raise _too_deep() from None
    except ValueError as e:
        raise BadJson(_("The request body must be JSON; it is not (%(reason)s).", reason=str(e))) from None
    if text.count("[") + text.count("{") > MAX_DEPTH:  # else it cannot be too deep (brackets in strings count too)
        _check_depth(data)
    if _SURROGATE_ESCAPE.search(text):
        _check_text(data)
    return data


def _too_deep() -> BadJson:
    return BadJson(_("The JSON is nested too deeply; at most %(levels)s levels are accepted.", levels=MAX_DEPTH))


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")  # the decoder's own reasons stay in English


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"the number {text[:40]} is too large")
    return value


def _check_depth(data: Any) -> None:
    """Level by level, not recursion: the value may be as deep as the decoder allowed."""
    level = [data]
    for _level in range(MAX_DEPTH):
        level = [
            item
            for value in level
            for item in (value.values() if isinstance(value, dict) else value)
            if isinstance(item, dict | list)
        ]
        if not level:
            return
    raise _too_deep()


def _check_text(data: Any) -> None:
    """Every string and name is valid Unicode (depth is already bounded here)."""
    stack: list[tuple[Any, tuple[str, ...]]] = [(data, ())]
    while stack:
        value, path = stack.pop()
        if isinstance(value, str):
            _valid(value, path)
        elif isinstance(value, dict):
            for key, item in value.items():
                _valid(key, path, is_name=True)
                stack.append((item, (*path, key)))
        elif isinstance(value, list):
            stack.extend((item, (*path, str(i))) for i, item in enumerate(value))


def _valid(text: str, path: tuple[str, ...], *, is_name: bool = False) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as e:
        character = text[e.start].encode("utf-8", "backslashreplace").decode()
        where = _shown(path) or "."
        if is_name:
            message = _(
                "The request holds text that is not valid Unicode: a lone surrogate (%(character)s) in the name "
                "%(name)s in %(where)s. Send UTF-8 text.",
                character=character,
                name=_shown((text,)),
                where=where,
            )
        else:
            message = _(
                "The request holds text that is not valid Unicode: a lone surrogate (%(character)s) in a value "
                "in %(where)s. Send UTF-8 text.",
                character=character,
                where=where,
            )
        raise BadJson(message) from None


def _shown(path: tuple[str, ...]) -> str:
    """A place in the body as people read it: params.0.name; any character UTF-8 cannot hold escaped."""
    return ".".join(part.encode("utf-8", "backslashreplace").decode() for part in path)
