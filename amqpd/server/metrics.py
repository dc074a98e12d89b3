"""The Prometheus endpoint inside the broker process: hypercorn serving amqpd.metrics on Trio.

As with the management API (amqpd/server/management.py), the broker opens the
listening socket itself before anything is served, so a taken port is a
one-line error and port 0 picks a free one. A scrape builds everything from
snapshots of the model, its counters and what the process measures right
then; nothing runs between scrapes.
"""

from __future__ import annotations

import base64
import collections
import hashlib
import logging
import os
import platform
import resource
import socket
import time
from pathlib import Path

from amqpd.metrics.app import MetricsApp
from amqpd.metrics.scrape import ChannelFigures, Identity, Process, Scrape
from amqpd.model import snapshot
from amqpd.server.http_listener import HttpListener
from amqpd.server.resources import disk_free, resident_memory

log = logging.getLogger("amqpd.metrics")



class MetricsService:
    def __init__(self, server) -> None:  # noqa: ANN001 - the Server, which imports us
        self._server = server
        self.identity = identity(server.config.data_dir, server.config.version)
        self.started_at = time.time()
        self.http = HttpListener(MetricsApp(self.scrape), "amqpd.metrics.http")

    # ---- one scrape -------------------------------------------------------------
    def scrape(self) -> Scrape:
        broker = self._server.broker
        names = self._connection_names()
        channels = [
            ChannelFigures(f"{names.get(c.session, '?')} ({c.number})", c)
            for c in snapshot.channels(broker)
        ]
        per_connection = dict.fromkeys(names.values(), 0)
        for channel in channels:
            name = names.get(channel.snapshot.session)
            if name is not None:
                per_connection[name] += 1
        queues = snapshot.queues(broker)
        bindings = collections.Counter(
            (b.vhost, b.source) for b in snapshot.bindings(broker) if b.source
        )
        return Scrape(
            self.identity, self._process(), broker.counters.snapshot(), per_connection,
            channels, queues, snapshot.exchanges(broker), dict(bindings),
            sorted(broker.vhosts), sum(q.consumers for q in queues),
        )  # fmt: skip

    def _connection_names(self) -> dict:
        """Each open connection's name, as the management API names it."""
        return {h: connection_name(h) for h in list(self._server.handlers) if h.opened}

    def _process(self) -> Process:
        server = self._server
        monitor = server.resources
        reason = monitor.reason or ""
        return Process(
            start_time=self.started_at, open_fds=open_fds(),
            max_fds=resource.getrlimit(resource.RLIMIT_NOFILE)[0],
            open_tcp_sockets=len(server.handlers), resident_memory=resident_memory(),
            memory_limit=monitor.memory_limit, disk_free=disk_free(monitor.data_dir) or 0,
            disk_free_limit=monitor.disk_limit, memory_alarm="memory" in reason,
            disk_alarm="disk" in reason,
        )  # fmt: skip


def connection_name(handler) -> str:  # noqa: ANN001 - a ConnectionHandler
    try:
        host, port = handler.stream.socket.getsockname()[:2]
    except (AttributeError, OSError):
        return handler.peer
    return f"{handler.peer} -> {host}:{port}"


def identity(data_dir: str, rabbitmq_version: str) -> Identity:
    """The node and cluster names as the management API gives them; the permanent
    id is derived from the host and the data folder, so it survives restarts."""
    host = socket.gethostname()
    seed = f"{host}:{Path(data_dir).resolve()}".encode()
    digest = base64.urlsafe_b64encode(hashlib.sha256(seed).digest()[:16]).decode().rstrip("=")
    from amqpd import __version__

    return Identity(
        node=f"rabbit@{host.split('.')[0] or 'localhost'}",
        cluster=f"rabbit@{host}",
        permanent_id=f"rabbitmq-cluster-id-{digest}",
        rabbitmq_version=rabbitmq_version,
        plugin_version=__version__,
        runtime_version=f"Python {platform.python_version()}",
    )


def open_fds() -> int:
    try:
        return len(os.listdir("/proc/self/fd"))
    except OSError:
        return 0


