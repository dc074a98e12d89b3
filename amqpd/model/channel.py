"""The broker's side of one channel: consumers, unacked deliveries, prefetch, confirms."""

from __future__ import annotations

from dataclasses import dataclass, field

from pamqp import commands

from amqpd.model.confirms import Confirms
from amqpd.model.queue import Entry, Queue


@dataclass(eq=False, slots=True)
class Consumer:
    tag: str
    queue: Queue
    channel: ChannelModel
    no_ack: bool
    exclusive: bool
    prefetch: int  # 0: no limit
    arguments: dict = field(default_factory=dict)
    unacked: int = 0


@dataclass(slots=True)
class Unacked:
    queue: Queue
    entry: Entry
    consumer: Consumer | None  # None for basic.get


class ChannelModel:
    def __init__(self, session, number: int) -> None:
        self.session = session
        self.number = number
        self._next_tag = 1
        self.unacked: dict[int, Unacked] = {}  # by delivery tag, oldest first
        self.consumers: dict[str, Consumer] = {}
        self.prefetch = 0  # basic.qos global=false: the limit each new consumer gets
        self.global_prefetch = 0  # basic.qos global=true: shared by the channel
        self.confirms: Confirms | None = None
        self.tx: list | None = None  # in tx mode: publishes and settlements awaiting commit
        self.last_queue: str | None = None  # what an empty queue name stands for
        self.closed = False

    def can_deliver(self, consumer: Consumer) -> bool:
        if not self.session.writable:
            return False
        if consumer.no_ack:
            return True
        if consumer.prefetch and consumer.unacked >= consumer.prefetch:
            return False
        return not self.global_prefetch or len(self.unacked) < self.global_prefetch

    def deliver(self, consumer: Consumer, entry: Entry) -> None:
        tag = self._track(entry, consumer.queue, None if consumer.no_ack else consumer)
        message = entry.message
        self.session.send_delivery(
            self.number,
            consumer.tag,
            tag,
            entry.redelivered,
            message.exchange,
            message.routing_key,
            message.header,
            message.body,
        )

    def get(self, queue: Queue, entry: Entry, no_ack: bool) -> None:
        if no_ack:
            tag = self._next_tag
            self._next_tag += 1
        else:
            tag = self._track(entry, queue, None, get=True)
        message = entry.message
        self.session.send_content(
            self.number,
            commands.Basic.GetOk(
                delivery_tag=tag,
                redelivered=entry.redelivered,
                exchange=message.exchange,
                routing_key=message.routing_key,
                message_count=queue.message_count,
            ),
            message.header,
            message.body,
        )

    def _track(self, entry: Entry, queue: Queue, consumer: Consumer | None, get=False) -> int:
        tag = self._next_tag
        self._next_tag += 1
        if consumer is not None or get:
            self.unacked[tag] = Unacked(queue, entry, consumer)
            queue.unacked += 1
            if consumer is not None:
                consumer.unacked += 1
        return tag

    def settle(self, tag: int, multiple: bool) -> list[tuple[int, Unacked]] | None:
        """Take deliveries off the unacked list; None if ``tag`` is unknown."""
        if multiple:
            if tag == 0:
                tags = list(self.unacked)
            else:
                if tag not in self.unacked:
                    return None
                tags = [t for t in self.unacked if t <= tag]
        else:
            if tag not in self.unacked:
                return None
            tags = [tag]
        return [(t, self._release(t)) for t in tags]

    def settle_all(self) -> list[Unacked]:
        return [self._release(t) for t in list(self.unacked)]

    def restore(self, tag: int, unacked: Unacked) -> None:
        """Put a settled delivery back (a rolled-back transaction), in tag order."""
        unacked.queue.unacked += 1
        if unacked.consumer is not None:
            unacked.consumer.unacked += 1
        self.unacked[tag] = unacked
        self.unacked = dict(sorted(self.unacked.items()))

    def _release(self, tag: int) -> Unacked:
        unacked = self.unacked.pop(tag)
        unacked.queue.unacked -= 1
        if unacked.consumer is not None:
            unacked.consumer.unacked -= 1
        return unacked
