"""Routing on the raw path: each name is one percent-encoded segment.

``/api/queues/%2F/my%2Fqueue`` names the queue ``my/queue`` in vhost ``/``:
the path is split on ``/`` before anything is decoded. A trailing slash is
ignored, as RabbitMQ ignores it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import unquote

from amqpd.management.errors import HTTPError, not_found
from amqpd.management.request import Request, Response

Handler = Callable[..., Awaitable[Response | object]]


def split_path(raw_path: bytes) -> list[str]:
    path = raw_path.split(b"?", 1)[0]
    parts = path.split(b"/")[1:]
    if parts and parts[-1] == b"":
        parts = parts[:-1]  # the trailing slash
    return [unquote(part.decode("latin-1"), encoding="utf-8", errors="replace") for part in parts]


@dataclass(frozen=True)
class Route:
    pattern: tuple[str, ...]  # literal segments and {names}
    handlers: dict[str, Handler]  # by HTTP method
    tag: str  # the least tag that may use it (see auth.TAG_LEVELS)

    def match(self, segments: list[str]) -> dict[str, str] | None:
        if len(segments) != len(self.pattern):
            return None
        params = {}
        for want, got in zip(self.pattern, segments, strict=True):
            if want.startswith("{"):
                params[want[1:-1]] = got
            elif want != got:
                return None
        return params


class Router:
    def __init__(self) -> None:
        self.routes: list[Route] = []

    def add(self, path: str, tag: str = "management", **handlers: Handler) -> None:
        """Serve ``path`` with a handler per method (get=..., put=..., ...)."""
        pattern = tuple(path.strip("/").split("/"))
        methods = {method.upper(): handler for method, handler in handlers.items()}
        self.routes.append(Route(pattern, methods, tag))

    def find(self, request: Request) -> tuple[Route, Handler]:
        for route in self.routes:
            params = route.match(request.segments)
            if params is None:
                continue
            method = "GET" if request.method == "HEAD" else request.method
            handler = route.handlers.get(method)
            if handler is None:
                # HEAD is offered where GET is (a POST-only path offers POST, OPTIONS).
                head = ["HEAD"] if "GET" in route.handlers else []
                allowed = ", ".join([*head, *route.handlers, "OPTIONS"])
                raise HTTPError(405, "", "", {"allow": allowed})
            request.params = params
            return route, handler
        raise not_found()
