"""A plain (non-editable) install carries the templates, the static files and the sample SQL."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel, built from a copy of the checkout with the setuptools installed here.

    No build isolation: an isolated build would fetch setuptools from the package index. The copy
    keeps the build from writing build/ and *.egg-info into the checkout.
    """
    out = tmp_path_factory.mktemp("wheel")
    source = tmp_path_factory.mktemp("source") / "checkout"
    shutil.copytree(
        ROOT,
        source,
        ignore=shutil.ignore_patterns(".git", ".venv", "build", "*.egg-info", "__pycache__", "node_modules"),
    )
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "-q",
            "-w",
            str(out),
            str(source),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    (built,) = out.glob("sql_playground-*.whl")
    return built


def test_the_wheel_holds_templates_static_and_sample(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    for expected in (
        "playground/templates/editor.html",
        "playground/templates/base.html",
        "playground/static/css/playground.css",
        "playground/static/js/grid.js",
        "playground/sample/sqlite.sql",
        "playground/sample/postgresql.sql",
        "playground/sample/chinook/Chinook_PostgreSql.sql.gz",
        "playground/sample/chinook/LICENSE.md",
        "playground/static/vendor/codemirror.js",
        "playground/static/vendor/codemirror.LICENSE.txt",
        "playground/static/js/editor.js",
        "playground/translations/ru/LC_MESSAGES/messages.mo",
    ):
        assert expected in names


def test_the_installed_package_serves_the_editor_away_from_the_checkout(wheel: Path, tmp_path: Path) -> None:
    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "--no-index", "-q", "--target", str(target), str(wheel)],
        check=True,
        capture_output=True,
    )
    probe = (
        "import playground, pathlib\n"
        f"assert pathlib.Path(playground.__file__).is_relative_to(pathlib.Path(r'{target}'))\n"
        "from playground import create_app\n"
        "client = create_app().test_client()\n"
        "page = client.get('/')\n"
        "css = client.get('/static/css/playground.css')\n"
        "russian = client.get('/', headers={'Accept-Language': 'ru'})\n"
        "print(page.status_code, css.status_code, b'csrf-token' in page.data, 'Выполнить' in russian.text)\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("PLAYGROUND_")}
    env |= {"PYTHONPATH": str(target), "PLAYGROUND_DATA_DIR": str(tmp_path / "data")}
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=tmp_path, env=env, capture_output=True, text=True, check=False
    )
    # The Russian catalogue came with the wheel: the page's Run button says "Выполнить".
    assert done.stdout.strip() == "200 200 True True", done.stderr


def test_a_running_server_keeps_serving_when_its_package_is_removed_under_it(wheel: Path, tmp_path: Path) -> None:
    """`pip install -e ".[test]"` in the environment a server runs from uninstalls the package under it.

    The pages are read when the server starts (templates and static files alike), so a running
    server keeps working until it is restarted.
    """
    from bs4 import BeautifulSoup
    from server_support import HttpClient, live_server

    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "--no-index", "-q", "--target", str(target), str(wheel)],
        check=True,
        capture_output=True,
    )
    # A mark in the installed copy's page: what the server shows comes from this installation.
    base = target / "playground" / "templates" / "base.html"
    base.write_text(base.read_text().replace("</body>", "<!-- installed copy --></body>"))
    (tmp_path / "server").mkdir()
    with live_server(tmp_path / "server", workers=1, env={"PYTHONPATH": str(target)}) as server:
        shutil.rmtree(target / "playground")  # what uninstalling does; nothing was rendered before
        client = HttpClient(server.url)
        page = client.request("GET", "/")
        assert page.status == 200, page.text[:500]
        assert "<!-- installed copy -->" in page.text
        soup = BeautifulSoup(page.text, "html.parser")
        client.csrf = str(soup.select_one('meta[name="csrf-token"]')["content"])  # type: ignore[index]
        fields = {"csrf_token": client.csrf, "sql": "SELECT 41 + 1 AS answer", "rows": "1", "action": "run"}
        shown = client.request("POST", "/run", form=fields)  # Run, and the page it redirects to
        assert shown.status == 200, shown.text[:500]
        assert [td.get_text() for td in BeautifulSoup(shown.text, "html.parser").select("table.result td")] == ["42"]
        stylesheet = soup.select_one('link[rel="stylesheet"]')
        assert stylesheet is not None and client.request("GET", str(stylesheet["href"])).status == 200
