"""Sentences for people, marked for translation and translated at the web edge (playground/web/i18n.py).

The core knows nothing of Flask or of the visitor's language. It builds its messages with `_` and
`_n` from here: each is a `Message`, a str holding the English sentence (so logs, the CLI and
`str(error)` read as before) that also keeps its msgid, its parameters and, for a count, its plural.
The web layer translates a Message for the request's language and only then puts the parameters in,
so a translation may reorder them. Parameters are never translated themselves (SQL, values, names
and database error texts stay as they are) unless they are Messages too.

`pybabel extract` finds the msgids through the keywords `_` and `_n:1,2` (see tools/translations.py).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any


class Message(str):
    """A translatable sentence: the English text as the str, plus what it takes to say it in another language."""

    msgid: str
    plural: str | None
    count: int | None
    params: Mapping[str, Any]

    def __new__(
        cls, msgid: str, params: Mapping[str, Any] | None = None, *, plural: str | None = None, count: int | None = None
    ) -> Message:
        params = dict(params or {})
        if plural is not None:
            params.setdefault("num", count)
        template = msgid if plural is None or count == 1 else plural
        self = super().__new__(cls, _substituted(template, params, english_number))
        self.msgid, self.plural, self.count, self.params = msgid, plural, count, params
        return self

    def rendered(
        self, gettext: Callable[[str], str], ngettext: Callable[[str, str, int], str], number: Callable[[Any], str]
    ) -> str:
        """This message in a language: the translated text, then the parameters (Messages among them translated too)."""
        template = gettext(self.msgid) if self.plural is None else ngettext(self.msgid, self.plural, self.count or 0)

        def shown(value: Any) -> str:
            if isinstance(value, Message):
                return value.rendered(gettext, ngettext, number)
            return number(value)

        return _substituted(template, self.params, shown)

    def to_json(self) -> dict[str, Any]:
        """The message as a page snapshot keeps it (to be said again, in whatever language the page is read)."""
        data: dict[str, Any] = {"msgid": self.msgid}
        if self.params:
            data["params"] = {k: v.to_json() if isinstance(v, Message) else v for k, v in self.params.items()}
        if self.plural is not None:
            data["plural"], data["count"] = self.plural, self.count
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Message:
        params = {k: cls.from_json(v) if is_message_json(v) else v for k, v in (data.get("params") or {}).items()}
        return cls(str(data["msgid"]), params, plural=data.get("plural"), count=data.get("count"))

    def __reduce__(self) -> Any:
        return (_rebuilt, (self.msgid, self.params, self.plural, self.count))


def _rebuilt(msgid: str, params: Mapping[str, Any], plural: str | None, count: int | None) -> Message:
    return Message(msgid, params, plural=plural, count=count)


def is_message_json(data: Any) -> bool:
    return isinstance(data, dict) and isinstance(data.get("msgid"), str)


def _substituted(template: str, params: Mapping[str, Any], shown: Callable[[Any], str]) -> str:
    if not params:
        return template
    return template % {k: shown(v) for k, v in params.items()}


def english_number(value: Any) -> str:
    """A parameter as the English text shows it: whole numbers grouped by thousands (15,600)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)


def _(msgid: str, **params: Any) -> Message:
    """Mark a sentence for translation; `%(name)s` in it takes the parameter `name`."""
    return Message(msgid, params)


def _n(singular: str, plural: str, count: int, **params: Any) -> Message:
    """A sentence about a count: `%(num)s` is the count, and the translation picks its language's plural form."""
    return Message(singular, params, plural=plural, count=count)
