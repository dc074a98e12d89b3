"""A queue: ready messages in order, consumers served in turn.

Ready messages are kept by a store. The FIFO store holds the never-delivered
tail and, ahead of it, requeued messages in their original order (as RabbitMQ's
classic queues do: every delivered message left from the head, so a requeued
one is older than anything still in the tail). The priority store serves the
highest priority first, FIFO within a priority, requeued messages first among
their priority.

Consumers are grouped by their x-priority: the highest group with a consumer
able to take a message gets it, in turn within the group. A single-active-
consumer queue serves only its first registered consumer.

Every queue whose messages the store can hold keeps only a window of its
oldest ready messages in memory, per priority lane (model/ready.py); the rest
are "paged": counted here, held by the store, and read back in batches as the
window drains (see model/journal.py and model/dispatcher.py).
"""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from amqpd.model import ready
from amqpd.model.message import Message
from amqpd.model.policies import Policy, QueueSettings, effective_definition, queue_settings
from amqpd.model.ready import PAGE_WINDOW, Entry, Lane, lane_window
from amqpd.model.stream import StreamLog

__all__ = ["PAGE_WINDOW", "Consumer", "Entry", "Lane", "Queue"]


class Consumer(Protocol):
    """What a queue needs of a consumer (channel.Consumer, defined above this module)."""

    priority: int
    exclusive: bool


