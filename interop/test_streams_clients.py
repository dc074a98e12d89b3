"""Stream queues as applications use them with pika and aio-pika: an event log
that several readers replay independently, from the start, from an offset or
from a point in time, and that keeps growing while they read."""

import asyncio
import datetime

import aio_pika
import pika
import pytest

from interop.helpers import drive, run, unique

STREAM = {"x-queue-type": "stream"}


@pytest.fixture
def stream_name(connection):
    name = unique("events")
    yield name
    if connection.is_open:
        connection.channel().queue_delete(name)


def test_pika_readers_replay_an_event_log_independently(connection, broker, stream_name):
    channel = connection.channel()
    channel.queue_declare(stream_name, durable=True, arguments=STREAM)
    channel.confirm_delivery()
    for i in range(6):
        channel.basic_publish("", stream_name, b"event-%d" % i,
                              pika.BasicProperties(headers={"seq": i}))  # fmt: skip

    readers = {"audit": "first", "recent": 4}
    seen = {name: [] for name in readers}
    connections = []
    for name, offset in readers.items():
        conn = pika.BlockingConnection(pika.URLParameters(broker.url))
        connections.append(conn)
        ch = conn.channel()
        # Exactly as many as will come: nothing is left buffered (and nacked) at close.
        ch.basic_qos(prefetch_count=8 if offset == "first" else 4)

        def on_event(ch, method, props, body, name=name):
            seen[name].append((props.headers["x-stream-offset"], props.headers["seq"], body))
            ch.basic_ack(method.delivery_tag)

        ch.basic_consume(stream_name, on_event, arguments={"x-stream-offset": offset})
    try:
        drive(connections, lambda: len(seen["audit"]) == 6 and len(seen["recent"]) == 2)
        channel.basic_publish("", stream_name, b"event-6", pika.BasicProperties(headers={"seq": 6}))
        drive(connections, lambda: len(seen["audit"]) == 7 and len(seen["recent"]) == 3)
    finally:
        for conn in connections:
            conn.close()
    assert seen["audit"] == [(i, i, b"event-%d" % i) for i in range(7)]
    assert seen["recent"] == [(i, i, b"event-%d" % i) for i in range(4, 7)]


def test_aio_pika_replays_from_the_start_from_an_offset_and_from_a_time(broker):
    async def scenario():
        async with await aio_pika.connect(broker.url) as connection:
            channel = await connection.channel(publisher_confirms=True)
            name = unique("ledger")
            queue = await channel.declare_queue(name, durable=True, arguments=STREAM)
            try:
                for i in range(3):
                    await channel.default_exchange.publish(
                        aio_pika.Message(b"old-%d" % i), routing_key=name
                    )
                await asyncio.sleep(2.1)  # the time this behaviour is about
                since = datetime.datetime.now(tz=datetime.UTC) - datetime.timedelta(seconds=1)
                for i in range(3):
                    await channel.default_exchange.publish(
                        aio_pika.Message(b"new-%d" % i), routing_key=name
                    )
                results = {}
                for label, offset, n in (("first", "first", 6), ("offset", 2, 4),
                                         ("time", since, 3)):  # fmt: skip
                    reader = await connection.channel()
                    await reader.set_qos(prefetch_count=n)
                    results[label] = await read(reader, name, offset, n)
                    await reader.close()
                return results
            finally:
                await queue.delete(if_unused=False, if_empty=False)

    results = run(scenario())
    old = [b"old-%d" % i for i in range(3)]
    new = [b"new-%d" % i for i in range(3)]
    assert results["first"] == list(enumerate(old + new))
    assert results["offset"] == list(enumerate(old + new))[2:]
    assert results["time"] == list(enumerate(old + new))[3:]


async def read(channel, name, offset, n, timeout=10):
    queue = await channel.get_queue(name, ensure=False)
    got, done = [], asyncio.Event()

    async def on_message(message):
        got.append((message.headers["x-stream-offset"], message.body))
        await message.ack()
        if len(got) == n:
            done.set()

    await queue.consume(on_message, arguments={"x-stream-offset": offset})
    await asyncio.wait_for(done.wait(), timeout)
    return got
