"""/api/connections, /api/channels, /api/consumers: the clients, as RabbitMQ shows them.

A connection is named "peer -> local" ("127.0.0.1:50000 -> 127.0.0.1:5672"), a
channel "connection (N)". Users with the ``monitoring`` tag see every client;
others see their own connections. DELETE closes a connection with 320
CONNECTION_FORCED and the ``X-Reason`` header as the reason. Counts are exact;
byte counters and rates are zeros (amqpd does not keep them).
"""

from __future__ import annotations

from amqpd.management import listing
from amqpd.management.auth import sees_all_vhosts, visible_vhosts
from amqpd.management.context import ConnectionInfo, ManagementContext
from amqpd.management.errors import not_authorised, not_found
from amqpd.management.request import NO_CONTENT, Request, Response
from amqpd.management.resources.common import vhost_param
from amqpd.management.resources.values import json_safe
from amqpd.model import snapshot
from amqpd.model.snapshot import ChannelSnapshot, ConsumerSnapshot

_RATE = {"rate": 0.0}  # shared by every row, never changed
# Fields a list of connections sorts and filters on without rendering it.
CONNECTION_FIELDS = listing.attributes(
    "auth_mechanism", "channel_max", "frame_max", "host", "name", "peer_host", "peer_port",
    "port", "user", "vhost", timeout="heartbeat",
)  # fmt: skip
DEFAULT_REASON = "Closed via management plugin"


def register(router) -> None:  # noqa: ANN001 - a Router
    router.add("/api/connections", get=list_connections)
    router.add("/api/connections/{name}", get=show_connection, delete=close_connection)
    router.add("/api/connections/{name}/channels", get=connection_channels)
    router.add("/api/vhosts/{vhost}/connections", get=vhost_connections)
    router.add("/api/channels", get=list_channels)
    router.add("/api/channels/{name}", get=show_channel)
    router.add("/api/vhosts/{vhost}/channels", get=vhost_channels)
    router.add("/api/consumers", get=list_consumers)
    router.add("/api/consumers/{vhost}", get=vhost_consumers)


# ---- what the user may see -------------------------------------------------------
def _connections(ctx: ManagementContext, request: Request) -> list[ConnectionInfo]:
    found = ctx.connections()
    if sees_all_vhosts(request.user):
        return found
    return [c for c in found if c.user == request.user.name]


def _by_session(ctx: ManagementContext, request: Request) -> dict[object, ConnectionInfo]:
    return {c.session: c for c in _connections(ctx, request)}


def _connection(ctx: ManagementContext, request: Request) -> ConnectionInfo:
    """The connection named in the path: 404 if unknown, 401 if another user's."""
    name = request.params["name"]
    found = next((c for c in ctx.connections() if c.name == name), None)
    if found is None:
        raise not_found()
    _require_visible(request, found)
    return found


def _require_visible(request: Request, conn: ConnectionInfo) -> None:
    if not sees_all_vhosts(request.user) and conn.user != request.user.name:
        raise not_authorised("User not authorised to access object")


# ---- rendering --------------------------------------------------------------------
def render_connection(c: ConnectionInfo, node: str, channels: int, one: bool = False) -> dict:
    # RabbitMQ shows the TLS fields as null in lists and "" for one connection.
    none = "" if one else None
    return {
        "auth_mechanism": c.auth_mechanism,
        "channel_max": c.channel_max,
        "channels": channels,
        "client_properties": json_safe(c.client_properties),
        "connected_at": int(c.connected_at * 1000),
        "frame_max": c.frame_max,
        "host": c.host,
        "name": c.name,
        "node": node,
        "peer_cert_issuer": none,
        "peer_cert_subject": none,
        "peer_cert_validity": none,
        "peer_host": c.peer_host,
        "peer_port": c.peer_port,
        "port": c.port,
        "protocol": "AMQP 0-9-1",
        "recv_cnt": 0,
        "recv_oct": c.recv_oct,
        "recv_oct_details": _RATE,
        "reductions": 0,
        "reductions_details": _RATE,
        "send_cnt": 0,
        "send_oct": c.send_oct,
        "send_oct_details": _RATE,
        "send_pend": 0,
        "ssl": False,
        "ssl_cipher": none,
        "ssl_hash": none,
        "ssl_key_exchange": none,
        "ssl_protocol": none,
        "state": "running",
        "timeout": c.heartbeat,
        "type": "network",
        "user": c.user,
        "user_who_performed_action": c.user,
        "vhost": c.vhost,
    }


def _channel_name(conn: ConnectionInfo, number: int) -> str:
    return f"{conn.name} ({number})"


def render_channel(ch: ChannelSnapshot, conn: ConnectionInfo, node: str) -> dict:
    return {
        "acks_uncommitted": ch.acks_uncommitted,
        "confirm": ch.confirm,
        "connection_details": {
            "name": conn.name,
            "peer_host": conn.peer_host,
            "peer_port": conn.peer_port,
        },
        "consumer_count": ch.consumers,
        "global_prefetch_count": ch.global_prefetch_count,
        "messages_unacknowledged": ch.messages_unacknowledged,
        "messages_uncommitted": ch.messages_uncommitted,
        "messages_unconfirmed": ch.messages_unconfirmed,
        "name": _channel_name(conn, ch.number),
        "node": node,
        "number": ch.number,
        "pending_raft_commands": 0,
        "prefetch_count": ch.prefetch_count,
        "reductions": 0,
        "reductions_details": _RATE,
        "state": "running",
        "transactional": ch.transactional,
        "user": ch.user,
        "user_who_performed_action": ch.user,
        "vhost": ch.vhost,
    }


