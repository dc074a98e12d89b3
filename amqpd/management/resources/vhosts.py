"""/api/vhosts: list and show (management), create and delete (administrator),
and each vhost's permissions; /api/vhost-limits.

Creating a vhost gives its creator full permissions on it, as RabbitMQ does;
deleting one closes its connections (320 CONNECTION_FORCED "vhost 'v' is
deleted") and removes all it held, on disk too.
"""

from __future__ import annotations

import json

from amqpd.management import listing
from amqpd.management.auth import listed_vhosts, visible_vhosts
from amqpd.management.context import ManagementContext
from amqpd.management.errors import HTTPError, bad_request, not_found
from amqpd.management.request import NO_CONTENT, Request, Response, created_or_updated
from amqpd.management.resources.common import apply, queue_totals, vhost_param
from amqpd.management.resources.users import (
    parse_tags,
    render_permission,
    render_topic_permission,
)
from amqpd.model import snapshot
from amqpd.model.access import ADMINISTRATOR, LIMIT_NAMES
from amqpd.model.accounts import Accounts


def register(router) -> None:  # noqa: ANN001 - a Router
    router.add("/api/vhosts", get=list_all)
    # Administrators only, for reading too (RabbitMQ 3.10), before a vhost is looked up.
    router.add("/api/vhosts/{vhost}", ADMINISTRATOR, get=show, put=put, delete=delete)
    router.add("/api/vhosts/{vhost}/permissions", ADMINISTRATOR, get=permissions)
    router.add("/api/vhosts/{vhost}/topic-permissions", ADMINISTRATOR, get=topic_permissions)
    router.add("/api/vhost-limits", get=limits_all)
    router.add("/api/vhost-limits/{vhost}", get=limits_of)
    router.add("/api/vhost-limits/{vhost}/{name}", ADMINISTRATOR, put=set_limit,
               delete=clear_limit)  # fmt: skip


def render(ctx: ManagementContext, name: str) -> dict:
    info = ctx.access.vhosts[name]
    queues = snapshot.queues(ctx.broker, name)
    return {
        "cluster_state": {ctx.node.name: "running"},
        "default_queue_type": "undefined",
        "description": info.description,
        "metadata": {"description": info.description, "tags": list(info.tags)},
        "name": name,
        "tags": list(info.tags),
        "tracing": snapshot.tracing(ctx.broker, name),
        **queue_totals(queues),
    }


async def list_all(ctx: ManagementContext, request: Request) -> object:
    items = [render(ctx, v) for v in listed_vhosts(ctx.access, request.user)]
    return listing.render(request, items)


async def show(ctx: ManagementContext, request: Request) -> dict:
    return render(ctx, vhost_param(ctx, request))


async def put(ctx: ManagementContext, request: Request) -> Response:
    name = request.params["vhost"]
    body = request.json_object()
    description = body.get("description", "")
    if not isinstance(description, str):
        raise bad_request("description must be a string")
    tags = parse_tags(body.get("tags", ""))
    tracing = _tracing(body)
    creator = request.user.name
    outcome = await apply(ctx, lambda: Accounts(ctx.broker).put_vhost(
        name, description, tags, creator))  # fmt: skip
    if tracing is not None:  # absent: the firehose stays as it is
        Accounts(ctx.broker).set_tracing(name, tracing)
    return created_or_updated(outcome.created)


def _tracing(body: dict) -> bool | None:
    """The firehose switch of a vhost PUT: a boolean or "true"/"false", as RabbitMQ
    parses it, which answers anything else with ["not_boolean", value]."""
    if "tracing" not in body:
        return None
    value = body["tracing"]
    if value is True or value == "true":
        return True
    if value is False or value == "false":
        return False
    raise HTTPError(400, "bad_request", ["not_boolean", value])


async def delete(ctx: ManagementContext, request: Request) -> Response:
    name = request.params["vhost"]
    if name not in ctx.access.vhosts:
        raise not_found()
    connections = [c.name for c in ctx.connections() if c.vhost == name]
    outcome, _sessions = Accounts(ctx.broker).delete_vhost(name)
    for connection in connections:
        ctx.close_connection(connection, f"vhost '{name}' is deleted")
    if outcome.durable:
        await ctx.written()
    return NO_CONTENT


async def permissions(ctx: ManagementContext, request: Request) -> object:
    vhost = vhost_param(ctx, request)
    items = [render_permission(user, v, p)
             for (user, v), p in ctx.access.permissions.items() if v == vhost]  # fmt: skip
    return listing.render(request, items, ("user",))


async def topic_permissions(ctx: ManagementContext, request: Request) -> object:
    vhost = vhost_param(ctx, request)
    items = [render_topic_permission(user, v, p)
             for (user, v), found in ctx.access.topic_permissions.items() if v == vhost
             for p in found.values()]  # fmt: skip
    return listing.render(request, items, ("user", "exchange"))


# ---- limits --------------------------------------------------------------------


def _limits(ctx: ManagementContext, names: list[str]) -> list[dict]:
    return [
        {"vhost": name, "value": dict(ctx.access.vhosts[name].limits)}
        for name in names
        if ctx.access.vhosts[name].limits
    ]


async def limits_all(ctx: ManagementContext, request: Request) -> list:
    return _limits(ctx, visible_vhosts(ctx.access, request.user))


async def limits_of(ctx: ManagementContext, request: Request) -> list:
    return _limits(ctx, [vhost_param(ctx, request)])


def _erlang(value: object) -> str:
    """A JSON value as RabbitMQ's validation texts print it (strings as binaries)."""
    if isinstance(value, str):
        return f"<<{json.dumps(value)}>>"
    return json.dumps(value)


async def set_limit(ctx: ManagementContext, request: Request) -> Response:
    vhost, name = vhost_param(ctx, request), request.params["name"]
    value = request.json_object().get("value")
    if name not in LIMIT_NAMES:
        raise bad_request(
            f'Validation failed\n\nUnrecognised terms [{{<<"{name}">>,{_erlang(value)}}}] '
            "in limits\n"
        )
    if not isinstance(value, int) or isinstance(value, bool):
        raise bad_request(
            f"Validation failed\n\n{name} should be a number, actually was {_erlang(value)}\n"
        )
    await apply(ctx, lambda: Accounts(ctx.broker).set_vhost_limit(vhost, name, value))
    return NO_CONTENT


async def clear_limit(ctx: ManagementContext, request: Request) -> Response:
    vhost, name = vhost_param(ctx, request), request.params["name"]
    await apply(ctx, lambda: Accounts(ctx.broker).set_vhost_limit(vhost, name, None))
    return NO_CONTENT
