"""Durable exchanges, queues and bindings across a restart of amqpd, graceful or ``kill -9``.

Each test runs with both kinds of restart (the ``node`` fixture, see
tests/restartable.py). Durable entities come back with their type, flags and
arguments, and a declaration is compared against what was restored;
transient and exclusive ones, and bindings with a transient end, do not.
What was removed stays removed; queues and exchanges keep their virtual host.
"""

from __future__ import annotations

import pika

from amqpd.config import BrokerConfig
from amqpd.testing import BrokerThread
from tests.broker_process import connection_parameters
from tests.restartable import PERSISTENT, bodies, channel_error, count, exists

EXCHANGES = {
    # name: (type, auto_delete, internal, arguments)
    "x.direct": ("direct", False, False, {}),
    "x.fanout": ("fanout", False, False, {}),
    "x.topic": ("topic", False, False, {}),
    "x.headers": ("headers", False, False, {}),
    "x.internal": ("direct", False, True, {}),
    "x.with-ae": ("direct", False, False, {"alternate-exchange": "x.fanout"}),
    "x.delayed": ("x-delayed-message", False, False, {"x-delayed-type": "topic"}),
}


def test_durable_exchanges_survive_and_transient_ones_do_not(node):
    channel = node.channel()
    for name, (type_, auto_delete, internal, arguments) in EXCHANGES.items():
        channel.exchange_declare(name, type_, durable=True, auto_delete=auto_delete,
                                 internal=internal, arguments=arguments)  # fmt: skip
    channel.exchange_declare("x.transient", "direct", durable=False)
    channel.queue_declare("ae.catch", durable=True)
    channel.queue_bind("ae.catch", "x.fanout")

    node.restart()

    channel = node.channel()
    for name, (type_, auto_delete, internal, arguments) in EXCHANGES.items():
        # The same declaration is equivalent: type and flags came back as declared.
        channel.exchange_declare(name, type_, durable=True, auto_delete=auto_delete,
                                 internal=internal, arguments=arguments)  # fmt: skip
        other = "fanout" if type_ != "fanout" else "direct"
        code, text = channel_error(
            node,
            lambda ch, n=name, t=other, a=auto_delete, i=internal: ch.exchange_declare(
                n, t, durable=True, auto_delete=a, internal=i
            ),
        )
        assert code == 406 and "inequivalent arg 'type'" in text, (name, text)
    code, text = channel_error(
        node, lambda ch: ch.exchange_declare("x.direct", "direct", durable=False)
    )
    assert code == 406 and "durable" in text
    assert not exists(node, "exchange", "x.transient")
    for name in ("amq.direct", "amq.fanout", "amq.topic", "amq.headers", "amq.match"):
        assert exists(node, "exchange", name)
    code, _ = channel_error(
        node,
        lambda ch: (
            ch.basic_publish("x.internal", "k", b"no"),
            ch.queue_declare("ae.catch", passive=True),
        ),
    )
    assert code == 403  # still internal
    # The alternate exchange still catches what x.with-ae cannot route.
    channel.basic_publish("x.with-ae", "no-binding", b"caught", PERSISTENT)
    assert count(channel, "ae.catch") == 1


