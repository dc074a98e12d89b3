"""status, await_startup and reset: the node as a whole."""

from __future__ import annotations

import time

from amqpd.ctl.client import ApiError, quote
from amqpd.ctl.command import Command, Invocation, Result, Text, register
from amqpd.ctl.errors import TEMPFAIL, CtlError, failed

AWAIT_TIMEOUT = 300.0  # rabbitmqctl await_startup's default
POLL_INTERVAL = 0.2
KEPT_GLOBAL_PARAMETERS = ("cluster_name", "internal_cluster_id")


def status_lines(overview: dict, node: dict) -> list[str]:
    alarms = [
        name
        for key, name in (("mem_alarm", "memory"), ("disk_free_alarm", "disk"))
        if node.get(key)
    ]
    listeners = [
        f"Interface: {lst.get('ip_address')}, port: {lst.get('port')}, "
        f"protocol: {lst.get('protocol')}"
        for lst in overview.get("listeners", [])
    ]
    return [
        "Runtime", "",
        f"OS PID: {node.get('os_pid')}",
        f"Uptime (seconds): {int(node.get('uptime', 0)) // 1000}",
        f"RabbitMQ version: {overview.get('rabbitmq_version')}",
        f"Node name: {node.get('name')}",
        f"Product: {overview.get('product_name')} {overview.get('product_version')}",
        "", "Alarms", "", *(alarms or ["(none)"]),
        "", "Memory", "",
        f"Total memory used: {node.get('mem_used', 0) / 1e9:.4f} gb",
        f"Calculation strategy: {node.get('mem_calculation_strategy')}",
        f"Memory high watermark limit: {node.get('mem_limit', 0) / 1e9:.4f} gb",
        "", "File Descriptors", "",
        f"Total: {node.get('fd_used')}, limit: {node.get('fd_total')}",
        "", "Free Disk Space", "",
        f"Low free disk space watermark: {node.get('disk_free_limit', 0) / 1e9:.4f} gb",
        f"Free disk space: {node.get('disk_free', 0) / 1e9:.4f} gb",
        "", "Listeners", "", *listeners,
    ]  # fmt: skip


def status(inv: Invocation) -> Result:
    overview = inv.client.get("/api/overview")
    node = inv.client.get(f"/api/nodes/{quote(inv.node)}")
    assert isinstance(overview, dict) and isinstance(node, dict)
    return Text(status_lines(overview, node), json={"overview": overview, "node": node})


def await_startup(inv: Invocation) -> Result:
    deadline = time.monotonic() + (inv.opts.timeout or AWAIT_TIMEOUT)
    while True:
        try:
            inv.client.get("/api/health/checks/virtual-hosts")
            return None
        except (ApiError, CtlError) as err:
            if time.monotonic() >= deadline:
                detail = err.text if isinstance(err, CtlError) else err.reason
                raise CtlError(
                    f"Error: the broker did not start in time: {detail}", TEMPFAIL
                ) from None
        time.sleep(POLL_INTERVAL)


def reset(inv: Invocation) -> Result:
    """Back to a fresh broker: only vhost '/' (empty) and the user running the command."""
    try:
        for vhost in inv.client.get("/api/vhosts") or []:
            inv.client.delete(f"/api/vhosts/{quote(vhost['name'])}")
        inv.client.put("/api/vhosts/%2F", {})  # its creator gets full permissions
        for user in inv.client.get("/api/users") or []:
            if user["name"] != inv.client.target.user:
                inv.client.delete(f"/api/users/{quote(user['name'])}")
        for param in inv.client.get("/api/global-parameters") or []:
            if param["name"] not in KEPT_GLOBAL_PARAMETERS:
                inv.client.delete(f"/api/global-parameters/{quote(param['name'])}")
    except ApiError as err:
        raise failed(err.reason) from None
    return None


register(
    "ctl",
    Command(
        name="status",
        usage="status [--unit <unit>]",
        run=status,
        banner=lambda inv: f"Status of node {inv.node} ...",
        switches={"--unit": True},
    ),
    Command(
        name="await_startup",
        usage="await_startup [--timeout <timeout>]",
        run=await_startup,
    ),
    Command(
        name="reset",
        usage="reset",
        run=reset,
        banner=lambda inv: f"Resetting node {inv.node} ...",
    ),
)
