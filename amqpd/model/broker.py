"""The broker: what happens to commands once a channel is open.

Plain synchronous code. It reaches clients only through the ``Session``
interface, whose calls buffer frames in a sans-I/O connection; the shell sends
them. Faults are raised as AMQP errors where they are found; the connection
turns them into the right close.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from pamqp import commands
from pamqp.base import Frame as Method

from amqpd.errors import AMQPConnectionError, AMQPError, ChannelError, ReplyCode
from amqpd.model import handlers
from amqpd.model.channel import ChannelModel, Consumer
from amqpd.model.queue import Queue
from amqpd.model.vhost import VirtualHost
from amqpd.wire.assembler import Command
from amqpd.wire.codec import ContentHeader, method_ids

# RabbitMQ 3.10's default max_message_size: 128 MiB.
DEFAULT_MAX_MESSAGE_SIZE = 128 * 1024 * 1024


class Session(Protocol):
    """One client connection, as the broker sees it."""

    vhost: str
    user: str
    client_properties: dict

    @property
    def writable(self) -> bool: ...

    def send_method(self, channel: int, method: Method) -> None: ...

    def send_content(
        self, channel: int, method: Method, header: ContentHeader, body: bytes
    ) -> None: ...

    def send_delivery(
        self,
        channel: int,
        consumer_tag: str,
        delivery_tag: int,
        redelivered: bool,
        exchange: str,
        routing_key: str,
        header: ContentHeader,
        body: bytes,
    ) -> None:
        """basic.deliver with its content (a hot path with its own encoder)."""


@dataclass(eq=False)
class SessionState:
    session: Session
    vhost: VirtualHost
    channels: dict[int, ChannelModel] = field(default_factory=dict)

    @property
    def cancel_notify(self) -> bool:
        capabilities = self.session.client_properties.get("capabilities") or {}
        return bool(capabilities.get("consumer_cancel_notify"))


class Broker:
    def __init__(
        self, vhosts: tuple[str, ...] = ("/",), max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE
    ) -> None:
        self.vhosts = {name: VirtualHost(name) for name in vhosts}
        self.max_message_size = max_message_size
        self.sessions: dict[Session, SessionState] = {}
        self._confirming: set[ChannelModel] = set()
        # Queues with something to hand out, in the order they were touched. Handing
        # out waits until the command's own reply is sent (consume-ok, recover-ok...).
        self._to_dispatch: dict[Queue, None] = {}

    # ---- lifecycle --------------------------------------------------------------
    def connection_opened(self, session: Session) -> None:
        self.sessions[session] = SessionState(session, self.vhosts[session.vhost])

    def channel_opened(self, session: Session, number: int) -> None:
        self.sessions[session].channels[number] = ChannelModel(session, number)

    def channel_closed(self, session: Session, number: int) -> None:
        state = self.sessions.get(session)
        if state is None:
            return
        channel = state.channels.pop(number, None)
        if channel is not None:
            self._close_channel(state, channel)
            self.run_dispatch()

    def connection_closed(self, session: Session) -> None:
        state = self.sessions.pop(session, None)
        if state is None:
            return
        for channel in list(state.channels.values()):
            self._close_channel(state, channel)
        state.channels.clear()
        # Exclusive queues live as long as the connection that declared them.
        for queue in list(state.vhost.queues.values()):
            if queue.exclusive_owner is session:
                self.delete_queue(state.vhost, queue)
        self.run_dispatch()

    def writable_again(self, session: Session) -> None:
        """The session's output drained: deliver what was held back for it."""
        state = self.sessions.get(session)
        if state is None:
            return
        for channel in state.channels.values():
            for consumer in channel.consumers.values():
                self.dispatch(consumer.queue)
        self.run_dispatch()

    def flush(self) -> None:
        """Send the publisher confirms gathered since the last flush, coalesced."""
        for channel in self._confirming:
            if channel.closed or channel.confirms is None:
                continue
            for kind, tag, multiple in channel.confirms.flush():
                method = (commands.Basic.Ack if kind == "ack" else commands.Basic.Nack)(
                    delivery_tag=tag, multiple=multiple
                )
                channel.session.send_method(channel.number, method)
        self._confirming.clear()

    # ---- commands ---------------------------------------------------------------
    def command(self, session: Session, number: int, command: Command) -> None:
        state = self.sessions[session]
        channel = state.channels[number]
        method = command.method
        handler = handlers.TABLE.get(type(method))
        try:
            if handler is None:
                raise AMQPConnectionError(
                    ReplyCode.NOT_IMPLEMENTED,
                    f"{rabbit_name(method.name)} is not implemented by this broker yet",
                )
            reply = handler(self, state, channel, command)
            if reply is not None and not getattr(method, "nowait", False):
                session.send_method(number, reply)
        except AMQPError as err:
            raise err.with_method(*method_ids(method)) from None
        finally:
            self.run_dispatch()

    # ---- delivery ---------------------------------------------------------------
    def dispatch(self, queue: Queue) -> None:
        """Note that ``queue`` may have messages to hand out; done by run_dispatch()."""
        self._to_dispatch[queue] = None

    def run_dispatch(self) -> None:
        while self._to_dispatch:
            queue = next(iter(self._to_dispatch))
            del self._to_dispatch[queue]
            if not queue.deleted:
                self._hand_out(queue)

    def _hand_out(self, queue: Queue) -> None:
        """Give ready messages to consumers that can take them, in turn."""
        consumers = queue.consumers
        while consumers and queue.message_count:
            for _ in range(len(consumers)):
                consumer = consumers[0]
                consumers.rotate(-1)
                if consumer.channel.can_deliver(consumer):
                    break
            else:
                return
            entry = queue.pop()
            consumer.channel.deliver(consumer, entry)

    def confirm(self, channel: ChannelModel, seq: int, ok: bool = True) -> None:
        assert channel.confirms is not None
        channel.confirms.settle(seq, ok)
        self._confirming.add(channel)

    # ---- removal ----------------------------------------------------------------
    def delete_queue(self, vhost: VirtualHost, queue: Queue) -> int:
        """Delete a queue: its consumers are cancelled; returns the messages it held."""
        count = queue.message_count
        for consumer in list(queue.consumers):
            self.cancel_consumer(consumer, notify=True)
        vhost.delete_queue(queue)
        return count

    def cancel_consumer(self, consumer: Consumer, notify: bool = False) -> None:
        channel = consumer.channel
        channel.consumers.pop(consumer.tag, None)
        queue = consumer.queue
        queue.remove_consumer(consumer)
        if notify and not channel.closed:
            state = self.sessions.get(channel.session)
            if state is not None and state.cancel_notify:
                channel.session.send_method(
                    channel.number, commands.Basic.Cancel(consumer_tag=consumer.tag, nowait=True)
                )
        self._auto_delete(queue)

    def _auto_delete(self, queue: Queue) -> None:
        if queue.auto_delete and queue.had_consumers and not queue.consumers and not queue.deleted:
            vhost = self.vhosts[queue.vhost]
            self.delete_queue(vhost, queue)

    def _close_channel(self, state: SessionState, channel: ChannelModel) -> None:
        channel.closed = True
        self._confirming.discard(channel)
        consumers = list(channel.consumers.values())
        # Unacked messages go back to their queues, in delivery order, redelivered.
        touched = set()
        for unacked in channel.settle_all():
            if not unacked.queue.deleted:
                unacked.queue.requeue(unacked.entry)
                touched.add(unacked.queue)
        for consumer in consumers:
            self.cancel_consumer(consumer)
        for queue in touched:
            self.dispatch(queue)


def rabbit_name(pamqp_name: str) -> str:
    """'Queue.Declare' -> 'queue.declare', as RabbitMQ names methods."""
    cls, _, meth = pamqp_name.partition(".")
    snake = "".join("_" + c.lower() if c.isupper() else c for c in meth).lstrip("_")
    return f"{cls.lower()}.{snake}"


__all__ = ["Broker", "Session", "ChannelError"]
