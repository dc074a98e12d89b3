"""One authenticated client must not be able to take the broker's memory.

- A client that never reads but keeps asking for output (basic.get of a large
  message, requeued and fetched again) is bounded per command, not per read:
  its commands wait while its unsent output is over max_connection_output.
- A content header declaring a body over max_message_size is refused when it
  arrives, and the body frames after it are dropped, not buffered.
- Under a resource alarm a connection is held from its first basic.publish
  frame, so even its first message cannot be streamed in.

Memory is the broker's resident size (it runs in this process); each test
compares it with a bound far below what the attack took before.
"""

import socket
import struct
import tempfile
import time

import pika
import pytest
import trio
from pamqp import commands

from amqpd.config import BrokerConfig
from amqpd.server.resources import resident_memory
from amqpd.testing import BrokerThread
from conformance.helpers import count, wait_for
from conformance.rawclient import RawClient, raw_frame

MB = 1024 * 1024
MAX_OUTPUT = 4 * MB  # the default max_connection_output
FRAME_PAYLOAD = 131072 - 8  # the most a body frame holds at the default frame_max
CAPS = {"connection.blocked": True, "authentication_failure_close": True}


@pytest.fixture
def running_broker():
    with tempfile.TemporaryDirectory() as data:
        config = BrokerConfig(data_dir=data, store="memory", max_connection_output=MAX_OUTPUT)
        with BrokerThread(config) as running:
            yield running


def connect(broker, caps=CAPS, timeout: float = 10.0) -> RawClient:
    client = RawClient(broker.host, broker.port, timeout=timeout)
    client.handshake(capabilities=caps)
    client.open_channel(1)
    return client


def round_trips(client, n: int, deadline: float) -> None:
    """n synchronous round trips, all within ``deadline`` seconds."""
    give_up = time.monotonic() + deadline
    for _ in range(n):
        client.call_ok(1, commands.Basic.Qos(prefetch_count=0), commands.Basic.QosOk)
        assert time.monotonic() < give_up, f"{n} round trips took over {deadline} s"


def on_broker(broker, function):
    return trio.from_thread.run_sync(function, trio_token=broker._token)


# ---- output amplification ----------------------------------------------------------------


def test_gets_from_a_client_that_never_reads_wait_for_its_output(running_broker):
    pairs = 300  # 300 x 1 MiB of get-ok asked for in ~12 KB of input
    with connect(running_broker) as attacker, connect(running_broker) as other:
        attacker.call(1, commands.Queue.Declare(queue="amplify", exclusive=True))
        publish(attacker, "amplify", b"x" * MB)
        wait_for(lambda: count(attacker, "amplify") == 1, what="the 1 MiB message")
        before = resident_memory()
        requests = b"".join(
            raw_frame(1, 1, _method(commands.Basic.Get(queue="amplify")))
            + raw_frame(1, 1, _method(commands.Basic.Reject(delivery_tag=tag, requeue=True)))
            for tag in range(1, pairs + 1)
        )
        attacker.send_raw(requests)  # and read nothing
        wait_for(  # the attack was read: its commands wait, or memory grew
            lambda: (
                on_broker(running_broker, lambda: _waiting(running_broker))
                or resident_memory() - before > 8 * MAX_OUTPUT
            ),
            what="the broker to read the attack",
        )
        round_trips(other, 200, deadline=10.0)  # everyone else is served promptly
        grown = resident_memory() - before
        assert grown < 8 * MAX_OUTPUT, f"memory grew by {grown / MB:.0f} MiB"
        # Once the client reads, every command it sent is answered, in order.
        attacker.timeout = 30
        for tag in range(1, pairs + 1):
            _, ok, _, body = attacker.read_message()
            assert isinstance(ok, commands.Basic.GetOk) and ok.delivery_tag == tag
            assert len(body) == MB
        attacker.call_ok(1, commands.Basic.Qos(prefetch_count=0), commands.Basic.QosOk)


def publish(client, queue: str, body: bytes) -> None:
    """basic.publish with the body cut into frames of the default frame_max."""
    client.send(1, commands.Basic.Publish(routing_key=queue))
    data = raw_frame(2, 1, struct.pack(">HHQH", 60, 0, len(body), 0))
    for at in range(0, len(body), FRAME_PAYLOAD):
        data += raw_frame(3, 1, body[at : at + FRAME_PAYLOAD])
    client.send_raw(data)


def _method(method) -> bytes:
    return struct.pack(">HH", *divmod(method.index, 1 << 16)) + method.marshal()


def _waiting(broker) -> bool:
    return any(handler._commands_waiting for handler in broker._server.handlers)


