"""The dispatcher: messages into queues, out to consumers, away when they expire or overflow.

Every change to a queue marks it; ``run`` then reconciles each marked queue
in one pass: expired messages leave the head, ready messages go to consumers
that can take them, length limits are enforced, and the queue's deadlines
(head expiry, queue expiry) are set again. Dead-lettered messages are routed
on, which may mark further queues.
"""

from __future__ import annotations

from collections.abc import Callable

from amqpd.model import deadletter, stream_readers
from amqpd.model.channel import ChannelModel, counted
from amqpd.model.counters import Counters
from amqpd.model.exchange import TRACE_EXCHANGE
from amqpd.model.journal import Journal
from amqpd.model.message import Message
from amqpd.model.queue import Entry, Queue
from amqpd.model.routing import route
from amqpd.model.timers import Timer, Timers
from amqpd.model.tracing import Tracer
from amqpd.model.vhost import VirtualHost


class Dispatcher:
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
        self.counters = Counters()  # totals for metrics (model/counters.py)
        self.tracer = Tracer()  # the firehose's copies, for vhosts that trace
        self.traced: set[str] = set()  # the names of those vhosts (Broker.set_tracing)
        self.now = 0.0
        self._marked: dict[Queue, None] = {}

    def mark(self, queue: Queue) -> None:
        """``queue`` changed: reconcile it in the next ``run``."""
        self._marked[queue] = None

    # ---- into queues ------------------------------------------------------------
    def enqueue(self, queue: Queue, message: Message) -> bool:
        """Put a message in a queue; False if the queue refused it (reject-publish)."""
        if queue.stream is not None:
            stream_readers.append(queue, message, self.wall_clock(), self.journal)
            self.mark(queue)
            return True
        if queue.overflow != "drop-head" and queue.would_overflow(message):
            if queue.overflow == "reject-publish-dlx":
                self._dead_letter_messages(queue, [message], "maxlen")
            return False
        entry = queue.enqueue(message, self.now)
        if queue.page_id is not None:
            self.journal.put(queue, entry)
        self.mark(queue)
        return True

    def requeue(self, queue: Queue, entry: Entry) -> None:
        """A delivery comes back: expired ones die, quorum ones may reach their limit."""
        if queue.deleted or queue.stream is not None:  # a stream delivery stays in the log
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
                self._reconcile(queue)

    def _reconcile(self, queue: Queue) -> None:
        if queue.stream is not None:
            vhost = self.vhosts.get(queue.vhost)
            traced = self.trace_delivery if vhost is not None and vhost.tracing else None
            stream_readers.hand_out(queue, self.journal, self.counters, self.now, traced)
            return
        self.expire_head(queue, strict=True)
        self._hand_out(queue)
        self._enforce_limits(queue)
        self.timers.schedule((Timer.HEAD_EXPIRY, queue), queue.next_expiry())
        self.schedule_queue_expiry(queue)
        for lane, limit in queue.page_wanted():
            self.journal.request_page(queue, lane, limit)

    def _hand_out(self, queue: Queue) -> None:
        now = self.now
        journal = self.journal
        counters = self.counters
        kind = queue.type == "quorum"  # the counters' index for this queue's type
        tracing = queue.vhost in self.traced if self.traced else False  # no call when none
        while queue.consumers and queue.peek() is not None:
            consumer = queue.next_consumer(lambda c: c.channel.can_deliver(c))
            if consumer is None:
                return
            entry = queue.pop()
            consumer.channel.deliver(consumer, entry, now)
            if tracing:
                self.trace_delivery(queue, entry, consumer.channel)
            if consumer.no_ack:
                counters.delivered_consume_auto_ack[kind] += 1
            else:
                counters.delivered_consume_manual_ack[kind] += 1
            if entry.redelivered:
                counters.redelivered[kind] += 1
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
        # Only drop-head drops: a reject-publish queue over a limit lowered by a
        # policy keeps its messages and refuses new ones, as RabbitMQ's does.
        if queue.overflow != "drop-head":
            return
        dropped = []
        while queue.over_limit():
            entry = queue.pop()
            if entry is not None:
                dropped.append(entry)
            # A paged head is owed: dropped now, dead-lettered once read back.
            # Its size is not known before that, so a byte limit waits for it.
            elif not (queue.over_length() and queue.owe_head()):
                break
        if dropped:
            self.dead_letter(queue, dropped, "maxlen")

    def schedule_queue_expiry(self, queue: Queue) -> None:
        """x-expires: an unused queue (no consumers) goes after the period."""
        if queue.expires is None or queue.consumers:
            self.timers.cancel((Timer.QUEUE_UNUSED, queue))
        else:
            self.timers.schedule(
                (Timer.QUEUE_UNUSED, queue), queue.last_used + queue.expires / 1000
            )

    def touch(self, queue: Queue) -> None:
        """The queue was used (get, declare, last consumer gone): x-expires restarts."""
        queue.last_used = self.now
        self.schedule_queue_expiry(queue)

    # ---- the firehose (tracing.py) ---------------------------------------------
    def trace(self, vhost: VirtualHost, copy: Message | None) -> None:
        """Route a trace copy from the vhost's amq.rabbitmq.trace to its queues."""
        if copy is None:
            return
        for queue in route(vhost, vhost.exchanges[TRACE_EXCHANGE], copy):
            self.enqueue(queue, copy)

    def trace_delivery(
        self, queue: Queue, entry: Entry, channel: ChannelModel, get: bool = False
    ) -> None:
        """The copy of a basic.deliver or basic.get-ok (``get``), for a vhost that
        traces; a quorum queue's shows the x-delivery-count the delivery carried."""
        session = channel.session
        message = entry.message
        if queue.is_quorum and (get or entry.delivery_count):
            message = counted(message, entry.delivery_count)
        copy = self.tracer.delivered(message, queue.name, entry.redelivered, queue.vhost,
                                     session.name, channel.number, session.user)  # fmt: skip
        self.trace(self.vhosts[queue.vhost], copy)

    # ---- dead-lettering ---------------------------------------------------------
    def dead_letter(self, queue: Queue, entries: list[Entry], reason: str) -> None:
        """Entries leave ``queue`` for good, republished to its dead-letter exchange."""
        # The copies are made before the store forgets the originals: a message
        # that cannot be dead-lettered is not lost from disk.
        copies = self._dead_letter_copies(queue, [e.message for e in entries], reason)
        for entry in entries:
            self.journal.remove(queue, entry)
        self._republish(queue, copies, reason)

    def _dead_letter_messages(self, queue: Queue, messages: list[Message], reason: str) -> None:
        self._republish(queue, self._dead_letter_copies(queue, messages, reason), reason)

    def _dead_letter_copies(
        self, queue: Queue, messages: list[Message], reason: str
    ) -> list[tuple[Message, list[str]]]:
        dlx = queue.dead_letter_exchange
        self.counters.dead_letter(reason, queue.is_quorum, dlx is not None, len(messages))
        if dlx is None or dlx not in self.vhosts[queue.vhost].exchanges:
            return []  # a missing dead-letter exchange drops the message
        wall = self.wall_clock()
        dlrk = queue.dead_letter_routing_key
        return [
            deadletter.dead_letter(message, queue.name, reason, wall, dlx, dlrk)
            for message in messages
        ]

    def _republish(
        self, queue: Queue, copies: list[tuple[Message, list[str]]], reason: str
    ) -> None:
        if not copies:
            return
        vhost = self.vhosts[queue.vhost]
        exchange = vhost.exchanges[queue.dead_letter_exchange]
        for copy, keys in copies:
            for target in route(vhost, exchange, copy, keys):
                if not deadletter.is_cycle(target.name, reason, copy):
                    self.enqueue(target, copy)
