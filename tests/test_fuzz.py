"""Fuzzing: random and mutated frames never crash the broker.

Whatever a client sends, no exception escapes the connection state machine, the
broker answers with a connection.close (a hard error code) or drops the socket,
no connection is left half-closed once its timers have run, and a real broker
keeps serving other connections.
"""

from __future__ import annotations

import contextlib
import datetime
import decimal
import logging
import struct
import tempfile
import time

import pytest
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st
from pamqp import commands, frame, header, heartbeat
from pamqp.body import ContentBody

from amqpd.config import BrokerConfig
from amqpd.errors import HARD_CODES, ReplyCode
from amqpd.testing import BrokerThread
from amqpd.wire.connection import PROTOCOL_HEADER, State
from amqpd.wire.events import ConnectionClosed, ConnectionOpened
from amqpd.wire.frames import frame as raw_frame
from conformance.rawclient import Closed, RawClient
from tests.wire_pair import CAPABILITIES, ClientPair

CLOSE_CODES = HARD_CODES | {ReplyCode.ACCESS_REFUSED}
# Every field-table value type, for arguments and message headers.
TABLE = {"x-match": "any", "i": -7, "s": "x", "x": bytearray(b"\xff"), "l": [1, "a", {"k": 2.5}]}
TABLE |= {"d": decimal.Decimal("1.5"), "t": datetime.datetime(2020, 1, 1), "v": None, "f": True}
PROPS = commands.Basic.Properties(content_type="text/plain", headers=TABLE, priority=1)
QUEUE = commands.Queue.Declare(queue="fuzz-q", exclusive=True, arguments={"x-max-length": 9})


def publish(exchange: str, *chunks: bytes) -> list:
    method = commands.Basic.Publish(exchange=exchange, routing_key="fuzz-q")
    size = sum(map(len, chunks))
    return [method, header.ContentHeader(0, size, PROPS), *map(ContentBody, chunks)]


