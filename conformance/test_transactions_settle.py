"""Acks, rejects and nacks inside transactions, as RabbitMQ 3.10.8 settles them.

Settlements wait for tx.commit; a rollback leaves the messages unacked; closing
the channel before the commit requeues what it held, even what it rejected.
Channel 1 watches the queues; channel 2 is the transactional one.
"""

import time

import pytest
from pamqp import commands as C

from conformance import typed
from conformance.helpers import count, declare, dlx, publish, wait_for, wait_get

TX = 2


@pytest.fixture
def tx(lab):
    """Channel 2 in tx mode; tx.queue dead-letters to tx.dlq; tx.fill(n) puts
    n messages m0.. in tx.queue."""
    client = lab.connect(channels=(1, TX))
    client.queue, client.dlq = lab.queue("q"), lab.queue("dlq")
    declare(client, client.dlq)
    declare(client, client.queue, *dlx("", client.dlq))
    client.call_ok(TX, C.Tx.Select(), C.Tx.SelectOk)

    def fill(n):
        publish(client, client.queue, *[b"m%d" % i for i in range(n)])
        wait_for(lambda: count(client, client.queue) == n)

    client.fill = fill
    return client


def take(client, n):
    """Fetch n messages on the tx channel without acking; their delivery tags."""
    return [
        wait_get(client, client.queue, no_ack=False, channel=TX)[0].delivery_tag for _ in range(n)
    ]


def close_tx_channel(client):
    client.call_ok(TX, C.Channel.Close(200, "bye", 0, 0), C.Channel.CloseOk)


def counts(client):
    return count(client, client.queue), count(client, client.dlq)


def stays(client, expected):
    """The (queue, dead-letter queue) ready counts are, and stay, as expected."""
    time.sleep(0.3)
    assert counts(client) == expected


def redelivered(client, n):
    got = [wait_get(client, client.queue) for _ in range(n)]
    return [(method.redelivered, body) for method, _, body in got]


@pytest.mark.parametrize("source", ["get", "consume"])
def test_uncommitted_acks_are_undone_when_the_channel_closes(tx, source):
    tx.fill(2)
    if source == "get":
        tags = take(tx, 2)
    else:
        tx.call_ok(TX, C.Basic.Consume(queue=tx.queue, consumer_tag="c"), C.Basic.ConsumeOk)
        tags = [tx.read_message()[1].delivery_tag for _ in range(2)]
    tx.send(TX, C.Basic.Ack(delivery_tag=tags[-1], multiple=True))
    close_tx_channel(tx)
    wait_for(lambda: counts(tx) == (2, 0))
    assert redelivered(tx, 2) == [(True, b"m0"), (True, b"m1")]


def test_a_rolled_back_ack_leaves_the_message_unacked(tx):
    tx.fill(2)
    [tag] = take(tx, 1)
    tx.send(TX, C.Basic.Ack(delivery_tag=tag))
    tx.call_ok(TX, C.Tx.Rollback(), C.Tx.RollbackOk)
    assert counts(tx) == (1, 0)
    tx.send(TX, C.Basic.Ack(delivery_tag=tag))  # still unacked: the tag is known
    tx.call_ok(TX, C.Tx.Commit(), C.Tx.CommitOk)
    close_tx_channel(tx)
    stays(tx, (1, 0))  # acked, not requeued
    assert typed.get(tx, 1, tx.queue)[2] == b"m1"


def test_requeue_waits_for_commit(tx):
    tx.fill(1)
    [tag] = take(tx, 1)
    tx.send(TX, C.Basic.Reject(delivery_tag=tag, requeue=True))
    stays(tx, (0, 0))
    tx.call_ok(TX, C.Tx.Commit(), C.Tx.CommitOk)
    wait_for(lambda: counts(tx) == (1, 0))
    assert redelivered(tx, 1) == [(True, b"m0")]


def test_dead_lettering_waits_for_commit(tx):
    tx.fill(1)
    [tag] = take(tx, 1)
    tx.send(TX, C.Basic.Reject(delivery_tag=tag, requeue=False))
    stays(tx, (0, 0))
    tx.call_ok(TX, C.Tx.Commit(), C.Tx.CommitOk)
    wait_for(lambda: counts(tx) == (0, 1))


@pytest.mark.parametrize("how", ["reject", "nack-then-rollback"])
def test_uncommitted_rejects_are_requeued_when_the_channel_closes(tx, how):
    n = 1 if how == "reject" else 2
    tx.fill(n)
    tags = take(tx, n)
    if how == "reject":
        tx.send(TX, C.Basic.Reject(delivery_tag=tags[0], requeue=False))
    else:
        tx.send(TX, C.Basic.Nack(delivery_tag=tags[-1], multiple=True, requeue=False))
        tx.call_ok(TX, C.Tx.Rollback(), C.Tx.RollbackOk)
    close_tx_channel(tx)
    wait_for(lambda: counts(tx) == (n, 0))
    stays(tx, (n, 0))  # nothing dead-lettered


@pytest.mark.parametrize(
    "method, method_id",
    [(C.Basic.Ack(delivery_tag=99), 80), (C.Basic.Reject(delivery_tag=99, requeue=False), 90)],
)
def test_an_unknown_tag_fails_at_once(tx, method, method_id):
    tx.send(TX, method)
    text = "PRECONDITION_FAILED - unknown delivery tag 99"
    assert tx.expect_channel_error(TX) == (406, text, 60, method_id)


def test_acking_a_tag_twice_in_one_transaction(tx):
    tx.fill(1)
    [tag] = take(tx, 1)
    assert tag == 1
    tx.send(TX, C.Basic.Ack(delivery_tag=tag))
    tx.send(TX, C.Basic.Ack(delivery_tag=tag))
    text = "PRECONDITION_FAILED - unknown delivery tag 1"
    assert tx.expect_channel_error(TX) == (406, text, 60, 80)


def test_uncommitted_publishes_are_discarded_when_the_channel_closes(tx):
    publish(tx, tx.queue, b"never", channel=TX)
    close_tx_channel(tx)
    stays(tx, (0, 0))


def test_tx_select_twice(tx):
    tx.call_ok(TX, C.Tx.Select(), C.Tx.SelectOk)


def test_a_refused_publish_fails_the_commit(tx, lab):
    queue = lab.queue("limited")
    declare(tx, queue, ("x-max-length", "I", 1), ("x-overflow", "S", "reject-publish"))
    publish(tx, queue, b"in", b"refused", channel=TX)
    tx.send(TX, C.Tx.Commit())
    text = "PRECONDITION_FAILED - partial tx completion"
    assert tx.expect_channel_error(TX) == (406, text, 90, 20)
    assert wait_get(tx, queue)[2] == b"in"