def render_consumer(c: ConsumerSnapshot, conn: ConnectionInfo, node: str) -> dict:
    return {
        "arguments": json_safe(c.arguments),
        "ack_required": c.ack_required,
        "active": c.active,
        "activity_status": "up" if c.active else "waiting",
        "channel_details": {
            "connection_name": conn.name,
            "name": _channel_name(conn, c.channel),
            "node": node,
            "number": c.channel,
            "peer_host": conn.peer_host,
            "peer_port": conn.peer_port,
            "user": conn.user,
        },
        "consumer_tag": c.consumer_tag,
        "exclusive": c.exclusive,
        "prefetch_count": c.prefetch_count,
        "queue": {"name": c.queue, "vhost": c.vhost},
    }


# ---- connections ------------------------------------------------------------------
def _channel_counts(ctx: ManagementContext) -> dict[object, int]:
    counts: dict[object, int] = {}
    for ch in snapshot.channels(ctx.broker):
        counts[ch.session] = counts.get(ch.session, 0) + 1
    return counts


def _connection_rows(ctx: ManagementContext, conns: list[ConnectionInfo]) -> listing.Rows:
    counts, node = _channel_counts(ctx), ctx.node.name
    return listing.Rows(
        conns, lambda c: render_connection(c, node, counts.get(c.session, 0)), CONNECTION_FIELDS
    )


async def list_connections(ctx: ManagementContext, request: Request) -> object:
    return await listing.answer(request, _connection_rows(ctx, _connections(ctx, request)))


async def vhost_connections(ctx: ManagementContext, request: Request) -> object:
    vhost = vhost_param(ctx, request)
    conns = [c for c in _connections(ctx, request) if c.vhost == vhost]
    return await listing.answer(request, _connection_rows(ctx, conns))


async def show_connection(ctx: ManagementContext, request: Request) -> dict:
    conn = _connection(ctx, request)
    count = _channel_counts(ctx).get(conn.session, 0)
    return render_connection(conn, ctx.node.name, count, one=True)


async def close_connection(ctx: ManagementContext, request: Request) -> Response:
    conn = _connection(ctx, request)
    reason = request.headers.get("x-reason") or DEFAULT_REASON
    if not ctx.close_connection(conn.name, reason):
        raise not_found()
    return NO_CONTENT


async def connection_channels(ctx: ManagementContext, request: Request) -> object:
    conn = _connection(ctx, request)
    found = [(ch, conn) for ch in snapshot.channels(ctx.broker) if ch.session is conn.session]
    return await listing.answer(request, _channel_rows(ctx, found))


# ---- channels ---------------------------------------------------------------------
def _channels(ctx: ManagementContext, request: Request, vhost: str | None = None) -> list:
    conns = _by_session(ctx, request)
    return [
        (ch, conns[ch.session]) for ch in snapshot.channels(ctx.broker)
        if ch.session in conns and (vhost is None or ch.vhost == vhost)
    ]  # fmt: skip


def _channel_rows(ctx: ManagementContext, found: list) -> listing.Rows:
    node = ctx.node.name
    return listing.Rows(found, lambda pair: render_channel(*pair, node))


async def list_channels(ctx: ManagementContext, request: Request) -> object:
    return await listing.answer(request, _channel_rows(ctx, _channels(ctx, request)))


async def vhost_channels(ctx: ManagementContext, request: Request) -> object:
    vhost = vhost_param(ctx, request)
    return await listing.answer(request, _channel_rows(ctx, _channels(ctx, request, vhost)))


async def show_channel(ctx: ManagementContext, request: Request) -> dict:
    name = request.params["name"]
    conns = {c.session: c for c in ctx.connections()}
    for ch in snapshot.channels(ctx.broker):
        conn = conns.get(ch.session)
        if conn is not None and _channel_name(conn, ch.number) == name:
            _require_visible(request, conn)
            body = render_channel(ch, conn, ctx.node.name)
            consumers = [
                render_consumer(c, conn, ctx.node.name)
                for c in snapshot.consumers(ctx.broker, ch.vhost)
                if c.session is ch.session and c.channel == ch.number
            ]  # fmt: skip
            body.update(consumer_details=consumers, deliveries=[], publishes=[])
            return dict(sorted(body.items()))
    raise not_found()


# ---- consumers --------------------------------------------------------------------
def _consumers(ctx: ManagementContext, request: Request, vhosts: list[str]) -> listing.Rows:
    conns, node = _by_session(ctx, request), ctx.node.name
    found = [c for v in vhosts for c in snapshot.consumers(ctx.broker, v) if c.session in conns]
    return listing.Rows(found, lambda c: render_consumer(c, conns[c.session], node))


async def list_consumers(ctx: ManagementContext, request: Request) -> object:
    vhosts = visible_vhosts(ctx.access, request.user)
    return await listing.answer(request, _consumers(ctx, request, vhosts), ("consumer_tag",))


async def vhost_consumers(ctx: ManagementContext, request: Request) -> object:
    vhost = vhost_param(ctx, request)
    return await listing.answer(request, _consumers(ctx, request, [vhost]), ("consumer_tag",))
