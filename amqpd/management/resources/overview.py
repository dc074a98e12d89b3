"""/api/overview, /api/whoami, /api/cluster-name, /api/extensions."""

from __future__ import annotations

from amqpd.management.auth import visible_vhosts
from amqpd.management.context import ManagementContext
from amqpd.management.request import Request
from amqpd.model import snapshot
from amqpd.model.exchange_types import REGISTRY

_RATE = {"rate": 0.0}
_EXCHANGE_TYPES = {
    "direct": "AMQP direct exchange, as per the AMQP specification",
    "fanout": "AMQP fanout exchange, as per the AMQP specification",
    "headers": "AMQP headers exchange, as per the AMQP specification",
    "topic": "AMQP topic exchange, as per the AMQP specification",
    "x-delayed-message": "Delayed Message Exchange.",
}


def register(router) -> None:  # noqa: ANN001 - a Router
    router.add("/api/overview", get=overview)
    router.add("/api/whoami", get=whoami)
    router.add("/api/cluster-name", get=cluster_name)
    router.add("/api/extensions", get=extensions)


def _totals(queues: list[snapshot.QueueSnapshot]) -> dict:
    ready = sum(q.messages_ready for q in queues)
    unacked = sum(q.messages_unacknowledged for q in queues)
    return {
        "messages": ready + unacked,
        "messages_details": dict(_RATE),
        "messages_ready": ready,
        "messages_ready_details": dict(_RATE),
        "messages_unacknowledged": unacked,
        "messages_unacknowledged_details": dict(_RATE),
    }


async def overview(ctx: ManagementContext, request: Request) -> dict:
    node = ctx.node
    names = visible_vhosts(ctx.access, request.user)
    queues = [q for v in names for q in snapshot.queues(ctx.broker, v)]
    exchanges = [x for v in names for x in snapshot.exchanges(ctx.broker, v)]
    connections = [c for c in ctx.connections() if c.vhost in names]
    channels = [c for c in snapshot.channels(ctx.broker) if c.vhost in names]
    return {
        "management_version": node.rabbitmq_version,
        "rates_mode": "basic",
        "exchange_types": [
            {"name": name, "description": _EXCHANGE_TYPES.get(name, ""), "enabled": True}
            for name in [*REGISTRY, "x-delayed-message"]
        ],
        "product_version": node.product_version,
        "product_name": node.product_name,
        "rabbitmq_version": node.rabbitmq_version,
        "cluster_name": node.cluster_name,
        "message_stats": {},
        "queue_totals": _totals(queues),
        "object_totals": {
            "channels": len(channels),
            "connections": len(connections),
            "consumers": sum(q.consumers for q in queues),
            "exchanges": len(exchanges),
            "queues": len(queues),
        },
        "node": node.name,
        "listeners": [
            {
                "node": node.name,
                "protocol": lst.protocol,
                "ip_address": lst.ip_address,
                "port": lst.port,
            }
            for lst in node.listeners
        ],  # fmt: skip
    }


async def whoami(ctx: ManagementContext, request: Request) -> dict:
    return {"name": request.user.name, "tags": list(request.user.tags)}


async def cluster_name(ctx: ManagementContext, request: Request) -> dict:
    return {"name": ctx.node.cluster_name}


async def extensions(ctx: ManagementContext, request: Request) -> list:
    return []
