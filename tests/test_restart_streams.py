"""Stream queues across a restart of amqpd, graceful or ``kill -9``.

A stream's log comes back whole, every message with its offset and bytes, and
new messages go on from the next offset; confirmed messages survive a kill -9
(confirms wait for the write); retention keeps its place. Uses the ``node``
and ``killed`` fixtures (tests/restartable.py).
"""

from __future__ import annotations

from pamqp import commands as C

from conformance import typed
from tests.restartable import PERSISTENT, TRANSIENT

STREAM = {"x-queue-type": "stream"}


def read(node, name, n, offset="first"):
    """The next n messages of the stream from ``offset``, as (offset, body), by a
    raw consumer (pika would nack what it buffered when cancelling)."""
    client = node.raw()
    client.call_ok(1, C.Basic.Qos(prefetch_count=n), C.Basic.QosOk)
    fields = (
        [("x-stream-offset", "S", offset)]
        if isinstance(offset, str)
        else [("x-stream-offset", "l", offset)]
    )
    client.send_with_table(1, C.Basic.Consume(queue=name), typed.encode_table(fields))
    client.expect(C.Basic.ConsumeOk)
    got = []
    for _ in range(n):
        _, method, props, body = typed.read_message(client, timeout=20)
        assert isinstance(method, C.Basic.Deliver), method
        (found,) = [v for k, _t, v in props["headers"] if k == "x-stream-offset"]
        got.append((found, body))
    client.close()
    return got


def publish_confirmed(node, name, bodies, properties=None):
    channel = node.channel()
    channel.confirm_delivery()
    for body in bodies:
        channel.basic_publish("", name, body, properties)
    return channel


def test_a_stream_comes_back_whole_and_goes_on_from_its_next_offset(node):
    channel = node.channel()
    channel.queue_declare("s", durable=True, arguments=STREAM)
    publish_confirmed(node, "s", [b"p%d" % i for i in range(5)], PERSISTENT)
    publish_confirmed(node, "s", [b"t%d" % i for i in range(5, 10)], TRANSIENT)
    expected = [(i, b"%s%d" % (b"p" if i < 5 else b"t", i)) for i in range(10)]
    assert read(node, "s", 10) == expected

    node.restart(barrier=False)  # the confirms were the promise

    assert read(node, "s", 10) == expected  # transient ones too: a stream keeps all
    publish_confirmed(node, "s", [b"after"])
    assert read(node, "s", 1, offset="last") == [(10, b"after")]
    ok = node.channel().queue_declare("s", durable=True, arguments=STREAM)
    assert ok.method.message_count == 0


def test_confirmed_stream_messages_survive_kill_9(killed):
    channel = killed.channel()
    channel.queue_declare("s", durable=True, arguments=STREAM)
    bodies = [b"m%04d" % i for i in range(1500)]
    publish_confirmed(killed, "s", bodies)
    killed.restart(barrier=False)
    got = read(killed, "s", 1500)
    assert [offset for offset, _ in got] == list(range(1500))
    assert [body for _, body in got] == bodies


def test_retention_keeps_its_place_across_a_restart(node):
    channel = node.channel()
    arguments = {**STREAM, "x-stream-max-segment-size-bytes": 100, "x-max-length-bytes": 300}
    channel.queue_declare("s", durable=True, arguments=arguments)
    publish_confirmed(node, "s", [b"%030d" % i for i in range(40)])
    ((first, body),) = read(node, "s", 1)
    assert first > 0 and body == b"%030d" % first

    node.restart(barrier=False)

    assert read(node, "s", 1) == [(first, body)]
    publish_confirmed(node, "s", [b"%030d" % i for i in range(40, 80)])
    ((later, body),) = read(node, "s", 1)
    assert later > first and body == b"%030d" % later  # retention went on
    assert read(node, "s", 1, offset="last") == [(79, b"%030d" % 79)]


def test_pika_replays_a_stream_after_a_restart(node):
    channel = node.channel()
    channel.queue_declare("s", durable=True, arguments=STREAM)
    publish_confirmed(node, "s", [b"a", b"b", b"c"])
    node.restart(barrier=False)
    channel = node.channel()
    channel.basic_qos(prefetch_count=10)
    got = []
    for method, props, body in channel.consume(
        "s", arguments={"x-stream-offset": 1}, inactivity_timeout=10
    ):
        assert method is not None
        got.append((props.headers["x-stream-offset"], body))
        channel.basic_ack(method.delivery_tag)
        if len(got) == 2:
            break
    assert got == [(1, b"b"), (2, b"c")]