UNITS = [
    [commands.Channel.Open()],
    [commands.Channel.Close(200, "bye", 0, 0)],
    [commands.Channel.CloseOk()],
    [commands.Channel.Flow(active=True)],
    [commands.Basic.Qos(prefetch_count=10)],
    [commands.Basic.Ack(delivery_tag=1)],
    [commands.Basic.Nack(delivery_tag=0, multiple=True)],
    [commands.Basic.Deliver("ctag", 1, False, "", "q")],
    [QUEUE],
    [QUEUE, commands.Queue.Bind(queue="fuzz-q", exchange="amq.headers", arguments=TABLE)],
    [QUEUE, commands.Basic.Consume(queue="fuzz-q", arguments=TABLE)],
    [QUEUE, commands.Basic.Get(queue="fuzz-q")],
    [commands.Exchange.Declare(exchange="fuzz-x", exchange_type="topic", arguments=TABLE)],
    [commands.Confirm.Select()],
    [commands.Tx.Select()],
    [commands.Connection.Open("/")],
    [commands.Connection.TuneOk(2047, 131072, 0)],
    [commands.Connection.Close(200, "bye", 0, 0)],
    [commands.Connection.CloseOk()],
    publish("", b"hello"),
    publish("amq.headers", b"he", b"llo"),
    publish("amq.topic"),
    [header.ContentHeader(0, 0, PROPS)],
    [ContentBody(b"body")],
    [heartbeat.Heartbeat()],
]
HANDSHAKE = [
    commands.Connection.StartOk(
        client_properties={"capabilities": CAPABILITIES},
        mechanism="PLAIN",
        response="\0guest\0guest",
        locale="en_US",
    ),
    commands.Connection.TuneOk(2047, 131072, 0),
    commands.Connection.Open("/"),
    commands.Channel.Open(),
]
MUTATIONS = ["type", "channel", "size", "end", "flip", "truncate", "insert", "payload"]
# Inputs that fuzzing found to break the broker, kept as explicit examples.
NESTED = b"".join(b"\x01kF" + struct.pack(">I", 7 * i) for i in reversed(range(2000)))
DEEP_TABLE = raw_frame(1, 1, bytes([0, 50, 0, 10, 0, 0, 0, 0]) + struct.pack(">I", 14000) + NESTED)
BIND_BYTEARRAY = frame.marshal(QUEUE, 1) + frame.marshal(
    commands.Queue.Bind(queue="fuzz-q", exchange="amq.headers", arguments={"x": bytearray(b"1")}), 1
)
BAD_PROPS = struct.pack(">HHQH", 60, 0, 1, 0x2000)  # flags say "headers follow"; none do
HEADERS_BAD_PROPS = frame.marshal(commands.Basic.Publish(exchange="amq.headers"), 1) + b"".join(
    (raw_frame(2, 1, BAD_PROPS), raw_frame(3, 1, b"x"))
)
fuzz_settings = settings(
    derandomize=True, database=None, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


@st.composite
def mutated(draw, data: bytes) -> bytes:
    """One frame's bytes with one header field or byte damaged."""
    if not data:
        return draw(st.binary(min_size=1, max_size=8))
    kind = draw(st.sampled_from(MUTATIONS))
    pos = draw(st.integers(0, len(data) - 1))
    if kind == "type":
        return bytes([draw(st.sampled_from([0, 1, 2, 3, 4, 8, 9, 0xCE, 0xFF]))]) + data[1:]
    if kind == "channel":
        return data[:1] + struct.pack(">H", draw(st.integers(0, 0xFFFF))) + data[3:]
    if kind == "size":
        size = draw(st.integers(0, 0xFFFFFFFF) | st.integers(max(0, len(data) - 12), len(data)))
        return data[:3] + struct.pack(">I", size) + data[7:]
    if kind == "end":
        return data[:-1] + bytes([draw(st.integers(0, 0xCD))])
    if kind == "flip":
        return data[:pos] + bytes([data[pos] ^ draw(st.integers(1, 255))]) + data[pos + 1 :]
    if kind == "truncate":
        return data[:pos]
    if kind == "payload" and len(data) >= 8:  # still well framed, the payload's tail random
        payload = data[7 : 7 + draw(st.integers(0, len(data) - 8))] + draw(st.binary(max_size=24))
        return data[:3] + struct.pack(">I", len(payload)) + payload + b"\xce"
    return data[:pos] + draw(st.binary(min_size=1, max_size=8)) + data[pos:]


def mutate_some(draw, parts: list[bytes]) -> bytes:
    """Damage up to three of the parts (frames), then join them."""
    for i in draw(st.lists(st.integers(0, len(parts) - 1), max_size=3)):
        parts[i] = draw(mutated(parts[i]))
    return b"".join(parts)


@st.composite
def mutated_frames(draw) -> bytes:
    """Valid frames, mostly on the open channel 1, a few of them mutated."""
    parts = []
    for unit in draw(st.lists(st.sampled_from(UNITS), min_size=1, max_size=6)):
        channel = draw(st.sampled_from([1, 1, 1, 1, 1, 1, 0, 2, 3, 0xFFFF]))
        parts += [frame.marshal(value, channel) for value in unit]
    return mutate_some(draw, parts)


@st.composite
def mutated_handshake(draw) -> bytes:
    """A client's opening bytes, a few parts mutated, perhaps with junk before or after."""
    parts = [PROTOCOL_HEADER] + [
        frame.marshal(m, 1 if i == 3 else 0) for i, m in enumerate(HANDSHAKE)
    ]
    out = draw(st.binary(max_size=4)) + mutate_some(draw, parts)
    return out + draw(st.binary(max_size=16) | mutated_frames())


random_bytes = st.binary(min_size=1, max_size=300)
garbage = random_bytes | mutated_frames()


def decode(data: bytes) -> list[tuple[int, object]]:
    """The broker's output as frames; anything but complete, well-formed frames fails."""
    frames = []
    while data:
        if data.startswith(b"AMQP"):
            assert data[:8] == PROTOCOL_HEADER, data
            frames.append((0, PROTOCOL_HEADER))
            data = data[8:]
            continue
        assert len(data) >= 8, f"incomplete frame {data!r}"
        (size,) = struct.unpack_from(">I", data, 3)
        assert len(data) >= size + 8 and data[size + 7] == 0xCE, f"bad frame {data!r}"
        used, channel, value = frame.unmarshal(data)
        assert used == size + 8
        frames.append((channel, value))
        data = data[used:]
    return frames


@contextlib.contextmanager
def errors_logged(name: str = "amqpd"):
    """Errors the broker logs: its safety net for unexpected exceptions caught one."""
    records: list[logging.LogRecord] = []
    handler, logger = logging.Handler(logging.ERROR), logging.getLogger(name)
    handler.emit = records.append
    logger.addHandler(handler)
    try:
        yield records
    finally:
        logger.removeHandler(handler)


def connection_closes(frames) -> list[commands.Connection.Close]:
    return [v for _, v in frames if isinstance(v, commands.Connection.Close)]


def feed_and_check(pair: ClientPair, data: bytes, step: int, opened: bool) -> None:
    conn = pair.server
    with errors_logged() as errors:
        out = []
        for i in range(0, len(data), step):
            conn.receive_data(data[i : i + step], pair.now)  # must not raise
            out += decode(conn.data_to_send())
        closes = connection_closes(out)
        assert len(closes) <= 1, closes
        assert all(c.reply_code in CLOSE_CODES for c in closes), closes
        if closes:
            assert conn.state in (State.CLOSING, State.LINGER, State.CLOSED)
        # Fire every timer due in the next 40 s (ClientPair.advance, but bounded).
        target = pair.now + 40
        for _ in range(10_000):
            due = conn.get_timer()
            if due is None or due > target:
                break
            pair.now = max(pair.now, due)
            conn.handle_timer(pair.now)
        else:
            raise AssertionError(f"timer never settles in state {conn.state}")
        pair.now = target
        events = pair.events()  # taking the events sends replies queued behind them
        out += decode(conn.data_to_send())
        assert conn.state in (State.OPEN, State.CLOSED), conn.state
        assert connection_closes(out) == closes, "connection.close sent by a timer"
        opened = opened or any(isinstance(e, ConnectionOpened) for e in events)
        released = sum(isinstance(e, ConnectionClosed) for e in events)
        assert released == (opened and conn.state is not State.OPEN), events
        # Still open with no partial frame pending: a fresh channel must work.
        if conn.state is State.OPEN and conn._reader.buffered == 0:
            if len(conn._channels) < conn.channel_max:
                free = next(n for n in range(1, 0x10000) if n not in conn._channels)
                conn.receive_data(frame.marshal(commands.Channel.Open(), free), pair.now)
                reply = [(c, type(v)) for c, v in decode(conn.data_to_send())]
                assert reply == [(free, commands.Channel.OpenOk)], reply
    assert not errors, [r.getMessage() for r in errors]


chunking = st.integers(1, 64) | st.just(1 << 20)


def opened_pair() -> ClientPair:
    pair = ClientPair()
    pair.handshake()
    pair.open_channel(1)
    pair.events()
    return pair


@settings(fuzz_settings, max_examples=300)
@given(data=random_bytes, step=chunking)
def test_random_bytes_on_open_connection(data, step):
    feed_and_check(opened_pair(), data, step, opened=True)


@settings(fuzz_settings, max_examples=600)
@given(data=mutated_frames(), step=chunking)
@example(data=DEEP_TABLE, step=1 << 20)  # RecursionError decoding: only the safety net caught it
def test_mutated_frames_on_open_connection(data, step):
    feed_and_check(opened_pair(), data, step, opened=True)


@settings(fuzz_settings, max_examples=400)
@given(data=mutated_handshake() | random_bytes, step=chunking)
def test_mutated_handshake(data, step):
    feed_and_check(ClientPair(), data, step, opened=False)


def read_reply(client: RawClient, wait: float) -> list:
    """What the broker sends until EOF, or ``wait`` s (0.3 s after a connection.close)."""
    frames: list = []
    deadline = time.monotonic() + wait
    while (remaining := deadline - time.monotonic()) > 0:
        try:
            frames.append(client.read_frame(timeout=remaining, skip_heartbeats=False))
        except Closed:
            assert not client._buffer, f"socket closed mid-frame: {client._buffer!r}"
            break
        except TimeoutError:
            break
        if isinstance(frames[-1][1], commands.Connection.Close):
            with contextlib.suppress(OSError):
                client.send(0, commands.Connection.CloseOk())
            deadline = min(deadline, time.monotonic() + 0.3)
        if isinstance(frames[-1][1], commands.Connection.CloseOk):
            break
    return frames


@pytest.fixture(scope="module")
def fuzz_broker():
    """A broker of its own: fuzzed commands leave queues and exchanges behind."""
    with tempfile.TemporaryDirectory(prefix="amqpd-fuzz-") as data_dir:
        with BrokerThread(BrokerConfig(data_dir=data_dir)) as broker:
            yield broker
        assert not broker._thread.is_alive(), "the broker did not stop"


# Each failing example costs a socket timeout: report the first one rather than shrink.
@settings(fuzz_settings, max_examples=30, phases=[Phase.explicit, Phase.generate])
@given(data=garbage)
@example(data=BIND_BYTEARRAY)  # TypeError (unhashable bytearray) in VirtualHost.bind_queue
@example(data=HEADERS_BAD_PROPS)  # ValueError decoding properties in VirtualHost.route
def test_server_survives_fuzzed_clients(fuzz_broker, data):
    host, port = fuzz_broker.host, fuzz_broker.port
    with errors_logged() as errors:
        with RawClient(host, port, timeout=2.0) as client:
            client.handshake()
            client.open_channel(1)
            with contextlib.suppress(OSError):
                client.send_raw(data)
            frames = read_reply(client, wait=0.5)
        closes = connection_closes(frames)
        assert len(closes) <= 1 and all(c.reply_code in CLOSE_CODES for c in closes), closes
        with RawClient(host, port, timeout=2.0) as fresh:
            fresh.handshake()
            fresh.open_channel(1)
            fresh.close_connection()
    # The broker's safety net caught an exception: the client got no connection.close.
    assert not errors, [r.getMessage() for r in errors]
    assert fuzz_broker._thread.is_alive()
