"""Persistent messages across a restart of amqpd, graceful or ``kill -9``.

Each test runs with both kinds of restart (the ``node`` fixture, see
tests/restartable.py). Persistent messages in durable queues come back in
order with their properties, headers and bodies byte for byte; unacked ones
come back redelivered, acked, expired, rejected and uncommitted ones never.
Dead-lettered messages keep x-death, quorum queues their delivery counts,
sender-selected copies hide BCC, priority queues their order.
"""

from __future__ import annotations

import os

import pika
from pamqp import commands, frame

from amqpd.wire.fieldtable import encode_table
from conformance.helpers import wait_for
from conformance.rawclient import RawClient, raw_frame
from tests.restartable import PERSISTENT, TRANSIENT, bodies, count, exists, get_all


def test_persistent_messages_in_durable_queues_survive_in_order(node):
    channel = node.channel()
    channel.queue_declare("durable", durable=True)
    channel.queue_declare("transient", durable=False)
    channel.basic_publish("", "durable", b"p0", PERSISTENT)
    channel.basic_publish("", "durable", b"t1", TRANSIENT)
    channel.basic_publish("", "durable", b"p2", PERSISTENT)
    channel.basic_publish("", "durable", b"t3")  # no delivery mode: transient
    channel.basic_publish("", "transient", b"p4", PERSISTENT)

    node.restart()

    channel = node.channel()
    assert not exists(node, "queue", "transient")
    assert count(channel, "durable") == 2
    channel.basic_publish("", "durable", b"p5", PERSISTENT)  # after the recovered ones
    node.restart()

    channel = node.channel()
    got = get_all(channel, "durable")
    assert [body for _m, _p, body in got] == [b"p0", b"p2", b"p5"]
    assert not any(method.redelivered for method, _p, _b in got)
    node.restart()  # the acks reached the store too
    assert count(node.channel(), "durable") == 0


def raw_properties() -> bytes:
    """Every basic property set, headers of every field type: as a client sent them."""

    def shortstr(text: str) -> bytes:
        data = text.encode()
        return bytes([len(data)]) + data

    headers = encode_table({
        "bool": ("t", True), "byte": ("b", -5), "ubyte": ("B", 250), "short": ("s", -300),
        "ushort": ("u", 65000), "int": ("I", -70000), "uint": ("i", 4_000_000_000),
        "long": ("l", -(2**40)), "float": ("f", 1.5), "double": ("d", -2.25),
        "decimal": ("D", __import__("decimal").Decimal("3.14")),
        "text": ("S", "zürich".encode()), "bytes": ("x", bytes(range(256))),
        "time": ("T", 1_700_000_000), "void": ("V", None),
        "table": ("F", {"nested": ("S", b"yes"), "n": ("I", 1)}),
        "array": ("A", [("S", b"a"), ("I", 2), ("F", {})]),
    })  # fmt: skip
    return (
        (0xFFFC).to_bytes(2, "big")  # all fourteen property flags
        + shortstr("application/octet-stream")
        + shortstr("gzip")
        + headers
        + bytes([2, 7])  # delivery mode 2, priority 7
        + shortstr("corr-1")
        + shortstr("reply.here")
        + shortstr("86400000")
        + shortstr("msg-1")
        + (1_700_000_123).to_bytes(8, "big")
        + shortstr("type-x")
        + shortstr("guest")
        + shortstr("app-y")
        + shortstr("cluster-z")
    )


def raw_publish(client: RawClient, exchange: str, key: str, props: bytes, body: bytes) -> None:
    data = frame.marshal(commands.Basic.Publish(exchange=exchange, routing_key=key), 1)
    header = (60).to_bytes(2, "big") + b"\0\0" + len(body).to_bytes(8, "big") + props
    data += raw_frame(2, 1, header)
    frame_max = client.tune.frame_max - 8
    for start in range(0, len(body), frame_max):
        data += raw_frame(3, 1, body[start : start + frame_max])
    client.send_raw(data)


def raw_get(client: RawClient, queue: str) -> tuple[object, bytes, bytes]:
    """basic.get: (get-ok, the content header payload as sent, the body)."""
    client.send(1, commands.Basic.Get(queue=queue, no_ack=True))
    _, method = client.read_frame()
    assert isinstance(method, commands.Basic.GetOk), method
    kind, _, header = client.read_raw_frame()
    assert kind == 2
    size = int.from_bytes(header[4:12], "big")
    body = b""
    while len(body) < size:
        kind, _, part = client.read_raw_frame()
        assert kind == 3
        body += part
    return method, header, body