# ---- message size --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("limit", "declared", "sent"),
    [(None, 2**40, 800), (10 * MB, 4096 * FRAME_PAYLOAD, 4096)],
    ids=["default-limit-2^40-100MiB-sent", "10MiB-limit-512MiB-all-sent"],
)
def test_a_body_declared_too_large_is_refused_at_its_header(limit, declared, sent):
    config = BrokerConfig(store="memory")
    if limit is not None:
        config = config.replace(max_message_size=limit)
    chunk = raw_frame(3, 1, b"b" * FRAME_PAYLOAD)
    with tempfile.TemporaryDirectory() as data, BrokerThread(config.replace(data_dir=data)) as b:
        with connect(b) as client, connect(b) as other:
            other.call(1, commands.Queue.Declare(queue="big"))
            before = resident_memory()
            client.send(1, commands.Basic.Publish(routing_key="big"))
            client.send_raw(raw_frame(2, 1, struct.pack(">HHQH", 60, 0, declared, 0)))
            close = client.expect_channel_close(1)  # at once: no body was sent
            max_size = limit or config.max_message_size
            assert (close.reply_code, close.class_id, close.method_id) == (406, 60, 40)
            assert close.reply_text == (
                f"PRECONDITION_FAILED - message size {declared} is larger than "
                f"configured max size {max_size}"
            )
            for _ in range(sent):  # dropped as it comes
                client.send_raw(chunk)
            client.open_channel(2)  # its answer shows every body frame was read
            grown = resident_memory() - before
            assert grown < 32 * MB, f"memory grew by {grown / MB:.0f} MiB"
            if sent * FRAME_PAYLOAD == declared:  # the content is over: the channel goes on
                client.send(1, commands.Channel.CloseOk())
                client.open_channel(1)
                client.publish(1, b"small", routing_key="big")
                wait_for(lambda: count(client, "big") == 1, what="the next publish")


# ---- the first publish under an alarm ------------------------------------------------------


def test_a_first_message_cannot_be_streamed_in_under_an_alarm(running_broker):
    resources = running_broker._server.resources
    on_broker(running_broker, lambda: setattr(resources, "memory_limit", 1))
    wait_for(lambda: resources.reason, what="the alarm")
    frames = 800
    chunk = raw_frame(3, 1, b"p" * FRAME_PAYLOAD)
    size = frames * FRAME_PAYLOAD  # 100 MiB
    with connect(running_broker) as watcher, connect(running_broker) as publisher:
        watcher.call(1, commands.Queue.Declare(queue="first"))
        body = chunk * frames
        before = resident_memory()
        publisher.send(1, commands.Basic.Publish(routing_key="first"))
        publisher.send_raw(raw_frame(2, 1, struct.pack(">HHQH", 60, 0, size, 0)))
        rest = _send_until_stalled(publisher.sock, body)
        assert len(rest) > size // 2, f"the broker read {(size - len(rest)) // MB} MiB"
        _, blocked = publisher.expect(commands.Connection.Blocked)
        assert blocked.reason == "low on memory"
        grown = resident_memory() - before
        assert grown < 32 * MB, f"memory grew by {grown / MB:.0f} MiB"
        on_broker(running_broker, lambda: setattr(resources, "memory_limit", 2**60))
        publisher.expect(commands.Connection.Unblocked)
        publisher.sock.settimeout(30)
        publisher.send_raw(rest)
        wait_for(lambda: count(watcher, "first") == 1, what="the first message")
        watcher.call(1, commands.Queue.Delete(queue="first"))


def _send_until_stalled(sock: socket.socket, data: bytes) -> memoryview:
    """Send ``data`` until the peer, no longer reading, takes nothing for 2 s;
    returns what is left to send."""
    sock.settimeout(2.0)
    view = memoryview(data)
    while view:
        try:
            view = view[sock.send(view) :]
        except TimeoutError:
            break
    return view


# ---- no deadlock for a client that does both -----------------------------------------------


def test_a_connection_that_publishes_and_consumes_over_the_bound_goes_on():
    """Its deliveries fill the output past the bound again and again while its
    publishes and acks wait behind them: each time the client reads, they run."""
    config = BrokerConfig(store="memory", max_connection_output=64 * 1024)
    with tempfile.TemporaryDirectory() as data, BrokerThread(config.replace(data_dir=data)) as b:
        parameters = pika.URLParameters(b.url + "?heartbeat=0&blocked_connection_timeout=30")
        connection = pika.BlockingConnection(parameters)
        try:
            channel = connection.channel()
            channel.confirm_delivery()
            queue = channel.queue_declare("", exclusive=True).method.queue
            received = []

            def on_message(ch, method, _properties, body):
                received.append(len(body))
                ch.basic_ack(method.delivery_tag)

            channel.basic_consume(queue, on_message)
            body = b"d" * (200 * 1024)
            started = time.monotonic()
            for _ in range(100):  # each confirm waits while the deliveries pile up
                channel.basic_publish("", queue, body)
            while len(received) < 100:
                connection.process_data_events(time_limit=1)
                assert time.monotonic() - started < 60, f"{len(received)} of 100 after 60 s"
            assert received == [len(body)] * 100
        finally:
            connection.close()
