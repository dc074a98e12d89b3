"""Message TTL (x-message-ttl, the expiration property) and queue expiry (x-expires).

RabbitMQ 3.10.8 expires messages on a timer, only from the head of a queue, and
dead-letters them with reason 'expired'. An unused queue is deleted x-expires ms
after its last use; basic.get and queue.declare count as use, publishing,
purging and binding do not.
"""

import time

import pytest
from pamqp import commands as C

from conformance import typed
from conformance.helpers import (
    confirming,
    count,
    dead_lettering,
    declare,
    dlx,
    exists,
    no_queue,
    publish,
    publish_confirmed,
    wait_for,
)


def confirmed(client, name, *bodies, expiration=None):
    """Publish on channel 1, in confirm mode, and wait for the confirms: the messages are in."""
    properties = C.Basic.Properties(expiration=expiration)
    publish_confirmed(client, name, *[(body, properties) for body in bodies])


def first_death(properties):
    death = properties.headers["x-death"][0]
    return death["reason"], death["queue"]


# ---- x-message-ttl -----------------------------------------------------------------------

TTL0 = ("x-message-ttl", "I", 0)


def test_ttl_zero_reaches_a_waiting_consumer(lab):
    client, name = lab.connect(), lab.queue()
    declare(client, name, TTL0, exclusive=True)
    client.call_ok(1, C.Basic.Consume(queue=name, consumer_tag="c"), C.Basic.ConsumeOk)
    publish(client, name, b"m")
    _, deliver, content, body = client.read_message()
    assert isinstance(deliver, C.Basic.Deliver) and body == b"m"
    assert content.properties.expiration is None  # the queue TTL adds no property


def test_ttl_zero_drops_what_a_busy_consumer_cannot_take(lab):
    client, name = lab.connect(), lab.queue()
    declare(client, name, TTL0, exclusive=True)
    client.call_ok(1, C.Basic.Qos(prefetch_count=1), C.Basic.QosOk)
    client.call_ok(1, C.Basic.Consume(queue=name, consumer_tag="c"), C.Basic.ConsumeOk)
    publish(client, name, b"first")
    assert client.read_message()[3] == b"first"
    publish(client, name, b"second")
    with pytest.raises(TimeoutError):
        client.read_frame(timeout=0.5)
    client.send(1, C.Basic.Ack(delivery_tag=1))
    with pytest.raises(TimeoutError):
        client.read_frame(timeout=0.5)
    assert count(client, name) == 0


def test_ttl_zero_without_consumer_drops_at_once(lab):
    client, name = confirming(lab), lab.queue()
    declare(client, name, TTL0, exclusive=True)
    confirmed(client, name, b"m")
    assert count(client, name) == 0
    assert client.basic_get(1, name) is None


def test_queue_ttl_expires_messages_on_a_timer(lab):
    client, name = confirming(lab), lab.queue()
    ttl = ("x-message-ttl", "I", 300)
    declare(client, name, ttl, exclusive=True)
    confirmed(client, name, b"a", b"b")
    assert count(client, name) == 2
    wait_for(lambda: count(client, name) == 0, timeout=3)
    assert client.basic_get(1, name) is None
    assert declare(client, name, ttl, exclusive=True).message_count == 0


@pytest.mark.parametrize("ttl_from", ["queue", "message"])
def test_expired_unacked_message_is_dead_lettered_when_returned(lab, ttl_from):
    client, name, dlq = confirming(lab), lab.queue(), lab.queue("dlq")
    fields = [("x-message-ttl", "I", 300)] if ttl_from == "queue" else []
    dead_lettering(client, name, dlq, *fields, exclusive=True)
    expiration = "300" if ttl_from == "message" else None
    confirmed(client, name, b"held", expiration=expiration)
    get_ok, _, _ = client.basic_get(1, name, no_ack=False)
    assert count(client, name) == 0  # unacked messages are not counted
    # A later message with the same TTL expires from the queue: "held" is past its TTL too.
    confirmed(client, name, b"later", expiration=expiration)
    wait_for(lambda: count(client, name) == 0 and count(client, dlq) == 1, timeout=3)
    if ttl_from == "queue":
        client.send(1, C.Basic.Reject(delivery_tag=get_ok.delivery_tag, requeue=True))
    else:
        client.send(1, C.Basic.Nack(delivery_tag=get_ok.delivery_tag, requeue=True))
    wait_for(lambda: count(client, dlq) == 2, timeout=3)
    assert client.basic_get(1, name) is None  # nothing was requeued
    for body in (b"later", b"held"):
        _, properties, got = client.basic_get(1, dlq)
        assert got == body
        assert first_death(properties) == ("expired", name)


