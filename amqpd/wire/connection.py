"""The connection state machine: bytes and time in; events, bytes and a deadline out.

Rules this module keeps (each as RabbitMQ 3.10 behaves):

* It never touches a socket or a clock. The shell feeds it ``receive_data(data,
  now)``, calls ``handle_timer(now)`` when ``get_timer()`` is due, sends what
  ``data_to_send()`` returns, and closes the transport once ``transport_closed``
  is true and the output is flushed.
* States only move forward, along the table below. A method the state does
  not expect is a protocol error, never ignored.
* Every fault is an ``AMQPError`` turned into a reply in one place, ``fail()``:
  a ``channel.close`` for a ``ChannelError`` on an open channel, otherwise a
  ``connection.close``. Before tune-ok a fault gets no reply at all: the socket
  is dropped after ``error_close_delay`` (RabbitMQ does this to slow down
  password guessing). A fault that breaks framing gets ``connection.close``,
  then nothing more is read and the socket is dropped after that delay.
* After the broker sends ``connection.close`` (or answers the client's) it
  only listens for ``connection.close`` / ``close-ok``; after it sends
  ``channel.close`` that channel only listens for ``channel.close`` /
  ``close-ok`` (content is still assembled, so framing rules still hold).
* Heartbeats: one is sent every ``heartbeat / 2`` s if nothing else was; the
  peer is checked every ``heartbeat`` s and dropped, without a frame, at the
  second check in a row that finds nothing received.
"""

from __future__ import annotations

import logging
from collections import deque
from dataclasses import dataclass

from pamqp import commands
from pamqp.base import Frame as Method

from amqpd.errors import (
    AMQPConnectionError,
    AMQPError,
    ChannelError,
    DropConnection,
    FatalFrameError,
    ReplyCode,
)
from amqpd.wire import amqp08, fastpath
from amqpd.wire.channel import Channel, ChannelState
from amqpd.wire.codec import ContentHeader, decode_method, encode_method, method_ids
from amqpd.wire.erlang import frame_error_text, octets_snippet
from amqpd.wire.events import (
    ChannelClosed,
    ChannelOpened,
    CommandReceived,
    ConnectionClosed,
    Event,
)
from amqpd.wire.frames import (
    FRAME_BODY,
    FRAME_HEADER,
    FRAME_HEARTBEAT,
    FRAME_METHOD,
    FRAME_MIN_SIZE,
    HEARTBEAT_FRAME,
    FrameReader,
    RawFrame,
    body_frames,
)
from amqpd.wire.handshake import (  # noqa: F401  (re-exported for the shell and tests)
    ACCEPTED_HEADERS,
    MAX_CLOSE_WAIT,
    PROTOCOL_HEADER,
    Authority,
    ConnectionSettings,
    Handshake,
    negotiate,
)
from amqpd.wire.state import HANDSHAKE, SILENT, TRANSITIONS, State

log = logging.getLogger("amqpd.wire")


