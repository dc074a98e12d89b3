"""/api/exchanges: list, show, declare, delete (the default exchange is amq.default in URLs)."""

from __future__ import annotations

from amqpd.management import listing
from amqpd.management.auth import visible_vhosts
from amqpd.management.context import ManagementContext
from amqpd.management.errors import not_authorised, not_found
from amqpd.management.request import NO_CONTENT, Request, Response, created_or_updated
from amqpd.management.resources.common import apply, boolean, flag, table, vhost_param
from amqpd.model import snapshot
from amqpd.model.snapshot import ExchangeSnapshot

DEFAULT_IN_URLS = "amq.default"
# Fields a list sorts and filters on straight from the snapshot, without rendering.
FIELDS = listing.attributes(
    "arguments", "auto_delete", "durable", "internal", "name", "policy", "type", "vhost"
)


def register(router) -> None:  # noqa: ANN001 - a Router
    router.add("/api/exchanges", get=list_all)
    router.add("/api/exchanges/{vhost}", get=list_vhost)
    router.add("/api/exchanges/{vhost}/{name}", get=show, put=declare, delete=delete)


def render(x: ExchangeSnapshot) -> dict:
    body = {
        "arguments": x.arguments,
        "auto_delete": x.auto_delete,
        "durable": x.durable,
        "internal": x.internal,
        "name": x.name,
        "type": x.type,
        "user_who_performed_action": "rmq-internal",
        "vhost": x.vhost,
    }
    if x.policy is not None:  # RabbitMQ shows the key only when a policy applies
        body["policy"] = x.policy
    return body


def _name(request: Request) -> str:
    name = request.params["name"]
    return "" if name == DEFAULT_IN_URLS else name


async def _answer(ctx: ManagementContext, request: Request, vhosts: list[str]) -> object:
    # Exchanges are few next to queues: their snapshots are taken at once, rendered lazily.
    found = [x for v in vhosts for x in snapshot.exchanges(ctx.broker, v)]
    return await listing.answer(request, listing.Rows(found, render, FIELDS), ("vhost", "name"))


async def list_all(ctx: ManagementContext, request: Request) -> object:
    return await _answer(ctx, request, visible_vhosts(ctx.access, request.user))


async def list_vhost(ctx: ManagementContext, request: Request) -> object:
    return await _answer(ctx, request, [vhost_param(ctx, request)])


async def show(ctx: ManagementContext, request: Request) -> object:
    vhost, name = vhost_param(ctx, request), _name(request)
    found = next((x for x in snapshot.exchanges(ctx.broker, vhost) if x.name == name), None)
    if found is None:
        raise not_found()
    body = render(found)
    body["incoming"], body["outgoing"] = [], []
    return body


async def declare(ctx: ManagementContext, request: Request) -> Response:
    vhost, name = vhost_param(ctx, request), _name(request)
    if name == "":
        raise not_authorised("Access refused.")
    body = request.json_object()
    outcome = await apply(ctx, lambda: ctx.admin.declare_exchange(
        vhost, name, str(body.get("type", "direct")),
        durable=boolean(body, "durable", False),  # RabbitMQ's default when left out
        auto_delete=boolean(body, "auto_delete", False),
        internal=boolean(body, "internal", False),
        arguments=table(body, "arguments"),
    ))  # fmt: skip
    return created_or_updated(outcome.created)


async def delete(ctx: ManagementContext, request: Request) -> Response:
    vhost, name = vhost_param(ctx, request), _name(request)
    if name == "":
        raise not_authorised("Access refused.")
    if not any(x.name == name for x in snapshot.exchanges(ctx.broker, vhost)):
        raise not_found()
    await apply(ctx, lambda: ctx.admin.delete_exchange(vhost, name, flag(request, "if-unused")))
    return NO_CONTENT
