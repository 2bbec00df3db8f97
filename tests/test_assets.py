"""Static files: content-hashed names, a year of caching, gzip; and the editor's first load stays small."""

from __future__ import annotations

import gzip
from pathlib import Path

from bs4 import BeautifulSoup
from flask.testing import FlaskClient

from playground.web.assets import AssetTable

FIRST_LOAD_BUDGET = 300 * 1024


def _linked(page: bytes) -> list[str]:
    soup = BeautifulSoup(page, "html.parser")
    return [str(s["src"]) for s in soup.select("script[src]")] + [
        str(link["href"]) for link in soup.select('link[rel="stylesheet"]')
    ]


def test_pages_link_static_files_by_content_hashed_names(client: FlaskClient) -> None:
    links = _linked(client.get("/").data)
    assert links, "the editor links no static file"
    for url in links:
        assert url.startswith("/assets/"), url
        name = url.rsplit("/", 1)[1]
        assert len(name.split(".")) == 3 and len(name.split(".")[1]) == 12, name


def test_hashed_files_are_cached_for_a_year_and_sent_gzipped_when_accepted(client: FlaskClient) -> None:
    (css,) = [u for u in _linked(client.get("/").data) if u.endswith(".css")]
    plain = client.get(css)
    assert plain.status_code == 200
    assert plain.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert "Content-Encoding" not in plain.headers
    assert plain.data == (Path(__file__).parent.parent / "static" / "css" / "playground.css").read_bytes()
    zipped = client.get(css, headers={"Accept-Encoding": "gzip, deflate"})
    assert zipped.headers["Content-Encoding"] == "gzip"
    assert "Accept-Encoding" in zipped.headers["Vary"]
    assert gzip.decompress(zipped.data) == plain.data


def test_a_changed_file_gets_a_new_name_and_an_unknown_name_is_404(tmp_path: Path, client: FlaskClient) -> None:
    (tmp_path / "js").mkdir()
    script = tmp_path / "js" / "a.js"
    script.write_text("let a = 1;")
    first = AssetTable.scan(tmp_path).hashed_name["js/a.js"]
    script.write_text("let a = 2;")
    second = AssetTable.scan(tmp_path).hashed_name["js/a.js"]
    assert first != second and first.startswith("js/a.") and first.endswith(".js")
    assert client.get("/assets/css/playground.000000000000.css").status_code == 404


def test_the_editors_first_load_is_under_300_kb_compressed(client: FlaskClient) -> None:
    """The page and every script and stylesheet it links, as a browser that accepts gzip receives them from us."""
    page = client.get("/", headers={"Accept-Encoding": "gzip"})
    total = len(page.data)  # the page itself is not compressed by the playground: counted whole
    for url in _linked(page.data):
        response = client.get(url, headers={"Accept-Encoding": "gzip"})
        assert response.status_code == 200, url
        total += len(response.data)
    assert total < FIRST_LOAD_BUDGET, f"first load is {total:,} bytes compressed"
