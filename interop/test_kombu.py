"""kombu (Celery's messaging layer) as applications use it, over py-amqp."""

import socket
import time

import kombu
import kombu.pools
import pytest
from kombu import Consumer, Exchange, Producer, Queue

from interop.helpers import drain_events, unique


@pytest.fixture
def conn(broker):
    # confirm_publish makes every publish wait for the broker's ack, so a publish is
    # visible to the next command on any channel.
    with kombu.Connection(
        broker.url, transport="pyamqp", transport_options={"confirm_publish": True}
    ) as connection:
        connection.ensure_connection(max_retries=3)
        yield connection


def test_producer_consumer_topic_routing_with_serializers(conn):
    exchange = Exchange(unique("orders"), "topic", auto_delete=True, durable=False)
    eu = Queue(unique("eu"), exchange, routing_key="order.eu.*", auto_delete=True, durable=False)
    errors = Queue(
        unique("err"), exchange, routing_key="*.*.error", auto_delete=True, durable=False
    )
    received = {"eu": [], "errors": []}

    def collect(name):
        def on_message(body, message):
            received[name].append((body, message))
            message.ack()

        return on_message

    with conn.channel() as channel:
        consumers = [
            Consumer(channel, [eu], callbacks=[collect("eu")], accept=["json", "pickle"]),
            Consumer(channel, [errors], callbacks=[collect("errors")], accept=["json"]),
        ]
        for c in consumers:
            c.consume()
        producer = Producer(channel, exchange=exchange)
        producer.publish(
            {"id": 1, "items": ["a", "b"]},
            routing_key="order.eu.created",
            serializer="json",
            headers={"tenant": "acme", "attempt": 1},
            priority=3,
            correlation_id="c-1",
            expiration=60,
        )
        producer.publish(
            {"id": 2}, routing_key="order.us.error", serializer="json", compression="zlib"
        )
        producer.publish(
            {"id": 3, "blob": b"\x00\xff"}, routing_key="order.eu.updated", serializer="pickle"
        )
        drain_events(conn, lambda: len(received["eu"]) == 2 and len(received["errors"]) == 1)
        for c in consumers:
            c.cancel()

    (first, m1), (third, m3) = received["eu"]
    assert first == {"id": 1, "items": ["a", "b"]}
    assert m1.content_type == "application/json"
    assert m1.headers == {"tenant": "acme", "attempt": 1}
    assert m1.properties["priority"] == 3
    assert m1.properties["correlation_id"] == "c-1"
    assert m1.properties["expiration"] == "60000"
    assert m1.delivery_info["routing_key"] == "order.eu.created"
    assert third == {"id": 3, "blob": b"\x00\xff"}
    assert m3.content_type == "application/x-python-serialize"
    [(second, m2)] = received["errors"]
    assert second == {"id": 2}
    assert m2.headers["compression"] == "application/x-gzip"


def test_simple_queue_put_get_and_size(conn):
    name = unique("simple")
    queue = conn.SimpleQueue(
        name,
        queue_opts={"auto_delete": True, "durable": False},
        exchange_opts={"auto_delete": True, "durable": False},
    )
    try:
        for i in range(5):
            queue.put({"n": i}, headers={"seq": i})
        assert queue.qsize() == 5
        got = []
        for _ in range(5):
            message = queue.get(block=True, timeout=10)
            got.append((message.payload["n"], message.headers["seq"]))
            message.ack()
        assert got == [(i, i) for i in range(5)]
        with pytest.raises(queue.Empty):
            queue.get_nowait()
        assert queue.qsize() == 0
    finally:
        queue.close()

    buffer = conn.SimpleBuffer(unique("buffer"))
    try:
        buffer.put(
            b"\x00\x01binary",
            serializer=None,
            content_type="application/data",
            content_encoding="binary",
        )
        message = buffer.get(timeout=10)
        assert message.body == b"\x00\x01binary"
        assert message.content_type == "application/data"
    finally:
        buffer.close()


def test_publish_retry_policy_recovers_a_broken_connection(conn):
    queue = Queue(
        unique("retry"), durable=False, auto_delete=False, queue_arguments={"x-expires": 60_000}
    )
    errors = []
    revived = []
    producer = conn.Producer()
    producer.publish("first", routing_key=queue.name, declare=[queue])
    old_socket = conn.connection.transport.sock
    # The network drops under the producer: its next write fails.
    old_socket.shutdown(socket.SHUT_RDWR)
    producer.publish(
        "second",
        routing_key=queue.name,
        declare=[queue],
        retry=True,
        retry_policy={
            "max_retries": 3,
            "interval_start": 0,
            "interval_step": 0.1,
            "interval_max": 0.2,
            "errback": lambda exc, interval: errors.append(exc),
            "on_revive": revived.append,
        },
    )
    assert errors, "the first attempt should have failed on the dead socket"
    assert revived
    assert conn.connection.transport.sock is not old_socket
    with conn.channel() as channel:
        bodies = []
        while (message := channel.basic_get(queue.name, no_ack=True)) is not None:
            bodies.append(message.body)
        channel.queue_delete(queue.name)
    assert bodies == ["first", "second"]


