"""/api/queues: list, show, declare, delete (if-empty, if-unused), purge."""

from __future__ import annotations

from amqpd.management import listing
from amqpd.management.auth import visible_vhosts
from amqpd.management.context import ManagementContext
from amqpd.management.errors import not_found
from amqpd.management.request import NO_CONTENT, Request, Response, created_or_updated
from amqpd.management.resources.common import apply, boolean, flag, table, vhost_param
from amqpd.model import snapshot
from amqpd.model.snapshot import QueueSnapshot

# Shared by every row, never changed: a list of 10,000 queues made 30,000 of these.
_RATE = {"rate": 0.0}

# Fields a list sorts and filters on straight from the snapshot, without rendering.
FIELDS = listing.attributes(
    "arguments", "auto_delete", "consumers", "durable", "effective_policy_definition",
    "exclusive", "exclusive_consumer_tag", "message_bytes_paged_out", "message_bytes_ready",
    "messages", "messages_paged_out", "messages_ready", "messages_unacknowledged", "name",
    "operator_policy", "policy", "single_active_consumer_tag", "type", "vhost",
    message_bytes="message_bytes_ready",
)  # fmt: skip


def register(router) -> None:  # noqa: ANN001 - a Router
    router.add("/api/queues", get=list_all)
    router.add("/api/queues/{vhost}", get=list_vhost)
    router.add("/api/queues/{vhost}/{name}", get=show, put=declare, delete=delete)
    router.add("/api/queues/{vhost}/{name}/contents", delete=purge)


def render(q: QueueSnapshot, node: str) -> dict:
    """A queue with RabbitMQ's fields; counts are exact, rates start at zero."""
    return {
        "arguments": q.arguments,
        "auto_delete": q.auto_delete,
        "consumers": q.consumers,
        "durable": q.durable,
        "effective_policy_definition": q.effective_policy_definition,
        "exclusive": q.exclusive,
        "exclusive_consumer_tag": q.exclusive_consumer_tag,
        "message_bytes": q.message_bytes_ready,
        "message_bytes_paged_out": q.message_bytes_paged_out,
        "message_bytes_ready": q.message_bytes_ready,
        "messages": q.messages,
        "messages_details": _RATE,
        "messages_paged_out": q.messages_paged_out,
        "messages_ready": q.messages_ready,
        "messages_ready_details": _RATE,
        "messages_unacknowledged": q.messages_unacknowledged,
        "messages_unacknowledged_details": _RATE,
        "name": q.name,
        "node": node,
        "operator_policy": q.operator_policy,
        "policy": q.policy,
        "single_active_consumer_tag": q.single_active_consumer_tag,
        "state": "running",
        "type": q.type,
        "vhost": q.vhost,
    }


def _rows(ctx: ManagementContext, vhosts: list[str]) -> listing.Rows:
    node = ctx.node.name
    found = [q for v in vhosts for q in snapshot.declared_queues(ctx.broker, v)]
    return listing.Rows(found, lambda q: render(q, node), FIELDS, picture=snapshot.queue)


async def list_all(ctx: ManagementContext, request: Request) -> object:
    vhosts = visible_vhosts(ctx.access, request.user)
    return await listing.answer(request, _rows(ctx, vhosts), ("vhost", "name"))


async def list_vhost(ctx: ManagementContext, request: Request) -> object:
    vhost = vhost_param(ctx, request)
    return await listing.answer(request, _rows(ctx, [vhost]), ("vhost", "name"))


def _find(ctx: ManagementContext, vhost: str, name: str) -> QueueSnapshot:
    found = snapshot.find_queue(ctx.broker, vhost, name)
    if found is None:
        raise not_found()
    return found


async def show(ctx: ManagementContext, request: Request) -> object:
    vhost = vhost_param(ctx, request)
    return render(_find(ctx, vhost, request.params["name"]), ctx.node.name)


async def declare(ctx: ManagementContext, request: Request) -> Response:
    vhost, name = vhost_param(ctx, request), request.params["name"]
    body = request.json_object()
    outcome = await apply(ctx, lambda: ctx.admin.declare_queue(
        vhost, name,
        durable=boolean(body, "durable", False),  # RabbitMQ's default when left out
        auto_delete=boolean(body, "auto_delete", False),
        arguments=table(body, "arguments"),
    ))  # fmt: skip
    return created_or_updated(outcome.created)


async def delete(ctx: ManagementContext, request: Request) -> Response:
    vhost, name = vhost_param(ctx, request), request.params["name"]
    _find(ctx, vhost, name)
    await apply(ctx, lambda: ctx.admin.delete_queue(
        vhost, name, flag(request, "if-empty"), flag(request, "if-unused")
    ))  # fmt: skip
    return NO_CONTENT


async def purge(ctx: ManagementContext, request: Request) -> Response:
    vhost, name = vhost_param(ctx, request), request.params["name"]
    _find(ctx, vhost, name)
    await apply(ctx, lambda: ctx.admin.purge_queue(vhost, name))
    return NO_CONTENT
