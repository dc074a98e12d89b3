"""What a connection negotiates, and the steps that negotiate it.

The protocol headers accepted, who may log in (``Authority``), the settings
offered in connection.tune and RabbitMQ's tune-ok bounds; and ``Handshake``,
the part of the connection state machine that runs from the protocol header
to connection.open-ok (start, start-ok with PLAIN or AMQPLAIN, tune-ok, open).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from pamqp import commands
from pamqp.base import Frame as Method

from amqpd import defaults
from amqpd.errors import AMQPConnectionError, ReplyCode
from amqpd.wire import amqp08, auth
from amqpd.wire.events import ConnectionOpened
from amqpd.wire.frames import FRAME_MIN_SIZE, FrameReader
from amqpd.wire.state import State

PROTOCOL_HEADER = b"AMQP\x00\x00\x09\x01"
# RabbitMQ also takes the AMQP 0-9 header for 0-9-1 (and speaks 0-8: see amqp08).
ACCEPTED_HEADERS = frozenset({PROTOCOL_HEADER, b"AMQP\x01\x01\x00\x09"})
# The longest wait for connection.close-ok, and the wait when heartbeats are off.
MAX_CLOSE_WAIT = 30.0


class Authority(Protocol):
    """Who may log in, and to which virtual hosts."""

    def check_password(self, user: str, password: str) -> bool: ...

    def open_refusal(self, user: str, vhost: str) -> str | None:
        """Why ``user`` may not open ``vhost`` (530 NOT_ALLOWED), or None."""


@dataclass(frozen=True)
class ConnectionSettings:
    """What the broker offers in connection.tune, and its protocol timeouts."""

    frame_max: int = 131072
    channel_max: int = 2047
    heartbeat: int = 60
    handshake_timeout: float = 10.0
    # The pause before dropping a connection after a handshake or framing fault.
    error_close_delay: float = 3.0
    server_properties: dict = field(default_factory=dict)
    # The largest message body accepted; a content header declaring more is
    # refused before any of its body is buffered.
    max_message_size: int = defaults.MAX_MESSAGE_SIZE


def negotiate(name: str, minimum: int, client: int, server: int) -> int:
    """Check a tune-ok value as RabbitMQ does: within [minimum, server]; 0 means no limit."""
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


class Handshake:
    """The handshake steps of ``wire.Connection``, which this class is mixed into.

    Each step checks what the client sent, answers (connection.start, tune,
    open-ok) and moves the state on; a refusal goes through the connection's
    ``_linger`` / ``_begin_closing`` or raises for ``fail()``, as every fault does.
    """

    # The connection's own, used here.
    settings: ConnectionSettings
    state: State
    user: str | None
    vhost: str | None
    client_properties: dict
    amqp08: bool
    frame_max: int
    channel_max: int
    heartbeat: int
    _authority: Authority
    _header: bytearray
    _reader: FrameReader
    _now: float
    _deadline: float | None
    _opened: bool
    _events: deque
    _next_send_check: float
    _next_recv_check: float
    _sent_since_check: bool
    _received_since_check: bool

    if TYPE_CHECKING:

        def send_method(self, channel: int, method: Method) -> None: ...
        def _write(self, data: bytes) -> None: ...
        def _move(self, state: State) -> None: ...
        def _terminate(self, reason: str) -> None: ...
        def _linger(self, reason: str) -> None: ...
        def _begin_closing(self, reason: str, wait: float | None = None) -> None: ...

    def _receive_protocol_header(self, data: bytes) -> bytes:
        need = len(PROTOCOL_HEADER) - len(self._header)
        self._header += data[:need]
        if len(self._header) < len(PROTOCOL_HEADER):
            return b""
        header = bytes(self._header)
        self.amqp08 = header in amqp08.HEADERS
        if header not in ACCEPTED_HEADERS and not self.amqp08:
            # AMQP 0-9-1 4.2.2: answer with the header we speak, then close.
            self._write(PROTOCOL_HEADER)
            self._terminate(f"unsupported protocol header {header!r}")
            return b""
        self._move(State.AWAIT_START_OK)
        properties = self.settings.server_properties
        if self.amqp08:  # RabbitMQ offers a 0-8 client no capabilities
            properties = {**properties, "capabilities": {}}
        major, minor = amqp08.VERSION if self.amqp08 else (0, 9)
        self.send_method(
            0,
            commands.Connection.Start(
                version_major=major,
                version_minor=minor,
                server_properties=properties,
                mechanisms=" ".join(auth.MECHANISMS),
                locales="en_US",
            ),
        )
        return data[need:]

    def _on_start_ok(self, method: commands.Connection.StartOk) -> None:
        self.client_properties = method.client_properties or {}
        mechanism = method.mechanism
        if mechanism not in auth.MECHANISMS:
            self._linger(f"unknown authentication mechanism '{mechanism}'")
            return
        credentials = auth.parse_response(mechanism, method.response or b"")
        if credentials is None:
            self._linger(f"malformed {mechanism} response")
            return
        if not self._authority.check_password(*credentials):
            self._refuse_login(mechanism, credentials[0])
            return
        self.user = credentials[0]
        self._move(State.AWAIT_TUNE_OK)
        self.send_method(
            0,
            commands.Connection.Tune(
                channel_max=self.settings.channel_max,
                frame_max=self.settings.frame_max,
                heartbeat=self.settings.heartbeat,
            ),
        )

    def _refuse_login(self, mechanism: str, user: str) -> None:
        # RabbitMQ explains a refused login only to clients that say they can take
        # it; others see the socket close, as AMQP 0-9-1 prescribes. Either way
        # the close comes after the error pause unless the client sends close-ok.
        self.user = user
        detail = (
            f"Login was refused using authentication mechanism {mechanism}. "
            "For details see the broker logfile."
        )
        capabilities = self.client_properties.get("capabilities") or {}
        if capabilities.get("authentication_failure_close"):
            self.send_method(
                0,
                commands.Connection.Close(
                    ReplyCode.ACCESS_REFUSED, f"ACCESS_REFUSED - {detail}", 0, 0
                ),
            )
        self._begin_closing(f"ACCESS_REFUSED - {detail}", wait=self.settings.error_close_delay)

    def _on_tune_ok(self, method: commands.Connection.TuneOk) -> None:
        frame_max = negotiate(
            "frame_max", FRAME_MIN_SIZE, method.frame_max, self.settings.frame_max
        )
        channel_max = negotiate("channel_max", 1, method.channel_max, self.settings.channel_max)
        self.frame_max, self.channel_max = frame_max, channel_max
        self._reader.frame_max = frame_max
        self.heartbeat = method.heartbeat
        if self.heartbeat:
            self._next_send_check = self._now + self.heartbeat / 2
            self._next_recv_check = self._now + self.heartbeat
            self._sent_since_check = self._received_since_check = False
        self._move(State.AWAIT_OPEN)

    def _on_open(self, method: commands.Connection.Open) -> None:
        vhost = method.virtual_host
        refusal = self._authority.open_refusal(self.user or "", vhost)
        if refusal is not None:
            raise AMQPConnectionError(ReplyCode.NOT_ALLOWED, refusal)
        self.vhost = vhost
        self._move(State.OPEN)
        self._deadline = None
        self._opened = True
        self.send_method(0, commands.Connection.OpenOk())
        # RabbitMQ's heartbeat sender starts counting after open-ok went out.
        self._sent_since_check = False
        self._events.append(ConnectionOpened(self.user or "", vhost, self.client_properties))