def test_properties_headers_and_body_come_back_byte_identical(node):
    channel = node.channel()
    channel.exchange_declare("props.x", "direct", durable=True)
    channel.queue_declare("props.q", durable=True)
    channel.queue_bind("props.q", "props.x", "rk")
    props = raw_properties()
    big = os.urandom(300_000)  # several body frames
    client = node.raw()
    sent = [(props, big), (props, b""), (b"\x10\x00\x02", b"\x00\xff plain")]
    for p, body in sent:
        raw_publish(client, "props.x", "rk", p, body)
    assert wait_for(lambda: count(channel, "props.q") == 3, what="the publishes")

    node.restart()

    client = node.raw()
    for p, body in sent:
        method, header, got_body = raw_get(client, "props.q")
        assert (method.exchange, method.routing_key, method.redelivered) == ("props.x", "rk", False)
        assert header == (60).to_bytes(2, "big") + b"\0\0" + len(body).to_bytes(8, "big") + p
        assert got_body == body


def test_unacked_messages_come_back_redelivered_and_acked_ones_never(node):
    channel = node.channel()
    channel.queue_declare("redeliver", durable=True)
    for n in range(6):
        channel.basic_publish("", "redeliver", f"p{n}".encode(), PERSISTENT)
    consumer = node.channel()
    method, _, body = consumer.basic_get("redeliver")
    assert body == b"p0"
    consumer.basic_ack(method.delivery_tag)  # acked: never again
    assert consumer.basic_get("redeliver")[2] == b"p1"  # left unacked
    assert consumer.basic_get("redeliver")[2] == b"p2"  # left unacked
    method, _, body = consumer.basic_get("redeliver")
    assert body == b"p3"
    consumer.basic_nack(method.delivery_tag, requeue=True)  # back, redelivered
    consumer.basic_qos(prefetch_count=1)
    delivered = next(consumer.consume("redeliver", inactivity_timeout=5))
    assert delivered[0].redelivered and delivered[2] == b"p3"  # left unacked, in flight
    # p4 and p5 were never delivered. Deliveries without acks are gone at once:
    channel.queue_declare("no-ack", durable=True)
    for body in (b"got", b"consumed"):
        channel.basic_publish("", "no-ack", body, PERSISTENT)
    assert channel.basic_get("no-ack", auto_ack=True)[2] == b"got"
    auto = next(channel.consume("no-ack", auto_ack=True, inactivity_timeout=5))
    assert auto[2] == b"consumed"
    channel.cancel()
    channel.basic_publish("", "no-ack", b"stays", PERSISTENT)

    node.restart()  # kill9: the consumer's connection is still open at the kill

    channel = node.channel()
    got = get_all(channel, "redeliver")
    assert [(body, method.redelivered) for method, _p, body in got] == [
        (b"p1", True), (b"p2", True), (b"p3", True), (b"p4", False), (b"p5", False)
    ]  # fmt: skip
    assert bodies(channel, "no-ack") == [b"stays"]
    node.restart()
    assert count(node.channel(), "redeliver") == 0


def test_expired_rejected_and_uncommitted_messages_stay_gone(node):
    channel = node.channel()
    channel.exchange_declare("gone.dlx", "fanout", durable=True)
    channel.queue_declare("gone.dead", durable=True)
    channel.queue_bind("gone.dead", "gone.dlx")
    channel.queue_declare("gone.q", durable=True, arguments={"x-dead-letter-exchange": "gone.dlx"})
    channel.queue_declare("gone.plain", durable=True)
    channel.basic_publish("", "gone.q", b"expires",
                          pika.BasicProperties(delivery_mode=2, expiration="100"))  # fmt: skip
    wait_for(lambda: count(channel, "gone.dead") == 1, what="the expiry")
    channel.basic_publish("", "gone.plain", b"rejected", PERSISTENT)
    channel.basic_publish("", "gone.plain", b"nacked", PERSISTENT)
    channel.basic_publish("", "gone.plain", b"kept", PERSISTENT)
    method, _, _ = channel.basic_get("gone.plain")
    channel.basic_reject(method.delivery_tag, requeue=False)
    method, _, _ = channel.basic_get("gone.plain")
    channel.basic_nack(method.delivery_tag, requeue=False)
    tx = node.channel()
    tx.tx_select()
    tx.basic_publish("", "gone.plain", b"rolled back", PERSISTENT)
    tx.tx_rollback()
    tx.basic_publish("", "gone.plain", b"never committed", PERSISTENT)

    node.restart()

    channel = node.channel()
    assert count(channel, "gone.q") == 0
    assert count(channel, "gone.dead") == 1  # dead-lettered once, not again at the restart
    assert bodies(channel, "gone.plain") == [b"kept"]


