"""rabbitmq-diagnostics' health checks: their banners, lines, JSON and exit codes.

A broker that cannot be reached exits 69, as rabbitmq-diagnostics does for a node it cannot
contact, so a health check written for RabbitMQ works unchanged.
"""

from __future__ import annotations

import socket
from collections.abc import Callable

from amqpd.ctl.client import ApiError
from amqpd.ctl.command import Command, Invocation, Result, Text, register
from amqpd.ctl.errors import UNAVAILABLE, CtlError

PURPOSES = {
    "amqp": "AMQP 0-9-1 and AMQP 1.0",
    "amqp/ssl": "AMQP 0-9-1 and AMQP 1.0 over TLS",
    "clustering": "inter-node and CLI tool communication",
    "http": "HTTP API",
    "http/prometheus": "Prometheus exporter API over HTTP",
}
ALARMS = {"memory": "Memory alarm on node {node}", "disk": "Free disk space alarm on node {node}"}


def timeout_ms(inv: Invocation) -> int:
    return int((inv.opts.timeout or 60.0) * 1000)


def ok(message: str) -> Text:
    return Text([message], json={"message": message}, silenceable=True)


def ping(inv: Invocation) -> Result:
    inv.client.get("/api/overview")
    return ok("Ping succeeded")


def check_running(inv: Invocation) -> Result:
    inv.client.get("/api/health/checks/virtual-hosts")
    return ok(f"RabbitMQ on node {inv.node} is fully booted and running")


def listener_rows(inv: Invocation) -> list[dict]:
    overview = inv.client.get("/api/overview")
    listeners = overview.get("listeners", []) if isinstance(overview, dict) else []
    return [
        {
            "interface": _interface(str(lst.get("ip_address"))),
            "node": inv.node,
            "port": lst.get("port"),
            "protocol": lst.get("protocol"),
            "purpose": PURPOSES.get(str(lst.get("protocol")), ""),
        }
        for lst in listeners
    ]


def _interface(address: str) -> str:
    return f"[{address}]" if ":" in address else address


def listeners(inv: Invocation) -> Result:
    rows = listener_rows(inv)
    lines = [
        f"Interface: {r['interface']}, port: {r['port']}, protocol: {r['protocol']}, "
        f"purpose: {r['purpose']}"
        for r in rows
    ]
    return Text(lines, json={"listeners": rows, "node": inv.node, "result": "ok"})


def _reachable(host: str, port: int, timeout: float) -> bool:
    try:
        socket.create_connection((host, port), timeout=timeout).close()
    except OSError:
        return False
    return True


def check_port_connectivity(inv: Invocation) -> Result:
    rows = listener_rows(inv)
    ports = sorted(int(r["port"]) for r in rows)
    host = inv.client.target.host
    failed = [p for p in ports if not _reachable(host, p, min(inv.opts.timeout or 10.0, 10.0))]
    if failed:
        text = ", ".join(str(p) for p in failed)
        raise CtlError(f"Connection to ports {text} on node {inv.node} failed", UNAVAILABLE)
    text = ", ".join(str(p) for p in ports)
    return Text(
        [f"Successfully connected to ports {text} on node {inv.node}."],
        json={"listeners": rows, "node": inv.node, "result": "ok"},
        silenceable=True,
    )


def check_local_alarms(inv: Invocation) -> Result:
    node = inv.client.get("/api/nodes/" + inv.node)
    alarms = [
        ALARMS[kind].format(node=inv.node)
        for key, kind in (("mem_alarm", "memory"), ("disk_free_alarm", "disk"))
        if isinstance(node, dict) and node.get(key)
    ]
    if alarms:
        raise CtlError("\n".join(alarms), UNAVAILABLE)
    return Text(
        [f"Node {inv.node} reported no local alarms"], json={"result": "ok"}, silenceable=True
    )


def server_version(inv: Invocation) -> Result:
    overview = inv.client.get("/api/overview")
    version = str(overview.get("rabbitmq_version")) if isinstance(overview, dict) else ""
    return Text([version], json={"result": "ok", "value": version})


def diagnostic(
    name: str, run: Callable[[Invocation], Result], banner: Callable[[Invocation], str]
) -> Command:
    def guarded(inv: Invocation) -> Result:
        try:
            return run(inv)
        except ApiError as err:
            raise CtlError(f"Error:\n{err.reason}", UNAVAILABLE) from None

    return Command(name=name, usage=name, run=guarded, banner=banner)


register(
    "diagnostics",
    diagnostic(
        "ping",
        ping,
        lambda inv: (
            f"Will ping {inv.node}. This only checks if the OS process is running and "
            f"registered with epmd. Timeout: {timeout_ms(inv)} ms."
        ),
    ),
    diagnostic(
        "check_running",
        check_running,
        lambda inv: f"Checking if RabbitMQ is running on node {inv.node} ...",
    ),
    diagnostic(
        "check_port_connectivity",
        check_port_connectivity,
        lambda inv: f"Testing TCP connections to all active listeners on node {inv.node} ...",
    ),
    diagnostic(
        "check_local_alarms",
        check_local_alarms,
        lambda inv: f"Asking node {inv.node} to report any local resource alarms ...",
    ),
    diagnostic(
        "listeners",
        listeners,
        lambda inv: f"Asking node {inv.node} to report its protocol listeners ...",
    ),
    diagnostic(
        "server_version",
        server_version,
        lambda inv: f"Asking node {inv.node} for its RabbitMQ version...",
    ),
)
