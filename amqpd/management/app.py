"""The ASGI application: limits, routing, login, and one way to answer a fault.

Every fault becomes RabbitMQ's status and JSON body here, in one place. A
bug in a resource is logged with its traceback and answered 500 with a
plain body; the traceback never reaches the client.
"""

from __future__ import annotations

import logging

import trio

from amqpd.management import dashboard
from amqpd.management.auth import authenticate, require
from amqpd.management.chunked import encode_json
from amqpd.management.context import ManagementContext
from amqpd.management.errors import HTTPError
from amqpd.management.request import Request, Response
from amqpd.management.router import Router, split_path

log = logging.getLogger("amqpd.management")

# RabbitMQ's management.http_max_body_size default.
MAX_BODY = 20 * 1024 * 1024
MAX_CONCURRENT = 64  # requests handled at once; the rest wait their turn


class ManagementApp:
    def __init__(
        self,
        context: ManagementContext,
        router: Router,
        max_body: int = MAX_BODY,
        max_concurrent: int = MAX_CONCURRENT,
    ) -> None:
        self.context = context
        self.router = router
        self.max_body = max_body
        self._limiter = trio.CapacityLimiter(max_concurrent)

    async def __call__(self, scope: dict, receive, send) -> None:  # noqa: ANN001 - ASGI
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        async with self._limiter:
            body = await self._read_body(scope, receive)
            if isinstance(body, Response):
                response = body
            else:
                headers = {k.decode("latin-1").lower(): v.decode("latin-1")
                           for k, v in scope["headers"]}  # fmt: skip
                request = Request(
                    scope["method"],
                    split_path(scope.get("raw_path") or scope["path"].encode()),
                    Request.parse_query(scope.get("query_string", b"")),
                    headers,
                    body,
                )
                response = await self.handle(request)
            await _send(send, response, head=scope["method"] == "HEAD")

    async def _read_body(self, scope: dict, receive) -> bytes | Response:  # noqa: ANN001
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_body:
            return _too_large()
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return b""
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body:
                return _too_large()
            chunks.append(chunk)
            if not message.get("more_body"):
                return b"".join(chunks)

    async def handle(self, request: Request) -> Response:
        if dashboard.is_page(request.segments):
            return dashboard.serve(request)
        try:
            route, handler = self.router.find(request)
            request.user = authenticate(self.context.access, request.headers.get("authorization"))
            require(request.user, route.tag)
            result = await handler(self.context, request)
        except HTTPError as err:
            body = err.body() if err.error else None
            return Response(err.status, body, dict(err.headers))
        except Exception:
            log.exception(
                "management API: %s %s failed", request.method, "/".join(request.segments)
            )
            return Response(500, {"error": "internal_server_error", "reason": "see the broker log"})
        return result if isinstance(result, Response) else Response(200, result)


def _too_large() -> Response:
    return Response(413, {"error": "bad_request", "reason": "Request body is too large"})


async def _send(send, response: Response, head: bool = False) -> None:  # noqa: ANN001
    # A long list is encoded and sent a piece at a time, the loop running between pieces.
    is_json = response.body is not None and not isinstance(response.body, bytes)
    pieces = await encode_json(response.body) if is_json else [response.encoded()]
    headers = [(b"content-length", str(sum(map(len, pieces))).encode())]
    if is_json:
        headers.append((b"content-type", b"application/json"))
        headers.append((b"cache-control", b"no-cache"))
    headers += [(k.encode(), v.encode()) for k, v in response.headers.items()]
    await send({"type": "http.response.start", "status": response.status, "headers": headers})
    for piece in [] if head else pieces[:-1]:
        await send({"type": "http.response.body", "body": piece, "more_body": True})
    await send({"type": "http.response.body", "body": b"" if head else pieces[-1]})


async def _lifespan(receive, send) -> None:  # noqa: ANN001
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
