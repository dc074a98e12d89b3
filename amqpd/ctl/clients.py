"""list_connections, list_channels, list_consumers, close_connection, close_all_connections.

amqpd has no Erlang pids: a connection's ``pid`` is its name (``peer -> local``), which is
what close_connection takes, so ``close_connection "$(... list_connections pid)"`` works.
"""

from __future__ import annotations

from amqpd.ctl.client import ApiError, quote
from amqpd.ctl.command import Command, Invocation, Result, Text, register
from amqpd.ctl.errors import failed
from amqpd.ctl.lists import ListSpec, fetch, list_command, nested

CONNECTION_ITEMS = (
    "pid", "name", "port", "host", "peer_port", "peer_host", "ssl", "ssl_protocol",
    "ssl_key_exchange", "ssl_cipher", "ssl_hash", "peer_cert_subject", "peer_cert_issuer",
    "peer_cert_validity", "state", "channels", "protocol", "auth_mechanism", "user", "vhost",
    "timeout", "frame_max", "channel_max", "client_properties", "recv_oct", "recv_cnt",
    "send_oct", "send_cnt", "send_pend", "connected_at",
)  # fmt: skip
CHANNEL_ITEMS = (
    "pid", "connection", "name", "number", "user", "vhost", "transactional", "confirm",
    "consumer_count", "messages_unacknowledged", "messages_uncommitted", "acks_uncommitted",
    "messages_unconfirmed", "prefetch_count", "global_prefetch_count",
)  # fmt: skip
CONSUMER_ITEMS = (
    "queue_name", "channel_pid", "consumer_tag", "ack_required", "prefetch_count", "active",
    "activity_status", "arguments",
)  # fmt: skip


def protocol(connection: dict) -> str:
    """'AMQP 0-9-1' as rabbitmqctl prints it: {0,9,1}."""
    version = str(connection.get("protocol", "")).rpartition(" ")[2]
    return "{" + version.replace("-", ",") + "}" if version else ""


def close_connection(inv: Invocation) -> Result:
    name, reason = inv.args
    try:
        inv.client.delete(f"/api/connections/{quote(name)}", headers={"x-reason": reason})
    except ApiError as err:
        if err.status != 404:  # an unknown connection is not an error, as in rabbitmqctl
            raise failed(err.reason) from None
    return None


def close_all(inv: Invocation) -> Result:
    path = "/api/connections" if inv.switch("--global") else "/api/vhosts/{vhost}/connections"
    limit = int(str(inv.switch("--limit", "0")) or 0)
    closed = 0
    for connection in fetch(inv, path):
        if limit and closed >= limit:
            break
        name = str(connection.get("name"))
        try:
            inv.client.delete(f"/api/connections/{quote(name)}", headers={"x-reason": inv.args[0]})
            closed += 1
        except ApiError as err:
            if err.status != 404:  # closed meanwhile: fine
                raise failed(err.reason) from None
    return Text([f"Closed {closed} connections"])


def close_all_banner(inv: Invocation) -> str:
    if inv.switch("--global"):
        where = f"to node {inv.node} (across all vhosts)"
        return f"Closing all connections {where}, reason: {inv.args[0]}..."
    return f"Closing all connections in vhost {inv.opts.vhost}, reason: {inv.args[0]}..."


register(
    "ctl",
    list_command(
        ListSpec(
            name="list_connections",
            path="/api/connections",
            known=CONNECTION_ITEMS,
            default=("user", "peer_host", "peer_port", "state"),
            banner=lambda inv: "Listing connections ...",
            getters={"pid": lambda c: c.get("name"), "protocol": protocol},
        )
    ),
    list_command(
        ListSpec(
            name="list_channels",
            path="/api/channels",
            known=CHANNEL_ITEMS,
            default=("pid", "user", "consumer_count", "messages_unacknowledged"),
            banner=lambda inv: "Listing channels ...",
            getters={
                "pid": lambda c: c.get("name"),
                "connection": nested("connection_details", "name"),
            },
        )
    ),
    list_command(
        ListSpec(
            name="list_consumers",
            path="/api/consumers/{vhost}",
            known=CONSUMER_ITEMS,
            default=(
                "queue_name",
                "channel_pid",
                "consumer_tag",
                "ack_required",
                "prefetch_count",
                "active",
                "arguments",
            ),  # fmt: skip
            banner=lambda inv: f"Listing consumers in vhost {inv.opts.vhost} ...",
            getters={
                "queue_name": nested("queue", "name"),
                "channel_pid": nested("channel_details", "name"),
            },
            usage_extra="[--vhost <vhost>] ",
        )
    ),
    Command(
        name="close_connection",
        usage="close_connection <connection name> <explanation>",
        run=close_connection,
        banner=lambda inv: f"Closing connection {inv.args[0]}, reason: {inv.args[1]}...",
        nargs=(2, 2),
    ),
    Command(
        name="close_all_connections",
        usage="close_all_connections [--vhost <vhost> --limit <limit>] [--global] <explanation>",
        run=close_all,
        banner=close_all_banner,
        nargs=(1, 1),
        switches={"--global": False, "--limit": True, "--per-connection-delay": True},
    ),
)
