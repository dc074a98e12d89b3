"""Priority queues, consumer priorities and single active consumer (classic queues),
as RabbitMQ 3.10.8 orders deliveries.

A priority above x-max-priority counts as the maximum and no priority as 0; within
a level the order is FIFO. A consumer with a higher x-priority takes everything it
has room for. On a single-active-consumer queue the first consumer registered is
the active one, whatever its x-priority.
"""

import pytest
from pamqp import commands as C

from conformance.helpers import consume, declare, publish_confirmed

SAC = ("x-single-active-consumer", "t", True)


def publish(client, name, *messages):
    """Publish (body, priority) pairs in confirm mode and wait for the confirms."""
    if not hasattr(client, "confirmed"):
        client.call_ok(1, C.Confirm.Select(), C.Confirm.SelectOk)
        client.confirmed = 0
    properties = [(body, C.Basic.Properties(priority=priority)) for body, priority in messages]
    publish_confirmed(client, name, *properties)


def plain(count):
    return [(b"m%d" % i, None) for i in range(count)]


def take(client, count):
    """The next count deliveries as (consumer_tag, body, redelivered)."""
    out = []
    for _ in range(count):
        _, deliver, _, body = client.read_message()
        assert isinstance(deliver, C.Basic.Deliver), deliver
        out.append((deliver.consumer_tag, body, deliver.redelivered))
    return out


def quiet(*clients, seconds=0.3):
    """Nothing arrives on these connections for a while."""
    for client in clients:
        with pytest.raises(TimeoutError):
            client.read_frame(timeout=seconds)


# ---- priority queues ---------------------------------------------------------------------

PRIORITIES = [None, 5, 0, 10, 11, 255, 3, None, 10, 1]  # of m0 .. m9


@pytest.mark.parametrize("how", ["get", "consume"])
def test_priority_order(lab, how):
    client, name = lab.connect(), lab.queue()
    declare(client, name, ("x-max-priority", "I", 10), exclusive=True)
    publish(client, name, *[(b"m%d" % i, p) for i, p in enumerate(PRIORITIES)])
    if how == "get":
        got = [client.basic_get(1, name)[1:] for _ in PRIORITIES]
        assert client.basic_get(1, name) is None
    else:
        consume(client, name, "c", no_ack=True)
        got = [client.read_message()[2:] for _ in PRIORITIES]
        got = [(content.properties, body) for content, body in got]
    order = [3, 4, 5, 8, 1, 6, 9, 0, 2, 7]
    assert [body for _, body in got] == [b"m%d" % i for i in order]
    # The property is delivered as published: only the queue's bucket is capped.
    assert [properties.priority for properties, _ in got] == [PRIORITIES[i] for i in order]


@pytest.mark.parametrize(
    "fields, priorities, order",
    [
        ([], [1, 5, None, 9], [0, 1, 2, 3]),
        ([("x-max-priority", "I", 0)], [1, 5, None, 9], [0, 1, 2, 3]),
        ([("x-max-priority", "I", 1)], [0, 1, 2, None, 5], [1, 2, 4, 0, 3]),
    ],
)
def test_few_or_no_priority_levels(lab, fields, priorities, order):
    client, name = lab.connect(), lab.queue()
    declare(client, name, *fields, exclusive=True)
    publish(client, name, *[(b"m%d" % i, p) for i, p in enumerate(priorities)])
    assert [client.basic_get(1, name)[2] for _ in order] == [b"m%d" % i for i in order]


def test_requeued_message_goes_ahead_of_its_level(lab):
    client, name = lab.connect(), lab.queue()
    declare(client, name, ("x-max-priority", "I", 10), exclusive=True)
    publish(client, name, (b"A", 5), (b"B", 1))
    get_ok, _, body = client.basic_get(1, name, no_ack=False)
    assert body == b"A"
    publish(client, name, (b"C", 5))
    client.send(1, C.Basic.Reject(delivery_tag=get_ok.delivery_tag, requeue=True))
    got = [client.basic_get(1, name) for _ in range(3)]
    assert [(m.redelivered, body) for m, _, body in got] == [(True, b"A"), (False, b"C"),
                                                             (False, b"B")]  # fmt: skip


# ---- consumer priorities -----------------------------------------------------------------


