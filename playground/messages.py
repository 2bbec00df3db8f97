"""Sentences for people, marked for translation and translated at the web edge (playground/web/i18n.py).

The core knows nothing of Flask or of the visitor's language. It builds its messages with `_`,
`_n`, `_p` and `_np` from here: each is a `Message`, a str holding the English sentence (so logs,
the CLI and `str(error)` read as before) that also keeps its msgid, its parameters and, for a count,
its plural. The web layer translates a Message for the request's language and only then puts the
parameters in, so a translation may reorder them. Parameters are never translated themselves (SQL,
values, names and the database's own error texts stay as they are) unless they are Messages too.

`pybabel extract` finds the msgids through the keywords `_`, `_n:1,2`, `_p:1c,2`, `_np:1c,2,3` and
`N_` (see tools/translations.py).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol


class Catalogue(Protocol):
    """What a message needs of a language's translations (gettext's, as Babel's Translations has them)."""

    def gettext(self, message: str) -> str: ...
    def ngettext(self, singular: str, plural: str, n: int) -> str: ...
    def pgettext(self, context: str, message: str) -> str: ...
    def npgettext(self, context: str, singular: str, plural: str, n: int) -> str: ...


class Message(str):
    """A translatable sentence: the English text as the str, plus what it takes to say it in another language."""

    msgid: str
    params: Mapping[str, Any]
    plural: str | None
    n: int | None  # the count a plural message is about (not `count`: that is str.count)
    context: str | None  # gettext's msgctxt: the same English said differently where it stands
    clause: bool  # said without its final full stop (it goes inside a longer sentence)

    def __new__(
        cls,
        msgid: str,
        params: Mapping[str, Any] | None = None,
        *,
        plural: str | None = None,
        count: int | None = None,
        context: str | None = None,
        clause: bool = False,
    ) -> Message:
        params = dict(params or {})
        if plural is not None:
            params.setdefault("num", count)
        template = msgid if plural is None or count == 1 else plural
        text = _substituted(template, params, english_number)
        self = super().__new__(cls, _clause_of(text) if clause else text)
        self.msgid, self.params, self.plural, self.n = msgid, params, plural, count
        self.context, self.clause = context, clause
        return self

    def as_clause(self) -> Message:
        """This sentence without its final full stop, to go inside another (in whatever language it is said)."""
        return Message(self.msgid, self.params, plural=self.plural, count=self.n, context=self.context, clause=True)

    def rendered(self, catalogue: Catalogue, number: Callable[[Any], str]) -> str:
        """This message in a language: the translated text, then the parameters (Messages among them translated too)."""
        if self.plural is None:
            template = (
                catalogue.gettext(self.msgid) if self.context is None else catalogue.pgettext(self.context, self.msgid)
            )
        elif self.context is None:
            template = catalogue.ngettext(self.msgid, self.plural, self.n or 0)
        else:
            template = catalogue.npgettext(self.context, self.msgid, self.plural, self.n or 0)

        def shown(value: Any) -> str:
            return value.rendered(catalogue, number) if isinstance(value, Message) else number(value)

        text = _substituted(template, self.params, shown)
        return _clause_of(text) if self.clause else text

    def to_json(self) -> dict[str, Any]:
        """The message as a page snapshot keeps it (to be said again, in whatever language the page is read)."""
        data: dict[str, Any] = {"msgid": self.msgid}
        if self.params:
            data["params"] = {k: v.to_json() if isinstance(v, Message) else v for k, v in self.params.items()}
        if self.plural is not None:
            data["plural"], data["count"] = self.plural, self.n
        if self.context is not None:
            data["context"] = self.context
        if self.clause:
            data["clause"] = True
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Message:
        params = {k: cls.from_json(v) if is_message_json(v) else v for k, v in (data.get("params") or {}).items()}
        return cls(
            str(data["msgid"]),
            params,
            plural=data.get("plural"),
            count=data.get("count"),
            context=data.get("context"),
            clause=bool(data.get("clause")),
        )

    def __reduce__(self) -> Any:
        return (_rebuilt, (self.to_json(),))


def _rebuilt(data: Mapping[str, Any]) -> Message:
    return Message.from_json(data)


def _clause_of(text: str) -> str:
    return text.rstrip().rstrip(".")


def is_message_json(data: Any) -> bool:
    return isinstance(data, dict) and isinstance(data.get("msgid"), str)


def _substituted(template: str, params: Mapping[str, Any], shown: Callable[[Any], str]) -> str:
    if not params:
        return template
    return template % {k: shown(v) for k, v in params.items()}


def english_number(value: Any) -> str:
    """A parameter as the English text shows it: numbers grouped by thousands (15,600)."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)


def _(msgid: str, **params: Any) -> Message:
    """Mark a sentence for translation; `%(name)s` in it takes the parameter `name`."""
    return Message(msgid, params)


def _n(singular: str, plural: str, count: int, **params: Any) -> Message:
    """A sentence about a count: `%(num)s` is the count, and the translation picks its language's plural form."""
    return Message(singular, params, plural=plural, count=count)


def _p(context: str, msgid: str, **params: Any) -> Message:
    """As `_`, with a context: the same English words where another language says them otherwise."""
    return Message(msgid, params, context=context)


def _np(context: str, singular: str, plural: str, count: int, **params: Any) -> Message:
    """As `_n`, with a context."""
    return Message(singular, params, plural=plural, count=count, context=context)


def N_(msgid: str) -> str:
    """Mark a msgid for extraction only: the code builds the Message later, `Message(msgid, params)`."""
    return msgid


def clause(text: str) -> str:
    """A message (or the database's own text) without its final full stop, to go inside another sentence."""
    return text.as_clause() if isinstance(text, Message) else _clause_of(text)


def listed(parts: Sequence[Any], separator: str = ", ") -> Message:
    """Parts said one after another (`a, b, c`), each translated on its own."""
    params = {f"part{i}": part for i, part in enumerate(parts)}
    return Message(separator.join(f"%(part{i})s" for i in range(len(parts))), params)


def and_listed(parts: Sequence[Any]) -> Message:
    """ "a, b and c", each part translated on its own."""
    if len(parts) <= 1:
        return listed(parts)
    return _("%(parts)s and %(last)s", parts=listed(parts[:-1]), last=parts[-1])
