"""Changes made from outside AMQP: the management API and the command line.

Each operation runs as a client's command would (the same checks, texts and
journal), but for no session: nothing an API call declares is exclusive to
anyone. Each returns whether it made a durable change, so the caller can wait
for the store before it answers, as a declare-ok waits on AMQP.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from amqpd.errors import ChannelError, ReplyCode
from amqpd.model import publish as publishing
from amqpd.model import stream_readers
from amqpd.model.broker import Broker
from amqpd.model.channel import ChannelModel
from amqpd.model.context import SessionState
from amqpd.model.message import Message
from amqpd.model.permissions import queue_limit_reached
from amqpd.model.queue import Entry, Queue
from amqpd.model.routing import route, routing_keys
from amqpd.model.vhost import VirtualHost
from amqpd.wire import properties as props_codec
from amqpd.wire.codec import ContentHeader


@dataclass(frozen=True)
class Outcome:
    created: bool = False  # the object did not exist before
    durable: bool = False  # a durable change waits for the store
    count: int = 0  # messages deleted or purged
    routed: bool = False  # a publish reached at least one queue
    got: list[Got] = field(default_factory=list)  # messages taken by get


@dataclass(frozen=True)
class Got:
    """One message taken from a queue by the API's get."""

    message: Message
    redelivered: bool
    message_count: int  # ready messages left behind it


# The API's get: how each message is settled once taken (RabbitMQ's ackmodes).
ACKMODES = {
    "ack_requeue_true": "requeue",
    "reject_requeue_true": "requeue",
    "ack_requeue_false": "ack",
    "reject_requeue_false": "reject",
}
BASIC_CLASS = 60


# The channel RabbitMQ's management API publishes and gets on (the firehose names it).
API_CHANNEL = 1


class _ApiSession:
    """The publisher behind an API publish: a logged-in user, no client to write to."""

    client_properties: dict = {}
    writable = True
    name = ""  # RabbitMQ publishes for the API on a direct connection; there is none here

    def __init__(self, user: str, vhost: str) -> None:
        self.user, self.vhost = user, vhost

    def send_method(self, channel: int, method: object) -> None:
        pass

    def send_content(self, channel: int, method: object, header: object, body: bytes) -> None:
        pass

    def send_delivery(self, channel: int, *delivery: object) -> None:
        pass


