"""Messages published by one client language and consumed by another arrive identical.

Every pair of publisher (Node.js amqplib, Go amqp091-go, C librabbitmq, Python
pika, PHP php-amqplib) and consumer (Go, Node.js, Python py-amqp, PHP) exchanges the same three
messages through a queue on the broker under test: a JSON body with every basic
property and a header of every field type, a binary body of several frames, and
an empty body with no properties. Where both ends keep exact wire types (the
publisher writes them; amqp091-go and php-amqplib report them), the types are
compared exactly.
"""

from __future__ import annotations

import pytest

from interop import cgen, clients, crosslang
from interop.crosslang import assert_same_messages, temp_queue

# Field types each library cannot write, or read without failing the message.
CANNOT_WRITE = {"go": "ui", "node": "", "c": "", "python": "fd", "php": "fd"}
CANNOT_READ = {"go": "ui", "node": "", "python": "", "php": ""}
# Libraries that write the type they are told, and that report the type they read.
EXACT_WRITERS = {"node", "go", "c", "php"}
EXACT_READERS = {"go", "php"}


def connection_fields(broker) -> dict:
    return {
        "url": broker.url,
        "host": broker.host,
        "port": broker.port,
        "user": broker.user,
        "password": broker.password,
        "vhost": broker.vhost,
    }


def publish(publisher: str, broker, queue: str, sent: list[dict], tmp_path) -> None:
    request = {
        **connection_fields(broker),
        "exchange": "",
        "routing_key": queue,
        "messages": sent,
    }
    if publisher == "node":
        out = clients.node("publish", {**request, "confirm": True})
        assert out["returned"] == []
    elif publisher == "go":
        out = clients.go("publish", {**request, "confirm": True})
        assert out["acks"] == len(sent)
    elif publisher == "c":
        binary = cgen.build_publisher(sent, tmp_path)
        bodies = cgen.write_bodies(sent, tmp_path)
        clients.run_json(
            [
                str(binary), broker.host, str(broker.port), broker.user, broker.password,
                broker.vhost, "", queue, *bodies,
            ]
        )  # fmt: skip
    elif publisher == "python":
        crosslang.pika_publish(broker.url, queue, sent)
    elif publisher == "php":
        out = clients.php("publish", request)
        assert out["acks"] == len(sent)
    else:
        raise AssertionError(publisher)


def consume(consumer: str, broker, queue: str, count: int) -> list[dict]:
    request = {**connection_fields(broker), "queue": queue, "count": count, "prefetch": 10}
    if consumer == "go":
        return clients.go("consume", request)["messages"]
    if consumer == "node":
        return clients.node("consume", request)["messages"]
    if consumer == "python":
        return crosslang.py_amqp_consume(broker, queue, count)
    if consumer == "php":
        return clients.php("consume", request)["messages"]
    raise AssertionError(consumer)


PAIRS = [
    (publisher, consumer)
    for publisher in ("node", "go", "c", "python", "php")
    for consumer in ("go", "node", "python", "php")
]


@pytest.mark.parametrize(("publisher", "consumer"), PAIRS, ids=[f"{p}-to-{c}" for p, c in PAIRS])
def test_messages_cross_languages_intact(broker, publisher, consumer, tmp_path):
    # Resolve the toolchains first, so that a missing one skips before any traffic.
    for side in (publisher, consumer):
        if side == "node":
            clients.node_command()
        elif side == "go":
            clients.go_client()
        elif side == "php":
            clients.php_command()
    sent = crosslang.messages(broker.user, without=CANNOT_WRITE[publisher] + CANNOT_READ[consumer])
    with temp_queue(broker) as queue:
        publish(publisher, broker, queue, sent, tmp_path)
        received = consume(consumer, broker, queue, len(sent))
    exact = publisher in EXACT_WRITERS and consumer in EXACT_READERS
    assert_same_messages(sent, received, fidelity="exact" if exact else "coarse")
    for message in received:
        if "routing_key" in message:
            assert message["routing_key"] == queue
            assert message.get("redelivered", False) is False
