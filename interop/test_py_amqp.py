"""py-amqp (the transport under kombu and Celery) as applications use it directly."""

import datetime
import decimal
import time

import amqp
import amqp.exceptions
import pytest

from interop.helpers import drain_events, py_amqp_connection, unique


@pytest.fixture
def connection(broker):
    conn = py_amqp_connection(broker)
    conn.connect()
    yield conn
    if conn.connected:
        conn.close()


def test_properties_and_typed_headers_round_trip(connection, broker):
    ch = connection.channel()
    queue = unique("props")
    ch.queue_declare(queue, auto_delete=True)
    headers = {
        "str": "häagen",
        "int": 42,
        "negative": -7,
        "big": 2**40 + 3,
        "float": 2.5,
        "true": True,
        "false": False,
        "decimal": decimal.Decimal("123.45"),
        "when": datetime.datetime(2024, 5, 6, 7, 8, 9),
        "nested": {"level": 2, "list": [1, "two", {"three": 3.0}]},
        "none": None,
        "array": [True, 1, "x"],
    }
    body = bytes(range(256)) * 40
    sent = amqp.Message(
        body,
        content_type="application/octet-stream",
        content_encoding="identity",
        application_headers=headers,
        delivery_mode=2,
        priority=7,
        correlation_id="corr-1",
        reply_to="replies",
        expiration="60000",
        message_id="m-1",
        timestamp=1_700_000_000,
        type="order.created",
        user_id=broker.user,
        app_id="interop",
    )
    ch.basic_publish(sent, exchange="", routing_key=queue)
    got = None
    deadline = time.monotonic() + 10
    while got is None:
        assert time.monotonic() < deadline
        got = ch.basic_get(queue, no_ack=True)
    assert got.body == body
    p = got.properties
    assert p["content_type"] == "application/octet-stream"
    assert p["content_encoding"] == "identity"
    assert p["delivery_mode"] == 2
    assert p["priority"] == 7
    assert p["correlation_id"] == "corr-1"
    assert p["reply_to"] == "replies"
    assert p["expiration"] == "60000"
    assert p["message_id"] == "m-1"
    assert p["type"] == "order.created"
    assert p["app_id"] == "interop"
    assert p["user_id"] == broker.user
    ts = p["timestamp"]
    assert ts == datetime.datetime(2023, 11, 14, 22, 13, 20) or ts == 1_700_000_000
    got_headers = p["application_headers"]
    assert got_headers == headers
    assert got.delivery_info["routing_key"] == queue
    assert got.delivery_info["redelivered"] is False


def test_consume_with_prefetch_ack_and_requeue(connection):
    ch = connection.channel()
    queue = unique("consume")
    ch.queue_declare(queue, auto_delete=True)
    ch.basic_qos(prefetch_size=0, prefetch_count=3, a_global=False)
    for i in range(10):
        ch.basic_publish(amqp.Message(f"m{i}"), exchange="", routing_key=queue)
    seen = []
    rejected = set()

    def on_message(message):
        text = message.body.decode() if isinstance(message.body, bytes) else message.body
        seen.append((text, message.delivery_info["redelivered"]))
        if text == "m4" and text not in rejected:
            rejected.add(text)
            message.channel.basic_reject(message.delivery_tag, requeue=True)
        else:
            message.channel.basic_ack(message.delivery_tag)

    tag = ch.basic_consume(queue, callback=on_message)
    drain_events(connection, lambda: len(seen) == 11)
    ch.basic_cancel(tag)
    assert [t for t, _ in seen].count("m4") == 2
    assert ("m4", True) in seen and ("m4", False) in seen
    assert {t for t, _ in seen} == {f"m{i}" for i in range(10)}
    assert all(not redelivered for t, redelivered in seen if t != "m4")
    assert ch.queue_delete(queue) == 0


def test_prefetch_limits_unacked_deliveries(connection):
    ch = connection.channel()
    queue = unique("prefetch")
    ch.queue_declare(queue, auto_delete=True)
    ch.basic_qos(prefetch_size=0, prefetch_count=2, a_global=False)
    for i in range(5):
        ch.basic_publish(amqp.Message(f"m{i}"), exchange="", routing_key=queue)
    held = []
    ch.basic_consume(queue, callback=held.append)
    drain_events(connection, lambda: len(held) == 2)
    # The broker owes us nothing more until we ack: ask it for the queue's state.
    probe = connection.channel()
    _, ready, _ = probe.queue_declare(queue, passive=True)
    assert ready == 3
    ch.basic_ack(held[0].delivery_tag)
    drain_events(connection, lambda: len(held) == 3)
    _, ready, _ = probe.queue_declare(queue, passive=True)
    assert ready == 2
    ch.basic_ack(held[-1].delivery_tag, multiple=True)
    drain_events(connection, lambda: len(held) == 5)


def test_publisher_confirms_and_mandatory_return(connection):
    ch = connection.channel()
    queue = unique("confirm")
    ch.queue_declare(queue, auto_delete=True)
    ch.confirm_select()
    for i in range(50):
        ch.basic_publish_confirm(amqp.Message(f"c{i}"), exchange="", routing_key=queue)
    _, count, _ = ch.queue_declare(queue, passive=True)
    assert count == 50

    returned = []
    ch.events["basic_return"].add(
        lambda exc, exchange, routing_key, message: returned.append(
            (exc.reply_code, exc.reply_text, exchange, routing_key, message.body)
        )
    )
    ch.basic_publish_confirm(
        amqp.Message(b"lost"), exchange="", routing_key=unique("nowhere"), mandatory=True
    )
    assert len(returned) == 1
    code, text, exchange, _, body = returned[0]
    assert (code, text, exchange, body) == (312, "NO_ROUTE", "", b"lost")