# ---- the expiration property -------------------------------------------------------------


def invalid_expiration(value, reason):
    return (406, f"PRECONDITION_FAILED - invalid expiration '{value}': {reason}", 60, 40)


@pytest.mark.parametrize(
    "value, error",
    [
        ("0", None),
        ("-0", None),
        ("+5", None),
        ("1000", None),
        ("315360000000", None),
        ("  5", "no_integer"),
        ("", "no_integer"),
        ("abc", "no_integer"),
        ("\u0661\u0662", "no_integer"),  # Arabic-Indic digits
        ("5 ", '{leftover_string," "}'),
        ("1.5", '{leftover_string,".5"}'),
        ("0x10", '{leftover_string,"x10"}'),
        ("-1", "{value_negative,-1}"),
        ("315360000001", "{value_too_large,315360000001}"),
        # Erlang's ~p wraps the term: a newline and 44 spaces.
        ("99999999999999999999", "{value_too_large,\n" + " " * 44 + "99999999999999999999}"),
    ],
)
def test_expiration_values(lab, value, error):
    client, name = confirming(lab), lab.queue()
    declare(client, name, exclusive=True)
    if error is not None:
        typed.publish(client, 1, b"m", routing_key=name, expiration=value)  # pamqp drops ''
        assert client.expect_channel_error(1) == invalid_expiration(value, error)
        return
    confirmed(client, name, b"m", expiration=value)
    if int(value) < 1000:
        wait_for(lambda: count(client, name) == 0, timeout=3)
        assert client.basic_get(1, name) is None
    else:
        _, properties, _ = client.basic_get(1, name)
        assert properties.expiration == value  # kept verbatim


def test_zero_expiration_reaches_a_waiting_consumer(lab):
    client, name = lab.connect(), lab.queue()
    declare(client, name, exclusive=True)
    consume = C.Basic.Consume(queue=name, consumer_tag="c", no_ack=True)
    client.call_ok(1, consume, C.Basic.ConsumeOk)
    publish(client, name, b"m", expiration="0")
    _, deliver, content, body = client.read_message()
    assert isinstance(deliver, C.Basic.Deliver) and body == b"m"
    assert content.properties.expiration == "0"


@pytest.mark.parametrize("head_expiration", [None, "60000"])
def test_only_the_head_expires_on_the_timer(lab, head_expiration):
    client, name, dlq = confirming(lab), lab.queue(), lab.queue("dlq")
    dead_lettering(client, name, dlq, exclusive=True)
    confirmed(client, name, b"head", expiration=head_expiration)
    confirmed(client, name, b"behind", expiration="100")
    time.sleep(0.5)  # "behind" is long expired, but stays behind the head
    assert (count(client, name), count(client, dlq)) == (2, 0)
    get_ok, _, body = client.basic_get(1, name)
    assert (body, get_ok.message_count) == (b"head", 0)  # the fetch drops the expired one
    assert client.basic_get(1, name) is None
    wait_for(lambda: count(client, dlq) == 1, timeout=3)


def test_expired_head_goes_on_the_timer(lab):
    client, name, dlq = confirming(lab), lab.queue(), lab.queue("dlq")
    dead_lettering(client, name, dlq, exclusive=True)
    confirmed(client, name, b"head", expiration="100")
    confirmed(client, name, b"behind")
    wait_for(lambda: (count(client, name), count(client, dlq)) == (1, 1), timeout=3)


