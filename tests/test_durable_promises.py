"""A reply that promises durability is sent only once its change is on disk.

A confirm, tx.commit-ok, or a declare-, bind-, unbind- or delete-ok of a
durable entity waits for the commit that holds its change, so ``kill -9`` right
after the reply loses nothing; the replies behind a held one keep their order.
"""

from __future__ import annotations

import pika
import pytest
from pamqp import commands, frame

from amqpd.config import BrokerConfig
from amqpd.testing import BrokerThread
from conformance.helpers import wait_for
from conformance.rawclient import RawClient
from tests.restartable import PERSISTENT, bodies, count, exists


def test_confirmed_and_declared_things_survive_a_kill_without_a_barrier(node):
    """A declare-ok, a bind-ok, a delete-ok, an unbind-ok, a tx.commit-ok, a
    confirm: each is sent only once its change is committed, so nothing is
    needed before the kill."""
    channel = node.channel()
    channel.exchange_declare("c.x", "topic", durable=True)
    channel.queue_declare("c.q", durable=True)
    channel.queue_bind("c.q", "c.x", "c.#")
    channel.queue_declare("c.deleted", durable=True)
    channel.queue_bind("c.deleted", "c.x", "d")
    channel.queue_bind("c.q", "c.x", "unbound")
    channel.queue_delete("c.deleted")
    channel.queue_unbind("c.q", "c.x", "unbound")
    tx = node.channel()
    tx.tx_select()
    tx.basic_publish("c.x", "c.tx", b"committed", PERSISTENT)
    tx.tx_commit()
    channel.confirm_delivery()
    for n in range(50):
        channel.basic_publish("c.x", f"c.{n}", f"confirmed {n}".encode(), PERSISTENT,
                              mandatory=True)  # fmt: skip

    node.restart(barrier=False)

    channel = node.channel()
    assert not exists(node, "queue", "c.deleted")
    assert bodies(channel, "c.q") == [b"committed"] + [f"confirmed {n}".encode() for n in range(50)]
    channel.basic_publish("c.x", "c.again", b"routed", PERSISTENT)
    channel.basic_publish("c.x", "unbound", b"not routed", PERSISTENT)
    assert bodies(channel, "c.q") == [b"routed"]


HEAVY = 16 * 1024 * 1024  # a commit that takes a while to write and fsync


PROMISES = {
    # name: (the command whose reply is the promise, what must hold after the kill)
    "confirm": (
        lambda ch: (ch.confirm_delivery(), ch.basic_publish("", "p.q", b"kept", PERSISTENT)),
        lambda node, ch: bodies(ch, "p.q") == [b"kept"],
    ),
    "confirm of a delayed message": (
        lambda ch: (
            ch.confirm_delivery(),
            ch.basic_publish(
                "p.delayed",
                "d",
                b"kept",
                pika.BasicProperties(delivery_mode=2, headers={"x-delay": 300}),
            ),
        ),
        lambda node, ch: (
            wait_for(lambda: count(ch, "p.q") == 1, what="the delayed message")
            and bodies(ch, "p.q") == [b"kept"]
        ),
    ),
    "tx.commit-ok": (
        lambda ch: (
            ch.tx_select(),
            ch.basic_publish("", "p.q", b"kept", PERSISTENT),
            ch.tx_commit(),
        ),
        lambda node, ch: bodies(ch, "p.q") == [b"kept"],
    ),
    "queue.declare-ok": (
        lambda ch: ch.queue_declare("p.new", durable=True),
        lambda node, ch: exists(node, "queue", "p.new"),
    ),
    "exchange.declare-ok": (
        lambda ch: ch.exchange_declare("p.new", "fanout", durable=True),
        lambda node, ch: exists(node, "exchange", "p.new"),
    ),
    "queue.bind-ok": (
        lambda ch: ch.queue_bind("p.q", "p.x", "new"),
        lambda node, ch: (
            (ch.basic_publish("p.x", "new", b"routed"), bodies(ch, "p.q"))[1] == [b"routed"]
        ),
    ),
    "exchange.bind-ok": (
        lambda ch: ch.exchange_bind("p.x", "amq.direct", "k"),  # p.x routes "k" to p.q
        lambda node, ch: (
            (ch.basic_publish("amq.direct", "k", b"r"), bodies(ch, "p.q"))[1] == [b"r"]
        ),
    ),
    "queue.unbind-ok": (
        lambda ch: ch.queue_unbind("p.q", "p.x", "k"),
        lambda node, ch: (ch.basic_publish("p.x", "k", b"x"), bodies(ch, "p.q"))[1] == [],
    ),
    "queue.delete-ok": (
        lambda ch: ch.queue_delete("p.doomed"),
        lambda node, ch: not exists(node, "queue", "p.doomed"),
    ),
    "exchange.delete-ok": (
        lambda ch: ch.exchange_delete("p.doomed"),
        lambda node, ch: not exists(node, "exchange", "p.doomed"),
    ),
}


@pytest.mark.parametrize("promise", list(PROMISES))
def test_a_promise_holds_when_the_broker_is_killed_right_after_it(killed, promise):
    """The promise is made while a heavy commit is still being written (another
    connection's 16 MiB message): a reply sent before its own commit would be
    lost by a kill that follows the reply at once."""
    make, holds = PROMISES[promise]
    setup = killed.channel()
    setup.exchange_declare("p.x", "direct", durable=True)
    setup.exchange_declare("p.doomed", "direct", durable=True)
    setup.queue_declare("p.q", durable=True)
    setup.queue_declare("p.doomed", durable=True)
    setup.queue_declare("p.heavy", durable=True)
    setup.queue_bind("p.q", "p.x", "k")
    setup.exchange_declare("p.delayed", "x-delayed-message", durable=True,
                           arguments={"x-delayed-type": "direct"})  # fmt: skip
    setup.queue_bind("p.q", "p.delayed", "d")
    setup.basic_publish("", "p.heavy", b"h" * HEAVY, PERSISTENT)  # no confirm: not waited for
    setup.queue_declare("p.heavy", passive=True)  # the publish was handled (not committed)
    make(killed.channel())
    killed.restart(barrier=False)
    channel = killed.channel()
    assert holds(killed, channel), promise
    assert count(channel, "p.heavy") == 1  # commits are in order: the heavy one is in too


def _pipelined_declare_and_close(port: int, queue: str) -> list[tuple[int, str]]:
    client = RawClient("127.0.0.1", port)
    try:
        client.handshake()
        client.open_channel(1)
        data = frame.marshal(commands.Queue.Declare(queue=queue, durable=True), 1)
        data += frame.marshal(commands.Channel.Close(200, "bye", 0, 0), 1)
        client.send_raw(data)  # one write: the broker reads both at once
        got = []
        for _ in range(2):
            channel, method = client.read_frame(timeout=5)
            got.append((channel, type(method).__name__))
        client.open_channel(2)
        client.send(2, commands.Queue.Delete(queue=queue))
        client.read_frame()
        return got
    finally:
        client.close()


def test_replies_to_pipelined_commands_keep_their_order(tmp_path):
    # RabbitMQ 3.10.8 (the reference) answers [queue.declare, channel.close]
    # sent in one write with declare-ok, then close-ok. amqpd's wire layer
    # sends close-ok while parsing, before the broker (held for the store, or
    # not) has answered the declare; the declare-ok then arrives on a channel
    # the client already considers closed.
    with BrokerThread(BrokerConfig(data_dir=str(tmp_path))) as broker:
        got = _pipelined_declare_and_close(broker.port, "review.pipelined")
    assert got == [(1, "DeclareOk"), (1, "CloseOk")]
