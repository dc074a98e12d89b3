"""/api/bindings: list, the e/{src}/q/{dst} and e/{src}/e/{dst} factories, one binding.

A binding is named in URLs by its *properties key*, as RabbitMQ computes it:
the routing key percent-encoded ("~" too), or "~" for an empty key; when the
binding has arguments, "~" and a short hash of them follow. A POST answers 201
with a ``Location`` of the destination and that key, each encoded once more.
The default exchange's implicit bindings are listed, and refused to change.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import itertools
import json
from collections.abc import Iterable
from urllib.parse import quote_plus

from amqpd.errors import AMQPError, ReplyCode
from amqpd.management import chunked, listing
from amqpd.management.auth import visible_vhosts
from amqpd.management.context import ManagementContext
from amqpd.management.errors import HTTPError, bad_request, not_found
from amqpd.management.request import NO_CONTENT, Request, Response
from amqpd.management.resources.common import amqp_fault, apply, table, vhost_param
from amqpd.management.resources.values import json_safe
from amqpd.model import snapshot
from amqpd.model.admin import Outcome
from amqpd.model.snapshot import BindingSnapshot

DEFAULT_IN_URLS = "amq.default"
_KINDS = {"q": "queue", "e": "exchange"}
# Fields a list sorts and filters on straight from the snapshot, without rendering.
FIELDS = listing.attributes("destination", "destination_type", "routing_key", "source", "vhost")


def register(router) -> None:  # noqa: ANN001 - a Router
    router.add("/api/bindings", get=list_all)
    router.add("/api/bindings/{vhost}", get=list_vhost)
    for letter in _KINDS:
        router.add(f"/api/bindings/{{vhost}}/e/{{source}}/{letter}/{{dest}}", get=between,
                   post=create)  # fmt: skip
        router.add(f"/api/bindings/{{vhost}}/e/{{source}}/{letter}/{{dest}}/{{props}}",
                   get=show, delete=delete)  # fmt: skip
    router.add("/api/queues/{vhost}/{name}/bindings", get=of_queue)
    router.add("/api/exchanges/{vhost}/{name}/bindings/source", get=from_exchange)
    router.add("/api/exchanges/{vhost}/{name}/bindings/destination", get=to_exchange)


# ---- the properties key -----------------------------------------------------------
def _quote(text: str) -> str:
    return quote_plus(text, safe="").replace("~", "%7E")


def arguments_hash(arguments: dict) -> str:
    """Six URL-safe characters standing for a binding's arguments.

    RabbitMQ hashes the Erlang term with phash2; amqpd hashes the canonical
    JSON instead, so keys with arguments differ (docs/compatibility.md).
    """
    canonical = json.dumps(json_safe(arguments), sort_keys=True, separators=(",", ":"))
    digest = hashlib.blake2b(canonical.encode(), digest_size=4).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def properties_key(routing_key: str, arguments: dict) -> str:
    if arguments:
        return f"{_quote(routing_key)}~{arguments_hash(arguments)}"
    return "~" if routing_key == "" else _quote(routing_key)


def render(b: BindingSnapshot) -> dict:
    return {
        "source": b.source,
        "vhost": b.vhost,
        "destination": b.destination,
        "destination_type": b.destination_type,
        "routing_key": b.routing_key,
        "arguments": json_safe(b.arguments),
        "properties_key": properties_key(b.routing_key, b.arguments),
    }


def _order(b: BindingSnapshot) -> tuple:
    # RabbitMQ's binding table order: source, key, destination (kind, name), arguments.
    return (b.vhost, b.source, b.routing_key, b.destination_type, b.destination,
            properties_key(b.routing_key, b.arguments))  # fmt: skip


async def _list(request: Request, found: Iterable[BindingSnapshot]) -> object:
    # Bindings are never paged: RabbitMQ ignores ``page`` here.
    unpaged = dataclasses.replace(
        request, query={k: v for k, v in request.query.items() if k != "page"}
    )
    bindings = [b async for b in chunked.paced(found)]
    keys = await chunked.each(bindings, _order)
    ordered = [bindings[n] for n in sorted(range(len(bindings)), key=keys.__getitem__)]
    return await listing.answer(unpaged, listing.Rows(ordered, render, FIELDS), ())


def _exchange_name(name: str) -> str:
    return "" if name == DEFAULT_IN_URLS else name


# ---- handlers ---------------------------------------------------------------------
async def list_all(ctx: ManagementContext, request: Request) -> object:
    vhosts = visible_vhosts(ctx.access, request.user)
    found = [snapshot.each_binding(ctx.broker, v) for v in vhosts]
    return await _list(request, itertools.chain(*found))


async def list_vhost(ctx: ManagementContext, request: Request) -> object:
    return await _list(request, snapshot.each_binding(ctx.broker, vhost_param(ctx, request)))


def _route(request: Request) -> tuple[str, str, str]:
    """(source exchange, destination kind, destination name) of a factory path."""
    letter = request.segments[5]
    return _exchange_name(request.params["source"]), _KINDS[letter], request.params["dest"]


def _between(ctx: ManagementContext, request: Request) -> list[BindingSnapshot]:
    vhost = vhost_param(ctx, request)
    source, kind, dest = _route(request)
    return [
        b for b in snapshot.bindings(ctx.broker, vhost)
        if b.source == source and b.destination_type == kind and b.destination == dest
    ]  # fmt: skip


async def between(ctx: ManagementContext, request: Request) -> object:
    return await _list(request, _between(ctx, request))


def _binding_fault(err: AMQPError) -> HTTPError:
    if err.code == ReplyCode.NOT_FOUND:
        return HTTPError(404, "not_found", err.detail)
    return amqp_fault(err)


async def create(ctx: ManagementContext, request: Request) -> Response:
    vhost = vhost_param(ctx, request)
    source, kind, dest = _route(request)
    body = request.json_object()
    key = body.get("routing_key", "")
    arguments = table(body, "arguments")  # [] and null mean none, as in RabbitMQ
    if not isinstance(key, str):
        raise bad_request("not_json")

    def bind() -> Outcome:
        try:
            return ctx.admin.bind(vhost, source, kind, dest, key, arguments)
        except AMQPError as err:  # a missing queue or exchange is named, as RabbitMQ does
            raise _binding_fault(err) from None

    await apply(ctx, bind)
    location = f"{quote_plus(dest, safe='')}/{quote_plus(properties_key(key, arguments), safe='')}"
    return Response(201, None, {"location": location})


def _find(ctx: ManagementContext, request: Request) -> BindingSnapshot:
    wanted = request.params["props"]
    for b in _between(ctx, request):
        if properties_key(b.routing_key, b.arguments) == wanted:
            return b
    raise not_found()


async def show(ctx: ManagementContext, request: Request) -> object:
    return render(_find(ctx, request))


async def delete(ctx: ManagementContext, request: Request) -> Response:
    b = _find(ctx, request)
    await apply(ctx, lambda: ctx.admin.unbind(
        b.vhost, b.source, b.destination_type, b.destination, b.routing_key, b.arguments
    ))  # fmt: skip
    return NO_CONTENT


async def of_queue(ctx: ManagementContext, request: Request) -> object:
    vhost, name = vhost_param(ctx, request), request.params["name"]
    if not any(q.name == name for q in snapshot.queues(ctx.broker, vhost)):
        raise not_found()
    found = snapshot.bindings(ctx.broker, vhost)
    return await _list(request, [b for b in found if b.destination_type == "queue"
                           and b.destination == name])  # fmt: skip


async def _exchange_bindings(ctx: ManagementContext, request: Request, as_source: bool) -> object:
    vhost, name = vhost_param(ctx, request), _exchange_name(request.params["name"])
    if not any(x.name == name for x in snapshot.exchanges(ctx.broker, vhost)):
        raise not_found()
    found = snapshot.bindings(ctx.broker, vhost)
    if as_source:
        chosen = [b for b in found if b.source == name]
    else:
        chosen = [b for b in found if b.destination_type == "exchange" and b.destination == name]
    return await _list(request, chosen)


async def from_exchange(ctx: ManagementContext, request: Request) -> object:
    return await _exchange_bindings(ctx, request, as_source=True)


async def to_exchange(ctx: ManagementContext, request: Request) -> object:
    return await _exchange_bindings(ctx, request, as_source=False)
