"""Download a query's result as CSV or JSON, from the editor's form or the API."""

from __future__ import annotations

from collections.abc import Iterator

from flask import Blueprint, Response
from flask.typing import ResponseReturnValue

from ..errors import UserError
from ..export import MEDIA_TYPES, ExportFormat, export_chunks, export_result
from ..messages import _
from ..service import RunRequest
from .api import BadRequest, json_body, run_request_from_body
from .i18n import translated
from .views import render_editor, state_from_form
from .visitor import playground, visitor_id

bp = Blueprint("downloads", __name__)

UNKNOWN_FORMAT = _('The download format must be "csv" or "json".')


def _format(name: object) -> ExportFormat:
    if not isinstance(name, str) or name not in MEDIA_TYPES:  # a list or an object is not a format (nor hashable)
        raise BadRequest(UNKNOWN_FORMAT)
    return name  # type: ignore[return-value]


def _download(run_request: RunRequest, fmt: ExportFormat) -> Response:
    export = export_result(playground(), visitor_id(), run_request)
    # Said now: the file streams after this request's context (and its language) is gone.
    note = translated(export.cut_note) if export.cut_note else None

    def body() -> Iterator[bytes]:
        for chunk in export_chunks(export, fmt, note):
            yield chunk.encode("utf-8")

    response = Response(body(), mimetype=MEDIA_TYPES[fmt].split(";")[0])
    response.headers["Content-Type"] = MEDIA_TYPES[fmt]
    response.headers["Content-Disposition"] = f'attachment; filename="result-{export.engine}.{fmt}"'
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.post("/download.<fmt>")
def page_download(fmt: str) -> ResponseReturnValue:
    """The editor's Download buttons: the SQL runs again as a query and the file streams back."""
    state = state_from_form()
    try:
        return _download(RunRequest(state.sql, state.engine, grid=state.grid), _format(fmt))
    except UserError as e:
        state.error = e.message
        return render_editor(state), e.status


@bp.post("/api/export")
def api_export() -> ResponseReturnValue:
    """`{"sql", "params", "engine", "format": "csv" | "json"}`: the whole result as a file."""
    fmt = _format(json_body().get("format", "csv"))
    return _download(run_request_from_body(), fmt)
