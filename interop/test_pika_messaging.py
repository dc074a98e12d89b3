"""Messaging patterns as applications write them with pika."""

import datetime
import decimal

import pika
import pika.exceptions
import pytest

from interop.helpers import drive, unique


def test_work_queue_with_acks_and_prefetch(connection):
    queue = unique("work")
    setup = connection.channel()
    setup.queue_declare(queue, auto_delete=True)
    processed = {}

    def worker(name):
        ch = connection.channel()
        ch.basic_qos(prefetch_count=1)

        def on_message(channel, method, props, body):
            processed.setdefault(body, []).append(name)
            channel.basic_ack(method.delivery_tag)

        ch.basic_consume(queue, on_message)

    worker("w1")
    worker("w2")
    for i in range(200):
        setup.basic_publish("", queue, f"task-{i}".encode())
    drive([connection], lambda: len(processed) == 200)
    assert all(len(names) == 1 for names in processed.values())
    by_worker = [n for names in processed.values() for n in names]
    assert by_worker.count("w1") > 20 and by_worker.count("w2") > 20


def test_fanout_reaches_every_subscriber(connection):
    exchange = unique("events")
    ch = connection.channel()
    ch.exchange_declare(exchange, "fanout", auto_delete=True)
    queues = []
    for _ in range(3):
        q = ch.queue_declare("", exclusive=True).method.queue
        ch.queue_bind(q, exchange)
        queues.append(q)
    ch.basic_publish(exchange, "", b"order_placed")
    for q in queues:
        method, _, body = ch.basic_get(q, auto_ack=True)
        assert body == b"order_placed"


def test_topic_routing(connection):
    exchange = unique("logs")
    ch = connection.channel()
    ch.exchange_declare(exchange, "topic", auto_delete=True)
    bindings = {"all": "#", "eu": "*.eu.*", "errors": "*.*.error", "orders": "orders.#"}
    queues = {}
    for name, key in bindings.items():
        q = ch.queue_declare("", exclusive=True).method.queue
        ch.queue_bind(q, exchange, key)
        queues[name] = q
    for key in ("orders.eu.error", "billing.us.info", "orders"):
        ch.basic_publish(exchange, key, key.encode())
    got = {}
    for name, q in queues.items():
        got[name] = []
        while True:
            method, _, body = ch.basic_get(q, auto_ack=True)
            if method is None:
                break
            got[name].append(body.decode())
    assert got == {
        "all": ["orders.eu.error", "billing.us.info", "orders"],
        "eu": ["orders.eu.error"],
        "errors": ["orders.eu.error"],
        "orders": ["orders.eu.error", "orders"],
    }


def test_rpc_with_reply_to_and_correlation_id(connection):
    rpc_queue = unique("rpc")
    server = connection.channel()
    server.queue_declare(rpc_queue, auto_delete=True)

    def on_request(channel, method, props, body):
        channel.basic_publish(
            "",
            props.reply_to,
            body.upper(),
            pika.BasicProperties(correlation_id=props.correlation_id),
        )
        channel.basic_ack(method.delivery_tag)

    server.basic_consume(rpc_queue, on_request)
    client = connection.channel()
    callback_queue = client.queue_declare("", exclusive=True).method.queue
    replies = {}
    client.basic_consume(
        callback_queue,
        lambda ch, m, props, body: replies.__setitem__(props.correlation_id, body),
        auto_ack=True,
    )
    for word in ("alpha", "beta"):
        client.basic_publish(
            "",
            rpc_queue,
            word.encode(),
            pika.BasicProperties(reply_to=callback_queue, correlation_id=f"id-{word}"),
        )
    drive([connection], lambda: len(replies) == 2)
    assert replies == {"id-alpha": b"ALPHA", "id-beta": b"BETA"}


def test_publisher_confirms(connection):
    ch = connection.channel()
    ch.confirm_delivery()
    q = ch.queue_declare("", exclusive=True).method.queue
    for _ in range(100):
        ch.basic_publish("", q, b"m")  # raises if nacked
    assert ch.queue_declare(q, passive=True).method.message_count == 100
    with pytest.raises(pika.exceptions.UnroutableError):
        ch.basic_publish("amq.direct", "nowhere", b"x", mandatory=True)


def test_properties_and_headers_round_trip(connection):
    ch = connection.channel()
    q = ch.queue_declare("", exclusive=True).method.queue
    headers = {
        "str": "text",
        "int": 42,
        "neg": -7,
        "big": 2**40,
        "bool": True,  # pika cannot encode floats
        "none": None,
        "list": [1, "a", [2, {"deep": "yes"}]],
        "table": {"a": {"b": 1}},
        "bytes": b"\x00\x01\xff",
        "decimal": decimal.Decimal("3.14"),
        "ts": datetime.datetime(2024, 5, 6, 7, 8, 9, tzinfo=datetime.UTC),
    }
    props = pika.BasicProperties(
        content_type="application/json",
        content_encoding="utf-8",
        headers=headers,
        delivery_mode=2,
        priority=5,
        correlation_id="corr",
        reply_to="rq",
        expiration="60000",
        message_id="mid",
        timestamp=1700000000,
        type="t",
        user_id="guest",
        app_id="app",
    )
    body = bytes(range(256)) * 1000
    ch.basic_publish("", q, body, props)
    method, got, got_body = ch.basic_get(q, auto_ack=True)
    assert got_body == body
    for field in (
        "content_type",
        "content_encoding",
        "delivery_mode",
        "priority",
        "correlation_id",
        "reply_to",
        "expiration",
        "message_id",
        "timestamp",
        "type",
        "user_id",
        "app_id",
    ):
        assert getattr(got, field) == getattr(props, field), field
    assert got.headers == headers