class Connection(Handshake):
    def __init__(self, settings: ConnectionSettings, authority: Authority, now: float) -> None:
        self.settings = settings
        self._authority = authority
        self.state = State.AWAIT_HEADER
        self._now = now
        self._header = bytearray()
        # Until tune-ok the peer gets the protocol's minimum frame size.
        self._reader = FrameReader(FRAME_MIN_SIZE)
        self._out = bytearray()
        self._events: deque[Event] = deque()
        self._channels: dict[int, Channel] = {}
        self._deadline: float | None = now + settings.handshake_timeout
        self.frame_max = FRAME_MIN_SIZE
        self.channel_max = settings.channel_max
        self.heartbeat = 0
        self._next_send_check = self._next_recv_check = 0.0
        self._sent_since_check = self._received_since_check = False
        self._missed_checks = 0
        self.user: str | None = None
        self.vhost: str | None = None
        self.client_properties: dict = {}
        self.amqp08 = False  # the client asked for AMQP 0-8 (see wire.amqp08)
        self.close_reason: str | None = None
        self._opened = False
        self._released = False
        # Set by the first basic.publish method frame, before its content: a
        # resource alarm holds a publisher from its first message on.
        self.publisher = False
        self.blocked = False  # under a resource alarm (see block)
        self._told_blocked = False

    @property
    def transport_closed(self) -> bool:
        return self.state is State.CLOSED

    @property
    def closing(self) -> bool:
        """connection.close was sent or answered: only close and close-ok are read
        now, so reading can no longer hand the broker a command."""
        return self.state is State.CLOSING

    # ---- inputs -------------------------------------------------------------------

    def receive_data(self, data: bytes, now: float) -> None:
        self._now = now
        if not data or self.state in (State.CLOSED, State.LINGER):
            return
        self._received_since_check = True
        if self.state is State.AWAIT_HEADER:
            data = self._receive_protocol_header(data)
            if not data:
                return
        self._reader.feed(data)
        while self.state not in (State.CLOSED, State.LINGER):
            try:
                raw = self._reader.next_frame()
            except FatalFrameError as err:
                self.fail(0, err)
                return
            if raw is None:
                return
            try:
                self._handle_frame(raw)
            except AMQPError as err:
                self.fail(raw.channel, err)
            except DropConnection as drop:
                self._terminate(drop.reason)
            except Exception:
                # A bug must cost this connection, not the broker: close it with 541.
                log.exception("internal error handling a frame on channel %d", raw.channel)
                self.fail(0, AMQPConnectionError(ReplyCode.INTERNAL_ERROR, ""))

    def receive_eof(self, now: float) -> None:
        """The peer closed its side, or the socket broke."""
        self._now = now
        if self.state is State.OPEN:
            self._terminate("client unexpectedly closed TCP connection")
        else:
            self._terminate(self.close_reason or "client closed the connection")

    def handle_timer(self, now: float) -> None:
        self._now = now
        if self.state is State.CLOSED:
            return
        if self._deadline is not None and now >= self._deadline:
            if self.state in HANDSHAKE:
                self._terminate("handshake timeout")
            else:
                self._terminate(self.close_reason or "closed")
            return
        if self.heartbeat and self.state in (State.AWAIT_OPEN, State.OPEN):
            self._check_heartbeats(now)

    # ---- outputs ------------------------------------------------------------------

    def next_event(self) -> Event | None:
        events = self._events
        while events:
            event = events.popleft()
            if type(event) is _Reply:
                # Sent only now, so it follows the replies to the commands before it.
                if not self.transport_closed:
                    self.send_method(event.channel, event.method)
                continue
            return event
        return None

    def data_to_send(self) -> bytes:
        data = bytes(self._out)
        self._out.clear()
        return data

    @property
    def pending_output(self) -> int:
        return len(self._out)

    def get_timer(self) -> float | None:
        """The earliest time at which ``handle_timer`` has something to do."""
        if self.state is State.CLOSED:
            return None
        times = [] if self._deadline is None else [self._deadline]
        if self.heartbeat and self.state in (State.AWAIT_OPEN, State.OPEN):
            times += [self._next_send_check, self._next_recv_check]
        return min(times) if times else None

    # ---- what the broker asks of the connection -----------------------------------

    def send_method(self, channel: int, method: Method) -> None:
        if self.amqp08 and (data := amqp08.encode(channel, method)) is not None:
            self._write(data)
            return
        self._write(encode_method(channel, method))

    def send_content(
        self, channel: int, method: Method, header: ContentHeader, body: bytes
    ) -> None:
        """Send a content method, reusing the header's raw property bytes."""
        self._write(encode_method(channel, method))
        self._write(header.encode(channel))
        for chunk in body_frames(channel, body, self.frame_max):
            self._write(chunk)

    def send_delivery(
        self,
        channel: int,
        consumer_tag: str,
        delivery_tag: int,
        redelivered: bool,
        message_exchange: str,
        routing_key: str,
        header: ContentHeader,
        body: bytes,
    ) -> None:
        """basic.deliver and its content: the hot path, encoded by hand."""
        self._write(
            fastpath.deliver_frame(
                channel, consumer_tag, delivery_tag, redelivered, message_exchange, routing_key
            )
        )
        self._write(header.encode(channel))
        for chunk in body_frames(channel, body, self.frame_max):
            self._write(chunk)

    def block(self, reason: str) -> None:
        """A resource alarm holds this connection: tell the client connection.blocked,
        once, if it said it takes it (the ``connection.blocked`` capability)."""
        self.blocked = True
        if self._told_blocked or self.state is not State.OPEN:
            return
        capabilities = self.client_properties.get("capabilities") or {}
        if capabilities.get("connection.blocked") and not self.amqp08:
            self.send_method(0, commands.Connection.Blocked(reason=reason))
            self._told_blocked = True

    def unblock(self) -> None:
        """The alarm cleared: connection.unblocked, to a client that was told blocked."""
        self.blocked = False
        if self._told_blocked and self.state is State.OPEN:
            self.send_method(0, commands.Connection.Unblocked())
        self._told_blocked = False

    def close(self, code: int, detail: str, class_id: int = 0, method_id: int = 0) -> None:
        """Close the connection from the broker's side (for example at shutdown)."""
        if self.state in HANDSHAKE:
            self._terminate(f"{ReplyCode(code).name} - {detail}")
            return
        self.fail(0, AMQPConnectionError(code, detail, class_id, method_id))

    def fail(self, channel: int, error: AMQPError) -> None:
        """The one place an error becomes a channel.close or a connection.close."""
        if self.state in (State.CLOSING, State.LINGER, State.CLOSED):
            return
        if self.state in SILENT:
            self._linger(error.reply_text)
            return
        ch = self._channels.get(channel)
        if isinstance(error, ChannelError) and ch is not None and channel != 0:
            if ch.state is ChannelState.OPEN:
                ch.state = ChannelState.CLOSING
                self._drop_queued(channel)
                self.send_method(
                    channel,
                    commands.Channel.Close(
                        error.code, error.reply_text, error.class_id, error.method_id
                    ),
                )
                self._events.append(ChannelClosed(channel))
            return
        self._drop_queued(None)
        self.send_method(
            0,
            commands.Connection.Close(
                error.code, error.reply_text, error.class_id, error.method_id
            ),
        )
        if isinstance(error, FatalFrameError):
            self._linger(error.reply_text)
        else:
            self._begin_closing(error.reply_text)

    def _drop_queued(self, channel: int | None) -> None:
        """Forget the commands (and own replies) still queued on a channel the
        broker closes, or on every channel when it closes the connection: RabbitMQ
        runs nothing a client sent after the command that failed."""
        events = self._events
        kept = [
            e
            for e in events
            if type(e) not in _AWAITING_REPLY or (channel is not None and e.channel != channel)
        ]
        if len(kept) != len(events):
            events.clear()
            events.extend(kept)

    # ---- state changes ------------------------------------------------------------

    def _move(self, state: State) -> None:
        if state not in TRANSITIONS[self.state]:
            raise AssertionError(f"no transition from {self.state} to {state}")
        self.state = state

    def _write(self, data: bytes) -> None:
        self._out += data
        self._sent_since_check = True

    def _release(self, reason: str) -> None:
        """Tell the broker, once, that an opened connection is over."""
        if self.close_reason is None:
            self.close_reason = reason
        if self._opened and not self._released:
            self._released = True
            self._events.append(ConnectionClosed(self.close_reason))

    def _terminate(self, reason: str) -> None:
        """The connection is over: release it and let the shell drop the socket."""
        if self.state is State.CLOSED:
            return
        self._release(reason)
        self._move(State.CLOSED)
        self._deadline = None

    def _linger(self, reason: str) -> None:
        """Read nothing more and drop the socket after the error pause."""
        self._release(reason)
        self._move(State.LINGER)
        self._deadline = self._now + self.settings.error_close_delay

    def _begin_closing(self, reason: str, wait: float | None = None) -> None:
        self._release(reason)
        self._move(State.CLOSING)
        if wait is None:
            wait = min(self.heartbeat or MAX_CLOSE_WAIT, MAX_CLOSE_WAIT)
        self._deadline = self._now + wait

    def _check_heartbeats(self, now: float) -> None:
        interval = self.heartbeat
        while now >= self._next_recv_check:
            self._missed_checks = 0 if self._received_since_check else self._missed_checks + 1
            self._received_since_check = False
            self._next_recv_check += interval
            if self._missed_checks >= 2:
                self._terminate(f"missed heartbeats from client, timeout: {interval}s")
                return
        while now >= self._next_send_check:
            if not self._sent_since_check:
                self._write(HEARTBEAT_FRAME)
            self._sent_since_check = False
            self._next_send_check += interval / 2

    # ---- frames -------------------------------------------------------------------

    def _handle_frame(self, raw: RawFrame) -> None:
        if raw.type not in (FRAME_METHOD, FRAME_HEADER, FRAME_BODY, FRAME_HEARTBEAT):
            raise AMQPConnectionError(
                ReplyCode.FRAME_ERROR, frame_error_text(raw.type, raw.payload, "unknown_frame")
            )
        if self.state is State.CLOSING:
            self._handle_while_closing(raw)
        elif raw.channel == 0:
            self._handle_channel_zero(raw)
        elif self.state in SILENT:
            raise AMQPConnectionError(ReplyCode.UNEXPECTED_FRAME, "frame before connection.open")
        elif self.state is State.AWAIT_OPEN or raw.type == FRAME_HEARTBEAT:
            raise AMQPConnectionError(
                ReplyCode.UNEXPECTED_FRAME, f"type {raw.type}, {octets_snippet(raw.payload)}"
            )
        else:
            if self.amqp08 and raw.type == FRAME_METHOD:
                amqp08.check_channel_method(raw.payload)
            self._handle_channel_frame(raw)

    def _handle_while_closing(self, raw: RawFrame) -> None:
        if raw.channel != 0 or raw.type != FRAME_METHOD:
            return
        try:
            method = decode_method(self._channel_zero_payload(raw))
        except (AMQPError, DropConnection):
            return
        if isinstance(method, commands.Connection.Close):
            self.send_method(0, commands.Connection.CloseOk())
        elif isinstance(method, commands.Connection.CloseOk):
            self._terminate(self.close_reason or "closed")

    def _handle_channel_zero(self, raw: RawFrame) -> None:
        if raw.type == FRAME_HEARTBEAT:
            if raw.payload:
                raise AMQPConnectionError(
                    ReplyCode.FRAME_ERROR, frame_error_text(raw.type, raw.payload, "unknown_frame")
                )
            return
        if raw.type != FRAME_METHOD:
            raise AMQPConnectionError(
                ReplyCode.UNEXPECTED_FRAME, f"type {raw.type}, {octets_snippet(raw.payload)}"
            )
        payload = self._channel_zero_payload(raw)
        try:
            method = decode_method(payload)
        except AMQPError as err:
            # RabbitMQ's reader decodes channel 0 itself and reports any failure as a crash.
            if self.state in SILENT:
                raise
            raise AMQPConnectionError(ReplyCode.INTERNAL_ERROR, "") from err
        self._handle_connection_method(method)

    def _channel_zero_payload(self, raw: RawFrame) -> bytes:
        """A connection method's payload, with 0-9-1's method ids when the client speaks 0-8."""
        if self.amqp08:
            return amqp08.inbound(raw.payload, self.state.value)
        return raw.payload

    def _handle_connection_method(self, method: Method) -> None:
        state = self.state
        if state is State.AWAIT_START_OK and isinstance(method, commands.Connection.StartOk):
            self._on_start_ok(method)
        elif state is State.AWAIT_TUNE_OK and isinstance(method, commands.Connection.TuneOk):
            self._on_tune_ok(method)
        elif state in SILENT:
            self._linger(f"unexpected {method.name} in connection state {state.value}")
        elif isinstance(method, commands.Connection.Close):
            self._reply_in_order(0, commands.Connection.CloseOk())
            self._begin_closing(f"client closed: {method.reply_code} {method.reply_text}")
        elif state is State.OPEN and isinstance(method, commands.Connection.UpdateSecret):
            # RabbitMQ asks its auth backends for a new state; the internal
            # backend's state cannot expire, so any secret is taken as it is.
            self._reply_in_order(0, commands.Connection.UpdateSecretOk())
        elif state is State.AWAIT_OPEN and isinstance(method, commands.Connection.Open):
            try:
                self._on_open(method)
            except AMQPError as err:
                raise err.with_method(*method_ids(method)) from None
        else:
            raise AMQPConnectionError(
                ReplyCode.CHANNEL_ERROR,
                f"unexpected method in connection state {state.value}",
                *method_ids(method),
            )

    def _reply_in_order(self, channel: int, method: Method) -> None:
        """Send a reply of the state machine's own, after the replies to the
        commands still waiting to be handed to the broker."""
        if any(type(e) in _AWAITING_REPLY for e in self._events):
            self._events.append(_Reply(channel, method))
        else:
            self.send_method(channel, method)

    def _handle_channel_frame(self, raw: RawFrame) -> None:
        number = raw.channel
        ch = self._channels.get(number)
        if ch is None:
            if len(self._channels) >= self.channel_max:
                raise AMQPConnectionError(
                    ReplyCode.NOT_ALLOWED,
                    f"number of channels opened ({len(self._channels)}) has reached "
                    f"the negotiated channel_max ({self.channel_max})",
                )
            ch = self._channels[number] = Channel(self.settings.max_message_size)
        command = ch.feed(raw)
        if not self.publisher and raw.type == FRAME_METHOD:
            pending = ch.assembler.pending
            self.publisher = pending is not None and pending.name == "Basic.Publish"
        if command is None:
            return
        reply = ch.handle(command)
        if reply.send is not None:
            self._reply_in_order(number, reply.send)
        if reply.opened:
            self._events.append(ChannelOpened(number))
        if reply.closed_by_client:
            del self._channels[number]
            self._events.append(ChannelClosed(number))
        elif reply.finished:
            del self._channels[number]
        if reply.for_broker:
            self._events.append(CommandReceived(number, command))


@dataclass(frozen=True, slots=True)
class _Reply:
    """A reply of the state machine's own (channel open-ok, close-ok, flow-ok)
    queued behind the events before it, so replies leave in command order."""

    channel: int
    method: Method


_AWAITING_REPLY = (CommandReceived, _Reply)
