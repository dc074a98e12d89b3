"""A minimal blocking AMQP client over a raw socket, for checking exact replies.

Conformance tests use it where a real client library would hide what the broker
sent: the exact close code, text, class id and method id, or whether the socket
was closed. It knows nothing about amqpd.
"""

from __future__ import annotations

import socket
import struct
import time

from pamqp import commands, frame, header, heartbeat
from pamqp.body import ContentBody

PROTOCOL_HEADER = b"AMQP\x00\x00\x09\x01"
CLIENT_CAPABILITIES = {
    "authentication_failure_close": True,
    "consumer_cancel_notify": True,
    "basic.nack": True,
    "publisher_confirms": True,
}


def raw_frame(frame_type: int, channel: int, payload: bytes, end: bytes = b"\xce") -> bytes:
    """A frame as bytes, whatever its payload (and end octet) hold."""
    return struct.pack(">BHI", frame_type, channel, len(payload)) + payload + end


class Closed(Exception):
    """The broker closed the TCP connection."""


class RawClient:
    def __init__(self, host: str, port: int, timeout: float = 5.0) -> None:
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.timeout = timeout
        self._buffer = b""
        self.server_properties: dict = {}
        self.tune: commands.Connection.Tune | None = None

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self) -> RawClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- sending ---------------------------------------------------------------
    def send_raw(self, data: bytes) -> None:
        self.sock.sendall(data)

    def send(self, channel: int, value) -> None:
        self.send_raw(frame.marshal(value, channel))

    def send_with_table(self, channel: int, method, table: bytes) -> None:
        """Send a method whose last field is its arguments table, with that table
        replaced by already encoded bytes (see typed.encode_table)."""
        method.arguments = {}
        data = frame.marshal(method, channel)
        payload = data[7:-1]
        assert payload.endswith(b"\0\0\0\0"), "arguments must be the method's last field"
        self.send_raw(raw_frame(1, channel, payload[:-4] + table))

    def publish(
        self,
        channel: int,
        body: bytes,
        exchange: str = "",
        routing_key: str = "",
        properties: commands.Basic.Properties | None = None,
        mandatory: bool = False,
        immediate: bool = False,
    ) -> None:
        props = properties or commands.Basic.Properties()
        method = commands.Basic.Publish(
            exchange=exchange, routing_key=routing_key, mandatory=mandatory, immediate=immediate
        )
        data = frame.marshal(method, channel)
        data += frame.marshal(header.ContentHeader(0, len(body), props), channel)
        if body:
            data += frame.marshal(ContentBody(body), channel)
        self.send_raw(data)

    # ---- receiving -------------------------------------------------------------
    def _fill(self, deadline: float) -> None:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("no data from broker before the deadline")
        self.sock.settimeout(remaining)
        try:
            chunk = self.sock.recv(65536)
        except ConnectionResetError:
            chunk = b""
        except TimeoutError:
            raise TimeoutError("no data from broker before the deadline") from None
        if not chunk:
            raise Closed()
        self._buffer += chunk

    def read_bytes(self, count: int, timeout: float | None = None) -> bytes:
        deadline = time.monotonic() + (timeout or self.timeout)
        while len(self._buffer) < count:
            self._fill(deadline)
        data, self._buffer = self._buffer[:count], self._buffer[count:]
        return data

    def read_raw_frame(self, timeout: float | None = None) -> tuple[int, int, bytes]:
        """The next frame undecoded, as (type, channel, payload)."""
        kind, channel, size = struct.unpack(">BHI", self.read_bytes(7, timeout))
        rest = self.read_bytes(size + 1, timeout)
        assert rest[-1:] == b"\xce", (kind, rest)
        return kind, channel, rest[:-1]

    def read_frame(self, timeout: float | None = None, skip_heartbeats: bool = True):
        """The next frame as (channel, value); raises Closed at EOF."""
        deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            while len(self._buffer) < 7:
                self._fill(deadline)
            (size,) = struct.unpack_from(">I", self._buffer, 3)
            while len(self._buffer) < size + 8:
                self._fill(deadline)
            used, channel, value = frame.unmarshal(self._buffer)
            self._buffer = self._buffer[used:]
            if skip_heartbeats and isinstance(value, heartbeat.Heartbeat):
                continue
            return channel, value

    def expect(self, kind: type, timeout: float | None = None):
        channel, value = self.read_frame(timeout)
        assert isinstance(value, kind), f"expected {kind.__name__}, got {value!r}"
        return channel, value

    def basic_get(self, channel: int, queue: str, no_ack: bool = True):
        """basic.get: (get-ok, properties, body), or None for get-empty."""
        self.send(channel, commands.Basic.Get(queue=queue, no_ack=no_ack))
        _, method, content_header, body = self.read_message()
        if isinstance(method, commands.Basic.GetEmpty):
            return None
        assert isinstance(method, commands.Basic.GetOk), f"expected get-ok/empty, got {method!r}"
        return method, content_header.properties, body

    def wait_closed(self, timeout: float | None = None) -> bytes:
        """Read until the broker closes the socket; returns what came before EOF."""
        deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            try:
                self._fill(deadline)
            except Closed:
                data, self._buffer = self._buffer, b""
                return data

    def closed_within(self, seconds: float) -> tuple[float, bytes]:
        """Wait for EOF; returns (seconds it took, bytes received before it)."""
        started = time.monotonic()
        data = self.wait_closed(seconds)
        return time.monotonic() - started, data

    def read_message(self, timeout: float | None = None):
        """A content-bearing method (deliver, get-ok, return) with its header and body.

        Returns (channel, method, content header, body).
        """
        channel, method = self.read_frame(timeout)
        if isinstance(method, commands.Basic.GetEmpty):
            return channel, method, None, None
        _, content_header = self.read_frame(timeout)
        assert isinstance(content_header, header.ContentHeader), content_header
        body = b""
        while len(body) < content_header.body_size:
            _, part = self.read_frame(timeout)
            assert isinstance(part, ContentBody), part
            body += part.value
        return channel, method, content_header, body

    def call(self, channel: int, method, timeout: float | None = None):
        """Send a synchronous method and return the broker's reply frame."""
        self.send(channel, method)
        return self.read_frame(timeout)[1]

    def expect_connection_close(self, timeout: float | None = None):
        """Expect connection.close, answer close-ok, then expect the socket to close."""
        _channel, close = self.expect(commands.Connection.Close, timeout)
        try:
            self.send(0, commands.Connection.CloseOk())
        except OSError:
            pass
        self.wait_closed(timeout)
        return close

    def expect_channel_close(self, channel: int, timeout: float | None = None):
        got_channel, close = self.expect(commands.Channel.Close, timeout)
        assert got_channel == channel
        return close

    def expect_channel_error(self, channel: int, timeout: float | None = None):
        """Expect channel.close, answer close-ok; returns (code, text, class_id, method_id)."""
        close = self.expect_channel_close(channel, timeout)
        self.send(channel, commands.Channel.CloseOk())
        return close.reply_code, close.reply_text, close.class_id, close.method_id

    def call_ok(self, channel: int, method, reply: type):
        """Send a synchronous method; its reply must be of type reply."""
        got = self.call(channel, method)
        assert isinstance(got, reply), f"expected {reply.__name__}, got {got!r}"
        return got

    def call_error(self, channel: int, method, reopen: bool = True):
        """Send a method that must close the channel; answer close-ok, open the channel
        again (unless reopen is false) and return (code, text, class_id, method_id)."""
        self.send(channel, method)
        error = self.expect_channel_error(channel)
        if reopen:
            self.open_channel(channel)
        return error

    def expect_connection_error(self, timeout: float | None = None):
        """Like expect_connection_close; returns (code, text, class_id, method_id)."""
        close = self.expect_connection_close(timeout)
        return close.reply_code, close.reply_text, close.class_id, close.method_id

    # ---- the usual conversation ------------------------------------------------
    def start(
        self,
        capabilities: dict | None = None,
        mechanism: str = "PLAIN",
        response: bytes | str | None = None,
        user: str = "guest",
        password: str = "guest",
    ) -> None:
        """Send the protocol header and start-ok; leaves the broker's reply unread."""
        self.send_raw(PROTOCOL_HEADER)
        _, start = self.expect(commands.Connection.Start)
        self.server_properties = start.server_properties
        self.start_method = start
        caps = CLIENT_CAPABILITIES if capabilities is None else capabilities
        props = (
            {"product": "amqpd-conformance", "capabilities": caps}
            if caps
            else {"product": "amqpd-conformance"}
        )
        self.send(
            0,
            commands.Connection.StartOk(
                client_properties=props,
                mechanism=mechanism,
                response=response if response is not None else f"\0{user}\0{password}",
                locale="en_US",
            ),
        )

    def handshake(
        self,
        *,
        user: str = "guest",
        password: str = "guest",
        vhost: str = "/",
        heartbeat: int = 0,
        frame_max: int = 131072,
        channel_max: int | None = None,
        capabilities: dict | None = None,
    ) -> None:
        self.start(capabilities=capabilities, user=user, password=password)
        _, self.tune = self.expect(commands.Connection.Tune)
        self.send(
            0,
            commands.Connection.TuneOk(
                channel_max=self.tune.channel_max if channel_max is None else channel_max,
                frame_max=frame_max,
                heartbeat=heartbeat,
            ),
        )
        self.send(0, commands.Connection.Open(virtual_host=vhost))
        self.expect(commands.Connection.OpenOk)

    def open_channel(self, number: int = 1) -> None:
        self.send(number, commands.Channel.Open())
        got, _ = self.expect(commands.Channel.OpenOk)
        assert got == number

    def close_connection(self) -> None:
        """Close politely; like RabbitMQ's clients, we drop the socket after close-ok."""
        self.send(0, commands.Connection.Close(200, "bye", 0, 0))
        self.expect(commands.Connection.CloseOk)
        self.close()
