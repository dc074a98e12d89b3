"""The broker: what happens to commands once a channel is open.

Plain synchronous code. It reaches clients only through the ``Session``
interface, whose calls buffer frames in a sans-I/O connection; the shell sends
them. Time is an input: ``clock`` gives the time at each entry point, and the
shell calls ``handle_timer`` when ``next_deadline`` comes. Faults are raised as
AMQP errors where they are found; the connection turns them into a close.

The broker is the top of the model: it owns the parts (vhosts, dispatcher,
journal, timers, delayed delivery, direct reply-to) and implements the
``BrokerContext`` the method handlers are written against.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from pamqp import commands

from amqpd import defaults
from amqpd.errors import AMQPConnectionError, AMQPError, ChannelError, ReplyCode
from amqpd.model import handlers, parameters, stream_readers
from amqpd.model.access import FULL, Access, VhostInfo
from amqpd.model.channel import ChannelModel, Consumer
from amqpd.model.context import SessionState
from amqpd.model.delayed import DelayedDelivery
from amqpd.model.dispatcher import Dispatcher
from amqpd.model.errors import WaitForStore
from amqpd.model.journal import Commit, Journal, StreamRead, entries_from_records
from amqpd.model.queue import Queue
from amqpd.model.reply_to import DirectReplyTo
from amqpd.model.session import Session
from amqpd.model.stream import entry_from_record
from amqpd.model.timers import Timer, Timers
from amqpd.model.vhost import VirtualHost
from amqpd.store import MessageRecord, StreamRecord
from amqpd.wire.assembler import Command
from amqpd.wire.codec import method_ids


class Broker:
    def __init__(
        self,
        vhosts: tuple[str, ...] = ("/",),
        max_message_size: int = defaults.MAX_MESSAGE_SIZE,
        *,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        consumer_timeout: int | None = defaults.CONSUMER_TIMEOUT_MS,
        journal: Journal | None = None,
        access: Access | None = None,
    ) -> None:
        # The journal records what the store must keep (a disabled one: nothing).
        self.journal = journal or Journal()
        self.journal.wall_offset = lambda: wall_clock() - clock()
        # Who may do what where; without one, everyone may do everything.
        if access is None:
            access = Access({}, vhosts)
            access.enforcing = False
        self.access = access
        access.record = self.journal.setting_changed
        self.vhosts = {name: VirtualHost(name, self.journal) for name in access.vhosts}
        self.max_message_size = max_message_size
        self.clock = clock
        self.wall_clock = wall_clock
        self.consumer_timeout = consumer_timeout  # ms, None: never
        self.sessions: dict[Session, SessionState] = {}
        self.timers = Timers()
        self.dispatcher = Dispatcher(self.vhosts, self.timers, wall_clock, self.journal)
        self.delayed = DelayedDelivery(self.timers, self.journal, self.dispatcher)
        self.counters = self.dispatcher.counters  # totals for metrics
        self.reply_to = DirectReplyTo()
        self.parameters: dict[str, object] = {}  # global parameters (model/parameters.py)
        # Sessions whose later commands wait for the store (see journal.py).
        self.held: set[Session] = set()
        self._confirming: set[ChannelModel] = set()
        # Channel faults found by timers, for the shell to turn into channel.close.
        self.channel_faults: list[tuple[Session, int, AMQPError]] = []
        # Channels whose oldest unacked delivery may have changed.
        self._ack_watch: set[ChannelModel] = set()
        # Vhosts the firehose traces (tracing.py), by name: as in RabbitMQ, a name
        # stays on until trace_off, through a delete and a new vhost of that name.
        self.traced: set[str] = self.dispatcher.traced

    @property
    def now(self) -> float:
        return self.dispatcher.now

    def tick(self) -> None:
        """Read the clock: the model's time for this entry point."""
        self.dispatcher.now = self.clock()

    # ---- virtual hosts and who may open them ------------------------------------
    def open_refusal(self, user: str, vhost: str) -> str | None:
        """Why ``user`` may not open ``vhost`` (530 NOT_ALLOWED), or None."""
        count = sum(1 for state in self.sessions.values() if state.vhost.name == vhost)
        return self.access.open_refusal(user, vhost, count)

    def put_vhost(
        self, name: str, description: str = "", tags: tuple[str, ...] = (), creator: str = ""
    ) -> bool:
        """Create or describe a vhost; a new one gives ``creator`` full permissions
        on it, as RabbitMQ gives the user who created it. True if it is new."""
        old = self.access.vhosts.get(name)
        limits = dict(old.limits) if old is not None else {}
        created = self.access.put_vhost(VhostInfo(name, description, tags, limits))
        if created:
            self.vhosts[name] = VirtualHost(name, self.journal)
            self.vhosts[name].tracing = name in self.traced
            if creator in self.access.users:
                self.access.set_permission(creator, name, FULL)
        return created

    def set_tracing(self, name: str, on: bool) -> None:
        """trace_on / trace_off: never kept in the store, as RabbitMQ starts untraced."""
        if on:
            self.traced.add(name)
        else:
            self.traced.discard(name)
        vhost = self.vhosts.get(name)
        if vhost is not None:
            vhost.tracing = on

    def delete_vhost(self, name: str) -> list[Session]:
        """Remove a vhost and all it held (queues and their messages, exchanges,
        bindings, permissions, limits); returns its connections, which the
        shell closes with 320 CONNECTION_FORCED. They are gone from the model now."""
        vhost = self.vhosts.pop(name, None)
        self.access.delete_vhost(name)
        if vhost is None:
            return []
        self.tick()
        sessions = [s for s, state in self.sessions.items() if state.vhost is vhost]
        for session in sessions:
            self.connection_closed(session)
        for queue in list(vhost.queues.values()):
            self.delete_queue(vhost, queue)
        for exchange in list(vhost.exchanges.values()):
            vhost.remove_exchange(exchange)
        parameters.forget_vhost(self, vhost)  # its policies leave the store too
        self.dispatch()
        return sessions

    def restore_access(self, settings: list[tuple[str, str, bytes]]) -> bool:
        """Bring back the users, vhosts and permissions the store kept; False on a
        first start (nothing kept), when the configured ones stay."""
        if not self.access.restore(settings):
            return False
        for name in list(self.vhosts):
            if name not in self.access.vhosts:
                del self.vhosts[name]
        for name in self.access.vhosts:
            if name not in self.vhosts:
                self.vhosts[name] = VirtualHost(name, self.journal)
        return True

    # ---- lifecycle --------------------------------------------------------------
    def connection_opened(self, session: Session) -> None:
        vhost = self.vhosts.get(session.vhost)
        if vhost is not None:  # else it was deleted while the connection opened
            self.sessions[session] = SessionState(session, vhost)
            self.counters.connections_opened += 1

    def channel_opened(self, session: Session, number: int) -> None:
        state = self.sessions.get(session)
        if state is None:  # its vhost was deleted; the connection is closing
            return
        channel = ChannelModel(session, number, self.consumer_timeout)
        channel.on_first_unacked = self._ack_watch.add
        state.channels[number] = channel
        self.counters.channels_opened += 1

    def channel_closed(self, session: Session, number: int) -> None:
        state = self.sessions.get(session)
        if state is None:
            return
        channel = state.channels.pop(number, None)
        if channel is not None:
            self.counters.channels_closed += 1
            self.tick()
            self._close_channel(channel)
            self.dispatcher.run()

    def connection_closed(self, session: Session) -> None:
        self.held.discard(session)
        state = self.sessions.pop(session, None)
        if state is None:
            return
        self.counters.connections_closed += 1
        self.counters.channels_closed += len(state.channels)
        self.tick()
        for channel in list(state.channels.values()):
            self._close_channel(channel)
        state.channels.clear()
        # Exclusive queues live as long as the connection that declared them.
        for queue in list(state.vhost.queues.values()):
            if queue.exclusive_owner is session:
                self.delete_queue(state.vhost, queue)
        self.dispatcher.run()

    def writable_again(self, session: Session) -> None:
        """The session's output drained: deliver what was held back for it."""
        state = self.sessions.get(session)
        if state is None:
            return
        self.tick()
        for channel in state.channels.values():
            for consumer in channel.consumers.values():
                self.queue_changed(consumer.queue)
        self.dispatch()

    def flush(self) -> None:
        """Send the publisher confirms gathered since the last flush, coalesced."""
        for channel in self._confirming:
            if channel.closed or channel.confirms is None:
                continue
            for reply in channel.confirms.flush():
                if reply.ack:
                    method = commands.Basic.Ack(
                        delivery_tag=reply.delivery_tag, multiple=reply.multiple
                    )
                else:  # RabbitMQ sets requeue on the nacks it sends
                    method = commands.Basic.Nack(
                        delivery_tag=reply.delivery_tag, multiple=reply.multiple, requeue=True
                    )
                channel.session.send_method(channel.number, method)
        self._confirming.clear()

    # ---- time -------------------------------------------------------------------
    def next_deadline(self) -> float | None:
        return self.timers.next_deadline()

    def handle_timer(self, now: float) -> None:
        """Run the timers due at ``now``; faults for the shell go to channel_faults."""
        self.dispatcher.now = now
        for kind, target in self.timers.pop_due(now):
            if kind is Timer.HEAD_EXPIRY and not target.deleted:
                self.dispatcher.expire_head(target, strict=False)
                self.queue_changed(target)
            elif kind is Timer.QUEUE_UNUSED and not target.deleted and not target.consumers:
                self.delete_queue(self.vhosts[target.vhost], target)
            elif kind is Timer.ACK_TIMEOUT and not target.closed:
                self._ack_timed_out(target)
            elif kind is Timer.DELAYED_RELEASE:
                self.delayed.release(target)
        self.dispatch()

    def _ack_timed_out(self, channel: ChannelModel) -> None:
        deadline = channel.ack_deadline()
        if deadline is None or deadline > self.now:
            return
        oldest = next(iter(channel.unacked.values()))
        timeout = oldest.queue.consumer_timeout
        millis = timeout if timeout is not None else channel.consumer_timeout
        error = ChannelError(
            ReplyCode.PRECONDITION_FAILED,
            f"delivery acknowledgement on channel {channel.number} timed out. Timeout value "
            f"used: {millis} ms. This timeout value can be configured, see consumers doc "
            "guide to learn more",
        )
        self.channel_faults.append((channel.session, channel.number, error))

    # ---- commands ---------------------------------------------------------------
    def command(self, session: Session, number: int, command: Command) -> None:
        state = self.sessions.get(session)
        channel = state.channels.get(number) if state is not None else None
        if channel is None:  # its vhost was deleted; the connection is closing
            return
        method = command.method
        handler = handlers.TABLE.get(type(method))
        self.tick()
        mark = self.journal.mark()
        try:
            if handler is None:
                raise AMQPConnectionError(
                    ReplyCode.NOT_IMPLEMENTED,
                    f"{rabbit_name(method.name)} is not implemented by this broker yet",
                )
            reply = handler(self, state, channel, command)
            if reply is not None and not getattr(method, "nowait", False):
                if self.journal.durable_since(mark):
                    # A durable change is promised only once it is on disk; the
                    # session's later commands wait so replies keep their order.
                    self.journal.after_commit_reply(session, number, reply)
                    self.hold(session)
                else:
                    session.send_method(number, reply)
        except WaitForStore:
            self.hold(session)
            raise
        except AMQPError as err:
            raise err.with_method(*method_ids(method)) from None
        finally:
            self._ack_watch.add(channel)  # settling may have moved its oldest delivery
            self.dispatch()

    # ---- delivery ---------------------------------------------------------------
    def queue_changed(self, queue: Queue) -> None:
        """Note that ``queue`` changed; the next dispatch() reconciles it."""
        self.dispatcher.mark(queue)

    def dispatch(self) -> None:
        """Reconcile every changed queue (deliver, expire, enforce limits), then
        move the consumer-timeout deadline of channels whose oldest delivery changed."""
        self.dispatcher.run()
        for channel in self._ack_watch:
            if channel.consumer_timeout is not None and not channel.closed:
                self.timers.schedule((Timer.ACK_TIMEOUT, channel), channel.ack_deadline())
        self._ack_watch.clear()

    # ---- the store --------------------------------------------------------------
    def hold(self, session: Session) -> None:
        """Process no more of this session's commands until the pending batch is written."""
        self.held.add(session)
        self.journal.hold_until_commit(session)

    def is_held(self, session: Session) -> bool:
        return session in self.held

    def memory_held(self) -> int:
        """Message body bytes held in memory: ready in queues (not the paged ones)
        and delivered but not yet acked; a message in several queues counts once
        per queue. Read by the memory alarm."""
        ready = sum(q.bytes for vhost in self.vhosts.values() for q in vhost.queues.values())
        unacked = sum(
            unacked.entry.message.size
            for state in self.sessions.values()
            for channel in state.channels.values()
            for unacked in channel.unacked.values()
        )
        return ready + unacked

    def committed(self, commit: Commit) -> list[Session]:
        """A batch is on disk: keep its promises; returns the sessions to resume."""
        self.tick()
        self.journal.written_up_to(commit.number)
        for queue, offset in commit.stream_written.items():
            stream_readers.written(queue, offset)
            self.queue_changed(queue)
        for channel, seq in commit.confirms:
            if not channel.closed and channel.confirms is not None:
                self.confirm(channel, seq)
        for session, number, reply in commit.replies:
            state = self.sessions.get(session)
            if state is not None and number in state.channels:
                session.send_method(number, reply)
        released = [s for s in dict.fromkeys(commit.held) if s in self.held]
        self.held.difference_update(released)
        self.dispatch()
        return [s for s in released if s in self.sessions]

    def page_read(
        self, queue: Queue, generation: int, records: list[MessageRecord], level: int | None = None
    ) -> None:
        """Paged messages of ``queue`` (of lane ``level``) came back from the store;
        heads drop-head owed go now, dead-lettered."""
        self.tick()
        offset = self.journal.wall_offset()
        entries = entries_from_records(records, offset, self.journal)
        next_seq = records[-1].seq + 1 if records else 0
        self.journal.paged_in(queue, level, entries)
        dropped = queue.page_in(generation, level or 0, len(records), next_seq, entries)
        if dropped:
            self.dispatcher.dead_letter(queue, dropped, "maxlen")
        self.queue_changed(queue)

    def stream_read(self, request: StreamRead, records: list[StreamRecord]) -> None:
        """Messages of a stream's log came back from the store for one consumer."""
        self.tick()
        stream_readers.read_back(request, [entry_from_record(record) for record in records])
        self.queue_changed(request.queue)

    def confirm(self, channel: ChannelModel, seq: int, ok: bool = True) -> None:
        assert channel.confirms is not None
        channel.confirms.resolve(seq, ok)
        if ok:
            self.counters.confirmed += 1
        self._confirming.add(channel)

    # ---- removal ----------------------------------------------------------------
    def delete_queue(self, vhost: VirtualHost, queue: Queue) -> int:
        """Delete a queue: its consumers are cancelled; returns the messages it held."""
        count = queue.message_count
        self.counters.queues_deleted += 1
        for consumer in list(queue.consumers):
            self.cancel_consumer(consumer, notify=True)
        vhost.delete_queue(queue)
        self.timers.cancel((Timer.HEAD_EXPIRY, queue))
        self.timers.cancel((Timer.QUEUE_UNUSED, queue))
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
        if queue.deleted:
            return
        if not queue.consumers:
            self.dispatcher.touch(queue)
        if queue.auto_delete and queue.had_consumers and not queue.consumers:
            self.delete_queue(self.vhosts[queue.vhost], queue)
        elif queue.single_active:
            self.queue_changed(queue)  # the next consumer becomes the active one

    def _close_channel(self, channel: ChannelModel) -> None:
        channel.closed = True
        self.reply_to.channel_closed(channel)
        self._confirming.discard(channel)
        self.timers.cancel((Timer.ACK_TIMEOUT, channel))
        consumers = list(channel.consumers.values())
        # Settlements of an uncommitted transaction are undone: those go back too.
        pending = channel.tx.held_deliveries() if channel.tx is not None else []
        # Unacked messages go back to their queues, in delivery order, redelivered.
        for unacked in sorted(pending, key=lambda u: u.entry.seq) + channel.settle_all():
            self.dispatcher.requeue(unacked.queue, unacked.entry)
        for consumer in consumers:
            self.cancel_consumer(consumer)


def rabbit_name(pamqp_name: str) -> str:
    """'Queue.Declare' -> 'queue.declare', as RabbitMQ names methods."""
    cls, _, meth = pamqp_name.partition(".")
    snake = "".join("_" + c.lower() if c.isupper() else c for c in meth).lstrip("_")
    return f"{cls.lower()}.{snake}"
