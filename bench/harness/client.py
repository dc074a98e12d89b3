"""A lean AMQP client for load generation: raw asyncio sockets, pre-encoded frames.

Client libraries spend more CPU per message than the brokers do, so the
benchmarks talk AMQP themselves: frames are encoded once with pamqp and
written many times; only what a scenario reads (deliveries, confirms, replies)
is looked at, with struct.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import time
from collections import deque
from dataclasses import dataclass

from pamqp import commands, frame, header
from pamqp.body import ContentBody

from harness.brokers import Endpoint

PROTOCOL_HEADER = b"AMQP\x00\x00\x09\x01"
FRAME_MAX = 131072
DELIVER = struct.pack(">HH", 60, 60)
ACK = struct.pack(">HH", 60, 80)
NACK = struct.pack(">HH", 60, 120)
STAMP = 8  # bytes of monotonic_ns at the start of a stamped body


class BrokerError(Exception):
    """The broker closed the channel or the connection."""


class Client:
    """One connection with channel 1 open."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.buffer = bytearray()
        self.frames: deque[tuple[int, int, bytes]] = deque()
        self.frame_max = FRAME_MAX

    @classmethod
    async def connect(cls, broker: Endpoint) -> Client:
        reader, writer = await asyncio.open_connection(broker.host, broker.port, limit=1 << 20)
        writer.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        client = cls(reader, writer)
        writer.write(PROTOCOL_HEADER)
        await client.expect(commands.Connection.Start)
        client.send(
            commands.Connection.StartOk(
                client_properties={"product": "amqpd bench"},
                mechanism="PLAIN",
                response=f"\0{broker.user}\0{broker.password}",
                locale="en_US",
            ),
            channel=0,
        )
        tune = await client.expect(commands.Connection.Tune)
        client.frame_max = min(tune.frame_max or FRAME_MAX, FRAME_MAX)
        client.send(commands.Connection.TuneOk(2047, client.frame_max, 0), channel=0)
        client.send(commands.Connection.Open(virtual_host=broker.vhost), channel=0)
        await client.expect(commands.Connection.OpenOk)
        await client.call(commands.Channel.Open(), commands.Channel.OpenOk)
        return client

    def send(self, method, channel: int = 1) -> None:
        self.writer.write(frame.marshal(method, channel))

    async def read_frames(self) -> None:
        """Read at least one more whole frame into self.frames."""
        buf = self.buffer
        while True:
            pos, size = 0, len(buf)
            while size - pos >= 7:
                kind, channel, length = struct.unpack_from(">BHI", buf, pos)
                end = pos + 8 + length
                if end > size:
                    break
                self.frames.append((kind, channel, bytes(buf[pos + 7 : end - 1])))
                pos = end
            if pos:
                del buf[:pos]
                return
            data = await self.reader.read(1 << 18)
            if not data:
                raise BrokerError("connection closed by the broker")
            buf.extend(data)

    async def batch(self) -> list[tuple[int, int, bytes]]:
        """Every frame received so far (at least one): (kind, channel, payload)."""
        if not self.frames:
            await self.read_frames()
        out = list(self.frames)
        self.frames.clear()
        return out

    async def method(self):
        while True:
            if not self.frames:
                await self.read_frames()
            kind, channel, payload = self.frames.popleft()
            if kind == 1:
                return decode_method(channel, payload)

    async def expect(self, kind):
        method = await self.method()
        if not isinstance(method, kind):
            raise BrokerError(f"expected {kind.__name__}, got {method!r}")
        return method

    async def call(self, method, reply):
        self.send(method)
        return await self.expect(reply)

    async def close(self) -> None:
        try:
            self.send(commands.Connection.Close(200, "bye", 0, 0), channel=0)
            await self.writer.drain()
            async with asyncio.timeout(5):
                while not isinstance(await self.method(), commands.Connection.CloseOk):
                    pass
        except (BrokerError, OSError, TimeoutError):
            pass
        self.writer.close()


def decode_method(channel: int, payload: bytes):
    """A method frame's payload decoded with pamqp; a close from the broker raises."""
    raw = struct.pack(">BHI", 1, channel, len(payload)) + payload + b"\xce"
    method = frame.unmarshal(raw)[2]
    if isinstance(method, commands.Channel.Close | commands.Connection.Close):
        raise BrokerError(f"{type(method).__name__}: {method.reply_code} {method.reply_text}")
    return method


def delivery_tag(payload: bytes) -> int:
    """The delivery tag of a basic.deliver payload (it follows the consumer tag)."""
    return struct.unpack_from(">Q", payload, 5 + payload[4])[0]