@pytest.mark.parametrize("queue_ttl, expiration", [(60000, "100"), (100, "60000")])
def test_the_lower_ttl_wins(lab, queue_ttl, expiration):
    client, name = confirming(lab), lab.queue()
    declare(client, name, ("x-message-ttl", "I", queue_ttl), exclusive=True)
    confirmed(client, name, b"m", expiration=expiration)
    wait_for(lambda: count(client, name) == 0, timeout=3)


def test_queue_ttl_keeps_the_expiration_property(lab):
    client, name = confirming(lab), lab.queue()
    declare(client, name, ("x-message-ttl", "I", 60000), exclusive=True)
    confirmed(client, name, b"m", expiration="5000")
    assert client.basic_get(1, name)[1].expiration == "5000"


# ---- x-expires ---------------------------------------------------------------------------

EXPIRES = 0.5  # seconds
ACT_AT = 0.3  # an action this long after the declare


def deleted_after(client, name, since, limit=3.0):
    """Seconds from since until the queue is gone, polling every 20 ms."""
    while exists(client, name):
        assert time.monotonic() - since < limit, "the queue did not expire"
        time.sleep(0.02)
    return time.monotonic() - since


def expiring(client, name, seconds=EXPIRES, *fields):
    declare(client, name, ("x-expires", "I", int(seconds * 1000)), *fields)
    return time.monotonic()


def test_unused_queue_expires(lab):
    client, name = lab.connect(), lab.queue()
    declared = expiring(client, name)
    assert EXPIRES - 0.05 <= deleted_after(client, name, declared) <= 3.0
    missing = C.Queue.Declare(queue=name, passive=True)
    assert client.call_error(1, missing) == (404, no_queue(name), 50, 10)


ACTIONS = {
    "get": (True, lambda c, q: c.basic_get(2, q)),
    "passive-declare": (True, lambda c, q: declare(c, q, channel=2, passive=True)),
    "redeclare": (
        True,
        lambda c, q: declare(c, q, ("x-expires", "I", int(EXPIRES * 1000)), channel=2),
    ),
    "failed-redeclare": (False, lambda c, q: c.call_error(2, C.Queue.Declare(queue=q))),
    "publish": (False, lambda c, q: publish(c, q, b"m", channel=2)),
    "purge": (False, lambda c, q: c.call_ok(2, C.Queue.Purge(queue=q), C.Queue.PurgeOk)),
    "bind": (False, lambda c, q: exists(c, q)),
}


@pytest.mark.parametrize("resets, action", ACTIONS.values(), ids=ACTIONS)
def test_what_counts_as_use(lab, resets, action):
    client, name = lab.connect(channels=(1, 2)), lab.queue()
    declared = expiring(client, name)
    time.sleep(ACT_AT - (time.monotonic() - declared))
    acted = time.monotonic()
    action(client, name)
    after = deleted_after(client, name, acted)
    if resets:  # a full x-expires from the action
        assert EXPIRES - 0.05 <= after <= 3.0
    else:  # still due x-expires after the declare
        assert after < EXPIRES - ACT_AT + 0.15


@pytest.mark.parametrize("ending", ["cancel", "close-connection"])
def test_a_consumer_keeps_the_queue(lab, ending):
    client, consumer, name = lab.connect(), lab.connect(), lab.queue()
    expiring(client, name, 0.3)
    consumer.call_ok(1, C.Basic.Consume(queue=name, consumer_tag="c"), C.Basic.ConsumeOk)
    time.sleep(0.5)
    assert exists(client, name)
    if ending == "cancel":
        consumer.call_ok(1, C.Basic.Cancel(consumer_tag="c"), C.Basic.CancelOk)
    else:
        consumer.close_connection()
    assert 0.25 <= deleted_after(client, name, time.monotonic()) <= 3.0


def test_messages_do_not_keep_the_queue_and_are_not_dead_lettered(lab):
    client, name, dlq = confirming(lab), lab.queue(), lab.queue("dlq")
    declare(client, dlq, exclusive=True)
    declared = expiring(client, name, 0.3, *dlx("", dlq))
    confirmed(client, name, b"1", b"2", b"3")
    assert 0.25 <= deleted_after(client, name, declared) <= 3.0
    time.sleep(0.3)
    assert count(client, dlq) == 0
