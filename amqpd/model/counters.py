"""The few totals the model keeps since start, for metrics read at scrape time.

rabbitmq_prometheus builds every family when it is scraped, from stats the
broker already keeps; the hot path only bumps global counters. These are
those counters: plain integers bumped where a message is received, routed,
delivered, acknowledged or confirmed, and where connections, channels and
queues come and go. Per-queue-type totals are three-element lists indexed by
``queue.is_quorum`` (0: classic, 1: quorum) or ``STREAM`` (2), so a bump is one
index and one add.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

# The totals kept once per queue type (RabbitMQ labels them queue_type).
BY_QUEUE_TYPE = (
    "delivered_consume_auto_ack",
    "delivered_consume_manual_ack",
    "delivered_get_auto_ack",
    "delivered_get_manual_ack",
    "redelivered",
    "acknowledged",
    "get_empty",
)


STREAM = 2  # the index of stream queues' totals
_TYPE_INDEX = {"quorum": 1, "stream": STREAM}


def type_index(queue_type: str) -> int:
    """Where a queue type's totals are in a per-type list."""
    return _TYPE_INDEX.get(queue_type, 0)


class Counters:
    """Totals since the broker started; bumped in place, read with ``snapshot()``."""

    __slots__ = (
        "received",
        "received_confirm",
        "routed",
        "published_to_queues",
        "unroutable_dropped",
        "unroutable_returned",
        "confirmed",
        "connections_opened",
        "connections_closed",
        "channels_opened",
        "channels_closed",
        "queues_declared",
        "queues_created",
        "queues_deleted",
        "dead_lettered",
        *BY_QUEUE_TYPE,
    )

    def __init__(self) -> None:
        for name in self.__slots__:
            setattr(self, name, [0, 0, 0] if name in BY_QUEUE_TYPE else 0)
        # (reason, is_quorum, has a dead-letter exchange) -> messages
        self.dead_lettered: dict[tuple[str, bool, bool], int] = {}

    def dead_letter(self, reason: str, quorum: bool, dlx: bool, count: int) -> None:
        key = (reason, quorum, dlx)
        self.dead_lettered[key] = self.dead_lettered.get(key, 0) + count

    def snapshot(self) -> CountersSnapshot:
        values = {}
        for f in fields(CountersSnapshot):
            value = getattr(self, f.name)
            values[f.name] = tuple(value) if isinstance(value, list) else value
        values["dead_lettered"] = dict(self.dead_lettered)
        return CountersSnapshot(**values)


@dataclass(frozen=True)
class CountersSnapshot:
    """The counters at one moment (tuples of (classic, quorum, stream) where kept per type)."""

    received: int
    received_confirm: int
    routed: int
    published_to_queues: int
    unroutable_dropped: int
    unroutable_returned: int
    confirmed: int
    connections_opened: int
    connections_closed: int
    channels_opened: int
    channels_closed: int
    queues_declared: int
    queues_created: int
    queues_deleted: int
    dead_lettered: dict
    delivered_consume_auto_ack: tuple[int, int, int]
    delivered_consume_manual_ack: tuple[int, int, int]
    delivered_get_auto_ack: tuple[int, int, int]
    delivered_get_manual_ack: tuple[int, int, int]
    redelivered: tuple[int, int, int]
    acknowledged: tuple[int, int, int]
    get_empty: tuple[int, int, int]
