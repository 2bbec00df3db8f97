"""Static files under content-hashed names, cached for a year, gzipped once per process.

`asset("js/editor.js")` in a template gives `/assets/js/editor.3f9a1c2b7d10.js`: the name changes
whenever the file does, so browsers may keep it for a year (`immutable`) and still never run a
stale script after an upgrade. The files are read once when the app starts (they are small, and
they change only with the installed package); text files are also kept gzipped, and sent so to
browsers that accept it, so that the editor's first load is small without a proxy in front.
The plain `/static/` address stays for anything that asks for a file by its own name.
"""

from __future__ import annotations

import gzip
import hashlib
import mimetypes
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from flask import Blueprint, Flask, Response, abort, request, url_for

bp = Blueprint("assets", __name__)

ONE_YEAR = 365 * 24 * 3600
_COMPRESSIBLE = frozenset({".js", ".css", ".json", ".txt", ".svg", ".html", ".map"})
_HASH_CHARS = 12


@dataclass(frozen=True)
class Asset:
    """One static file: its bytes (and gzipped bytes, for text) and its type."""

    body: bytes
    gzipped: bytes | None
    mimetype: str


@dataclass(frozen=True)
class AssetTable:
    """Hashed name → file, and file → hashed name."""

    by_hashed: dict[str, Asset]
    hashed_name: dict[str, str]

    @classmethod
    def scan(cls, folder: Path) -> AssetTable:
        by_hashed: dict[str, Asset] = {}
        hashed_name: dict[str, str] = {}
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            name = path.relative_to(folder).as_posix()
            if name.startswith(".") or "/." in name or path.suffix in (".pyc", ".py"):
                continue
            body = path.read_bytes()
            digest = hashlib.sha256(body).hexdigest()[:_HASH_CHARS]
            pure = PurePosixPath(name)
            hashed = str(pure.with_name(f"{pure.stem}.{digest}{pure.suffix}"))
            mimetype = mimetypes.guess_type(name)[0] or "application/octet-stream"
            # mtime=0: the same file gives the same gzip bytes in every process.
            gzipped = gzip.compress(body, compresslevel=9, mtime=0) if path.suffix in _COMPRESSIBLE else None
            by_hashed[hashed] = Asset(body, gzipped, mimetype)
            hashed_name[name] = hashed
        return cls(by_hashed, hashed_name)


def _table() -> AssetTable:
    from flask import current_app

    return current_app.extensions["playground.assets"]  # type: ignore[no-any-return]


def asset_url(name: str) -> str:
    """The content-hashed address of a file under static/ (a template global)."""
    hashed = _table().hashed_name.get(name)
    if hashed is None:
        raise LookupError(f"no static file {name!r}")
    return url_for("assets.file", name=hashed)


@bp.get("/assets/<path:name>")
def file(name: str) -> Response:
    """A static file by its content-hashed name, cacheable for a year."""
    found = _table().by_hashed.get(name)
    if found is None:
        abort(404)
    gzip_ok = found.gzipped is not None and "gzip" in request.headers.get("Accept-Encoding", "")
    response = Response(found.gzipped if gzip_ok else found.body, mimetype=found.mimetype)
    if gzip_ok:
        response.headers["Content-Encoding"] = "gzip"
    if found.gzipped is not None:
        response.vary.add("Accept-Encoding")
    response.headers["Cache-Control"] = f"public, max-age={ONE_YEAR}, immutable"
    return response


def register(app: Flask) -> None:
    """Read the static folder once, add the route and the `asset()` template global."""
    app.extensions["playground.assets"] = AssetTable.scan(Path(app.static_folder or "static"))
    app.register_blueprint(bp)
    app.jinja_env.globals["asset"] = asset_url
