"""The ASGI application behind the Prometheus port, answering as rabbitmq_prometheus does.

GET ``/metrics``, ``/metrics/per-object`` and ``/metrics/detailed`` (``family=``
and ``vhost=`` repeatable); gzip when the scraper accepts it (Prometheus
does); HEAD answers 204, other methods 405, other paths RabbitMQ's JSON 404.
Each scrape takes a fresh Scrape: nothing is computed between scrapes. The
snapshots are taken on the broker's loop; the families are built, written
and compressed on a worker thread, so a per-object scrape of many queues
holds the loop for the snapshot only, not for the text (the GIL is shared,
but the loop gets its turn every few milliseconds).
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Awaitable, Callable
from urllib.parse import parse_qs

import trio

from amqpd.metrics import collect
from amqpd.metrics.scrape import Scrape
from amqpd.metrics.text import CONTENT_TYPE, Metric, render

Send = Callable[[dict], Awaitable[None]]
Receive = Callable[[], Awaitable[dict]]
NOT_FOUND = json.dumps({"error": "Object Not Found", "reason": "Not Found"},
                       separators=(",", ":")).encode()  # fmt: skip
ALLOW = b"HEAD, GET, OPTIONS"


class MetricsApp:
    def __init__(self, scrape: Callable[[], Scrape]) -> None:
        self._scrape = scrape

    async def __call__(self, scope: dict, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        build = self._route(scope)
        if build is None:
            await _respond(send, 404, NOT_FOUND, [(b"content-type", b"application/json")])
        elif scope["method"] == "HEAD":
            await _respond(send, 204, b"", [])
        elif scope["method"] != "GET":
            await _respond(send, 405, b"", [(b"allow", ALLOW)])
        else:
            await self._scrape_and_send(scope, build, send)

    def _route(self, scope: dict) -> Callable[[Scrape], list[Metric]] | None:
        path = scope["path"].rstrip("/")
        if path == "/metrics":
            return collect.aggregated
        if path == "/metrics/per-object":
            return collect.per_object
        if path == "/metrics/detailed":
            query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
            vhosts = set(query["vhost"]) if "vhost" in query else None
            return lambda scrape: collect.detailed(scrape, query.get("family", []), vhosts)
        return None

    async def _scrape_and_send(
        self, scope: dict, build: Callable[[Scrape], list[Metric]], send: Send
    ) -> None:
        scrape = self._scrape()
        headers = dict(scope.get("headers") or [])
        zipped = b"gzip" in headers.get(b"accept-encoding", b"")
        body = await trio.to_thread.run_sync(_body, build, scrape, zipped)
        encoding = b"gzip" if zipped else b"identity"
        await _respond(send, 200, body, [(b"content-type", CONTENT_TYPE.encode()),
                                         (b"content-encoding", encoding)])  # fmt: skip


def _body(build: Callable[[Scrape], list[Metric]], scrape: Scrape, zipped: bool) -> bytes:
    body = render(build(scrape))
    return gzip.compress(body, compresslevel=1) if zipped else body


async def _respond(send: Send, status: int, body: bytes, headers: list) -> None:
    headers = [*headers, (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