@dataclass(frozen=True)
class Publish:
    """The frames of one publish to the default exchange, encoded once.

    ``stamped(now_ns)`` puts a timestamp in the body's first 8 bytes, for
    publish-to-deliver latency measured by the consumer."""

    prefix: bytes  # up to the body's first byte
    suffix: bytes  # after the body's first STAMP bytes

    @classmethod
    def make(
        cls, queue: str, size: int, frame_max: int, persistent: bool, priority: int | None = None
    ) -> Publish:
        size = max(size, STAMP)
        body = (bytes(range(256)) * (size // 256 + 1))[:size]
        out = frame.marshal(commands.Basic.Publish(exchange="", routing_key=queue), 1)
        properties = commands.Basic.Properties(
            delivery_mode=2 if persistent else None,
            content_type="application/octet-stream",
            priority=priority,
        )
        out += frame.marshal(header.ContentHeader(0, size, properties), 1)
        at = len(out) + 7
        chunk = frame_max - 8
        for start in range(0, size, chunk):
            out += frame.marshal(ContentBody(body[start : start + chunk]), 1)
        return cls(out[:at], out[at + STAMP :])

    @property
    def plain(self) -> bytes:
        return self.prefix + bytes(range(STAMP)) + self.suffix

    def stamped(self, now_ns: int) -> bytes:
        return self.prefix + struct.pack(">Q", now_ns) + self.suffix


def stamp_of(body_payload: bytes) -> int:
    return struct.unpack_from(">Q", body_payload)[0]


class Confirms:
    """Publishes awaiting their confirm, by delivery tag (tags are sent in order)."""

    def __init__(self, keep_latencies: bool = False) -> None:
        self.pending: dict[int, int] = {}  # tag -> monotonic_ns at publish
        self.order: deque[int] = deque()
        self.sent = 0
        self.nacked = 0
        self.latencies: list[int] | None = [] if keep_latencies else None
        self.changed = asyncio.Event()
        self.error: BaseException | None = None

    @property
    def outstanding(self) -> int:
        return len(self.pending)

    @property
    def confirmed(self) -> int:
        return self.sent - len(self.pending)

    def add(self, count: int, now_ns: int) -> None:
        for _ in range(count):
            self.sent += 1
            self.pending[self.sent] = now_ns
            self.order.append(self.sent)

    def settle(self, tag: int, multiple: bool, nack: bool, now_ns: int) -> None:
        if multiple:
            order = self.order
            while order and order[0] <= tag:
                self._resolve(order.popleft(), nack, now_ns)
        else:
            self._resolve(tag, nack, now_ns)
            while self.order and self.order[0] not in self.pending:
                self.order.popleft()

    def _resolve(self, tag: int, nack: bool, now_ns: int) -> None:
        sent_at = self.pending.pop(tag, None)
        if sent_at is None:
            return
        if nack:
            self.nacked += 1
        elif self.latencies is not None:
            self.latencies.append(now_ns - sent_at)

    async def wait(self) -> None:
        self.changed.clear()
        await self.changed.wait()
        if self.error:
            raise self.error


async def read_confirms(client: Client, confirms: Confirms, report=None) -> None:
    """Settle confirms as they arrive, until cancelled (see ``stop_task``)."""
    try:
        while True:
            frames = await client.batch()
            now = time.monotonic_ns()
            for kind, channel, payload in frames:
                if kind != 1:
                    continue
                head = payload[:4]
                if head == ACK or head == NACK:
                    tag, bits = struct.unpack_from(">QB", payload, 4)
                    confirms.settle(tag, bool(bits & 1), head == NACK, now)
                else:
                    decode_method(channel, payload)  # raises on a close
            if report:
                report(confirms.confirmed)
            confirms.changed.set()
    except BaseException as err:  # noqa: B036 - handed to the publishing loop
        confirms.error = err if not isinstance(err, asyncio.CancelledError) else None
        confirms.changed.set()
        raise


async def stop_task(task: asyncio.Task) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


# ---- one-shot helpers ---------------------------------------------------------------


async def declare(
    broker: Endpoint, queue: str, durable: bool, arguments: dict | None = None
) -> None:
    client = await Client.connect(broker)
    method = commands.Queue.Declare(queue=queue, durable=durable, arguments=arguments)
    await client.call(method, commands.Queue.DeclareOk)
    await client.close()


async def delete(broker: Endpoint, queue: str) -> int:
    client = await Client.connect(broker)
    ok = await client.call(commands.Queue.Delete(queue=queue), commands.Queue.DeleteOk)
    await client.close()
    return ok.message_count


async def queue_count(broker: Endpoint, queue: str | None, timeout: float = 0) -> int | None:
    """The queue's message count from a passive declare (None if no queue is named).
    With a timeout, connecting is retried while the broker comes up."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            client = await Client.connect(broker)
            break
        except (OSError, BrokerError, asyncio.IncompleteReadError):
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.01)
    try:
        if queue is None:
            return None
        ok = await client.call(
            commands.Queue.Declare(queue=queue, passive=True), commands.Queue.DeclareOk
        )
        return ok.message_count
    finally:
        await client.close()