def test_dead_lettered_messages_survive_with_their_x_death(node):
    channel = node.channel()
    channel.exchange_declare("dl.x", "fanout", durable=True)
    channel.queue_declare("dl.dead", durable=True)
    channel.queue_bind("dl.dead", "dl.x")
    channel.queue_declare("dl.src", durable=True, arguments={"x-dead-letter-exchange": "dl.x"})
    props = pika.BasicProperties(delivery_mode=2, headers={"app": "v", "n": 1})
    channel.basic_publish("", "dl.src", b"rejected", props)
    method, _, _ = channel.basic_get("dl.src")
    channel.basic_reject(method.delivery_tag, requeue=False)
    wait_for(lambda: count(channel, "dl.dead") == 1, what="the dead-lettered message")
    method, before, body = channel.basic_get("dl.dead")  # left unacked over the restart
    assert before.headers["x-death"][0]["reason"] == "rejected"

    node.restart()

    channel = node.channel()
    method, after, body = channel.basic_get("dl.dead")
    assert (body, method.redelivered) == (b"rejected", True)
    assert after.headers == before.headers
    channel.basic_ack(method.delivery_tag)
    # The source queue still dead-letters after the restart.
    channel.basic_publish("", "dl.src", b"again", props)
    method, _, _ = channel.basic_get("dl.src")
    channel.basic_reject(method.delivery_tag, requeue=False)
    wait_for(lambda: count(channel, "dl.dead") == 1, what="the second dead-lettered message")
    assert bodies(channel, "dl.dead") == [b"again"]


def test_quorum_delivery_counts_survive(node):
    channel = node.channel()
    channel.exchange_declare("qq.dlx", "fanout", durable=True)
    channel.queue_declare("qq.dead", durable=True)
    channel.queue_bind("qq.dead", "qq.dlx")
    channel.queue_declare(
        "qq",
        durable=True,
        arguments={
            "x-queue-type": "quorum",
            "x-delivery-limit": 3,
            "x-dead-letter-exchange": "qq.dlx",
        },
    )
    channel.basic_publish("", "qq", b"counted", PERSISTENT)
    for expected in (0, 1):
        method, properties, _ = channel.basic_get("qq")
        assert (properties.headers or {}).get("x-delivery-count", 0) == expected
        channel.basic_nack(method.delivery_tag, requeue=True)

    node.restart()  # the message is ready, returned twice

    channel = node.channel()
    method, properties, body = channel.basic_get("qq")
    assert (body, properties.headers["x-delivery-count"], method.redelivered) == (
        b"counted",
        2,
        True,
    )
    channel.basic_nack(method.delivery_tag, requeue=True)  # the third return: the limit
    method, properties, _ = channel.basic_get("qq")
    assert properties.headers["x-delivery-count"] == 3
    channel.basic_nack(method.delivery_tag, requeue=True)  # over the limit: dead-lettered
    wait_for(lambda: count(channel, "qq.dead") == 1, what="the message over its delivery limit")
    assert count(channel, "qq") == 0


def test_sender_selected_copies_come_back_without_bcc(node):
    channel = node.channel()
    for queue in ("cc.main", "cc.copy", "cc.blind"):
        channel.queue_declare(queue, durable=True)
    headers = {"CC": ["cc.copy"], "BCC": ["cc.blind"], "app": "x"}
    channel.basic_publish("", "cc.main", b"copied",
                          pika.BasicProperties(delivery_mode=2, headers=headers))  # fmt: skip

    node.restart()

    channel = node.channel()
    for queue in ("cc.main", "cc.copy", "cc.blind"):
        ((_m, properties, body),) = get_all(channel, queue)
        assert body == b"copied"
        assert properties.headers == {"CC": ["cc.copy"], "app": "x"}, queue  # BCC stays hidden


def test_a_priority_queue_comes_back_in_priority_order(node):
    channel = node.channel()
    channel.queue_declare("prio", durable=True, arguments={"x-max-priority": 5})
    for body, priority in ((b"1", 1), (b"5a", 5), (b"3", 3), (b"5b", 5), (b"0", None),
                           (b"9->5", 9), (b"2", 2)):  # fmt: skip
        channel.basic_publish("", "prio", body,
                              pika.BasicProperties(delivery_mode=2, priority=priority))  # fmt: skip
    taken = channel.basic_get("prio")  # 5a, left unacked over the restart
    assert taken[2] == b"5a"

    node.restart()

    channel = node.channel()
    got = get_all(channel, "prio")
    assert [(body, method.redelivered) for method, _p, body in got] == [
        (b"5a", True), (b"5b", False), (b"9->5", False), (b"3", False), (b"2", False),
        (b"1", False), (b"0", False),
    ]  # fmt: skip
