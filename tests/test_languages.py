"""The interface in English and Russian: the catalogue is complete, the language is chosen and switched, Messages are said in it."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

from bs4 import BeautifulSoup
from flask.testing import FlaskClient

from playground.messages import Message, _, _n

ROOT = Path(__file__).resolve().parent.parent
RUSSIAN = {"Accept-Language": "ru-RU,ru;q=0.9,en;q=0.5"}


def _translations_tool():
    spec = importlib.util.spec_from_file_location("translations_tool", ROOT / "tools" / "translations.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def page(response) -> BeautifulSoup:
    return BeautifulSoup(response.get_data(as_text=True), "html.parser")


def token_of(soup: BeautifulSoup) -> str:
    return str(soup.select_one('meta[name="csrf-token"]')["content"])  # type: ignore[index]


# -- the catalogue ----------------------------------------------------------------------------------


def test_every_template_string_and_server_message_has_a_russian_translation() -> None:
    """Extracts every msgid afresh (templates, `_`/`_n` in the code) and reads the Russian .po and .mo."""
    tool = _translations_tool()
    msgids = [m.id for m in tool.extracted() if m.id]
    assert len(msgids) > 90  # the extraction found the templates and the code, not nothing
    problems = tool.problems("ru")
    assert problems == [], "\n".join(problems) + "\n(see the README's Languages section)"


def test_the_russian_catalogue_has_three_plural_forms() -> None:
    tool = _translations_tool()
    catalogue = tool.read_catalogue("ru")
    assert catalogue.num_plurals == 3
    rows = catalogue.get("%(num)s row")
    assert rows is not None and rows.string == ("%(num)s строка", "%(num)s строки", "%(num)s строк")


# -- Messages: translated at the edge, parameters after --------------------------------------------


def test_a_message_is_its_english_sentence_for_logs_and_the_cli() -> None:
    message = _("Reset the %(engine)s sandbox", engine="SQLite")
    assert message == "Reset the SQLite sandbox"
    assert isinstance(message, str)
    assert _n("%(num)s row", "%(num)s rows", 1) == "1 row"
    assert _n("%(num)s row", "%(num)s rows", 15600) == "15,600 rows"


def test_a_message_survives_a_snapshot_with_nested_messages() -> None:
    message = _("%(rows)s would change", rows=_n("%(num)s row", "%(num)s rows", 2))
    again = Message.from_json(json.loads(json.dumps(message.to_json())))
    assert again == message == "2 rows would change"
    assert again.params["rows"].plural == "%(num)s rows"


def test_parameters_go_in_after_translation_and_are_not_translated(client: FlaskClient) -> None:
    """A parameter that looks like a msgid (a value, an SQL name) stays as it is."""
    from playground.web.i18n import translated

    with client.application.test_request_context("/", headers=RUSSIAN):
        assert translated(_("Reset the %(engine)s sandbox", engine="Run")) == "Сбросить песочницу Run"
        for n, words in ((1, "1 строка"), (2, "2 строки"), (5, "5 строк"), (21, "21 строка"), (12, "12 строк")):
            assert translated(_n("%(num)s row", "%(num)s rows", n)) == words
        assert translated(_n("%(num)s row", "%(num)s rows", 15600)) == "15\xa0600 строк"
        assert translated("plain text from the database") == "plain text from the database"


# -- choosing and switching -------------------------------------------------------------------------


def test_the_browser_language_decides_the_first_page(client: FlaskClient) -> None:
    english = page(client.get("/"))
    assert english.html["lang"] == "en"
    assert english.select_one("#run-button").get_text() == "Run"
    russian_response = client.get("/", headers=RUSSIAN)
    assert russian_response.headers["Content-Language"] == "ru"
    assert "Accept-Language" in russian_response.headers["Vary"]
    russian = page(russian_response)
    assert russian.html["lang"] == "ru"
    assert russian.select_one("#run-button").get_text() == "Выполнить"
    assert russian.select_one("#param-grid legend").get_text() == "Параметры"


def test_an_unknown_browser_language_gets_english(client: FlaskClient) -> None:
    soup = page(client.get("/", headers={"Accept-Language": "de-DE,fr;q=0.8"}))
    assert soup.html["lang"] == "en"


def test_the_switcher_remembers_the_choice_and_comes_back_to_the_page(client: FlaskClient) -> None:
    soup = page(client.get("/history"))
    switcher = soup.select_one("form#language-switcher")
    assert switcher is not None and switcher["method"] == "post"
    assert switcher.select_one('input[name="next"]')["value"] == "/history"
    answer = client.post("/language", data={"csrf_token": token_of(soup), "language": "ru", "next": "/history"})
    assert answer.status_code == 303 and answer.headers["Location"] == "/history"
    # The choice holds on every page after, whatever the browser asks for.
    history = page(client.get("/history", headers={"Accept-Language": "en"}))
    assert history.html["lang"] == "ru"
    assert history.select_one("#history-title").get_text() == "Ваши последние запуски"
    editor = page(client.get("/"))
    assert editor.select_one("#run-button").get_text() == "Выполнить"
    assert editor.select_one("#language-ru").has_attr("disabled")
    client.post("/language", data={"csrf_token": token_of(editor), "language": "en", "next": "/"})
    assert page(client.get("/", headers=RUSSIAN)).html["lang"] == "en"


def test_the_switcher_needs_the_csrf_token_and_stays_on_this_site(client: FlaskClient) -> None:
    assert client.post("/language", data={"language": "ru", "next": "/"}).status_code == 400
    token = token_of(page(client.get("/")))
    for elsewhere in ("https://example.org/", "//example.org/", "/\\example.org", "history"):
        answer = client.post("/language", data={"csrf_token": token, "language": "ru", "next": elsewhere})
        assert answer.status_code == 303 and answer.headers["Location"] == "/"
    unknown = client.post("/language", data={"csrf_token": token, "language": "xx", "next": "/"})
    assert unknown.status_code == 303
    assert page(client.get("/")).html["lang"] == "ru"  # the earlier choice stands


def test_an_error_page_is_in_the_visitors_language_and_switches_back_to_the_editor(client: FlaskClient) -> None:
    response = client.get("/no-such-page", headers=RUSSIAN)
    assert response.status_code == 404
    soup = page(response)
    assert soup.select_one('.error[role="alert"]').get_text() == "По этому адресу ничего нет."
    assert soup.select_one("form#language-switcher") is not None


def test_json_errors_follow_the_request_language(client: FlaskClient) -> None:
    token = token_of(page(client.get("/")))
    headers = {"X-CSRFToken": token}
    english = client.post("/api/run", json={"sql": 42}, headers=headers)
    assert english.json["error"]["message"] == '"sql" must be a string.'
    russian = client.post("/api/run", json={"sql": 42}, headers=headers | RUSSIAN)
    assert russian.status_code == 400
    assert russian.json["error"]["message"] == "Поле «sql» должно быть текстовой строкой JSON."
