"""SQL Playground: SQL and a parameter grid, run through a SQLAlchemy Session on a private sandbox."""

from __future__ import annotations

from pathlib import Path

from flask import Flask
from flask_wtf import CSRFProtect
from jinja2 import DictLoader

from .config import Settings
from .service import Playground
from .snapshots import EditorSnapshots
from .wiring import build_playground

csrf = CSRFProtect()

_PACKAGE = Path(__file__).resolve().parent


def _asset_folder(name: str) -> str:
    """templates/ and static/ sit at the top of a checkout and inside the package once installed."""
    installed = _PACKAGE / name
    return str(installed if installed.is_dir() else _PACKAGE.parent / name)


def _templates_in_memory(folder: Path) -> DictLoader:
    """Every template, read once when the app starts, as the static files are (web/assets.py).

    Installing the package again under a running server (`pip install -e .` in the environment it
    runs from) removes the installed files; the pages must not go with them.
    """
    return DictLoader({p.relative_to(folder).as_posix(): p.read_text("utf-8") for p in folder.rglob("*.html")})


def create_app(settings: Settings | None = None, playground: Playground | None = None) -> Flask:
    """The app factory: settings from the environment unless given, one service behind every view."""
    if playground is not None:
        # The pages size requests by the very settings (and limits) the service enforces.
        if settings is not None and settings != playground.settings:
            raise ValueError("create_app() was given other settings than its playground's")
        settings = playground.settings
    settings = settings or Settings.from_env()
    app = Flask(__name__, template_folder=_asset_folder("templates"), static_folder=_asset_folder("static"))
    app.jinja_loader = _templates_in_memory(Path(_asset_folder("templates")))  # type: ignore[method-assign]
    app.config.update(
        SECRET_KEY=settings.resolved_secret_key(),
        # Forms and the API carry a CSRF token bound to the session; no time limit, so that a page
        # left open during a lesson still works.
        WTF_CSRF_TIME_LIMIT=None,
        WTF_CSRF_HEADERS=["X-CSRFToken", "X-CSRF-Token"],
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_HTTPONLY=True,
        # Behind a TLS proxy (PLAYGROUND_HTTPS): the browser never sends the session over plain HTTP.
        SESSION_COOKIE_SECURE=settings.https,
        # The cookie is sent again when the session changes; web.visitor changes it once an hour.
        SESSION_REFRESH_EACH_REQUEST=False,
        PERMANENT_SESSION_LIFETIME=settings.sandbox_ttl_seconds,
        # A grid of 1,000 rows has thousands of fields; the size of the body is what we bound.
        MAX_CONTENT_LENGTH=settings.limits.max_sql_bytes * 2 + settings.limits.max_value_bytes * 4 + 1_000_000,
        MAX_FORM_PARTS=100_000,
        MAX_FORM_MEMORY_SIZE=settings.limits.max_value_bytes * 4 + settings.limits.max_sql_bytes * 2,
    )
    service = app.extensions["playground"] = playground or build_playground(settings)
    # The pages' Post/Redirect/Get: what a page showed is kept beside the rest of the bookkeeping.
    app.extensions["playground.snapshots"] = EditorSnapshots(
        service.store.engine, max_age_seconds=settings.sandbox_ttl_seconds
    )
    app.extensions["playground.settings"] = settings
    csrf.init_app(app)

    from .web import (
        api,
        assets,
        comparing,
        downloads,
        errors,
        explaining,
        health,
        history,
        i18n,
        lab,
        request_log,
        samples,
        security_headers,
        sharing,
        teacher,
        views,
    )
    from .web.present import register_filters

    # Before the views: every page and JSON answer is in the visitor's language.
    i18n.init_app(app, str(_PACKAGE / "translations"))
    app.register_blueprint(views.bp)
    app.register_blueprint(api.bp)
    app.register_blueprint(health.bp)
    for feature in (downloads, explaining, comparing, sharing, history, samples, lab, teacher):
        app.register_blueprint(feature.bp)
    app.register_blueprint(teacher.names_bp)
    errors.register(app)
    assets.register(app)
    request_log.register(app)
    security_headers.register(app)
    register_filters(app)
    return app
