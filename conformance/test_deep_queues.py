"""Deep queues of every kind: order, priorities and length limits with 5,000 messages.

Deep enough that amqpd keeps most of each queue only on disk (past a window of
2,048 ready messages, or 256 per priority of a priority queue) while RabbitMQ
does what it does; what a client sees must not differ: a transient queue's
order, a priority queue's order (highest first, FIFO within a priority,
requeued messages first among their priority), and length limits that count
every message and drop (dead-lettering) the oldest.
"""

import pytest
from pamqp import commands as C

from conformance.helpers import (
    confirming,
    confirms,
    consume,
    count,
    declare,
    dlx,
    publish_confirmed,
    wait_for,
)

DEEP = 5000


def numbered(total, first=0, size=0, **props):
    """(body, properties) pairs numbered from ``first``, padded to ``size`` bytes."""
    properties = C.Basic.Properties(**props) if props else None
    return [((b"%06d" % n).ljust(size, b"."), properties) for n in range(first, first + total)]


def prioritised(total, levels):
    """Numbered messages with priority n % levels."""
    return [(b"%06d" % n, C.Basic.Properties(priority=n % levels)) for n in range(total)]


def in_priority_order(total, levels):
    return sorted(range(total), key=lambda n: (-(n % levels), n))


def consume_numbers(client, queue, total):
    """Consume ``total`` messages without acks: their numbers, in delivery order."""
    consume(client, queue, "deep", no_ack=True)
    numbers = []
    for _ in range(total):
        _, deliver, _, body = client.read_message()
        assert isinstance(deliver, C.Basic.Deliver), deliver
        numbers.append(int(body[:6]))
    client.call_ok(1, C.Basic.Cancel(consumer_tag="deep"), C.Basic.CancelOk)
    return numbers


def get_numbers(client, queue, total=None):
    """basic.get (no ack) until empty, or ``total`` times: (number, redelivered) pairs."""
    got = []
    while total is None or len(got) < total:
        reply = client.basic_get(1, queue)
        if reply is None:
            break
        got.append((int(reply[2][:6]), reply[0].redelivered))
    return got


@pytest.mark.parametrize("flags", [{}, {"auto_delete": True}, {"exclusive": True}])
def test_a_deep_transient_queue_keeps_its_order(lab, flags):
    client, name = confirming(lab), lab.queue()
    declare(client, name, **flags)
    publish_confirmed(client, name, *numbered(DEEP // 2))
    publish_confirmed(client, name, *numbered(DEEP // 2, DEEP // 2, delivery_mode=2))
    assert count(client, name) == DEEP
    half = [n for n, _redelivered in get_numbers(client, name, DEEP // 2)]
    assert half + consume_numbers(client, name, DEEP - DEEP // 2) == list(range(DEEP))


@pytest.mark.parametrize("durable", [False, True])
def test_a_deep_priority_queue_serves_the_highest_priority_first(lab, durable):
    client, name = confirming(lab), lab.queue()
    declare(client, name, ("x-max-priority", "b", 10), durable=durable)
    publish_confirmed(client, name, *prioritised(DEEP, 11))
    assert count(client, name) == DEEP
    assert consume_numbers(client, name, DEEP) == in_priority_order(DEEP, 11)


def test_a_high_priority_message_overtakes_a_deep_low_priority_backlog(lab):
    client, name = confirming(lab), lab.queue()
    declare(client, name, ("x-max-priority", "b", 10))
    low = [(body, C.Basic.Properties(priority=n % 3)) for n, (body, _p) in
           enumerate(numbered(DEEP))]  # fmt: skip
    publish_confirmed(client, name, *low)
    publish_confirmed(client, name, *numbered(1, DEEP, priority=7))
    got = [n for n, _redelivered in get_numbers(client, name, 3)]
    assert got == [DEEP, *in_priority_order(DEEP, 3)[:2]]


def test_requeued_messages_of_a_deep_priority_queue_go_first_among_their_priority(lab):
    client, name = confirming(lab), lab.queue()
    declare(client, name, ("x-max-priority", "b", 3))
    publish_confirmed(client, name, *prioritised(DEEP, 4))
    taken = []
    for _ in range(1500):  # the first 1,250 of priority 3 and 250 of priority 2, unacked
        reply = client.basic_get(1, name, no_ack=False)
        taken.append(int(reply[2][:6]))
    client.send(1, C.Basic.Nack(delivery_tag=1500, multiple=True, requeue=True))
    expected = in_priority_order(DEEP, 4)
    assert taken == expected[:1500]
    got = get_numbers(client, name)
    assert [n for n, _r in got] == expected
    assert [r for _n, r in got] == [True] * 1500 + [False] * (DEEP - 1500)


def test_purging_a_deep_priority_queue(lab):
    client, name = confirming(lab), lab.queue()
    declare(client, name, ("x-max-priority", "b", 5))
    publish_confirmed(client, name, *prioritised(DEEP, 6))
    ok = client.call_ok(1, C.Queue.Purge(queue=name), C.Queue.PurgeOk)
    assert ok.message_count == DEEP
    publish_confirmed(client, name, *prioritised(3, 6))
    assert [n for n, _r in get_numbers(client, name)] == [2, 1, 0]


@pytest.mark.parametrize("durable", [False, True])
def test_drop_head_over_a_deep_length_limit_dead_letters_the_oldest(lab, durable):
    client, name, dlq = confirming(lab), lab.queue(), lab.queue("dlq")
    declare(client, dlq)
    declare(client, name, ("x-max-length", "I", 3000), *dlx("", dlq), durable=durable)
    publish_confirmed(client, name, *numbered(DEEP, delivery_mode=2))
    assert count(client, name) == 3000
    wait_for(lambda: count(client, dlq) == DEEP - 3000, what="the dropped heads dead-lettered")
    assert [n for n, _r in get_numbers(client, dlq)] == list(range(DEEP - 3000))
    assert [n for n, _r in get_numbers(client, name)] == list(range(DEEP - 3000, DEEP))


def test_a_deep_byte_limit_counts_every_message(lab):
    client, name = confirming(lab), lab.queue()
    declare(client, name, ("x-max-length-bytes", "I", 3000 * 100))
    publish_confirmed(client, name, *numbered(DEEP, size=100))
    wait_for(lambda: count(client, name) == 3000, what="the byte limit to hold")
    assert [n for n, _r in get_numbers(client, name)] == list(range(DEEP - 3000, DEEP))


@pytest.mark.parametrize("overflow", ["reject-publish", "reject-publish-dlx"])
def test_reject_publish_at_a_deep_length_limit(lab, overflow):
    client, name, dlq = confirming(lab), lab.queue(), lab.queue("dlq")
    declare(client, dlq)
    declare(client, name, ("x-max-length", "I", 4000), ("x-overflow", "S", overflow),
            *dlx("", dlq))  # fmt: skip
    for body, properties in numbered(DEEP):
        client.publish(1, body, routing_key=name, properties=properties)
    outcome = confirms(client, DEEP)
    assert [tag for tag, kind in outcome.items() if kind == "nack"] == list(range(4001, DEEP + 1))
    assert count(client, name) == 4000
    dead = DEEP - 4000 if overflow == "reject-publish-dlx" else 0
    wait_for(lambda: count(client, dlq) == dead, what="the refused messages dead-lettered")
    assert [n for n, _r in get_numbers(client, name)] == list(range(4000))
