"""The connection state machine: bytes and time in; events, bytes and a deadline out.

Rules this module keeps:

* It never touches a socket or a clock. The shell feeds it received bytes with
  ``receive_data(data, now)``, calls ``handle_timer(now)`` when ``get_timer()``
  is due, sends whatever ``data_to_send()`` returns, and closes the transport
  once ``transport_closed`` is true and the outgoing bytes are flushed.
* Connection states advance in one direction only (see ``_EXPECTED``): a
  method the current state does not expect is a protocol error, never ignored.
* Every fault becomes an ``AMQPError`` and is turned into ``channel.close``
  (soft) or ``connection.close`` (hard) in exactly one place: ``fail()``.
* After the broker sent ``channel.close`` the channel ignores every frame but
  ``channel.close`` and ``channel.close-ok``; after it sent ``connection.close``
  the connection ignores everything but ``connection.close(-ok)``.
"""

from __future__ import annotations

import enum
import logging
from collections import deque
from dataclasses import dataclass, field
from typing import Protocol

from pamqp import commands
from pamqp.base import Frame as Method

from amqpd.errors import AMQPConnectionError, AMQPError, ChannelError, ReplyCode
from amqpd.wire import auth
from amqpd.wire.assembler import Command, CommandAssembler
from amqpd.wire.codec import ContentHeader, decode_method, encode_method, method_ids
from amqpd.wire.events import (
    ChannelClosed,
    ChannelOpened,
    CommandReceived,
    ConnectionClosed,
    ConnectionOpened,
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

log = logging.getLogger("amqpd.wire")

PROTOCOL_HEADER = b"AMQP\x00\x00\x09\x01"


class Authority(Protocol):
    """Who may log in, and which virtual hosts exist."""

    def check_password(self, user: str, password: str) -> bool: ...

    def vhost_exists(self, vhost: str) -> bool: ...


@dataclass(frozen=True)
class ConnectionSettings:
    """What the broker offers in connection.tune, and its protocol timeouts."""

    frame_max: int = 131072
    channel_max: int = 2047
    heartbeat: int = 60
    handshake_timeout: float = 10.0
    # How long to wait for connection.close-ok before dropping the socket.
    close_timeout: float = 3.0
    server_properties: dict = field(default_factory=dict)


class State(enum.Enum):
    AWAIT_HEADER = "awaiting protocol header"
    AWAIT_START_OK = "starting"
    AWAIT_TUNE_OK = "tuning"
    AWAIT_OPEN = "opening"
    OPEN = "running"
    CLOSING = "closing"
    CLOSED = "closed"


# The connection-class method each handshake state waits for.
_EXPECTED = {
    State.AWAIT_START_OK: "Connection.StartOk",
    State.AWAIT_TUNE_OK: "Connection.TuneOk",
    State.AWAIT_OPEN: "Connection.Open",
}


class ChannelState(enum.Enum):
    OPEN = "open"
    CLOSING = "closing"  # the broker sent channel.close and waits for close-ok


@dataclass
class _Channel:
    state: ChannelState = ChannelState.OPEN
    assembler: CommandAssembler = field(default_factory=CommandAssembler)


class Connection:
    def __init__(self, settings: ConnectionSettings, authority: Authority, now: float) -> None:
        self.settings = settings
        self._authority = authority
        self.state = State.AWAIT_HEADER
        self._header_buffer = bytearray()
        self._reader = FrameReader(settings.frame_max)
        self._out = bytearray()
        self._events: deque[Event] = deque()
        self._channels: dict[int, _Channel] = {}
        self._handshake_deadline = now + settings.handshake_timeout
        self._close_deadline: float | None = None
        self._last_received = now
        self._last_sent = now
        self._now = now
        self.frame_max = settings.frame_max
        self.channel_max = settings.channel_max
        self.heartbeat = 0
        self.user: str | None = None
        self.vhost: str | None = None
        self.client_properties: dict = {}
        self.close_reason: str | None = None
        self.transport_closed = False
        self._opened = False
        self._released = False

    # ---- inputs -------------------------------------------------------------------

    def receive_data(self, data: bytes, now: float) -> None:
        self._now = now
        if self.transport_closed or not data:
            return
        self._last_received = now
        if self.state is State.AWAIT_HEADER:
            data = self._receive_protocol_header(data)
            if not data:
                return
        self._reader.feed(data)
        while not self.transport_closed:
            try:
                raw = self._reader.next_frame()
            except AMQPError as err:
                self.fail(0, err)
                # The stream is no longer framed: nothing more can be read from it.
                self._reader = FrameReader(self.frame_max)
                return
            if raw is None:
                return
            try:
                self._handle_frame(raw)
            except AMQPError as err:
                self.fail(raw.channel, err)
            except Exception:
                # A bug must cost this connection, not the broker: close it with 541.
                log.exception("internal error handling a frame on channel %d", raw.channel)
                self.fail(0, AMQPConnectionError(ReplyCode.INTERNAL_ERROR, "internal error"))

    def receive_eof(self, now: float) -> None:
        """The peer closed its side (or the socket broke)."""
        self._now = now
        if self.state is State.OPEN or self.state is State.AWAIT_OPEN:
            self._terminate("client unexpectedly closed TCP connection")
        else:
            self._terminate(self.close_reason or "connection closed by client during handshake")

    def handle_timer(self, now: float) -> None:
        self._now = now
        if self.transport_closed:
            return
        if self._close_deadline is not None:
            if now >= self._close_deadline:
                self._terminate(self.close_reason or "timed out waiting for connection.close-ok")
            return
        if self.state in _HANDSHAKE_STATES:
            if now >= self._handshake_deadline:
                self._terminate("handshake timeout")
            return
        if self.heartbeat:
            if now >= self._last_received + 2 * self.heartbeat:
                self._terminate(f"missed heartbeats from client, timeout: {self.heartbeat}s")
                return
            if now >= self._last_sent + self.heartbeat:
                self._write(HEARTBEAT_FRAME)

    # ---- outputs ------------------------------------------------------------------

    def next_event(self) -> Event | None:
        return self._events.popleft() if self._events else None

    def data_to_send(self) -> bytes:
        data = bytes(self._out)
        self._out.clear()
        return data

    @property
    def pending_output(self) -> int:
        return len(self._out)

    def get_timer(self) -> float | None:
        """The earliest time at which ``handle_timer`` has something to do."""
        if self.transport_closed:
            return None
        if self._close_deadline is not None:
            return self._close_deadline
        if self.state in _HANDSHAKE_STATES:
            return self._handshake_deadline
        if self.heartbeat:
            return min(self._last_received + 2 * self.heartbeat, self._last_sent + self.heartbeat)
        return None

    # ---- what the broker asks of the connection -----------------------------------

    def send_method(self, channel: int, method: Method) -> None:
        self._write(encode_method(channel, method))

    def send_content(
        self, channel: int, method: Method, header: ContentHeader, body: bytes
    ) -> None:
        """Send a content method, reusing the header's raw property bytes."""
        self._write(encode_method(channel, method))
        self._write(header.encode(channel))
        for chunk in body_frames(channel, body, self.frame_max):
            self._write(chunk)

    def channel_is_open(self, channel: int) -> bool:
        ch = self._channels.get(channel)
        return ch is not None and ch.state is ChannelState.OPEN

    def close(self, code: int, detail: str, class_id: int = 0, method_id: int = 0) -> None:
        """Close the connection from the broker's side (for example at shutdown)."""
        self.fail(0, AMQPConnectionError(code, detail, class_id, method_id))

    def fail(self, channel: int, error: AMQPError) -> None:
        """The one place an error becomes a channel.close or a connection.close."""
        if self.transport_closed or self.state is State.CLOSING:
            return
        soft = isinstance(error, ChannelError) and channel != 0 and self.state is State.OPEN
        if soft and self.channel_is_open(channel):
            ch = self._channels[channel]
            ch.state = ChannelState.CLOSING
            ch.assembler = CommandAssembler()
            self.send_method(
                channel,
                commands.Channel.Close(
                    error.code, error.reply_text, error.class_id, error.method_id
                ),
            )
            self._events.append(ChannelClosed(channel))
            return
        if self.state is State.AWAIT_HEADER:
            self._terminate(error.reply_text)
            return
        self.send_method(
            0,
            commands.Connection.Close(
                error.code, error.reply_text, error.class_id, error.method_id
            ),
        )
        self._begin_closing(error.reply_text)

    # ---- internals ----------------------------------------------------------------

    def _write(self, data: bytes) -> None:
        self._out += data
        self._last_sent = self._now

    def _terminate(self, reason: str) -> None:
        """The connection is over: release it and let the shell drop the socket."""
        if self.transport_closed:
            return
        if self.close_reason is None:
            self.close_reason = reason
        self._release_all()
        self.state = State.CLOSED
        self._close_deadline = None
        self.transport_closed = True

    def _release_all(self) -> None:
        """Tell the broker, once, that an opened connection is over."""
        if self._opened and not self._released:
            self._released = True
            self._events.append(ConnectionClosed(self.close_reason or ""))

    def _begin_closing(self, reason: str) -> None:
        self.close_reason = reason
        self._release_all()
        self.state = State.CLOSING
        self._close_deadline = self._now + self.settings.close_timeout

    def _receive_protocol_header(self, data: bytes) -> bytes:
        need = len(PROTOCOL_HEADER) - len(self._header_buffer)
        self._header_buffer += data[:need]
        rest = data[need:]
        if len(self._header_buffer) < len(PROTOCOL_HEADER):
            if not PROTOCOL_HEADER.startswith(bytes(self._header_buffer[:4])[:4]):
                self._refuse_protocol()
            return b""
        if bytes(self._header_buffer) != PROTOCOL_HEADER:
            self._refuse_protocol()
            return b""
        self._send_start()
        return rest

    def _refuse_protocol(self) -> None:
        # AMQP 0-9-1 4.2.2: answer a header we do not speak with the one we do, then close.
        self._write(PROTOCOL_HEADER)
        self._terminate(f"bad protocol header {bytes(self._header_buffer)!r}")

    def _send_start(self) -> None:
        self.state = State.AWAIT_START_OK
        self.send_method(
            0,
            commands.Connection.Start(
                version_major=0,
                version_minor=9,
                server_properties=self.settings.server_properties,
                mechanisms=" ".join(auth.MECHANISMS),
                locales="en_US",
            ),
        )

    def _handle_frame(self, raw: RawFrame) -> None:
        if raw.type == FRAME_HEARTBEAT:
            if raw.channel != 0:
                raise AMQPConnectionError(
                    ReplyCode.FRAME_ERROR,
                    f"heartbeat frame on non-zero channel {raw.channel}",
                )
            return
        if self.state is State.CLOSING:
            self._handle_while_closing(raw)
            return
        if raw.channel == 0:
            self._handle_channel_zero(raw)
            return
        if self.state is not State.OPEN:
            raise AMQPConnectionError(
                ReplyCode.CHANNEL_ERROR, f"unexpected frame on channel {raw.channel}"
            )
        self._handle_channel_frame(raw)

    def _handle_while_closing(self, raw: RawFrame) -> None:
        if raw.channel != 0 or raw.type != FRAME_METHOD:
            return
        try:
            method = decode_method(raw.payload)
        except AMQPError:
            return
        if isinstance(method, commands.Connection.Close):
            self.send_method(0, commands.Connection.CloseOk())
            self._terminate(self.close_reason or "closed")
        elif isinstance(method, commands.Connection.CloseOk):
            self._terminate(self.close_reason or "closed")

    def _handle_channel_zero(self, raw: RawFrame) -> None:
        if raw.type != FRAME_METHOD:
            raise AMQPConnectionError(
                ReplyCode.UNEXPECTED_FRAME,
                "expected method frame, got non method frame on channel 0",
            )
        method = decode_method(raw.payload)
        class_id, method_id = method_ids(method)
        try:
            self._handle_connection_method(method)
        except AMQPError as err:
            raise err.with_method(class_id, method_id) from None

    def _handle_connection_method(self, method: Method) -> None:
        if isinstance(method, commands.Connection.Close):
            self.send_method(0, commands.Connection.CloseOk())
            self.close_reason = f"client closed: {method.reply_code} {method.reply_text}"
            self._terminate(self.close_reason)
            return
        expected = _EXPECTED.get(self.state)
        if expected is None or method.name != expected:
            raise AMQPConnectionError(
                ReplyCode.COMMAND_INVALID if expected else ReplyCode.UNEXPECTED_FRAME,
                f"unexpected method in connection state {self.state.value}",
            )
        if isinstance(method, commands.Connection.StartOk):
            self._on_start_ok(method)
        elif isinstance(method, commands.Connection.TuneOk):
            self._on_tune_ok(method)
        elif isinstance(method, commands.Connection.Open):
            self._on_open(method)

    def _on_start_ok(self, method: commands.Connection.StartOk) -> None:
        self.client_properties = method.client_properties or {}
        mechanism = method.mechanism
        if mechanism not in auth.MECHANISMS:
            raise AMQPConnectionError(
                ReplyCode.COMMAND_INVALID,
                f"unknown authentication mechanism '{mechanism}'",
            )
        credentials = auth.parse_response(mechanism, method.response or b"")
        if credentials is None or not self._authority.check_password(*credentials):
            self._refuse_login(mechanism)
            return
        self.user = credentials[0]
        self.state = State.AWAIT_TUNE_OK
        self.send_method(
            0,
            commands.Connection.Tune(
                channel_max=self.settings.channel_max,
                frame_max=self.settings.frame_max,
                heartbeat=self.settings.heartbeat,
            ),
        )

    def _refuse_login(self, mechanism: str) -> None:
        # RabbitMQ closes with 403 only for clients that say they understand it;
        # others just see the socket close, as AMQP 0-9-1 prescribes.
        capabilities = self.client_properties.get("capabilities") or {}
        detail = (
            f"Login was refused using authentication mechanism {mechanism}. "
            "For details see the broker logfile."
        )
        if capabilities.get("authentication_failure_close"):
            raise AMQPConnectionError(ReplyCode.ACCESS_REFUSED, detail)
        self._terminate(f"ACCESS_REFUSED - {detail}")

    def _on_tune_ok(self, method: commands.Connection.TuneOk) -> None:
        self.frame_max = _negotiate(
            "frame_max", FRAME_MIN_SIZE, method.frame_max, self.settings.frame_max
        )
        self.channel_max = _negotiate(
            "channel_max", 1, method.channel_max, self.settings.channel_max
        )
        self.heartbeat = method.heartbeat
        self._reader.frame_max = self.frame_max
        self.state = State.AWAIT_OPEN

    def _on_open(self, method: commands.Connection.Open) -> None:
        vhost = method.virtual_host
        if not self._authority.vhost_exists(vhost):
            raise AMQPConnectionError(ReplyCode.NOT_ALLOWED, f"vhost {vhost} not found")
        self.vhost = vhost
        self.state = State.OPEN
        self._opened = True
        self.send_method(0, commands.Connection.OpenOk())
        self._events.append(ConnectionOpened(self.user or "", vhost, self.client_properties))

    def _handle_channel_frame(self, raw: RawFrame) -> None:
        number = raw.channel
        ch = self._channels.get(number)
        if ch is not None and ch.state is ChannelState.CLOSING:
            self._handle_on_closing_channel(number, raw)
            return
        if raw.type == FRAME_METHOD:
            method = decode_method(raw.payload)
            if ch is None:
                self._open_channel(number, method)
                return
            try:
                command = ch.assembler.method(method)
            except AMQPError as err:
                raise err.with_method(*method_ids(method)) from None
        elif ch is None:
            raise AMQPConnectionError(ReplyCode.CHANNEL_ERROR, "expected 'channel.open'")
        elif raw.type == FRAME_HEADER:
            command = ch.assembler.header(ContentHeader.parse(raw.payload))
        elif raw.type == FRAME_BODY:
            command = ch.assembler.body(raw.payload)
        else:
            raise AMQPConnectionError(ReplyCode.FRAME_ERROR, f"unknown frame type {raw.type}")
        if command is not None:
            self._dispatch(number, command)

    def _open_channel(self, number: int, method: Method) -> None:
        if not isinstance(method, commands.Channel.Open):
            raise AMQPConnectionError(
                ReplyCode.CHANNEL_ERROR, "expected 'channel.open'", *method_ids(method)
            )
        if number > self.channel_max:
            raise AMQPConnectionError(
                ReplyCode.NOT_ALLOWED,
                f"channel number {number} exceeds the negotiated channel_max {self.channel_max}",
                *method_ids(method),
            )
        self._channels[number] = _Channel()
        self.send_method(number, commands.Channel.OpenOk())
        self._events.append(ChannelOpened(number))

    def _handle_on_closing_channel(self, number: int, raw: RawFrame) -> None:
        if raw.type != FRAME_METHOD:
            return
        method = decode_method(raw.payload)
        if isinstance(method, commands.Channel.CloseOk):
            del self._channels[number]
        elif isinstance(method, commands.Channel.Close):
            self.send_method(number, commands.Channel.CloseOk())

    def _dispatch(self, number: int, command: Command) -> None:
        method = command.method
        if isinstance(method, commands.Channel.Open):
            raise AMQPConnectionError(
                ReplyCode.CHANNEL_ERROR, "second 'channel.open' seen", *method_ids(method)
            )
        if isinstance(method, commands.Channel.Close):
            del self._channels[number]
            self.send_method(number, commands.Channel.CloseOk())
            self._events.append(ChannelClosed(number))
        elif isinstance(method, commands.Channel.CloseOk):
            # A close-ok for a close the broker never sent: nothing to finish.
            pass
        elif isinstance(method, commands.Channel.Flow):
            if not method.active:
                raise AMQPConnectionError(
                    ReplyCode.NOT_IMPLEMENTED, "active=false", *method_ids(method)
                )
            self.send_method(number, commands.Channel.FlowOk(active=True))
        else:
            self._events.append(CommandReceived(number, command))


_HANDSHAKE_STATES = frozenset(
    {State.AWAIT_HEADER, State.AWAIT_START_OK, State.AWAIT_TUNE_OK, State.AWAIT_OPEN}
)


def _negotiate(name: str, minimum: int, client: int, server: int) -> int:
    """Check a tune-ok value as RabbitMQ does: within [minimum, server], 0 = unlimited."""
    if client != 0 and client < minimum:
        raise AMQPConnectionError(
            ReplyCode.NOT_ALLOWED,
            f"negotiated {name} = {client} is lower than the minimum allowed value ({minimum})",
        )
    if server != 0 and (client == 0 or client > server):
        raise AMQPConnectionError(
            ReplyCode.NOT_ALLOWED,
            f"negotiated {name} = {client} is higher than the maximum allowed value ({server})",
        )
    return client