@dataclass(eq=False)
class Queue:
    name: str
    vhost: str
    durable: bool = False
    exclusive_owner: object | None = None  # the session that declared it exclusive
    auto_delete: bool = False
    arguments: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        args = self.arguments
        self.max_priority = _int_arg(args, "x-max-priority") or 0
        self._window = lane_window(self.max_priority + 1)
        # The lane being served reads ahead as far as a FIFO queue's window.
        self._head_window = max(self._window, ready.PAGE_WINDOW)
        self._lanes: dict[int, Lane] = {}  # by priority, made as messages come
        self._order: list[Lane] = []  # highest priority first
        self._lane(0)
        self._seq = itertools.count()
        self.bytes = 0  # body bytes of ready messages held in memory
        self.single_active = args.get("x-single-active-consumer") is True
        self.type = _str_arg(args, "x-queue-type") or "classic"
        self.stream = StreamLog(args) if self.type == "stream" else None
        # The policy and operator policy that apply (see policies.py); the
        # settings below are read only from what they and the arguments decide.
        self.policy: Policy | None = None
        self.operator_policy: Policy | None = None
        self.settings = queue_settings(args)
        self._use(self.settings)
        self.consumer_timeout = _int_arg(args, "x-consumer-timeout")
        self.consumers: list[Consumer] = []  # in registration order
        self._groups: dict[int, deque] = {}  # x-priority -> consumers, next to serve on the left
        self.exclusive_consumer = None
        self.had_consumers = False
        self.unacked = 0
        self.bindings: set[tuple] = set()  # (exchange name, key, frozen arguments)
        self.deleted = False
        self.last_used = 0.0  # for x-expires
        self.store_id: int | None = None  # set when the store keeps this queue
        self.store_batch = 0  # the batch that writes its declaration (journal.wait_for)
        # Where the store holds its paged messages: store_id for a stored queue,
        # an id of its own (no queue record) for a transient one. Set, with
        # pageable, when the broker has a store.
        self.page_id: int | None = None
        self.pageable = False
        self.page_used = False  # the store was given messages of this transient queue
        self.page_generation = 0  # a purge makes reads in flight stale

    def _use(self, settings: QueueSettings) -> None:
        self.message_ttl = settings.message_ttl
        self.expires = settings.expires
        self.max_length = settings.max_length
        self.max_length_bytes = settings.max_length_bytes
        self.overflow = settings.overflow
        self.dead_letter_exchange = settings.dead_letter_exchange
        self.dead_letter_routing_key = settings.dead_letter_routing_key
        self.delivery_limit = settings.delivery_limit

    def set_policies(self, policy: Policy | None, operator: Policy | None) -> bool:
        """Apply a new policy pair; True if the effective settings changed.

        Messages already queued keep the deadline they were given, as in
        RabbitMQ; paged messages count towards a new length limit.
        """
        self.policy, self.operator_policy = policy, operator
        if self.stream is not None:
            self.stream.configure(self.arguments, effective_definition(policy, operator))
        settings = queue_settings(self.arguments, policy, operator)
        if settings == self.settings:
            return False
        self.settings = settings
        self._use(settings)
        return True

    # ---- messages -------------------------------------------------------------
    def _lane(self, priority: int) -> Lane:
        lane = self._lanes.get(priority)
        if lane is None:
            lane = self._lanes[priority] = Lane(priority, self._window)
            self._order = sorted(self._lanes.values(), key=lambda x: -x.priority)
        return lane

    @property
    def window(self) -> int:
        """Ready messages each lane keeps in memory before paging."""
        return self._window

    def lanes(self) -> list[Lane]:
        """The priority lanes, highest first (a FIFO queue has one)."""
        return self._order

    def _head(self) -> Lane | None:
        """The lane the next message comes from: the highest with a ready message."""
        for lane in self._order:
            if lane.count:
                return lane
        return None

    @property
    def message_count(self) -> int:
        return sum(lane.count for lane in self._order)

    @property
    def in_memory(self) -> int:
        return sum(len(lane) for lane in self._order)

    @property
    def paged(self) -> int:
        return sum(lane.paged - lane.owed for lane in self._order)

    @property
    def paged_bytes(self) -> int:
        return sum(lane.paged_bytes for lane in self._order)

    @property
    def is_quorum(self) -> bool:
        return self.type == "quorum"

    def enqueue(self, message: Message, now: float) -> Entry:
        ttl = self.message_ttl
        per_message = message.ttl
        if per_message is not None:
            ttl = per_message if ttl is None else min(ttl, per_message)
        priority = min(message.priority, self.max_priority) if self.max_priority else 0
        entry = Entry(
            message,
            next(self._seq),
            None if ttl is None else now + ttl / 1000,
            priority,
        )
        # Once paged, the journal writes it and memory keeps only the count.
        if not self._lane(priority).push(entry, self.pageable):
            self.bytes += message.size
        return entry

    def page_wanted(self) -> list[tuple[Lane, int]]:
        """Lanes whose window ran low while messages of theirs are paged, and
        how many to read back: the lane the next message comes from reads
        ahead further, so a priority queue drains in pages as big as a FIFO's."""
        head = self._head()
        wanted = []
        for lane in self._order:
            window = self._head_window if lane is head else lane.window
            if lane.wants_page_in(window):
                wanted.append((lane, window - len(lane)))
        return wanted

    def blocked(self) -> Lane | None:
        """The lane of the next message if that message is paged (read it back first)."""
        head = self._head()
        return head if head is not None and not len(head) else None

    def page_in(
        self, generation: int, priority: int, records: int, next_seq: int, entries: list[Entry]
    ) -> list[Entry]:
        """Paged messages of lane ``priority`` read back from the store, oldest
        first (see Lane.page_in); returns the owed heads, to be dropped."""
        lane = self._lanes.get(priority)
        if generation != self.page_generation or self.deleted or lane is None:
            return []
        dropped = lane.page_in(records, next_seq, entries)
        self.bytes += sum(entry.message.size for entry in entries[len(dropped) :])
        return dropped

    def restore(self, priority: int, entries: list[Entry], paged: int, paged_bytes: int) -> None:
        """Messages recovered from the store at start-up: the oldest of lane
        ``priority``, in order, and how many more it holds."""
        self._lane(priority).restore(entries, paged, paged_bytes)
        self.bytes += sum(entry.message.size for entry in entries)

    def resume_seq(self, next_seq: int) -> None:
        self._seq = itertools.count(next_seq)

    def would_overflow(self, message: Message) -> bool:
        """Whether one more message breaks a length limit (for reject-publish)."""
        if self.max_length is not None and self.message_count + 1 > self.max_length:
            return True
        return (
            self.max_length_bytes is not None
            and self.bytes + self.paged_bytes + message.size > self.max_length_bytes
        )

    def over_length(self) -> bool:
        return self.max_length is not None and self.message_count > self.max_length

    def over_limit(self) -> bool:
        if self.over_length():
            return True
        return (
            self.max_length_bytes is not None
            and self.bytes + self.paged_bytes > self.max_length_bytes
        )

    def owe_head(self) -> bool:
        """Drop-head found the head paged: drop it once read back (Lane.owe_head)."""
        head = self._head()
        return head is not None and head.owe_head()

    def peek(self) -> Entry | None:
        """The next message, if in memory (None when the queue is empty or its
        next message is paged)."""
        head = self._head()
        return None if head is None else head.peek()

    def pop(self) -> Entry | None:
        head = self._head()
        entry = None if head is None else head.pop()
        if entry is not None:
            self.bytes -= entry.message.size
        return entry

    def requeue(self, entry: Entry) -> None:
        entry.redelivered = True
        entry.delivery_count += 1
        self._lane(entry.priority).push_back(entry)
        self.bytes += entry.message.size

    def purge(self) -> tuple[list[Entry], list[tuple[int, int]]]:
        """Drop the ready messages, paged ones too; returns those held in memory,
        and (priority, oldest seq) of each lane that had paged messages."""
        paged = [(lane.priority, lane.paged_from) for lane in self._order
                 if lane.paged_from is not None]  # fmt: skip
        entries = [entry for lane in self._order for entry in lane.clear()]
        self.bytes = 0
        self.page_generation += 1
        return entries, paged

    def next_expiry(self) -> float | None:
        head = self.peek()
        return None if head is None else head.expires_at

    # ---- consumers ------------------------------------------------------------
    def add_consumer(self, consumer: Consumer) -> None:
        self.consumers.append(consumer)
        self._groups.setdefault(consumer.priority, deque()).append(consumer)
        self._groups = dict(sorted(self._groups.items(), reverse=True))
        self.had_consumers = True
        if consumer.exclusive:
            self.exclusive_consumer = consumer

    def remove_consumer(self, consumer: Consumer) -> None:
        if consumer not in self.consumers:
            return
        self.consumers.remove(consumer)
        group = self._groups[consumer.priority]
        group.remove(consumer)
        if not group:
            del self._groups[consumer.priority]
        if self.exclusive_consumer is consumer:
            self.exclusive_consumer = None

    def next_consumer(self, can_take: Callable[[Consumer], bool]) -> Consumer | None:
        """The consumer the next message goes to, or None if none can take one."""
        if self.single_active:
            active = self.consumers[0] if self.consumers else None
            return active if active is not None and can_take(active) else None
        for group in self._groups.values():
            for _ in range(len(group)):
                consumer = group[0]
                group.rotate(-1)
                if can_take(consumer):
                    return consumer
        return None


def _int_arg(args: dict, name: str) -> int | None:
    value = args.get(name)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _str_arg(args: dict, name: str) -> str | None:
    value = args.get(name)
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value if isinstance(value, str) else None
