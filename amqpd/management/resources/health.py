"""/api/nodes and the health checks: /api/aliveness-test/{vhost}, /api/health/checks/*.

amqpd is one node. Its figures are measured when asked: resident memory,
free disk in the data folder, open descriptors, uptime; what an Erlang VM has
and a Python process has not (reductions, GC, Mnesia) is left out or zero.
A check that passes answers 200 ``{"status":"ok"}``; one that fails 503
``{"status":"failed","reason":...}`` with what RabbitMQ adds to each.
"""

from __future__ import annotations

from amqpd.management import listing
from amqpd.management.context import ManagementContext
from amqpd.management.errors import bad_request, not_found
from amqpd.management.request import Request, Response
from amqpd.management.resources.common import apply, vhost_param
from amqpd.management.resources.overview import exchange_types
from amqpd.model.admin import Outcome

_RATE = {"rate": 0.0}
ALIVENESS_QUEUE = "aliveness-test"
PROC_TOTAL = 1048576  # the Erlang VM's process limit RabbitMQ reports


def register(router) -> None:  # noqa: ANN001 - a Router
    router.add("/api/nodes", tag="monitoring", get=list_nodes)
    router.add("/api/nodes/{node}", tag="monitoring", get=show_node)
    router.add("/api/aliveness-test/{vhost}", get=aliveness)
    router.add("/api/health/checks/alarms", get=alarms)
    router.add("/api/health/checks/local-alarms", get=local_alarms)
    router.add("/api/health/checks/port-listener/{port}", get=port_listener)
    router.add("/api/health/checks/protocol-listener/{protocol}", get=protocol_listener)
    router.add("/api/health/checks/virtual-hosts", get=virtual_hosts)
    router.add("/api/health/checks/node-is-quorum-critical", get=single_node)
    router.add("/api/health/checks/node-is-mirror-sync-critical", get=single_node)


