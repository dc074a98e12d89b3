"""What one scrape reads: snapshots, counters and process figures, taken at once.

The broker builds a Scrape when a scrape arrives (amqpd/server/metrics.py);
the collectors only read it, so they never reach into the model.
"""

from __future__ import annotations

from dataclasses import dataclass

from amqpd.model.counters import CountersSnapshot
from amqpd.model.snapshot import ChannelSnapshot, ExchangeSnapshot, QueueSnapshot


@dataclass(frozen=True)
class Identity:
    """rabbitmq_identity_info's and rabbitmq_build_info's labels."""

    node: str
    cluster: str
    permanent_id: str
    rabbitmq_version: str
    plugin_version: str
    runtime_version: str


@dataclass(frozen=True)
class Process:
    """What the process measures at this scrape."""

    start_time: float  # seconds since the epoch
    open_fds: int
    max_fds: int
    open_tcp_sockets: int
    resident_memory: int
    memory_limit: int
    disk_free: int
    disk_free_limit: int
    memory_alarm: bool
    disk_alarm: bool


@dataclass(frozen=True)
class ChannelFigures:
    """A channel and the name RabbitMQ's per-object families label it by."""

    name: str
    snapshot: ChannelSnapshot


@dataclass(frozen=True)
class Scrape:
    identity: Identity
    process: Process
    counters: CountersSnapshot
    connections: dict[str, int]  # connection name -> its open channels
    channels: list[ChannelFigures]
    queues: list[QueueSnapshot]
    exchanges: list[ExchangeSnapshot]
    bindings_by_source: dict[tuple[str, str], int]  # (vhost, exchange) -> bindings
    vhosts: list[str]
    consumers: int
