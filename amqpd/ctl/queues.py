"""list_queues, purge_queue, delete_queue."""

from __future__ import annotations

from amqpd.ctl.client import ApiError, quote
from amqpd.ctl.command import Command, Invocation, Result, Text, register
from amqpd.ctl.errors import USAGE, failed
from amqpd.ctl.lists import ListSpec, blank_if_none, list_command

QUEUE_ITEMS = (
    "arguments", "auto_delete", "consumer_capacity", "consumer_utilisation", "consumers",
    "disk_reads", "disk_writes", "durable", "exclusive", "exclusive_consumer_pid",
    "exclusive_consumer_tag", "head_message_timestamp", "leader", "members", "memory",
    "message_bytes", "message_bytes_persistent", "message_bytes_ram", "message_bytes_ready",
    "message_bytes_unacknowledged", "messages", "messages_persistent", "messages_ram",
    "messages_ready", "messages_ready_ram", "messages_unacknowledged",
    "messages_unacknowledged_ram", "name", "online", "owner_pid", "pid", "policy", "slave_pids",
    "state", "synchronised_slave_pids", "type",
)  # fmt: skip

LIST_QUEUES = ListSpec(
    name="list_queues",
    path="/api/queues/{vhost}",
    known=QUEUE_ITEMS,
    default=("name", "messages"),
    banner=lambda inv: f"Listing queues for vhost {inv.opts.vhost} ...",
    getters={
        "policy": blank_if_none("policy"),
        "pid": lambda q: q.get("node"),
        "leader": lambda q: q.get("node"),
        "exclusive_consumer_tag": blank_if_none("exclusive_consumer_tag"),
    },
    usage_extra="[--vhost <vhost>] ",
    timeout_banner=True,
)


def queue_path(inv: Invocation, suffix: str = "") -> str:
    return f"/api/queues/{quote(inv.opts.vhost)}/{quote(inv.args[0])}{suffix}"


def purge(inv: Invocation) -> Result:
    try:
        inv.client.delete(queue_path(inv, "/contents"))
    except ApiError as err:
        raise failed("not_found" if err.status == 404 else err.reason) from None
    return None


def delete(inv: Invocation) -> Result:
    path = queue_path(inv)
    try:
        queue = inv.client.get(path)
    except ApiError as err:
        raise failed("Queue not found" if err.status == 404 else err.reason, USAGE) from None
    query = "&".join(f"{flag}=true" for flag in ("if-empty", "if-unused") if _on(inv, flag))
    try:
        inv.client.delete(path + (f"?{query}" if query else ""))
    except ApiError as err:
        raise failed(err.reason) from None
    ready = queue.get("messages_ready", 0) if isinstance(queue, dict) else 0
    return Text([f"Queue was successfully deleted with {ready} ready messages"])


def _on(inv: Invocation, flag: str) -> bool:
    """--if-empty or -e, --if-unused or -u."""
    return bool(inv.switch(f"--{flag}") or inv.switch(f"-{flag[3]}"))


def delete_banner(inv: Invocation) -> str:
    conditions = [
        what
        for flag, what in (("if-empty", "is empty"), ("if-unused", "is unused"))
        if _on(inv, flag)
    ]
    tail = f" if queue {' and '.join(conditions)}" if conditions else ""
    return f"Deleting queue '{inv.args[0]}' on vhost '{inv.opts.vhost}'{tail} ..."


register(
    "ctl",
    list_command(LIST_QUEUES),
    Command(
        name="purge_queue",
        usage="purge_queue [--vhost <vhost>] <queue>",
        run=purge,
        banner=lambda inv: f"Purging queue '{inv.args[0]}' in vhost '{inv.opts.vhost}' ...",
        nargs=(1, 1),
    ),
    Command(
        name="delete_queue",
        usage="delete_queue [--vhost <vhost>] <queue_name> [--if-empty|-e] [--if-unused|-u]",
        run=delete,
        banner=delete_banner,
        nargs=(1, 1),
        switches={"--if-empty": False, "--if-unused": False, "-e": False, "-u": False},
    ),
)
