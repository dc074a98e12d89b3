"""x-max-length, x-max-length-bytes and x-overflow on classic queues, as RabbitMQ 3.10.8
applies them.

drop-head (the default) drops or dead-letters the oldest ready messages with
reason 'maxlen'; reject-publish refuses new messages (a nack in confirm mode);
reject-publish-dlx also dead-letters them. Only ready messages count, and only
body bytes count towards x-max-length-bytes.
"""

import time

import pytest
from pamqp import commands as C

from conformance.helpers import (
    acked,
    bind,
    confirming,
    confirms,
    count,
    dead_lettering,
    declare,
    declare_exchange,
    drain,
    publish,
    wait_for,
)


def dead_letters(client, dlq, bodies):
    """The dlq holds exactly these bodies; returns each one's first x-death (reason, queue)."""
    wait_for(lambda: count(client, dlq) == len(bodies), timeout=3)
    deaths = []
    for body in bodies:
        _, properties, got = client.basic_get(1, dlq)
        assert got == body
        death = properties.headers["x-death"][0]
        deaths.append((death["reason"], death["queue"]))
    return deaths


@pytest.mark.parametrize(
    "limit, bodies, kept, dropped",
    [
        (("x-max-length", "I", 2), [b"m1", b"m2", b"m3"], [b"m2", b"m3"], [b"m1"]),
        (("x-max-length-bytes", "I", 5), [b"aaa", b"bb", b"c"], [b"bb", b"c"], [b"aaa"]),
        (("x-max-length-bytes", "I", 5), [b"abcdef"], [], [b"abcdef"]),
        (("x-max-length", "I", 0), [b"m1", b"m2"], [], [b"m1", b"m2"]),
    ],
    ids=["max-length", "max-length-bytes", "body-over-max-length-bytes", "max-length-zero"],
)
def test_drop_head_dead_letters_the_oldest(lab, limit, bodies, kept, dropped):
    client, name, dlq = confirming(lab), lab.queue(), lab.queue("dlq")
    dead_lettering(client, name, dlq, limit, exclusive=True)
    publish(client, name, *bodies, expiration="60000")
    acked(client, len(bodies))
    assert count(client, name) == len(kept)
    assert drain(client, name) == kept
    assert dead_letters(client, dlq, dropped) == [("maxlen", name)] * len(dropped)


def test_max_length_zero_delivers_to_a_waiting_consumer(lab):
    client, name, dlq = lab.connect(), lab.queue(), lab.queue("dlq")
    dead_lettering(client, name, dlq, ("x-max-length", "I", 0), exclusive=True)
    consume = C.Basic.Consume(queue=name, consumer_tag="c", no_ack=True)
    client.call_ok(1, consume, C.Basic.ConsumeOk)
    publish(client, name, b"m")
    _, deliver, _, body = client.read_message()
    assert isinstance(deliver, C.Basic.Deliver) and body == b"m"
    time.sleep(0.3)
    assert count(client, dlq) == 0


@pytest.mark.parametrize("overflow", ["reject-publish", "reject-publish-dlx"])
def test_reject_publish_without_confirms_drops_silently(lab, overflow):
    client, name, dlq = lab.connect(), lab.queue(), lab.queue("dlq")
    dead_lettering(
        client, name, dlq, ("x-max-length", "I", 2), ("x-overflow", "S", overflow), exclusive=True
    )
    for body in (b"m1", b"m2", b"m3"):
        client.publish(1, body, routing_key=name, mandatory=True)
    client.call_ok(1, C.Basic.Qos(), C.Basic.QosOk)  # no basic.return and no error came first
    wait_for(lambda: count(client, name) == 2)
    assert drain(client, name) == [b"m1", b"m2"]
    if overflow == "reject-publish":
        time.sleep(0.3)
        assert count(client, dlq) == 0
    else:
        assert dead_letters(client, dlq, [b"m3"]) == [("maxlen", name)]


