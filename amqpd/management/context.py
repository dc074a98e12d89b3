"""What the management resources see of the running broker.

The server implements ``ManagementContext``: the model (read through
snapshots, changed through ``amqpd.model.admin``), the users, facts about the
node, and a way to wait until a durable change is on disk before answering.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from amqpd.model.access import Access
from amqpd.model.admin import Admin
from amqpd.model.broker import Broker


@dataclass(frozen=True)
class Listener:
    protocol: str  # "amqp", "http", "prometheus"
    ip_address: str
    port: int


@dataclass
class NodeInfo:
    name: str
    product_name: str
    product_version: str
    rabbitmq_version: str  # the RabbitMQ release amqpd behaves as
    started_at: float  # wall clock
    data_dir: str
    cluster_name: str
    listeners: list[Listener] = field(default_factory=list)


@dataclass(frozen=True)
class ConnectionInfo:
    """One client connection as the shell knows it."""

    name: str  # "peer -> local", as RabbitMQ names connections
    session: object  # the model's Session for it
    peer_host: str
    peer_port: int
    host: str
    port: int
    user: str
    vhost: str
    client_properties: dict
    connected_at: float  # wall clock, seconds
    channel_max: int
    frame_max: int
    heartbeat: int
    auth_mechanism: str
    recv_oct: int = 0
    send_oct: int = 0


@dataclass(frozen=True)
class NodeStats:
    """What the process measures of itself, read when a node or health check is asked for."""

    mem_used: int  # resident set size, bytes
    mem_limit: int  # the memory high watermark, bytes
    mem_alarm: bool
    disk_free: int  # free bytes in the data folder
    disk_free_limit: int
    disk_free_alarm: bool
    fd_used: int
    fd_total: int
    sockets_used: int  # AMQP connections
    uptime_ms: int
    processors: int
    os_pid: int


class ManagementContext(Protocol):
    access: Access
    broker: Broker
    admin: Admin
    node: NodeInfo

    def connections(self) -> list[ConnectionInfo]: ...

    def close_connection(self, name: str, reason: str) -> bool:
        """Close a client connection with 320 CONNECTION_FORCED; False if unknown."""

    def node_stats(self) -> NodeStats:
        """This node's memory, disk, descriptors and alarms, measured now."""

    async def written(self) -> None:
        """Return once every durable change made so far is on disk."""
