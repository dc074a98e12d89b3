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

A deep stored FIFO queue keeps only a window of its oldest ready messages in
memory; the rest are "paged": counted here, held by the store, and read back
in batches as the window drains (see model/journal.py and model/dispatcher.py).
"""

from __future__ import annotations

import heapq
import itertools
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from amqpd.model.message import Message
from amqpd.model.policies import Policy, QueueSettings, queue_settings


class Consumer(Protocol):
    """What a queue needs of a consumer (channel.Consumer, defined above this module)."""

    priority: int
    exclusive: bool


# Ready messages a paging queue keeps in memory, and the level below which it
# reads the next batch back from the store.
PAGE_WINDOW = 2048
PAGE_LOW = 1024


@dataclass(eq=False, slots=True)
class Entry:
    message: Message
    seq: int
    expires_at: float | None = None
    priority: int = 0
    redelivered: bool = False
    delivery_count: int = 0  # returns to the queue (quorum queues report it)
    stored: bool = False  # the store holds it (see model/journal.py)
    paged: bool = False  # only the store holds it: not kept in memory

    def __lt__(self, other: Entry) -> bool:
        return self.seq < other.seq


class FifoStore:
    def __init__(self) -> None:
        self._tail: deque[Entry] = deque()
        self._requeued: list[Entry] = []

    def __len__(self) -> int:
        return len(self._tail) + len(self._requeued)

    def push(self, entry: Entry) -> None:
        self._tail.append(entry)

    def push_back(self, entry: Entry) -> None:
        heapq.heappush(self._requeued, entry)

    def peek(self) -> Entry | None:
        if self._requeued:
            return self._requeued[0]
        return self._tail[0] if self._tail else None

    def pop(self) -> Entry | None:
        if self._requeued:
            return heapq.heappop(self._requeued)
        return self._tail.popleft() if self._tail else None

    def clear(self) -> list[Entry]:
        entries = sorted(self._requeued) + list(self._tail)
        self._tail.clear()
        self._requeued.clear()
        return entries


class PriorityStore:
    def __init__(self) -> None:
        self._heap: list[tuple[int, int, Entry]] = []

    def __len__(self) -> int:
        return len(self._heap)

    def push(self, entry: Entry) -> None:
        heapq.heappush(self._heap, (-entry.priority, entry.seq, entry))

    push_back = push  # the original sequence number puts it ahead of newer ones

    def peek(self) -> Entry | None:
        return self._heap[0][2] if self._heap else None

    def pop(self) -> Entry | None:
        return heapq.heappop(self._heap)[2] if self._heap else None

    def clear(self) -> list[Entry]:
        entries = [item[2] for item in sorted(self._heap)]
        self._heap.clear()
        return entries


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
        self._store: FifoStore | PriorityStore = (
            PriorityStore() if self.max_priority else FifoStore()
        )
        self._seq = itertools.count()
        self.bytes = 0  # body bytes of ready messages
        self.single_active = args.get("x-single-active-consumer") is True
        self.type = _str_arg(args, "x-queue-type") or "classic"
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
        self.pageable = False  # set with store_id when the queue can page (can_page)
        self.paged = 0  # messages only in the store, all newer than those in memory
        self.paged_bytes = 0
        self.paged_from: int | None = None  # seq of the oldest paged message
        self.paging_in = False
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
        RabbitMQ; a queue that gains a length limit stops paging new messages.
        """
        self.policy, self.operator_policy = policy, operator
        settings = queue_settings(self.arguments, policy, operator)
        if settings == self.settings:
            return False
        self.settings = settings
        self._use(settings)
        self.pageable = self.pageable and self.can_page
        return True

    @property
    def can_page(self) -> bool:
        # Priority order and length limits need every message at hand.
        return not (self.max_priority or self.max_length is not None
                    or self.max_length_bytes is not None)  # fmt: skip

    # ---- messages -------------------------------------------------------------
    @property
    def message_count(self) -> int:
        return len(self._store) + self.paged

    @property
    def in_memory(self) -> int:
        return len(self._store)

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
        if self.pageable and (self.paged or len(self._store) >= PAGE_WINDOW):
            entry.paged = True  # the journal writes it; memory keeps only the count
            if not self.paged:
                self.paged_from = entry.seq
            self.paged += 1
            self.paged_bytes += message.size
        else:
            self._store.push(entry)
            self.bytes += message.size
        return entry

    def wants_page_in(self) -> bool:
        return bool(self.paged) and not self.paging_in and len(self._store) < PAGE_LOW

    def page_in(self, generation: int, records: int, next_seq: int, entries: list[Entry]) -> None:
        """Paged messages read back from the store, oldest first: ``records`` were
        read, up to ``next_seq``, of which ``entries`` could be (the rest were set aside)."""
        if generation != self.page_generation or self.deleted:
            return
        self.paging_in = False
        if not records:  # the store holds none of them: nothing left to wait for
            self.paged = self.paged_bytes = 0
            self.paged_from = None
            return
        for entry in entries:
            self._store.push(entry)
            self.bytes += entry.message.size
            self.paged_bytes -= entry.message.size
        self.paged = max(0, self.paged - records)
        self.paged_from = next_seq if self.paged else None
        if not self.paged:
            self.paged_bytes = 0

    def restore(self, entries: list[Entry], paged: int, paged_bytes: int, next_seq: int) -> None:
        """Messages recovered from the store at start-up (the oldest, in order)."""
        for entry in entries:
            self._store.push(entry)
            self.bytes += entry.message.size
        self.paged, self.paged_bytes = paged, paged_bytes
        self.paged_from = entries[-1].seq + 1 if paged and entries else (0 if paged else None)
        self._seq = itertools.count(next_seq)

    def would_overflow(self, message: Message) -> bool:
        """Whether one more message breaks a length limit (for reject-publish)."""
        if self.max_length is not None and self.message_count + 1 > self.max_length:
            return True
        return (
            self.max_length_bytes is not None and self.bytes + message.size > self.max_length_bytes
        )

    def over_limit(self) -> bool:
        if self.max_length is not None and self.message_count > self.max_length:
            return True
        return self.max_length_bytes is not None and self.bytes > self.max_length_bytes

    def peek(self) -> Entry | None:
        return self._store.peek()

    def pop(self) -> Entry | None:
        entry = self._store.pop()
        if entry is not None:
            self.bytes -= entry.message.size
        return entry

    def requeue(self, entry: Entry) -> None:
        entry.redelivered = True
        entry.delivery_count += 1
        self._store.push_back(entry)
        self.bytes += entry.message.size

    def purge(self) -> list[Entry]:
        """Drop the ready messages (paged ones too); returns those held in memory."""
        entries = self._store.clear()
        self.bytes = 0
        self.paged = self.paged_bytes = 0
        self.paged_from = None
        self.paging_in = False
        self.page_generation += 1
        return entries

    def next_expiry(self) -> float | None:
        head = self._store.peek()
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
