"""The visitor's language: chosen in the session or by the browser, and every Message said in it.

Flask-Babel gives templates `_` and `ngettext` and picks the catalogue; this module picks the locale
(the session's choice, else Accept-Language, else English), translates the core's Messages wherever
they leave the server (a page's `{{ }}`, any JSON response), and serves the switcher's form.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from babel.numbers import format_decimal
from babel.support import NullTranslations, Translations
from flask import Blueprint, Flask, redirect, request, session
from flask.json.provider import DefaultJSONProvider
from flask_babel import Babel, Domain, get_locale, get_translations  # type: ignore[import-untyped]
from werkzeug import Response

from ..messages import Message

# The interface's languages, each named in itself (the switcher shows these names).
LANGUAGES = {"en": "English", "ru": "Русский"}
DEFAULT_LANGUAGE = "en"
DOMAIN = "messages"

bp = Blueprint("language", __name__)


class CataloguesReadOnce(Babel):
    """Flask-Babel with each language's catalogue read when the app starts.

    Flask-Babel 4 makes a new Domain (and so reads the .mo file again) on every request. Read once,
    a catalogue costs nothing per request, and a server whose package is reinstalled under it keeps
    speaking Russian (its templates are read once as well, see create_app).
    """

    def __init__(self, folder: str) -> None:
        super().__init__()
        self.kept_domain = Domain(translation_directories=[folder], domain=DOMAIN)
        for code in LANGUAGES:
            catalogue: NullTranslations = Translations.load(folder, [code], DOMAIN)
            self.kept_domain.cache[code, DOMAIN] = catalogue

    @property
    def domain_instance(self) -> Domain:
        return self.kept_domain


def chosen_language() -> str:
    """The language of this request: the visitor's choice in the session, else the browser's, else English."""
    chosen = session.get("language")
    if isinstance(chosen, str) and chosen in LANGUAGES:
        return chosen
    return request.accept_languages.best_match(LANGUAGES, default=DEFAULT_LANGUAGE) or DEFAULT_LANGUAGE


def language() -> str:
    """The language the response is in (the locale Flask-Babel chose), English outside a request."""
    locale = get_locale()
    return locale.language if locale is not None else DEFAULT_LANGUAGE


def _number(value: Any) -> str:
    """A parameter as the language writes it: whole numbers grouped as it groups them (15,600 or 15 600)."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return format_decimal(value, locale=get_locale() or DEFAULT_LANGUAGE)
    return str(value)


def translated(value: Any) -> Any:
    """A Message in the request's language (a plain str is left as it is: SQL, values, the database's own errors)."""
    if not isinstance(value, Message):
        return value
    return value.rendered(get_translations(), _number)


# The types a JSON answer holds a sentence in (or may hold one inside); rows of plain values have none.
_SAID_INSIDE = frozenset({Message, dict, list, tuple})


def translated_json(data: Any) -> Any:
    """A JSON response's data with every Message in it translated (a row of plain values is left as it is)."""
    if isinstance(data, Message):
        return translated(data)
    if isinstance(data, dict):
        return {k: translated_json(v) for k, v in data.items()}
    if isinstance(data, list | tuple):
        if _SAID_INSIDE.isdisjoint(map(type, data)):
            return data
        return [translated_json(v) for v in data]
    return data


class TranslatingJSONProvider(DefaultJSONProvider):
    """JSON responses say their messages in the request's language, as the pages do."""

    def dumps(self, obj: Any, **kwargs: Any) -> str:
        return super().dumps(translated_json(obj), **kwargs)


def here() -> str:
    """The address the switcher comes back to: this page, or the editor after a form's POST (which has no page of its own)."""
    if request.method != "GET":
        return "/"
    return request.full_path if request.query_string else request.path


def _local_path(target: str | None) -> str:
    """Where to go back to after switching: a path on this site only (never another host)."""
    if not target:
        return "/"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


@bp.post("/language")
def switch() -> Response:
    """Remember the visitor's language in the session and go back to the page they were on (a plain form, no JavaScript)."""
    chosen = request.form.get("language", "")
    if chosen in LANGUAGES:
        session["language"] = chosen
    return redirect(_local_path(request.form.get("next")), 303)


def init_app(app: Flask, translations_folder: str) -> None:
    """Flask-Babel, the locale choice, Messages translated in templates and JSON, and the switcher."""
    app.config["BABEL_TRANSLATION_DIRECTORIES"] = translations_folder
    CataloguesReadOnce(translations_folder).init_app(
        app, default_locale=DEFAULT_LANGUAGE, locale_selector=chosen_language
    )
    # Trimmed {% trans %} blocks: the msgid is the text with its line breaks and indentation folded,
    # as tools/translations.py extracts it.
    app.jinja_env.policies["ext.i18n.trimmed"] = True
    app.jinja_env.finalize = translated
    app.jinja_env.globals.update(languages=LANGUAGES, current_language=language, language_return_to=here)
    # `{{ x }}` says a Message by itself (finalize); a Message passed into _() as a parameter needs |said.
    app.jinja_env.filters["said"] = translated
    app.json = TranslatingJSONProvider(app)
    app.register_blueprint(bp)

    @app.after_request
    def _vary_on_language(response: Response) -> Response:
        # The same address answers in the visitor's language: a shared cache must not mix them.
        if response.mimetype in ("text/html", "application/json"):
            response.vary.add("Accept-Language")
            response.headers.setdefault("Content-Language", language())
        return response
