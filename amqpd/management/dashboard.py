"""The dashboard: the files in ``static/`` served at ``/`` on the management port.

The page is a client of the API under ``/api`` and logs in to it itself, so
the files are served without a login. Only files that ship in the package
are served: a path is a list of decoded segments, and any segment that could
leave the folder (``..``, a hidden name, a separator) is not found.
"""

from __future__ import annotations

from pathlib import Path

from amqpd.management.errors import not_found
from amqpd.management.request import Request, Response

ROOT = Path(__file__).parent / "static"
_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
}
# Nothing but the page's own files, and no framing by other sites.
_HEADERS = {
    "content-security-policy": (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; "
        "frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
    ),
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "cache-control": "no-cache",
}


def is_page(segments: list[str]) -> bool:
    """Everything outside /api is the dashboard's."""
    return not segments or segments[0] != "api"


def serve(request: Request) -> Response:
    if request.method not in ("GET", "HEAD"):
        return Response(405, {"error": "Method Not Allowed", "reason": "Method Not Allowed"},
                        {"allow": "HEAD, GET"})  # fmt: skip
    path = _resolve(request.segments or ["index.html"])
    if path is None:
        error = not_found()
        return Response(error.status, error.body())
    headers = {"content-type": _TYPES[path.suffix], **_HEADERS}
    return Response(200, path.read_bytes(), headers)


def _resolve(segments: list[str]) -> Path | None:
    if any(not s or s.startswith(".") or "/" in s or "\\" in s or "\0" in s for s in segments):
        return None
    path = ROOT.joinpath(*segments)
    if path.suffix not in _TYPES or not path.is_file():
        return None
    return path
