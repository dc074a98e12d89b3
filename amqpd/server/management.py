"""The management API inside the broker process: hypercorn serving our ASGI app on Trio.

Why hypercorn: it is maintained, speaks HTTP/1.1 (and 2) on Trio natively, so
it runs in the broker's own nursery next to the AMQP listeners, and leaves the
application entirely to us (see docs/management.md). The listening socket is
opened by the broker itself, before anything is served, so a taken port is the
same one-line error as for AMQP, and port 0 picks a free one.
"""

from __future__ import annotations

import logging
import os
import resource
import socket
import time

from amqpd.errors import ReplyCode
from amqpd.management.app import ManagementApp
from amqpd.management.context import ConnectionInfo, Listener, NodeInfo, NodeStats
from amqpd.management.resources import build_router
from amqpd.model.access import Access
from amqpd.model.admin import Admin
from amqpd.model.broker import Broker
from amqpd.server.http_listener import HttpListener
from amqpd.server.resources import disk_free, resident_memory

log = logging.getLogger("amqpd.management")


class ManagementService:
    """What the management resources see (a ManagementContext), and the HTTP listener."""

    def __init__(self, server) -> None:  # noqa: ANN001 - the Server, which imports us
        self._server = server
        self.access: Access = server.access
        self.broker: Broker = server.broker
        self.admin = Admin(server.broker)
        config = server.config
        self.node = NodeInfo(
            name=node_name(),
            product_name="amqpd",
            product_version=_amqpd_version(),
            rabbitmq_version=config.version,
            started_at=time.time(),
            data_dir=str(config.data_dir),
            cluster_name=f"rabbit@{socket.gethostname()}",
        )
        self.http = HttpListener(ManagementApp(self, build_router()), "amqpd.management.http")

    # ---- ManagementContext ------------------------------------------------------
    def connections(self) -> list[ConnectionInfo]:
        found = []
        local_port = self._server.port or 0
        for handler in list(self._server.handlers):
            conn = handler.conn
            if not handler.opened:
                continue
            host, _, port = handler.peer.rpartition(":")
            local_host, local = _local_address(handler, self._server.config.bind, local_port)
            found.append(ConnectionInfo(
                name=f"{handler.peer} -> {local_host}:{local}",
                session=handler, peer_host=host, peer_port=int(port or 0),
                host=local_host, port=local, user=conn.user or "",
                vhost=conn.vhost or "", client_properties=dict(conn.client_properties),
                connected_at=handler.connected_at, channel_max=conn.channel_max,
                frame_max=conn.frame_max, heartbeat=conn.heartbeat, auth_mechanism="PLAIN",
            ))  # fmt: skip
        return found

    def close_connection(self, name: str, reason: str) -> bool:
        for info in self.connections():
            if info.name == name:
                info.session.shutdown(ReplyCode.CONNECTION_FORCED, reason)
                return True
        return False

    def node_stats(self) -> NodeStats:
        monitor = self._server.resources
        reason = monitor.reason or ""
        free = disk_free(monitor.data_dir) or 0
        try:
            fd_used = len(os.listdir("/proc/self/fd"))
        except OSError:
            fd_used = 0
        return NodeStats(
            mem_used=resident_memory(), mem_limit=monitor.memory_limit,
            mem_alarm="memory" in reason, disk_free=free,
            disk_free_limit=monitor.disk_limit, disk_free_alarm="disk" in reason,
            fd_used=fd_used, fd_total=resource.getrlimit(resource.RLIMIT_NOFILE)[0],
            sockets_used=len(self._server.handlers),
            uptime_ms=int((time.time() - self.node.started_at) * 1000),
            processors=os.cpu_count() or 1, os_pid=os.getpid(),
        )  # fmt: skip

    async def written(self) -> None:
        journal = self.broker.journal
        # With nothing pending, every change so far is in a batch already taken:
        # waiting for the next one would wait for someone else's change.
        await self._server.storage.wait_written(journal.taken + (1 if journal.pending else 0))

    def listeners(self) -> list[Listener]:
        bind = self._server.config.bind
        out = [Listener("amqp", bind, self._server.port or 0)]
        if self.http.port is not None:
            out.append(Listener("http", bind, self.http.port))
        return out


def node_name() -> str:
    """The node's name, as RabbitMQ's: rabbit@ and the short host name."""
    return f"rabbit@{socket.gethostname().split('.')[0] or 'localhost'}"


def _local_address(handler, bind: str, port: int) -> tuple[str, int]:  # noqa: ANN001
    """The address the client connected to, as RabbitMQ names connections by it."""
    try:
        host, local = handler.stream.socket.getsockname()[:2]
        return host, local
    except (AttributeError, OSError):
        return bind, port


def _amqpd_version() -> str:
    from amqpd import __version__

    return __version__