def test_highest_consumer_priority_takes_all(lab):
    a, b, c, pub, name = lab.connect(), lab.connect(), lab.connect(), lab.connect(), lab.queue()
    declare(a, name)
    consume(a, name, "p10", ("x-priority", "I", 10), no_ack=True)
    consume(b, name, "p5", ("x-priority", "I", 5), no_ack=True)
    consume(c, name, "none", no_ack=True)
    publish(pub, name, *plain(4))
    assert take(a, 4) == [("p10", b"m%d" % i, False) for i in range(4)]
    quiet(b, c)


def test_a_busy_consumer_leaves_the_rest_to_the_next_priority(lab):
    a, b, c, pub, name = lab.connect(), lab.connect(), lab.connect(), lab.connect(), lab.queue()
    declare(a, name)
    a.call_ok(1, C.Basic.Qos(prefetch_count=1), C.Basic.QosOk)
    consume(a, name, "p10", ("x-priority", "I", 10))
    consume(b, name, "p5", ("x-priority", "I", 5), no_ack=True)
    consume(c, name, "none", no_ack=True)
    publish(pub, name, *plain(4))
    assert take(a, 1) == [("p10", b"m0", False)]
    assert take(b, 3) == [("p5", b"m%d" % i, False) for i in (1, 2, 3)]
    quiet(a, c)


def test_negative_consumer_priority_is_below_none(lab):
    a, b, pub, name = lab.connect(), lab.connect(), lab.connect(), lab.queue()
    declare(a, name)
    consume(a, name, "minus5", ("x-priority", "I", -5), no_ack=True)
    consume(b, name, "none", no_ack=True)
    publish(pub, name, *plain(3))
    assert take(b, 3) == [("none", b"m%d" % i, False) for i in range(3)]
    quiet(a)


def test_explicit_zero_consumer_priority_shares_with_none(lab):
    a, b, pub, name = lab.connect(), lab.connect(), lab.connect(), lab.queue()
    declare(a, name)
    consume(a, name, "none", no_ack=True)
    consume(b, name, "zero", ("x-priority", "I", 0), no_ack=True)
    publish(pub, name, *plain(4))
    assert take(a, 2) == [("none", b"m0", False), ("none", b"m2", False)]
    assert take(b, 2) == [("zero", b"m1", False), ("zero", b"m3", False)]


# ---- single active consumer --------------------------------------------------------------


def test_single_active_consumer_hand_over(lab):
    a, b, c, pub, name = lab.connect(), lab.connect(), lab.connect(), lab.connect(), lab.queue()
    declare(a, name, SAC)
    consume(a, name, "c1")
    consume(b, name, "c2", ("x-priority", "I", 10))  # does not make it the active one
    consume(c, name, "c3")
    reply = declare(a, name, passive=True)
    assert (reply.message_count, reply.consumer_count) == (0, 3)
    publish(pub, name, (b"s0", None), (b"s1", None), (b"s2", None))
    assert take(a, 3) == [("c1", b"s%d" % i, False) for i in range(3)]
    quiet(b, c)
    # c1 acks one and goes: its two unacked messages stay with its channel.
    a.send(1, C.Basic.Ack(delivery_tag=1))
    a.call_ok(1, C.Basic.Cancel(consumer_tag="c1"), C.Basic.CancelOk)
    quiet(b, c)  # nothing moves, and the new active consumer is not told
    publish(pub, name, (b"new", None))
    assert take(b, 1) == [("c2", b"new", False)]  # the next one registered
    for tag in (2, 3):
        a.send(1, C.Basic.Reject(delivery_tag=tag, requeue=True))
    assert take(b, 2) == [("c2", b"s1", True), ("c2", b"s2", True)]
    # c2's connection goes with three unacked messages: c3 takes over.
    b.close_connection()
    assert take(c, 3) == [("c3", b"s1", True), ("c3", b"s2", True), ("c3", b"new", True)]
    publish(pub, name, (b"later", None))
    assert take(c, 1) == [("c3", b"later", False)]


def test_single_active_consumer_queue_without_consumers_serves_get(lab):
    client, name = lab.connect(), lab.queue()
    declare(client, name, SAC, exclusive=True)
    publish(client, name, (b"g1", None), (b"g2", None))
    get_ok, _, body = client.basic_get(1, name)
    assert (body, get_ok.message_count) == (b"g1", 1)


def test_single_active_consumer_queue_refuses_exclusive_consumers(lab):
    client, name = lab.connect(), lab.queue()
    declare(client, name, SAC, exclusive=True)
    text = f"ACCESS_REFUSED - queue '{name}' in vhost '/' in exclusive use"
    method = C.Basic.Consume(queue=name, exclusive=True)
    assert client.call_error(1, method) == (403, text, 60, 20)
