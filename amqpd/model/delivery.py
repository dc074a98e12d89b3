"""Moving messages: into queues, out to consumers, away when they expire or overflow.

Every change to a queue marks it; ``run`` then brings each marked queue back
to a consistent state in one pass: expired messages leave the head, ready
messages go to consumers that can take them, length limits are enforced,
and the queue's deadlines (head expiry, queue expiry) are set again.
Dead-lettered messages are routed on, which may mark further queues.
"""

from __future__ import annotations

from collections.abc import Callable

from amqpd.model import deadletter
from amqpd.model.journal import Journal
from amqpd.model.message import Message
from amqpd.model.queue import PAGE_WINDOW, Entry, Queue
from amqpd.model.timers import Timers
from amqpd.model.vhost import VirtualHost


class Delivery:
    def __init__(
        self,
        vhosts: dict[str, VirtualHost],
        timers: Timers,
        wall_clock: Callable[[], float],
        journal: Journal | None = None,
    ) -> None:
        self.vhosts = vhosts
        self.timers = timers
        self.wall_clock = wall_clock
        self.journal = journal or Journal()
        self.now = 0.0
        self._marked: dict[Queue, None] = {}
        self.on_queue_deleted: Callable[[Queue], None] = lambda queue: None

    def mark(self, queue: Queue) -> None:
        self._marked[queue] = None

    # ---- into queues ------------------------------------------------------------
    def enqueue(self, queue: Queue, message: Message) -> bool:
        """Put a message in a queue; False if the queue refused it (reject-publish)."""
        if queue.overflow != "drop-head" and queue.would_overflow(message):
            if queue.overflow == "reject-publish-dlx":
                self._dead_letter_messages(queue, [message], "maxlen")
            return False
        entry = queue.enqueue(message, self.now)
        if queue.store_id is not None:
            self.journal.put(queue, entry)
        self.mark(queue)
        return True

    def requeue(self, queue: Queue, entry: Entry) -> None:
        """A delivery comes back: expired ones die, quorum ones may reach their limit."""
        if queue.deleted:
            return
        if entry.expires_at is not None and entry.expires_at <= self.now:
            self.dead_letter(queue, [entry], "expired")
            return
        if queue.is_quorum and queue.delivery_limit is not None:
            if entry.delivery_count + 1 > queue.delivery_limit:
                self.dead_letter(queue, [entry], "delivery_limit")
                return
        queue.requeue(entry)
        self.journal.requeued(queue, entry)
        self.mark(queue)

    # ---- the pass ---------------------------------------------------------------
    def run(self) -> None:
        while self._marked:
            queue = next(iter(self._marked))
            del self._marked[queue]
            if not queue.deleted:
                self._settle_queue(queue)

    def _settle_queue(self, queue: Queue) -> None:
        self.expire_head(queue, strict=True)
        self._hand_out(queue)
        self._enforce_limits(queue)
        self.timers.schedule(("expire", queue), queue.next_expiry())
        self.schedule_queue_expiry(queue)
        if queue.wants_page_in():
            self.journal.request_page(queue, PAGE_WINDOW - queue.in_memory)

    def _hand_out(self, queue: Queue) -> None:
        now = self.now
        journal = self.journal
        while queue.consumers and queue.in_memory:
            consumer = queue.next_consumer(lambda c: c.channel.can_deliver(c))
            if consumer is None:
                return
            entry = queue.pop()
            consumer.channel.deliver(consumer, entry, now)
            if entry.stored:
                journal.delivered(queue, entry, consumer.no_ack)
            self.expire_head(queue, strict=True)

    def expire_head(self, queue: Queue, strict: bool) -> None:
        """Dead-letter expired messages at the head (only the head expires, as in
        RabbitMQ). ``strict``: a message due exactly now may still be delivered,
        so a TTL of 0 reaches a consumer that is ready for it."""
        now = self.now
        expired = []
        while (head := queue.peek()) is not None and head.expires_at is not None:
            if head.expires_at > now or (strict and head.expires_at == now):
                break
            expired.append(queue.pop())
        if expired:
            self.dead_letter(queue, expired, "expired")

    def _enforce_limits(self, queue: Queue) -> None:
        dropped = []
        while queue.over_limit():
            dropped.append(queue.pop())
        if dropped:
            self.dead_letter(queue, dropped, "maxlen")

    def schedule_queue_expiry(self, queue: Queue) -> None:
        """x-expires: an unused queue (no consumers) goes after the period."""
        if queue.expires is None or queue.consumers:
            self.timers.cancel(("unused", queue))
        else:
            self.timers.schedule(("unused", queue), queue.last_used + queue.expires / 1000)

    def touch(self, queue: Queue) -> None:
        """The queue was used (get, declare, last consumer gone): x-expires restarts."""
        queue.last_used = self.now
        self.schedule_queue_expiry(queue)

    # ---- dead-lettering ---------------------------------------------------------
    def dead_letter(self, queue: Queue, entries: list[Entry], reason: str) -> None:
        for entry in entries:
            self.journal.remove(queue, entry)
        self._dead_letter_messages(queue, [e.message for e in entries], reason)

    def _dead_letter_messages(self, queue: Queue, messages: list[Message], reason: str) -> None:
        dlx_name = queue.dead_letter_exchange
        if dlx_name is None:
            return
        vhost = self.vhosts[queue.vhost]
        exchange = vhost.exchanges.get(dlx_name)
        if exchange is None:
            return  # a missing dead-letter exchange drops the message
        wall = self.wall_clock()
        for message in messages:
            copy, keys = deadletter.dead_letter(
                message, queue.name, reason, wall, dlx_name, queue.dead_letter_routing_key
            )
            for target in vhost.route(exchange, copy, keys):
                if deadletter.is_cycle(target.name, reason, copy):
                    continue
                self.enqueue(target, copy)
