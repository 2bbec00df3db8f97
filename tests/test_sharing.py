"""Share links: everything in the address, or stored under a short id when it would not fit."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from werkzeug.datastructures import MultiDict

from playground.grid import ParameterGrid
from playground.sharing import MAX_LINK_LENGTH, SharedLinks, SharedWork, ShareTooLarge, grid_from_query, link_for
from playground.store import Store

UPDATE = "UPDATE some_table SET y=:y WHERE x=:x"
GRID = ParameterGrid(("y", "x"), ("integer", "auto"), (("11", "9"), ("15", "13")))


@pytest.fixture
def links(tmp_path: Path) -> SharedLinks:
    return SharedLinks(Store(f"sqlite:///{tmp_path / 'book.db'}").engine)


def _link(work: SharedWork, links: SharedLinks) -> str:
    return link_for(work, links, editor_path="/", stored_path=lambda i: f"/s/{i}")


def test_a_small_link_carries_sql_every_row_types_and_engine(links: SharedLinks) -> None:
    link = _link(SharedWork(UPDATE, "postgresql", GRID), links)
    args = MultiDict(parse_qs(urlsplit(link).query, keep_blank_values=True))
    assert link.startswith("/?") and len(link) <= MAX_LINK_LENGTH
    assert args["sql"] == UPDATE and args["engine"] == "postgresql"
    assert args.getlist("p.y") == ["11", "15"] and args.getlist("p.x") == ["9", "13"]
    assert args["t.y"] == "integer" and "t.x" not in args
    assert grid_from_query(args, ("y", "x"), max_rows=10) == GRID


def test_a_large_link_is_stored_once_under_a_short_id(links: SharedLinks) -> None:
    rows = tuple((str(i), "Василий " * 5) for i in range(200))
    work = SharedWork("INSERT INTO t VALUES (:a, :b)", "sqlite", ParameterGrid(("a", "b"), ("auto", "text"), rows))
    link = _link(work, links)
    assert link.startswith("/s/") and len(link) == 3 + 12
    assert _link(work, links) == link  # the same work, the same id
    assert links.load(link[3:]) == work
    assert links.load("nosuchid0000") is None


def test_work_too_large_even_to_store_is_refused(links: SharedLinks) -> None:
    huge = SharedWork("SELECT :a", "sqlite", ParameterGrid(("a",), ("text",), (("x" * 3_000_000,),)))
    with pytest.raises(ShareTooLarge):
        links.save(huge)