@pytest.mark.parametrize("overflow", ["reject-publish", "reject-publish-dlx"])
def test_reject_publish_nacks_in_confirm_mode(lab, overflow):
    client, name, dlq = confirming(lab), lab.queue(), lab.queue("dlq")
    dead_lettering(
        client, name, dlq, ("x-max-length", "I", 2), ("x-overflow", "S", overflow), exclusive=True
    )
    publish(client, name, b"c1", b"c2", b"c3", b"c4")
    assert confirms(client, 4) == {1: "ack", 2: "ack", 3: "nack", 4: "nack"}
    assert drain(client, name) == [b"c1", b"c2"]
    if overflow == "reject-publish":
        time.sleep(0.3)
        assert count(client, dlq) == 0
    else:
        assert dead_letters(client, dlq, [b"c3", b"c4"]) == [("maxlen", name)] * 2


def test_unacked_messages_do_not_count(lab):
    client, name, dlq = confirming(lab), lab.queue(), lab.queue("dlq")
    dead_lettering(
        client,
        name,
        dlq,
        ("x-max-length", "I", 2),
        ("x-overflow", "S", "reject-publish"),
        exclusive=True,
    )
    publish(client, name, b"u1", b"u2")
    acked(client, 2)
    assert [client.basic_get(1, name, no_ack=False)[2] for _ in "12"] == [b"u1", b"u2"]
    publish(client, name, b"u3", b"u4", b"u5")
    assert confirms(client, 5, first=3) == {3: "ack", 4: "ack", 5: "nack"}
    assert count(client, name) == 2


def test_drop_head_drops_requeued_messages_over_the_limit(lab):
    client, name, dlq = confirming(lab), lab.queue(), lab.queue("dlq")
    dead_lettering(client, name, dlq, ("x-max-length", "I", 2), exclusive=True)
    publish(client, name, b"u1", b"u2")
    acked(client, 2)
    assert [client.basic_get(1, name, no_ack=False)[2] for _ in "12"] == [b"u1", b"u2"]
    publish(client, name, b"u3", b"u4", b"u5")
    acked(client, 5, first=3)
    assert count(client, name) == 2  # u3 went
    client.call_ok(1, C.Basic.Recover(requeue=True), C.Basic.RecoverOk)
    wait_for(lambda: count(client, dlq) == 3, timeout=3)  # u1 and u2 back at the head, and out
    assert drain(client, name) == [b"u4", b"u5"]
    assert dead_letters(client, dlq, [b"u3", b"u1", b"u2"]) == [("maxlen", name)] * 3


def test_one_refusing_queue_nacks_a_fanout_publish(lab):
    client, x = confirming(lab), lab.exchange()
    full, other = lab.queue("full"), lab.queue("other")
    declare_exchange(client, x, "fanout")
    declare(client, full, ("x-max-length", "I", 0), ("x-overflow", "S", "reject-publish"))
    declare(client, other, exclusive=True)
    for queue in (full, other):
        bind(client, queue, x)
    client.publish(1, b"m", exchange=x, mandatory=True)
    _, nack = client.read_frame()  # no basic.return before it
    assert isinstance(nack, C.Basic.Nack)
    assert (nack.delivery_tag, nack.multiple, nack.requeue) == (1, True, True)
    assert drain(client, other) == [b"m"]
    assert count(client, full) == 0


def test_reject_publish_in_a_transaction(lab):
    client, name = lab.connect(channels=(1, 2)), lab.queue()
    declare(client, name, ("x-max-length", "I", 1), ("x-overflow", "S", "reject-publish"))
    client.call_ok(2, C.Tx.Select(), C.Tx.SelectOk)
    for body in (b"t1", b"t2"):
        client.publish(2, body, routing_key=name)
    text = "PRECONDITION_FAILED - partial tx completion"
    assert client.call_error(2, C.Tx.Commit()) == (406, text, 90, 20)
    assert drain(client, name) == [b"t1"]


def test_priority_queue_drops_its_head_the_highest_priority(lab):
    client, name, dlq = confirming(lab), lab.queue(), lab.queue("dlq")
    dead_lettering(
        client, name, dlq, ("x-max-priority", "I", 10), ("x-max-length", "I", 2), exclusive=True
    )
    for body, priority in ((b"p9", 9), (b"p1", 1), (b"p5", 5)):
        publish(client, name, body, priority=priority)
    acked(client, 3)
    assert drain(client, name) == [b"p5", b"p1"]
    assert dead_letters(client, dlq, [b"p9"]) == [("maxlen", name)]
