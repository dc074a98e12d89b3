"""One client connection: the Trio tasks around a wire.Connection.

Three tasks share the state machine. The reader feeds it bytes; the writer
sends what it produced; the timer calls it when its deadline comes. After every
change ``_after_change`` hands events to the broker, wakes the writer and moves
the timer's deadline.

Unsent output is bounded by ``max_output``, checked before every command, not
only between reads: while it is over the bound, the commands already read wait
(one basic.get can answer with a whole message) and nothing more is read. The
writer hands them on once the client has taken enough. So a client that does
not read cannot make us buffer without limit; if it also stops sending,
heartbeats (or the close timeout) drop it.

A bug met while the broker handles this connection (an exception other than
an AMQP fault) costs this connection only: it is logged with its traceback and
the client gets connection.close 541 INTERNAL_ERROR; the commands it had sent
after that one are not run.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Awaitable, Callable
from functools import cached_property

import trio
from pamqp.base import Frame as Method

from amqpd.errors import AMQPConnectionError, AMQPError, ReplyCode
from amqpd.model.broker import Broker
from amqpd.model.errors import WaitForStore
from amqpd.wire.codec import ContentHeader
from amqpd.wire.connection import Authority, Connection, ConnectionSettings
from amqpd.wire.events import (
    ChannelClosed,
    ChannelOpened,
    CommandReceived,
    ConnectionClosed,
    ConnectionOpened,
)

log = logging.getLogger("amqpd.connection")

RECEIVE_SIZE = 65536
# Once the state machine says the connection is over, how long the last bytes
# (a connection.close, a protocol header) get to reach the client.
FLUSH_TIMEOUT = 2.0


class ConnectionHandler:
    def __init__(
        self,
        stream: trio.abc.Stream,
        peer: str,
        settings: ConnectionSettings,
        authority: Authority,
        broker: Broker,
        max_output: int,
        on_broker_change: Callable[[], None] = lambda: None,
        alarm: Callable[[], str | None] = lambda: None,
        store_room: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.stream = stream
        self.peer = peer
        self.broker = broker
        self.max_output = max_output
        self._on_broker_change = on_broker_change
        self._alarm = alarm  # the resource alarm's reason, or None
        self._store_room = store_room  # waits while the store is far behind
        self._blocked: str | None = None  # why this publisher is blocked
        self._unblocked = trio.Event()
        self.conn = Connection(settings, authority, trio.current_time())
        self._data_ready = trio.Event()
        self._progress = trio.Event()  # output sent, or waiting commands handed on
        self._in_flight = 0
        self._commands_waiting = False  # read, but held back while output is over the bound
        self._failed = False  # an internal error: the commands still queued are not run
        self._attention = False  # events to hand on, from outside this connection's tasks
        self._timer_scope = trio.CancelScope()
        self._task_scope = trio.CancelScope()
        self._opened = False
        self.connected_at = time.time()  # wall clock, for the management API
        self._resumed = trio.Event()
        self._retry: CommandReceived | None = None  # to run again once the store answers

    async def run(self) -> None:
        log.debug("accepting AMQP connection %s", self.peer)
        try:
            with self._task_scope:
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(self._writer)
                    nursery.start_soon(self._timer)
                    nursery.start_soon(self._reader)
                    self._after_change()
        finally:
            if not self.conn.transport_closed:
                self.conn.receive_eof(trio.current_time())
            self._handle_events(final=True)
            with trio.CancelScope(shield=True):
                await trio.aclose_forcefully(self.stream)
            self._log_close()

    @property
    def opened(self) -> bool:
        """Past connection.open: a connection the management API lists."""
        return self._opened

    # ---- the Session the broker sees -------------------------------------------

    @property
    def vhost(self) -> str:
        return self.conn.vhost or ""

    @property
    def user(self) -> str:
        return self.conn.user or ""

    @property
    def client_properties(self) -> dict:
        return self.conn.client_properties

    @cached_property
    def name(self) -> str:
        """ "peer -> local address", as RabbitMQ names a connection (the firehose's
        copies carry it)."""
        try:
            host, port = self.stream.socket.getsockname()[:2]
        except (AttributeError, OSError):
            return self.peer
        return f"{self.peer} -> {host}:{port}"

    @property
    def writable(self) -> bool:
        return self.output_pending < self.max_output

    def send_method(self, channel: int, method: Method) -> None:
        try:
            self.conn.send_method(channel, method)
        except Exception:
            self._internal_error(f"sending {method.name} on channel {channel}")
        self._data_ready.set()

    def send_content(
        self, channel: int, method: Method, header: ContentHeader, body: bytes
    ) -> None:
        try:
            self.conn.send_content(channel, method, header, body)
        except Exception:
            self._internal_error(f"sending {method.name} on channel {channel}")
        self._data_ready.set()

    def send_delivery(self, channel: int, *delivery: object) -> None:
        try:
            self.conn.send_delivery(channel, *delivery)
        except Exception:
            self._internal_error(f"sending basic.deliver on channel {channel}")
        self._data_ready.set()

    def set_alarm(self, reason: str | None) -> None:
        """A resource alarm went on (reason) or off (None): block or release a publisher."""
        if reason is not None:
            if self.conn.publisher and not self.conn.transport_closed:
                self._blocked = reason
                self.conn.block(reason)
                self._data_ready.set()
        elif self._blocked is not None:
            self._blocked = None
            self.conn.unblock()
            self._data_ready.set()
            self._unblocked.set()
            self._unblocked = trio.Event()

    def fail_channel(self, channel: int, error: AMQPError) -> None:
        """Close a channel for a fault the broker found on its own (a timer)."""
        self.conn.fail(channel, error)
        self._after_change()

    def resume(self) -> None:
        """The store wrote what this session waited for: go on with its commands."""
        self._resumed.set()
        self._resumed = trio.Event()
        self._after_change()

    def shutdown(self, code: int, detail: str) -> None:
        """Close from the broker side, e.g. 320 CONNECTION_FORCED at broker stop."""
        self.conn.close(code, detail)
        self._after_change()

    @property
    def output_pending(self) -> int:
        return self.conn.pending_output + self._in_flight

    # ---- tasks ------------------------------------------------------------------

    async def _reader(self) -> None:
        while not self.conn.transport_closed:
            await self._until_readable()
            try:
                data = await self.stream.receive_some(RECEIVE_SIZE)
            except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
                data = b""
            if not data:
                self.conn.receive_eof(trio.current_time())
                self._after_change()
                return
            self.conn.receive_data(data, trio.current_time())
            self._after_change()

    async def _until_readable(self) -> None:
        """Wait while a resource alarm holds this publisher, the broker holds it
        for the store, the store is far behind, or output is over the bound.
        A closing connection waits only for its output: what it reads then (its
        close-ok) never reaches the broker."""
        if self._blocked is None and self.conn.publisher:
            reason = self._alarm()
            if reason is not None:  # a publisher from its first basic.publish frame on
                self.set_alarm(reason)
        if not self.conn.closing:
            while self._blocked is not None and not self.conn.closing:
                await self._unblocked.wait()
            while self.broker.is_held(self) and not self.conn.closing:  # waiting for the store
                await self._resumed.wait()
            if self._store_room is not None and not self.conn.closing:
                await self._store_room()
        while self.output_pending > self.max_output or self._commands_waiting:
            self._progress = trio.Event()
            await self._progress.wait()

    async def _writer(self) -> None:
        while True:
            await self._data_ready.wait()
            self._data_ready = trio.Event()
            if self._attention:
                self._attention = False
                self._after_change()
            data = self.conn.data_to_send()
            if data:
                was_writable = self.writable
                self._in_flight = len(data)
                try:
                    await self.stream.send_all(data)
                except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
                    self.conn.receive_eof(trio.current_time())
                    self._handle_events()
                    self._task_scope.cancel()
                    return
                finally:
                    self._in_flight = 0
                self._drained(was_writable)
            if self.conn.transport_closed and not self.conn.pending_output:
                self._task_scope.cancel()
                return

    def _drained(self, was_writable: bool) -> None:
        """Output went out: hand on the commands that waited for it, then the
        deliveries held back for this slow client."""
        self._progress.set()
        if self._commands_waiting and self.output_pending <= self.max_output:
            self._after_change()
        if not was_writable and self.writable and self._opened and not self._failed:
            try:
                self.broker.writable_again(self)
            except Exception:
                self._internal_error("delivering after the output drained")
            self._after_change()

    async def _timer(self) -> None:
        while True:
            with self._timer_scope:
                self._set_timer()
                await trio.sleep_forever()
            self._timer_scope = trio.CancelScope()
            try:
                self.conn.handle_timer(trio.current_time())
            except Exception:
                self._internal_error("running the connection's timer")
            self._after_change()

    # ---- glue -------------------------------------------------------------------

    def _set_timer(self) -> None:
        deadline = self.conn.get_timer()
        self._timer_scope.deadline = math.inf if deadline is None else deadline

    def _after_change(self) -> None:
        self._handle_events()
        self._data_ready.set()
        self._set_timer()
        if self.conn.closing:  # the reader may wait on no alarm or store any more
            self._unblocked.set()
            self._resumed.set()
        if self.conn.transport_closed:
            # Give the last bytes a bounded time to leave, then drop the socket.
            self._task_scope.deadline = min(
                self._task_scope.deadline, trio.current_time() + FLUSH_TIMEOUT
            )

    def _handle_events(self, final: bool = False) -> None:
        """Hand the state machine's events to the broker, in order. The rest wait
        while the broker holds this session for the store, or while unsent output
        is over the bound (``final``: the connection is gone, so nothing waits,
        and what it would have sent is dropped)."""
        while final or not self.broker.is_held(self):
            if self.output_pending > self.max_output:
                if not final:
                    self._commands_waiting = True
                    break
                self.conn.data_to_send()  # nobody will read it
            event, self._retry = self._retry, None
            if event is None and (event := self.conn.next_event()) is None:
                self._commands_waiting = False
                self._progress.set()
                break
            if not (self._failed and isinstance(event, CommandReceived)):
                self._hand_over(event, final)
        try:
            self.broker.flush()
            self._on_broker_change()
        except Exception:
            self._internal_error("after its commands")

    def _hand_over(self, event: object, final: bool) -> None:
        """One event to the broker; a fault becomes a close, a bug a 541."""
        try:
            self._handle_event(event)
        except WaitForStore:
            if not final:
                self._retry = event
        except AMQPError as err:
            channel = event.channel if isinstance(event, CommandReceived) else 0
            self.conn.fail(channel, err)
        except Exception:
            self._internal_error(f"handling {_describe(event)}")

    def _internal_error(self, what: str) -> None:
        """A bug met while serving this connection: log it once, close the
        connection with 541 and run none of the commands still queued."""
        if not self._failed:
            log.exception("connection %s: internal error %s; closing it", self.peer, what)
        self._failed = True
        self.conn.fail(0, AMQPConnectionError(ReplyCode.INTERNAL_ERROR, ""))
        # The broker learns of the close from an event; if we are inside one of
        # its calls now, the writer hands it on once that call is over.
        self._attention = True
        self._data_ready.set()

    def _handle_event(self, event: object) -> None:
        match event:
            case CommandReceived(channel=channel, command=command):
                self.broker.command(self, channel, command)
            case ChannelOpened(channel=channel):
                self.broker.channel_opened(self, channel)
            case ChannelClosed(channel=channel):
                self.broker.channel_closed(self, channel)
            case ConnectionOpened(user=user, vhost=vhost):
                self._opened = True
                self.broker.connection_opened(self)
                log.info(
                    "connection %s opened: user '%s' authenticated, vhost '%s'",
                    self.peer,
                    user,
                    vhost,
                )
            case ConnectionClosed():
                self.broker.connection_closed(self)

    def _log_close(self) -> None:
        reason = self.conn.close_reason or "closed"
        user = self.conn.user or "-"
        if self._opened:
            log.info("connection %s closed (user '%s'): %s", self.peer, user, reason)
        else:
            log.info("connection %s closed before opening (user '%s'): %s", self.peer, user, reason)


def _describe(event: object) -> str:
    if isinstance(event, CommandReceived):
        return f"{event.command.method.name} on channel {event.channel}"
    return type(event).__name__
