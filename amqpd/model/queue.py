"""A queue: ready messages in order, consumers served in turn.

Ready messages come from two places: those requeued after a delivery (kept
in their original order, ahead of the rest, as RabbitMQ's classic queues do)
and the never-delivered tail. Every message delivered left from the head, so
a requeued message is always older than everything still in the tail.
"""

from __future__ import annotations

import heapq
import itertools
from collections import deque
from dataclasses import dataclass, field

from amqpd.model.message import Message


@dataclass(eq=False, slots=True)
class Entry:
    message: Message
    seq: int
    redelivered: bool = False

    def __lt__(self, other: Entry) -> bool:
        return self.seq < other.seq


@dataclass(eq=False)
class Queue:
    name: str
    vhost: str
    durable: bool = False
    exclusive_owner: object | None = None  # the session that declared it exclusive
    auto_delete: bool = False
    arguments: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._tail: deque[Entry] = deque()
        self._requeued: list[Entry] = []
        self._seq = itertools.count()
        self.consumers: deque = deque()  # rotated: the next to serve is on the left
        self.exclusive_consumer = None
        self.had_consumers = False
        self.unacked = 0
        self.bindings: set[tuple] = set()  # (exchange name, key, frozen arguments)
        self.deleted = False

    # ---- messages -------------------------------------------------------------
    @property
    def message_count(self) -> int:
        return len(self._tail) + len(self._requeued)

    def enqueue(self, message: Message) -> Entry:
        entry = Entry(message, next(self._seq))
        self._tail.append(entry)
        return entry

    def pop(self) -> Entry | None:
        if self._requeued:
            return heapq.heappop(self._requeued)
        if self._tail:
            return self._tail.popleft()
        return None

    def requeue(self, entry: Entry) -> None:
        entry.redelivered = True
        heapq.heappush(self._requeued, entry)

    def purge(self) -> int:
        count = self.message_count
        self._tail.clear()
        self._requeued.clear()
        return count

    # ---- consumers ------------------------------------------------------------
    def add_consumer(self, consumer) -> None:
        self.consumers.append(consumer)
        self.had_consumers = True
        if consumer.exclusive:
            self.exclusive_consumer = consumer

    def remove_consumer(self, consumer) -> None:
        try:
            self.consumers.remove(consumer)
        except ValueError:
            return
        if self.exclusive_consumer is consumer:
            self.exclusive_consumer = None

    def in_use(self) -> bool:
        return bool(self.consumers)