def test_transactions_commit_and_rollback(connection):
    ch = connection.channel()
    queue = unique("tx")
    ch.queue_declare(queue, auto_delete=True)
    ch.tx_select()
    ch.basic_publish(amqp.Message("dropped"), exchange="", routing_key=queue)
    ch.tx_rollback()
    ch.basic_publish(amqp.Message("kept"), exchange="", routing_key=queue)
    _, count, _ = ch.queue_declare(queue, passive=True)
    assert count == 0
    ch.tx_commit()
    _, count, _ = ch.queue_declare(queue, passive=True)
    assert count == 1
    msg = ch.basic_get(queue)
    assert msg.body == "kept" or msg.body == b"kept"
    ch.basic_ack(msg.delivery_tag)
    ch.tx_rollback()  # the ack is undone: the message is unacked again
    ch.basic_recover(requeue=True)
    again = None
    deadline = time.monotonic() + 10
    while again is None:
        assert time.monotonic() < deadline
        again = ch.basic_get(queue, no_ack=True)
    assert again.delivery_info["redelivered"] is True


def test_channel_errors_map_to_exceptions(connection):
    ch = connection.channel()
    missing = unique("missing")
    with pytest.raises(amqp.exceptions.NotFound) as info:
        ch.queue_declare(missing, passive=True)
    assert info.value.reply_code == 404
    assert info.value.reply_text == f"NOT_FOUND - no queue '{missing}' in vhost '/'"

    ch2 = connection.channel()
    name = unique("args")
    ch2.queue_declare(name, auto_delete=True, arguments={"x-max-length": 10})
    with pytest.raises(amqp.exceptions.PreconditionFailed) as info:
        ch2.queue_declare(name, auto_delete=True, arguments={"x-max-length": 20})
    assert info.value.reply_code == 406
    assert "inequivalent arg 'x-max-length'" in info.value.reply_text

    ch3 = connection.channel()
    with pytest.raises(amqp.exceptions.AccessRefused) as info:
        ch3.queue_declare("amq.reserved-" + unique("q"))
    assert info.value.reply_code == 403
    # The connection survives channel errors.
    ch4 = connection.channel()
    assert ch4.queue_declare("", exclusive=True).queue.startswith("amq.gen-")


def test_exclusive_queue_is_locked_for_other_connections(connection, broker):
    ch = connection.channel()
    name = unique("exclusive")
    ch.queue_declare(name, exclusive=True)
    other = amqp.Connection(
        host=f"{broker.host}:{broker.port}", userid=broker.user, password=broker.password
    )
    other.connect()
    try:
        with pytest.raises(amqp.exceptions.ResourceLocked) as info:
            other.channel().queue_declare(name, passive=True)
        assert info.value.reply_code == 405
    finally:
        other.close()


def test_headers_and_exchange_to_exchange_routing(connection):
    ch = connection.channel()
    front = unique("front")
    by_headers = unique("hdrs")
    ch.exchange_declare(front, "topic", auto_delete=True)
    ch.exchange_declare(by_headers, "headers", auto_delete=True)
    ch.exchange_bind(destination=by_headers, source=front, routing_key="orders.#")
    all_q = ch.queue_declare("", exclusive=True).queue
    any_q = ch.queue_declare("", exclusive=True).queue
    ch.queue_bind(all_q, by_headers, arguments={"x-match": "all", "region": "eu", "tier": 1})
    ch.queue_bind(any_q, by_headers, arguments={"x-match": "any", "region": "us", "tier": 1})
    cases = [
        ("orders.new", {"region": "eu", "tier": 1}, "both"),
        ("orders.new", {"region": "us", "tier": 2}, "any"),
        ("orders.new", {"region": "eu", "tier": 2}, "none"),
        ("billing.new", {"region": "eu", "tier": 1}, "none"),
    ]
    for i, (key, headers, _) in enumerate(cases):
        ch.basic_publish(
            amqp.Message(str(i), application_headers=headers), exchange=front, routing_key=key
        )

    def bodies(queue):
        out = []
        while (msg := ch.basic_get(queue, no_ack=True)) is not None:
            out.append(msg.body if isinstance(msg.body, str) else msg.body.decode())
        return out

    # basic.get does not wait for in-flight routing; a confirm round-trip fences it.
    ch.confirm_select()
    ch.basic_publish_confirm(amqp.Message("fence"), exchange="", routing_key=unique("void"))
    assert bodies(all_q) == ["0"]
    assert bodies(any_q) == ["0", "1"]


def test_large_binary_body_spans_frames(connection):
    ch = connection.channel()
    queue = unique("large")
    ch.queue_declare(queue, auto_delete=True)
    body = bytes((i * 7 + 3) % 256 for i in range(3 * 1024 * 1024 + 17))
    ch.confirm_select()
    ch.basic_publish_confirm(amqp.Message(body), exchange="", routing_key=queue)
    got = ch.basic_get(queue, no_ack=True)
    assert got.body == body