def test_durable_queues_survive_and_transient_and_exclusive_ones_do_not(node):
    owner = node.connect()
    channel = owner.channel()
    arguments = {"x-message-ttl": 600_000, "x-max-length": 100,
                 "x-dead-letter-exchange": "dlx", "x-dead-letter-routing-key": "dead"}  # fmt: skip
    channel.queue_declare("q.plain", durable=True)
    channel.queue_declare("q.args", durable=True, arguments=arguments)
    channel.queue_declare("q.auto-delete", durable=True, auto_delete=True)
    channel.queue_declare("q.quorum", durable=True, arguments={"x-queue-type": "quorum"})
    channel.queue_declare("q.priority", durable=True, arguments={"x-max-priority": 5})
    server_named = channel.queue_declare("", durable=True, exclusive=False).method.queue
    channel.queue_declare("q.exclusive", durable=True, exclusive=True)
    channel.queue_declare("q.transient", durable=False)
    survivors = ["q.plain", "q.args", "q.auto-delete", "q.quorum", "q.priority", server_named]
    for queue in [*survivors, "q.exclusive", "q.transient"]:
        channel.basic_publish("", queue, queue.encode(), PERSISTENT)

    node.restart()

    channel = node.channel()
    for queue in survivors:
        assert count(channel, queue) == 1, queue
    assert not exists(node, "queue", "q.exclusive")
    assert not exists(node, "queue", "q.transient")
    # Declarations are compared against what was restored.
    channel.queue_declare("q.args", durable=True, arguments=arguments)
    channel.queue_declare("q.auto-delete", durable=True, auto_delete=True)
    changed = {**arguments, "x-message-ttl": 1000}
    code, text = channel_error(
        node, lambda ch: ch.queue_declare("q.args", durable=True, arguments=changed)
    )
    assert code == 406 and "x-message-ttl" in text
    code, text = channel_error(
        node, lambda ch: ch.queue_declare("q.plain", durable=True, auto_delete=True)
    )
    assert code == 406 and "auto_delete" in text
    code, text = channel_error(
        node, lambda ch: ch.queue_declare("q.quorum", durable=True,
                                          arguments={"x-queue-type": "classic"}))  # fmt: skip
    assert code == 406 and "x-queue-type" in text
    # The messages went back to their own queues.
    for queue in survivors:
        assert bodies(channel, queue) == [queue.encode()]
    # A restored auto-delete queue is still auto-delete: its last consumer's
    # cancel deletes it, for good.
    tag = channel.basic_consume("q.auto-delete", lambda *args: None)
    channel.basic_cancel(tag)
    assert not exists(node, "queue", "q.auto-delete")
    node.restart()
    assert not exists(node, "queue", "q.auto-delete")
    assert exists(node, "queue", "q.plain")


ANY_H3 = {"x-match": "any", "h3": "v3", "n": 7}


def declare_topology(channel) -> None:
    for name, type_ in (
        ("b.direct", "direct"),
        ("b.topic", "topic"),
        ("b.fanout", "fanout"),
        ("b.headers", "headers"),
        ("b.src", "direct"),
        ("b.dst", "fanout"),
    ):
        channel.exchange_declare(name, type_, durable=True)
    channel.exchange_declare("b.auto", "direct", durable=True, auto_delete=True)
    channel.exchange_declare("b.transient", "direct", durable=False)
    for queue in ("q.direct", "q.topic", "q.fanout", "q.headers", "q.e2e", "q.amq", "q.unbound"):
        channel.queue_declare(queue, durable=True)
    channel.queue_declare("q.transient", durable=False)
    channel.queue_bind("q.direct", "b.direct", "k")
    channel.queue_bind("q.topic", "b.topic", "a.*.c")
    channel.queue_bind("q.topic", "b.topic", "#.z")
    channel.queue_bind("q.fanout", "b.fanout")
    channel.queue_bind("q.headers", "b.headers",
                       arguments={"x-match": "all", "h1": "v1", "h2": 2})  # fmt: skip
    channel.queue_bind("q.e2e", "b.headers", arguments=ANY_H3)
    channel.exchange_bind("b.dst", "b.src", "e")  # exchange to exchange
    channel.queue_bind("q.e2e", "b.dst")
    channel.queue_bind("q.amq", "amq.direct", "amqk")
    channel.queue_bind("q.amq", "amq.topic", "t.#")
    channel.queue_bind("q.direct", "b.auto", "auto")
    channel.queue_bind("q.unbound", "b.direct", "gone")
    channel.queue_unbind("q.unbound", "b.direct", "gone")
    # Bindings with a transient end do not survive.
    channel.queue_bind("q.direct", "b.transient", "t")
    channel.queue_bind("q.transient", "b.direct", "k")
    channel.exchange_bind("b.transient", "b.src", "e")


ROUTES = [
    # (exchange, routing key, headers, queue it must reach or None)
    ("b.direct", "k", None, "q.direct"),
    ("b.direct", "gone", None, None),
    ("b.topic", "a.b.c", None, "q.topic"),
    ("b.topic", "y.z", None, "q.topic"),
    ("b.topic", "a.b", None, None),
    ("b.fanout", "anything", None, "q.fanout"),
    ("b.headers", "", {"h1": "v1", "h2": 2}, "q.headers"),
    ("b.headers", "", {"h1": "v1"}, None),
    ("b.headers", "", {"h3": "v3"}, "q.e2e"),
    ("b.src", "e", None, "q.e2e"),
    ("b.src", "other", None, None),
    ("amq.direct", "amqk", None, "q.amq"),
    ("amq.topic", "t.x.y", None, "q.amq"),
    ("b.auto", "auto", None, "q.direct"),
]