class Admin:
    def __init__(self, broker: Broker) -> None:
        self.broker = broker

    def _vhost(self, name: str) -> VirtualHost:
        vhost = self.broker.vhosts.get(name)
        if vhost is None:
            raise ChannelError(ReplyCode.NOT_FOUND, f"no vhost '{name}'")
        return vhost

    def _run(self, operation) -> Outcome:  # noqa: ANN001 - a callable returning an Outcome
        broker = self.broker
        broker.tick()
        mark = broker.journal.mark()
        try:
            outcome = operation()
        finally:
            broker.dispatch()
        durable = broker.journal.durable_since(mark)
        return Outcome(outcome.created, durable, outcome.count, outcome.routed, outcome.got)

    # ---- exchanges --------------------------------------------------------------
    def declare_exchange(
        self, vhost: str, name: str, type_: str, *, durable: bool = True,
        auto_delete: bool = False, internal: bool = False, arguments: dict | None = None,
    ) -> Outcome:  # fmt: skip
        def declare() -> Outcome:
            v = self._vhost(vhost)
            existed = name in v.exchanges
            v.declare_exchange(name, type_, passive=False, durable=durable,
                               auto_delete=auto_delete, internal=internal,
                               arguments=arguments or {})  # fmt: skip
            return Outcome(created=not existed)

        return self._run(declare)

    def delete_exchange(self, vhost: str, name: str, if_unused: bool = False) -> Outcome:
        def delete() -> Outcome:
            self._vhost(vhost).delete_exchange(name, if_unused)
            return Outcome()

        return self._run(delete)

    # ---- queues -----------------------------------------------------------------
    def declare_queue(
        self, vhost: str, name: str, *, durable: bool = True, auto_delete: bool = False,
        arguments: dict | None = None,
    ) -> Outcome:  # fmt: skip
        def declare() -> Outcome:
            v = self._vhost(vhost)
            existed = name in v.queues
            limit = self.broker.access.queue_limit(vhost)
            if not existed and limit is not None and len(v.queues) >= limit:
                raise queue_limit_reached(name, vhost, limit)
            queue = v.declare_queue(name, owner=None, passive=False, durable=durable,
                                    exclusive=False, auto_delete=auto_delete,
                                    arguments=arguments or {})  # fmt: skip
            self.broker.dispatcher.touch(queue)
            counters = self.broker.counters
            counters.queues_declared += 1
            counters.queues_created += not existed
            return Outcome(created=not existed)

        return self._run(declare)

    def delete_queue(
        self, vhost: str, name: str, if_empty: bool = False, if_unused: bool = False
    ) -> Outcome:
        def delete() -> Outcome:
            v = self._vhost(vhost)
            queue = v.queue(name)
            where = f"queue '{queue.name}' in vhost '{queue.vhost}'"
            if if_unused and queue.consumers:
                raise ChannelError(ReplyCode.PRECONDITION_FAILED, f"{where} in use")
            if if_empty and queue.message_count:
                raise ChannelError(ReplyCode.PRECONDITION_FAILED, f"{where} not empty")
            return Outcome(count=self.broker.delete_queue(v, queue))

        return self._run(delete)

    def purge_queue(self, vhost: str, name: str) -> Outcome:
        def purge() -> Outcome:
            queue = self._vhost(vhost).queue(name)
            if queue.stream is not None:
                raise stream_readers.not_supported("queue.purge", queue)
            count = queue.message_count
            self.broker.journal.purged(queue, *queue.purge())
            return Outcome(count=count)

        return self._run(purge)

    # ---- bindings ---------------------------------------------------------------
    def bind(
        self, vhost: str, source: str, kind: str, destination: str, key: str, arguments: dict
    ) -> Outcome:
        def bind() -> Outcome:
            v = self._vhost(vhost)
            exchange = v.exchange(source)
            if kind == "queue":
                v.bind_queue(v.queue(destination), exchange, key, arguments)
            else:
                v.bind_exchange(v.exchange(destination), exchange, key, arguments)
            return Outcome(created=True)

        return self._run(bind)

    def unbind(
        self, vhost: str, source: str, kind: str, destination: str, key: str, arguments: dict
    ) -> Outcome:
        def unbind() -> Outcome:
            v = self._vhost(vhost)
            exchange = v.exchange(source)
            if kind == "queue":
                v.unbind_queue(v.queue(destination), exchange, key, arguments)
            else:
                v.unbind_exchange(v.exchange(destination), exchange, key, arguments)
            return Outcome()

        return self._run(unbind)

    # ---- messages ---------------------------------------------------------------
    def page_in_for_get(self, vhost: str, name: str, count: int) -> bool:
        """Whether ``count`` messages of a deep queue must first be read back from
        the store; if so the read is asked for, and the caller waits for the
        store (as basic.get waits) before calling ``get``."""
        queue = self._vhost(vhost).queues.get(name)
        if queue is None or not queue.paged:
            return False
        waits = False
        for lane in queue.lanes():  # in the order get takes them
            if count <= len(lane):
                break
            if lane.paged > lane.owed:
                waits = True
                if not lane.paging_in:
                    wanted = min(count - len(lane), lane.window)
                    self.broker.journal.request_page(queue, lane, wanted)
            count -= lane.count
            if count <= 0:
                break
        return waits

    def get(self, vhost: str, name: str, count: int, ackmode: str, user: str = "") -> Outcome:
        """Take up to ``count`` messages, as basic.get would, then settle them all
        by ``ackmode``: requeued (redelivered, in their order), acked, or rejected
        (dead-lettered). Paged messages are reached once ``page_in_for_get`` has
        had them read back. ``user`` takes them (the firehose names it)."""
        settle = ACKMODES[ackmode]

        def get() -> Outcome:
            v = self._vhost(vhost)
            queue = v.queue(name)
            v.check_exclusive(queue, None)
            if queue.stream is not None:
                raise stream_readers.not_supported("basic.get", queue)
            dispatcher = self.broker.dispatcher
            dispatcher.touch(queue)
            taken, got = self._take(v, queue, count, user)
            if settle == "requeue":
                for entry in taken:
                    if entry.stored:
                        self.broker.journal.delivered(queue, entry, False)
                    dispatcher.requeue(queue, entry)
            elif settle == "ack":
                for entry in taken:
                    self.broker.journal.remove(queue, entry)
            elif taken:
                dispatcher.dead_letter(queue, taken, "rejected")
            self.broker.queue_changed(queue)
            return Outcome(count=len(got), got=got)

        return self._run(get)

    def _take(
        self, vhost: VirtualHost, queue: Queue, count: int, user: str
    ) -> tuple[list[Entry], list[Got]]:
        """Up to ``count`` entries off the head, expired ones dead-lettered on the
        way; each is a delivery the firehose copies, as RabbitMQ's API gets are."""
        dispatcher = self.broker.dispatcher
        channel = ChannelModel(_ApiSession(user, vhost.name), API_CHANNEL)
        taken: list[Entry] = []
        got: list[Got] = []
        while len(taken) < count:
            dispatcher.expire_head(queue, strict=True)
            entry = queue.pop()
            if entry is None:
                break
            dispatcher.expire_head(queue, strict=True)
            if vhost.tracing:
                dispatcher.trace_delivery(queue, entry, channel, get=True)
            taken.append(entry)
            got.append(Got(entry.message, entry.redelivered, queue.message_count))
        return taken, got

    def publish(
        self, vhost: str, exchange: str, routing_key: str, properties: dict, body: bytes,
        user: str,
    ) -> Outcome:  # fmt: skip
        """Publish as ``user`` would on AMQP (the same checks, routing, limits and
        journal); ``routed`` says whether a queue took it. ``properties`` are
        typed as wire.properties has them."""

        def publish() -> Outcome:
            v = self._vhost(vhost)
            session = _ApiSession(user, vhost)
            state = SessionState(session, v)
            channel = ChannelModel(session, API_CHANNEL)
            header = ContentHeader(BASIC_CLASS, len(body), props_codec.encode(properties))
            method = _Publish(exchange, routing_key)
            x, message = publishing.check_and_build(self.broker, state, channel, method,
                                                    header, body)  # fmt: skip
            routed = bool(route(v, x, message, routing_keys(message)))
            publishing.route_and_enqueue(self.broker, state, channel, x, message, False)
            return Outcome(routed=routed)

        return self._run(publish)


@dataclass(frozen=True)
class _Publish:
    """The fields of basic.publish that publishing reads."""

    exchange: str
    routing_key: str
    mandatory: bool = False
