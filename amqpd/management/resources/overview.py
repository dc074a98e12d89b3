"""/api/overview, /api/whoami, /api/cluster-name, /api/extensions."""

from __future__ import annotations

from amqpd.management.auth import require, visible_vhosts
from amqpd.management.context import ManagementContext
from amqpd.management.errors import bad_request
from amqpd.management.request import NO_CONTENT, Request, Response
from amqpd.management.resources.common import apply, queue_totals
from amqpd.model import snapshot
from amqpd.model.access import ADMINISTRATOR
from amqpd.model.exchange_types import REGISTRY
from amqpd.model.policy_admin import PolicyAdmin

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
    router.add("/api/cluster-name", get=cluster_name, put=rename_cluster)
    router.add("/api/extensions", get=extensions)


# Counters RabbitMQ keeps and amqpd does not count yet: present, at zero.
_MESSAGE_STATS = (
    "ack", "confirm", "deliver", "deliver_get", "deliver_no_ack", "disk_reads", "disk_writes",
    "drop_unroutable", "get", "get_empty", "get_no_ack", "publish", "redeliver",
    "return_unroutable",
)  # fmt: skip
_CHURN = (
    "channel_closed", "channel_created", "connection_closed", "connection_created",
    "queue_created", "queue_declared", "queue_deleted",
)  # fmt: skip


def _counters(names: tuple[str, ...]) -> dict:
    out: dict = {}
    for name in names:
        out[name] = 0
        out[f"{name}_details"] = dict(_RATE)
    return out


def exchange_types() -> list[dict]:
    """The exchange types this broker offers, in RabbitMQ's order (by name)."""
    return [
        {"name": name, "description": _EXCHANGE_TYPES.get(name, ""), "enabled": True}
        for name in sorted([*REGISTRY, "x-delayed-message"])
    ]


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
        "sample_retention_policies": {
            "global": [600, 3600, 28800, 86400],
            "basic": [600, 3600],
            "detailed": [600],
        },
        "exchange_types": exchange_types(),
        "product_version": node.product_version,
        "product_name": node.product_name,
        "rabbitmq_version": node.rabbitmq_version,
        "cluster_name": _cluster_name(ctx),
        "disable_stats": False,
        "enable_queue_totals": False,
        "message_stats": _counters(_MESSAGE_STATS),
        "churn_rates": _counters(_CHURN),
        "queue_totals": queue_totals(queues),
        "object_totals": {
            "channels": len(channels),
            "connections": len(connections),
            "consumers": sum(q.consumers for q in queues),
            "exchanges": len(exchanges),
            "queues": len(queues),
        },
        "statistics_db_event_queue": 0,
        "node": node.name,
        "listeners": [
            {
                "node": node.name,
                "protocol": lst.protocol,
                "ip_address": lst.ip_address,
                "port": lst.port,
            }
            for lst in node.listeners
        ],
        "contexts": [
            {
                "ssl_opts": [],
                "node": node.name,
                "description": "RabbitMQ Management",
                "path": "/",
                "port": str(lst.port),
            }
            for lst in node.listeners
            if lst.protocol == "http"
        ],
    }


async def whoami(ctx: ManagementContext, request: Request) -> dict:
    return {"name": request.user.name, "tags": list(request.user.tags)}


def _cluster_name(ctx: ManagementContext) -> str:
    """The cluster_name global parameter once set (as RabbitMQ keeps it), else the node's."""
    name = ctx.broker.parameters.get("cluster_name")
    return name if isinstance(name, str) else ctx.node.cluster_name


async def cluster_name(ctx: ManagementContext, request: Request) -> dict:
    return {"name": _cluster_name(ctx)}


async def rename_cluster(ctx: ManagementContext, request: Request) -> Response:
    require(request.user, ADMINISTRATOR)
    name = request.json_object().get("name")
    if not isinstance(name, str):
        raise bad_request("[{key_missing,name}]")
    await apply(ctx, lambda: PolicyAdmin(ctx.broker).put_global("cluster_name", name))
    return NO_CONTENT


async def extensions(ctx: ManagementContext, request: Request) -> list:
    return []