ROUTED_QUEUES = ["q.direct", "q.topic", "q.fanout", "q.headers", "q.e2e", "q.amq", "q.unbound"]


def route_all(channel) -> dict[str, list[bytes]]:
    for n, (exchange, key, headers, _queue) in enumerate(ROUTES):
        channel.basic_publish(exchange, key, f"{n}".encode(),
                              pika.BasicProperties(headers=headers))  # fmt: skip
    return {queue: bodies(channel, queue) for queue in ROUTED_QUEUES}


def expected_routes() -> dict[str, list[bytes]]:
    expected: dict[str, list[bytes]] = {queue: [] for queue in ROUTED_QUEUES}
    for n, (_x, _k, _h, queue) in enumerate(ROUTES):
        if queue is not None:
            expected[queue].append(f"{n}".encode())
    return expected


def test_bindings_between_durable_ends_survive(node):
    channel = node.channel()
    declare_topology(channel)
    assert route_all(channel) == expected_routes()  # as declared, before any restart

    node.restart()

    channel = node.channel()
    assert route_all(channel) == expected_routes()
    assert not exists(node, "exchange", "b.transient")
    assert not exists(node, "queue", "q.transient")


def test_removed_bindings_and_entities_stay_removed(node):
    channel = node.channel()
    declare_topology(channel)
    node.restart()

    channel = node.channel()
    channel.queue_unbind("q.topic", "b.topic", "#.z")  # a restored binding removed
    channel.exchange_unbind("b.dst", "b.src", "e")
    channel.queue_unbind("q.e2e", "b.headers", arguments=ANY_H3)  # one with arguments
    channel.queue_unbind("q.direct", "b.auto", "auto")  # its last binding: b.auto goes
    channel.exchange_delete("b.fanout")
    channel.queue_delete("q.headers")
    node.restart()

    channel = node.channel()
    assert not exists(node, "exchange", "b.auto")
    assert not exists(node, "exchange", "b.fanout")
    assert not exists(node, "queue", "q.headers")
    # Declared again under the same names, they start without the old bindings.
    channel.exchange_declare("b.fanout", "fanout", durable=True)
    channel.exchange_declare("b.auto", "direct", durable=True, auto_delete=True)
    channel.queue_declare("q.headers", durable=True)
    node.restart()

    channel = node.channel()
    expected = expected_routes()
    expected["q.topic"] = [b"2"]  # "y.z" no longer matches
    expected["q.fanout"] = []
    expected["q.headers"] = []
    expected["q.e2e"] = []
    expected["q.direct"] = [b"0"]
    assert route_all(channel) == expected
    assert exists(node, "exchange", "b.auto")  # not auto-deleted: it never had a binding


def test_queues_and_exchanges_keep_their_virtual_host(tmp_path):
    data = tmp_path / "data"

    def start(vhosts) -> BrokerThread:
        return BrokerThread(BrokerConfig(data_dir=str(data), vhosts=vhosts)).start()

    def connect(broker, vhost):
        params = connection_parameters(broker.port)
        params.virtual_host = vhost
        return pika.BlockingConnection(params)

    broker = start(("/", "other"))
    with connect(broker, "other") as connection:
        channel = connection.channel()
        channel.exchange_declare("v.x", "fanout", durable=True)
        channel.queue_declare("v.q", durable=True)
        channel.queue_bind("v.q", "v.x")
        channel.basic_publish("v.x", "", b"in other", PERSISTENT)
    broker.stop()
    broker = start(("/",))  # "other" left out of the configuration for a while
    try:
        with connect(broker, "/") as connection:
            assert not exists_on(connection, "v.q")
            connection.channel().queue_declare("v.q", durable=True)  # a different queue
    finally:
        broker.stop()
    broker = start(("/", "other"))
    try:
        with connect(broker, "other") as connection:
            channel = connection.channel()
            channel.basic_publish("v.x", "", b"again", PERSISTENT)
            assert bodies(channel, "v.q") == [b"in other", b"again"]
        with connect(broker, "/") as connection:
            assert count(connection.channel(), "v.q") == 0
    finally:
        broker.stop()


def exists_on(connection, queue: str) -> bool:
    channel = connection.channel()
    try:
        channel.queue_declare(queue, passive=True)
    except pika.exceptions.ChannelClosedByBroker as err:
        assert err.reply_code == 404
        return False
    return True
