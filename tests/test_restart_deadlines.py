"""Message TTL, queue leases and delayed messages across a restart of amqpd.

Message TTL deadlines and delayed messages keep their wall-clock times across
the downtime (what fell due while the broker was down goes at once), each is
released or dead-lettered once; queue leases (x-expires) start again. Each test
runs with both kinds of restart, graceful and ``kill -9`` (the ``node`` fixture).
"""

from __future__ import annotations

import time

import pika

from conformance.helpers import wait_for
from tests.restartable import PERSISTENT, bodies, count, exists, get_all


def test_message_ttl_deadlines_are_kept_across_the_downtime(node):
    """TTL 2 s, broker down 1.2 s: the message still expires 2 s after it was
    published (a restarted clock would keep it until 3.2 s or later)."""
    channel = node.channel()
    channel.exchange_declare("ttl.dlx", "fanout", durable=True)
    channel.queue_declare("ttl.dead", durable=True)
    channel.queue_bind("ttl.dead", "ttl.dlx")
    channel.queue_declare("ttl.per-message", durable=True,
                          arguments={"x-dead-letter-exchange": "ttl.dlx"})  # fmt: skip
    channel.queue_declare("ttl.queue", durable=True, arguments={"x-message-ttl": 2000})
    channel.queue_declare("ttl.missed", durable=True,
                          arguments={"x-dead-letter-exchange": "ttl.dlx"})  # fmt: skip
    published = time.monotonic()
    channel.basic_publish("", "ttl.per-message", b"dies",
                          pika.BasicProperties(delivery_mode=2, expiration="2000"))  # fmt: skip
    channel.basic_publish("", "ttl.per-message", b"stays", PERSISTENT)
    channel.basic_publish("", "ttl.queue", b"dies too", PERSISTENT)
    channel.basic_publish("", "ttl.missed", b"dies while down",
                          pika.BasicProperties(delivery_mode=2, expiration="500"))  # fmt: skip

    node.restart(downtime=1.2)
    restarted = time.monotonic()
    assert restarted < published + 2.0, "the restart took too long for this test to tell"

    channel = node.channel()
    wait_for(lambda: count(channel, "ttl.missed") == 0, timeout=1.0,
             what="the message whose deadline passed while the broker was down")  # fmt: skip
    wait_for(lambda: count(channel, "ttl.per-message") == 1 and count(channel, "ttl.queue") == 0,
             timeout=4.0, what="the messages to expire")  # fmt: skip
    expired = time.monotonic()
    assert expired >= published + 2.0 - 0.05, "expired before its deadline"
    assert expired < published + 3.0, (
        f"expired {expired - published:.2f} s after publishing: the deadline restarted"
    )
    assert bodies(channel, "ttl.per-message") == [b"stays"]
    node.restart()  # what expired at or after the restart is not dead-lettered twice

    channel = node.channel()
    dead = get_all(channel, "ttl.dead")
    assert [body for _m, _p, body in dead] == [b"dies while down", b"dies"]
    for (_m, properties, _b), queue in zip(dead, ("ttl.missed", "ttl.per-message"), strict=True):
        death = properties.headers["x-death"][0]
        assert (death["reason"], death["queue"]) == ("expired", queue)


def test_queue_leases_start_again_after_a_restart(node):
    channel = node.channel()
    channel.queue_declare("leased", durable=True, arguments={"x-expires": 1000})
    declared = time.monotonic()
    node.restart(downtime=1.2)
    restarted = time.monotonic()
    assert restarted > declared + 1.0

    channel = node.channel()
    channel.confirm_delivery()

    def gone() -> bool:  # a mandatory publish does not count as using the queue
        try:
            channel.basic_publish("", "leased", b"probe", mandatory=True)
        except pika.exceptions.UnroutableError:
            return True
        return False

    assert not gone(), "the lease was not started again at the restart"
    wait_for(gone, timeout=5.0, what="the restarted lease to run out")
    assert time.monotonic() >= restarted + 1.0 - 0.05
    node.restart()  # a queue its lease deleted stays deleted
    assert not exists(node, "queue", "leased")


def test_delayed_messages_survive_and_keep_their_due_time(node):
    channel = node.channel()
    channel.exchange_declare("delay.x", "x-delayed-message", durable=True,
                             arguments={"x-delayed-type": "direct"})  # fmt: skip
    channel.queue_declare("delay.q", durable=True)
    channel.queue_bind("delay.q", "delay.x", "k")

    def delayed(ms: int, body: bytes) -> None:
        props = pika.BasicProperties(delivery_mode=2, headers={"x-delay": ms, "tag": body.decode()})
        channel.basic_publish("delay.x", "k", body, props)

    published = time.monotonic()
    delayed(200, b"soon")
    delayed(900, b"missed")  # due while the broker is down
    delayed(3000, b"later")
    wait_for(lambda: count(channel, "delay.q") == 1, what="the first delayed message")
    assert bodies(channel, "delay.q") == [b"soon"]  # delivered and acked before the stop

    node.restart(downtime=1.0)
    assert time.monotonic() < published + 3.0, "the restart took too long for this test"

    channel = node.channel()
    wait_for(lambda: count(channel, "delay.q") == 1, timeout=2.0, what="the missed message")
    ((_m, properties, body),) = get_all(channel, "delay.q")
    assert body == b"missed"
    assert properties.headers == {"x-delay": 900, "tag": "missed"}
    assert time.monotonic() < published + 3.0 - 0.05
    assert count(channel, "delay.q") == 0
    wait_for(lambda: count(channel, "delay.q") == 1, timeout=4.0, what="the later message")
    arrived = time.monotonic()
    assert arrived >= published + 3.0 - 0.05, "released before its due time"
    assert arrived < published + 4.0, (
        f"released {arrived - published:.2f} s after publishing: the due time restarted"
    )
    assert bodies(channel, "delay.q") == [b"later"]
    node.restart()  # each delayed message is released once, also across restarts
    assert count(node.channel(), "delay.q") == 0


def test_a_delayed_message_dies_with_its_exchange(node):
    """Without a restart, a delayed message whose exchange is deleted (even if
    declared again) is dropped when due; a restart must not bring it back
    through the new exchange of the same name."""
    channel = node.channel()
    arguments = {"x-delayed-type": "direct"}
    channel.exchange_declare("delay.x", "x-delayed-message", durable=True, arguments=arguments)
    channel.basic_publish(
        "delay.x",
        "k",
        b"orphaned",
        pika.BasicProperties(delivery_mode=2, headers={"x-delay": 1000}),
    )
    channel.exchange_delete("delay.x")
    channel.exchange_declare("delay.x", "x-delayed-message", durable=True, arguments=arguments)
    channel.queue_declare("delay.q", durable=True)
    channel.queue_bind("delay.q", "delay.x", "k")
    channel.basic_publish(
        "delay.x",
        "k",
        b"sentinel",  # due after the orphaned one
        pika.BasicProperties(delivery_mode=2, headers={"x-delay": 1300}),
    )

    node.restart()

    channel = node.channel()
    wait_for(lambda: count(channel, "delay.q") >= 1, timeout=4.0, what="the sentinel")
    assert bodies(channel, "delay.q") == [b"sentinel"]