def test_failover_to_the_next_broker_url(broker):
    dead = socket.socket()
    dead.bind(("127.0.0.1", 0))  # bound, never listening: connections are refused
    try:
        dead_url = f"amqp://{broker.user}:{broker.password}@127.0.0.1:{dead.getsockname()[1]}//"
        failed = []
        with kombu.Connection(f"{dead_url};{broker.url}", transport="pyamqp") as conn:
            conn.ensure_connection(
                max_retries=4,
                interval_start=0,
                interval_step=0.05,
                errback=lambda exc, interval: failed.append(exc),
            )
            assert conn.connected
            assert conn.port == broker.port
            assert len(failed) == 1
            name = unique("failover")
            simple = conn.SimpleQueue(
                name,
                queue_opts={"auto_delete": True, "durable": False},
                exchange_opts={"auto_delete": True, "durable": False},
            )
            simple.put("hello")
            assert simple.get(timeout=10).payload == "hello"
            simple.close()
    finally:
        dead.close()


def test_requeue_reject_and_dead_letter(conn):
    dlx = Exchange(unique("dlx"), "fanout", auto_delete=True, durable=False)
    dead = Queue(unique("dead"), dlx, auto_delete=True, durable=False)
    work = Queue(
        unique("work"),
        durable=False,
        auto_delete=True,
        queue_arguments={"x-dead-letter-exchange": dlx.name},
    )
    outcomes = []

    def on_message(body, message):
        outcomes.append((body, message.delivery_info["redelivered"]))
        if body == "again" and not message.delivery_info["redelivered"]:
            message.requeue()
        elif body == "bad":
            message.reject()
        else:
            message.ack()

    with conn.channel() as channel:
        dead(channel).declare()
        producer = Producer(channel)
        consumer = Consumer(
            channel, [work], callbacks=[on_message], prefetch_count=1, accept=["json"]
        )
        consumer.consume()
        for body in ("again", "bad", "fine"):
            producer.publish(body, routing_key=work.name, serializer="json")
        drain_events(conn, lambda: len(outcomes) == 4)
        consumer.cancel()
        deadline = time.monotonic() + 10
        while (dead_message := dead(channel).get(no_ack=True, accept=["json"])) is None:
            assert time.monotonic() < deadline
    # A requeued message goes back to its place at the head of the queue.
    assert outcomes == [("again", False), ("again", True), ("bad", False), ("fine", False)]
    assert dead_message.payload == "bad"
    [death] = dead_message.headers["x-death"]
    assert death["reason"] == "rejected"
    assert death["queue"] == work.name
    assert death["count"] == 1


def test_priority_queue_delivers_highest_first(conn):
    queue = Queue(unique("prio"), durable=False, auto_delete=True, max_priority=10)
    with conn.channel() as channel:
        producer = Producer(channel)
        queue(channel).declare()
        for priority in (1, 9, 4, 7, 0, 9, 2):
            producer.publish({"p": priority}, routing_key=queue.name, priority=priority)
        producer.publish("fence", routing_key=queue.name, priority=0)
        got = []
        deadline = time.monotonic() + 10
        while len(got) < 8:
            assert time.monotonic() < deadline
            message = queue(channel).get(no_ack=True)
            if message is not None:
                got.append(message.payload)
    assert got[:6] == [{"p": 9}, {"p": 9}, {"p": 7}, {"p": 4}, {"p": 2}, {"p": 1}]
    assert sorted(map(str, got[6:])) == sorted(map(str, [{"p": 0}, "fence"]))


def test_mandatory_publish_comes_back_to_on_return(conn):
    returned = []
    with conn.channel() as channel:
        producer = Producer(
            channel,
            on_return=lambda exc, exchange, routing_key, message: returned.append(
                (exc.reply_code, exchange, routing_key, message)
            ),
        )
        key = unique("unroutable")
        producer.publish({"lost": True}, routing_key=key, mandatory=True)
        drain_events(conn, lambda: returned)
    code, exchange, routing_key, message = returned[0]
    assert (code, exchange, routing_key) == (312, "", key)
    assert message.body == '{"lost": true}'


def test_producer_pool_shares_connections(conn):
    queue = Queue(
        unique("pool"), durable=False, auto_delete=False, queue_arguments={"x-expires": 60_000}
    )
    connections = conn.Pool(limit=2)
    pool = kombu.pools.ProducerPool(connections, limit=2)
    try:
        for i in range(20):
            with pool.acquire(block=True, timeout=5) as producer:
                producer.publish(
                    {"i": i},
                    routing_key=queue.name,
                    declare=[queue],
                    retry=True,
                    retry_policy={"max_retries": 2},
                )
    finally:
        pool.force_close_all()
        connections.force_close_all()
    with conn.channel() as channel:
        _, count, _ = channel.queue_declare(queue.name, passive=True)
        channel.queue_delete(queue.name)
    assert count == 20
