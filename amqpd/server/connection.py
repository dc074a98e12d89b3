"""One client connection: the Trio tasks around a wire.Connection.

Three tasks share the state machine. The reader feeds it bytes; the writer
sends what it produced; the timer calls it when its deadline comes. After every
change ``_after_change`` hands events to the broker, wakes the writer and moves
the timer's deadline. The reader stops reading while the unsent output is over
the configured bound, so a client that does not read cannot make us buffer
without limit; if it also stops sending, heartbeats (or the close timeout) drop it.
"""

from __future__ import annotations

import logging
import math
import time

import trio
from pamqp import commands

from amqpd.errors import AMQPError
from amqpd.model.broker import Broker
from amqpd.model.errors import WaitForStore
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
        on_broker_change=lambda: None,
        alarm=lambda: None,
        store_room=None,
    ) -> None:
        self.stream = stream
        self.peer = peer
        self.broker = broker
        self.max_output = max_output
        self._on_broker_change = on_broker_change
        self._alarm = alarm  # the resource alarm's reason, or None
        self._store_room = store_room  # waits while the store is far behind
        self._published = False
        self._blocked: str | None = None  # why this publisher is blocked
        self._told_blocked = False
        self._unblocked = trio.Event()
        self.conn = Connection(settings, authority, trio.current_time())
        self._data_ready = trio.Event()
        self._output_drained = trio.Event()
        self._in_flight = 0
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

    @property
    def writable(self) -> bool:
        return self.output_pending < self.max_output

    def send_method(self, channel: int, method) -> None:
        self.conn.send_method(channel, method)
        self._data_ready.set()

    def send_content(self, channel: int, method, header, body: bytes) -> None:
        self.conn.send_content(channel, method, header, body)
        self._data_ready.set()

    def set_alarm(self, reason: str | None) -> None:
        """A resource alarm went on (reason) or off (None): block or release a publisher."""
        if reason is not None and self._published and not self.conn.transport_closed:
            self._blocked = reason
            capabilities = self.conn.client_properties.get("capabilities") or {}
            if capabilities.get("connection.blocked") and not self._told_blocked:
                self.conn.send_method(0, commands.Connection.Blocked(reason=reason))
                self._told_blocked = True
                self._data_ready.set()
        elif reason is None and self._blocked is not None:
            self._blocked = None
            if self._told_blocked and not self.conn.transport_closed:
                self.conn.send_method(0, commands.Connection.Unblocked())
                self._data_ready.set()
            self._told_blocked = False
            self._unblocked.set()
            self._unblocked = trio.Event()

    def fail_channel(self, channel: int, error: AMQPError) -> None:
        """Close a channel for a fault the broker found on its own (a timer)."""
        self.conn.fail(channel, error)
        self._after_change()

    def send_delivery(self, channel: int, *delivery) -> None:
        self.conn.send_delivery(channel, *delivery)
        self._data_ready.set()

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
            while self._blocked is not None:  # a resource alarm holds publishers
                await self._unblocked.wait()
            while self.broker.is_held(self):  # waiting for the store
                await self._resumed.wait()
            if self._store_room is not None:
                await self._store_room()
            while self.output_pending > self.max_output:
                self._output_drained = trio.Event()
                await self._output_drained.wait()
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

    async def _writer(self) -> None:
        while True:
            await self._data_ready.wait()
            self._data_ready = trio.Event()
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
                self._output_drained.set()
                if not was_writable and self.writable and self._opened:
                    # Deliveries held back for this slow client may go out now.
                    self.broker.writable_again(self)
                    self._on_broker_change()
            if self.conn.transport_closed and not self.conn.pending_output:
                self._task_scope.cancel()
                return

    async def _timer(self) -> None:
        while True:
            with self._timer_scope:
                self._set_timer()
                await trio.sleep_forever()
            self._timer_scope = trio.CancelScope()
            self.conn.handle_timer(trio.current_time())
            self._after_change()

    # ---- glue -------------------------------------------------------------------

    def _set_timer(self) -> None:
        deadline = self.conn.get_timer()
        self._timer_scope.deadline = math.inf if deadline is None else deadline

    def _after_change(self) -> None:
        self._handle_events()
        self._data_ready.set()
        self._set_timer()
        if self.conn.transport_closed:
            # Give the last bytes a bounded time to leave, then drop the socket.
            self._task_scope.deadline = min(
                self._task_scope.deadline, trio.current_time() + FLUSH_TIMEOUT
            )

    def _handle_events(self, final: bool = False) -> None:
        """Hand the state machine's events to the broker, in order; while the
        broker holds this session for the store, the rest wait (``final``: the
        connection is gone, so nothing waits any more)."""
        while final or not self.broker.is_held(self):
            event, self._retry = self._retry, None
            if event is None and (event := self.conn.next_event()) is None:
                break
            try:
                self._handle_event(event)
            except WaitForStore:
                if not final:
                    self._retry = event
            except AMQPError as err:
                channel = event.channel if isinstance(event, CommandReceived) else 0
                self.conn.fail(channel, err)
        self.broker.flush()
        self._on_broker_change()

    def _handle_event(self, event: object) -> None:
        match event:
            case CommandReceived(channel=channel, command=command):
                if not self._published and isinstance(command.method, commands.Basic.Publish):
                    self._published = True
                    if self._alarm() is not None:
                        self.set_alarm(self._alarm())
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
