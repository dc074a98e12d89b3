"""The broker's side of one channel: consumers, unacked deliveries, prefetch, confirms."""

from __future__ import annotations

from dataclasses import dataclass, field

from pamqp import commands

from amqpd.model.confirms import Confirms
from amqpd.model.message import Message
from amqpd.model.queue import Entry, Queue
from amqpd.model.session import Session
from amqpd.model.stream import Cursor
from amqpd.model.transactions import Transaction
from amqpd.wire.codec import ContentHeader, unchecked


@dataclass(eq=False, slots=True)
class Consumer:
    tag: str
    queue: Queue
    channel: ChannelModel
    no_ack: bool
    exclusive: bool
    prefetch: int  # 0: no limit
    arguments: dict = field(default_factory=dict)
    priority: int = 0
    unacked: int = 0
    cursor: Cursor | None = None  # where a stream consumer is in the log


@dataclass(slots=True)
class Unacked:
    queue: Queue
    entry: Entry
    consumer: Consumer | None  # None for basic.get
    delivered_at: float = 0.0


class ChannelModel:
    def __init__(self, session: Session, number: int, consumer_timeout: int | None = None) -> None:
        self.session = session
        self.number = number
        self._next_tag = 1
        self.unacked: dict[int, Unacked] = {}  # by delivery tag, oldest first
        self.consumers: dict[str, Consumer] = {}
        self.prefetch = 0  # basic.qos global=false: the limit each new consumer gets
        self.global_prefetch = 0  # basic.qos global=true: shared by the channel
        self.confirms: Confirms | None = None
        self.tx: Transaction | None = None  # in tx mode: what waits for tx.commit
        self.last_queue: str | None = None  # what an empty queue name stands for
        self.consumer_timeout = consumer_timeout  # ms, None: never
        self.reply_consumer: str | None = None  # direct reply-to consumer tag
        self.reply_name: str | None = None  # the pseudo-queue name replies go to
        self.closed = False
        # Told when a delivery becomes the only unacked one (its timeout starts).
        self.on_first_unacked = lambda channel: None

    @property
    def next_tag(self) -> int:
        return self._next_tag

    def can_deliver(self, consumer: Consumer) -> bool:
        if not self.session.writable:
            return False
        if consumer.no_ack:
            return True
        if consumer.prefetch and consumer.unacked >= consumer.prefetch:
            return False
        return not self.global_prefetch or len(self.unacked) < self.global_prefetch

    def deliver(self, consumer: Consumer, entry: Entry, now: float) -> None:
        tag = self._track(entry, consumer.queue, None if consumer.no_ack else consumer, now)
        message = entry.message
        header = message.header
        if consumer.queue.is_quorum and entry.delivery_count:
            header = with_delivery_count(message, entry.delivery_count)
        self.session.send_delivery(
            self.number,
            consumer.tag,
            tag,
            entry.redelivered,
            message.exchange,
            message.routing_key,
            header,
            message.body,
        )

    def get(self, queue: Queue, entry: Entry, no_ack: bool, now: float) -> None:
        if no_ack:
            tag = self._next_tag
            self._next_tag += 1
        else:
            tag = self._track(entry, queue, None, now, get=True)
        message = entry.message
        header = message.header
        if queue.is_quorum:  # basic.get always reports the count on a quorum queue
            header = with_delivery_count(message, entry.delivery_count)
        self.session.send_content(
            self.number,
            unchecked(
                commands.Basic.GetOk,
                delivery_tag=tag,
                redelivered=entry.redelivered,
                exchange=message.exchange,
                routing_key=message.routing_key,
                message_count=queue.message_count,
            ),
            header,
            message.body,
        )

    def _track(
        self, entry: Entry, queue: Queue, consumer: Consumer | None, now: float, get: bool = False
    ) -> int:
        tag = self._next_tag
        self._next_tag += 1
        if consumer is not None or get:
            if not self.unacked:
                self.on_first_unacked(self)
            self.unacked[tag] = Unacked(queue, entry, consumer, now)
            queue.unacked += 1
            if consumer is not None:
                consumer.unacked += 1
        return tag

    def ack_deadline(self) -> float | None:
        """When the oldest unacked delivery runs out of time (consumer timeout)."""
        if self.consumer_timeout is None or not self.unacked:
            return None
        oldest = next(iter(self.unacked.values()))
        timeout = oldest.queue.consumer_timeout
        millis = timeout if timeout is not None else self.consumer_timeout
        return oldest.delivered_at + millis / 1000

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


def with_delivery_count(message: Message, count: int) -> ContentHeader:
    """The header of a quorum-queue delivery, reporting how often it came back."""
    return counted(message, count).header


def counted(message: Message, count: int) -> Message:
    """The message as a quorum queue delivers it, with its x-delivery-count."""
    props = dict(message.props)
    headers = dict(props.get("headers") or {})
    headers["x-delivery-count"] = ("l", count)
    props["headers"] = headers
    return message.with_properties(props)
