"""The interface in English and Russian: the catalogue is complete, the language is chosen and switched, Messages are said in it."""

from __future__ import annotations

import ast
import importlib.util
import json
import sys
from pathlib import Path

import pytest
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


# -- every message the server says is marked --------------------------------------------------------


def _user_error_classes() -> set[str]:
    import playground.web.api  # noqa: F401  (the web layer's own UserErrors)
    import playground.web.editor_state  # noqa: F401
    from playground.errors import UserError

    found: set[str] = set()
    pending = [UserError]
    while pending:
        cls = pending.pop()
        found.add(cls.__name__)
        pending.extend(cls.__subclasses__())
    return found | {"ShownError"}


def _plain_text(node: ast.AST) -> bool:
    """A str literal, an f-string or a concatenation of them: English that no catalogue can translate."""
    if isinstance(node, ast.Constant):
        return isinstance(node.value, str)
    if isinstance(node, ast.JoinedStr):
        return True
    if isinstance(node, ast.BinOp):
        return _plain_text(node.left) or _plain_text(node.right)
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in ("format", "join"):
        return _plain_text(node.func.value)
    return False


def test_no_error_message_is_plain_english_text() -> None:
    """A UserError (or a ShownError) built from a str literal would reach a Russian page in English."""
    classes = _user_error_classes()
    offenders = []
    for path in sorted((ROOT / "playground").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            if not (isinstance(node, ast.Call) and node.args):
                continue
            name = node.func.id if isinstance(node.func, ast.Name) else getattr(node.func, "attr", "")
            if name in classes and _plain_text(node.args[0]):
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno} {name}(...)")
    assert offenders == [], "mark these with playground.messages._ / _n:\n" + "\n".join(offenders)


# -- what the server says, in Russian -----------------------------------------------------------------


def _run(client: FlaskClient, sql: str, grid: dict[str, list[str]] | None = None, headers: dict | None = None):
    token = token_of(page(client.get("/", headers=headers)))
    data = {
        "csrf_token": token,
        "sql": sql,
        "action": "run",
        "rows": str(max((len(v) for v in (grid or {}).values()), default=1)),
    }
    for i, (name, values) in enumerate((grid or {}).items()):
        data[f"col-{i}"], data[f"type-{i}"] = name, "auto"
        for r, value in enumerate(values):
            data[f"cell-{r}-{i}"] = value
    return client.post("/run", data=data, headers=headers, follow_redirects=True)


@pytest.mark.parametrize(
    ("at_most", "count", "verb_and_rows"),
    [
        ("1", "1 строку", "изменит 1 строку"),
        ("2", "2 строки", "изменит 2 строки"),
        ("11", "5 строк", "изменит 5 строк"),
    ],
)
def test_a_russian_preview_counts_rows_with_russian_plurals(
    client: FlaskClient, at_most: str, count: str, verb_and_rows: str
) -> None:
    """some_table's x are 1, 2, 6, 9, 11, 13: x <= 1, 2 and 11 match one, two and five rows."""
    soup = page(_run(client, "UPDATE some_table SET y = y + 1 WHERE x <= :x", {"x": [at_most]}, RUSSIAN))
    assert soup.select_one("#preview-rowcount").get_text() == count
    headline = " ".join(soup.select_one(".preview-count").get_text().split())
    assert headline == f"Предпросмотр: это изменит {count}. Пока ничего не сохранено."
    assert soup.select_one("#statement-1 .count").get_text() == verb_and_rows
    n, rows = count.split()
    plain = {"строку": "строку", "строки": "строки", "строк": "строк"}[rows]
    assert soup.select_one("#statement-1 .plain").get_text() == f"Этот UPDATE изменяет {n} {plain} в some_table."
    assert soup.select_one("#commit-button").get_text() == "Зафиксировать"


def test_a_commit_in_russian_agrees_with_its_count(client: FlaskClient) -> None:
    soup = page(_run(client, "DELETE FROM some_table WHERE x <= :x", {"x": ["1"]}, RUSSIAN))
    token = soup.select_one('form input[name="token"]')["value"]
    committed = page(
        client.post(
            "/commit", data={"csrf_token": token_of(soup), "token": token}, headers=RUSSIAN, follow_redirects=True
        )
    )
    assert " ".join(committed.select_one(".committed").get_text().split()) == "Зафиксировано: изменена 1 строка."
    assert committed.select_one("#committed-rowcount").get_text() == "1 строка"
    assert committed.select_one("#statement-1 .plain").get_text() == "Этот DELETE удалил 1 строку из some_table."


def test_a_kept_page_is_said_again_in_the_language_chosen_since(client: FlaskClient) -> None:
    english = _run(client, "CREATE TABLE t (a); INSERT INTO t VALUES (1), (2)")
    soup = page(english)
    headline = " ".join(soup.select_one(".preview-count").get_text().split())
    assert headline == "Preview: this creates table t and would change 2 rows. Nothing has been saved yet."
    kept = english.request.path
    client.post("/language", data={"csrf_token": token_of(soup), "language": "ru", "next": kept})
    russian = page(client.get(kept))
    headline = " ".join(russian.select_one(".preview-count").get_text().split())
    assert headline == "Предпросмотр: это создаст таблицу t и изменит 2 строки. Пока ничего не сохранено."
    assert russian.select_one("#statement-1 .count").get_text() == "создаст таблицу t"
    assert russian.select_one("#statement-2 .count").get_text() == "изменит 2 строки"


def test_the_api_says_refusals_in_russian_and_leaves_the_databases_words_alone(client: FlaskClient) -> None:
    headers = {"X-CSRFToken": token_of(page(client.get("/")))} | RUSSIAN
    refused = client.post("/api/run", json={"sql": "ATTACH DATABASE 'x.db' AS x"}, headers=headers)
    assert refused.status_code == 403
    assert refused.json["error"]["message"] == (
        "Оператор 1 (ATTACH) запрещён: подключение другой базы данных вышло бы за пределы вашей песочницы."
    )
    failed = client.post("/api/run", json={"sql": "SELECT * FROM nope"}, headers=headers)
    assert failed.json["error"]["message"] == "Оператор 1 (SELECT) завершился ошибкой: no such table: nope."
    preview = client.post("/api/run", json={"sql": "CREATE TABLE u (a)"}, headers=headers)
    assert preview.json["statements"][0]["schema_change"] == "создаст таблицу u"
    grid = client.post("/api/run", json={"sql": "SELECT :a", "params": [{"a": 1}, {"b": 2}]}, headers=headers)
    assert (
        grid.json["error"]["message"]
        == "В строке параметров 2 указано :b, а SQL это не использует (его параметры: :a)."
    )


def test_the_examples_are_in_russian(client: FlaskClient) -> None:
    soup = page(client.get("/?example=lesson2-select&sql=SELECT+1", headers=RUSSIAN))
    assert soup.select_one("#example-title").get_text() == "Урок 2: SELECT с :y"
    titles = [a.get_text() for a in soup.select(".examples a")]
    assert "Chinook: продажи по странам (GROUP BY)" in titles
    assert all(not title.startswith("Lesson") for title in titles)