# ---- nodes ------------------------------------------------------------------------
def _sockets_total(fd_total: int) -> int:
    # RabbitMQ keeps 100 descriptors for files and lets sockets have 90% of the rest.
    return max(0, -(-(fd_total - 100) * 9 // 10))


def render_node(ctx: ManagementContext, memory: bool = False) -> dict:
    node, stats = ctx.node, ctx.node_stats()
    listeners = [lst for lst in node.listeners if lst.protocol == "http"]
    body = {
        "partitions": [],
        "os_pid": str(stats.os_pid),
        "fd_total": stats.fd_total,
        "sockets_total": _sockets_total(stats.fd_total),
        "mem_limit": stats.mem_limit,
        "mem_alarm": stats.mem_alarm,
        "disk_free_limit": stats.disk_free_limit,
        "disk_free_alarm": stats.disk_free_alarm,
        "proc_total": PROC_TOTAL,
        "rates_mode": "basic",
        "uptime": stats.uptime_ms,
        "run_queue": 0,
        "processors": stats.processors,
        "exchange_types": exchange_types(),
        "auth_mechanisms": [
            {
                "name": "PLAIN",
                "description": "SASL PLAIN authentication mechanism",
                "enabled": True,
            },
            {"name": "AMQPLAIN", "description": "QPid AMQPLAIN mechanism", "enabled": True},
        ],  # fmt: skip
        "applications": [
            {"name": "amqpd", "description": node.product_name, "version": node.product_version},
        ],  # fmt: skip
        "contexts": [
            {"description": "RabbitMQ Management", "path": "/", "port": str(lst.port)}
            for lst in listeners
        ],
        "log_files": ["<stdout>"],
        "db_dir": node.data_dir,
        "config_files": [],
        "net_ticktime": 60,
        "enabled_plugins": ["rabbitmq_management"],
        "mem_calculation_strategy": "rss",
        "name": node.name,
        "type": "disc",
        "running": True,
        "mem_used": stats.mem_used,
        "mem_used_details": dict(_RATE),
        "fd_used": stats.fd_used,
        "fd_used_details": dict(_RATE),
        "sockets_used": stats.sockets_used,
        "sockets_used_details": dict(_RATE),
        "proc_used": 0,
        "proc_used_details": dict(_RATE),
        "disk_free": stats.disk_free,
        "disk_free_details": dict(_RATE),
        "cluster_links": [],
    }
    if memory:
        body["memory"] = {
            "strategy": "rss",
            "total": {"rss": stats.mem_used, "allocated": stats.mem_used,
                      "erlang": stats.mem_used},
        }  # fmt: skip
    return body


async def list_nodes(ctx: ManagementContext, request: Request) -> object:
    return listing.render(request, [render_node(ctx)])


async def show_node(ctx: ManagementContext, request: Request) -> dict:
    if request.params["node"] != ctx.node.name:
        raise not_found()  # RabbitMQ answers 500 for a node it does not know
    return render_node(ctx, memory=request.query.get("memory") == "true")


# ---- health checks ----------------------------------------------------------------
def _failed(reason: str, **more: object) -> Response:
    return Response(503, {"status": "failed", "reason": reason, **more})


async def aliveness(ctx: ManagementContext, request: Request) -> object:
    """Declare the aliveness-test queue, publish to it and get the message back."""
    vhost = vhost_param(ctx, request)
    user = request.user.name

    def check() -> Outcome:
        admin = ctx.admin
        admin.declare_queue(vhost, ALIVENESS_QUEUE, durable=False)
        admin.publish(vhost, "", ALIVENESS_QUEUE, {}, b"test_message", user)
        return admin.get(vhost, ALIVENESS_QUEUE, 1, "ack_requeue_false")

    outcome = await apply(ctx, check)
    if not outcome.got:
        return _failed("aliveness-test queue is empty")
    return {"status": "ok"}


def _alarms(ctx: ManagementContext, message: str) -> object:
    stats = ctx.node_stats()
    found = [
        {"node": ctx.node.name, "resource": resource}
        for resource, on in (("memory", stats.mem_alarm), ("disk space", stats.disk_free_alarm))
        if on
    ]
    if found:
        return _failed(message, alarms=found)
    return {"status": "ok"}


async def alarms(ctx: ManagementContext, request: Request) -> object:
    return _alarms(ctx, "There are alarms in effect in the cluster")


async def local_alarms(ctx: ManagementContext, request: Request) -> object:
    return _alarms(ctx, "There are alarms in effect on the node")


async def port_listener(ctx: ManagementContext, request: Request) -> object:
    text = request.params["port"]
    if not text.lstrip("-").isdigit():
        raise bad_request("Invalid port")
    port = int(text)
    ports = [lst.port for lst in ctx.node.listeners]
    if port not in ports:
        return _failed("No active listener", missing=port, ports=ports)
    return {"status": "ok", "port": port}


# RabbitMQ's other names for the protocols amqpd listens on (a subset of its table).
_PROTOCOL_ALIASES = {
    "amqp091": "amqp", "amqp0.9.1": "amqp", "amqp0-9-1": "amqp", "amqp0_9_1": "amqp",
    "amqp10": "amqp", "amqp1.0": "amqp", "amqp1-0": "amqp", "amqp1_0": "amqp",
    "amqps": "amqp/ssl", "http1": "http", "http1.1": "http", "http_api": "http",
    "management": "http", "management_ui": "http", "ui": "http", "cli": "clustering",
    "distribution": "clustering", "mqtts": "mqtt/ssl", "stomps": "stomp/ssl",
}  # fmt: skip


async def protocol_listener(ctx: ManagementContext, request: Request) -> object:
    wanted = request.params["protocol"].lower()
    wanted = _PROTOCOL_ALIASES.get(wanted, wanted)
    protocols = [lst.protocol for lst in ctx.node.listeners]
    if wanted not in protocols:
        return _failed("No active listener", missing=wanted, protocols=protocols)
    return {"status": "ok", "protocol": wanted}


async def virtual_hosts(ctx: ManagementContext, request: Request) -> dict:
    # Every vhost of amqpd lives in the broker's one process: none can be down alone.
    return {"status": "ok"}


async def single_node(ctx: ManagementContext, request: Request) -> dict:
    return {"status": "ok", "reason": "single node cluster"}
