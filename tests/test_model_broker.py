"""The broker model with fake sessions: no wire, no sockets."""

import pytest
from pamqp import commands

from amqpd.errors import AMQPConnectionError, ChannelError
from amqpd.model.broker import Broker
from amqpd.model.confirms import ConfirmReply, Confirms
from tests.model_world import FakeSession, send


@pytest.fixture
def model():
    return Broker()


@pytest.fixture
def client(model):
    session = FakeSession(model)
    session.open(1)
    session.do(1, commands.Queue.Declare(queue="q"))
    session.take()
    return session


def publish(client, *bodies, channel=1, key="q"):
    for body in bodies:
        send(client, body, key=key, channel=channel, content_type="text/plain")


def test_round_robin_between_consumers(client):
    client.do(1, commands.Basic.Consume(queue="q", consumer_tag="a", no_ack=True))
    client.do(1, commands.Basic.Consume(queue="q", consumer_tag="b", no_ack=True))
    client.take()
    publish(client, *[str(i).encode() for i in range(6)])
    tags = [m.consumer_tag for _, m, _ in client.take(commands.Basic.Deliver)]
    assert tags == ["a", "b", "a", "b", "a", "b"]


def test_requeued_messages_return_ahead_in_original_order(client):
    publish(client, b"1", b"2", b"3", b"4")
    tags = []
    for _ in range(3):
        client.do(1, commands.Basic.Get(queue="q"))
        tags.append(client.take(commands.Basic.GetOk)[0][1].delivery_tag)
    client.do(1, commands.Basic.Nack(delivery_tag=tags[2], requeue=True))
    client.do(1, commands.Basic.Nack(delivery_tag=tags[0], requeue=True))
    got = []
    for _ in range(3):
        client.do(1, commands.Basic.Get(queue="q", no_ack=True))
        ((_, ok, body),) = client.take(commands.Basic.GetOk)
        got.append((body, ok.redelivered))
    assert got == [(b"1", True), (b"3", True), (b"4", False)]


def test_prefetch_per_consumer_and_global(client):
    # In this order both limits hold (a later global=false would clear the global one).
    client.do(1, commands.Basic.Qos(prefetch_count=2, global_=False))
    client.do(1, commands.Basic.Qos(prefetch_count=3, global_=True))
    client.do(1, commands.Basic.Consume(queue="q", consumer_tag="a"))
    client.do(1, commands.Basic.Consume(queue="q", consumer_tag="b"))
    client.take()
    publish(client, *[b"m"] * 10)
    delivered = client.take(commands.Basic.Deliver)
    # Each consumer may hold 2, the channel 3 in all.
    assert len(delivered) == 3
    client.do(1, commands.Basic.Ack(delivery_tag=delivered[0][1].delivery_tag))
    assert len(client.take(commands.Basic.Deliver)) == 1


def test_prefetch_zero_is_unlimited(client):
    client.do(1, commands.Basic.Consume(queue="q", consumer_tag="a"))
    client.take()
    publish(client, *[b"m"] * 50)
    assert len(client.take(commands.Basic.Deliver)) == 50


def test_unacked_messages_requeue_when_the_channel_closes(model, client):
    client.do(1, commands.Basic.Consume(queue="q", consumer_tag="a"))
    publish(client, b"1", b"2")
    client.take()
    model.channel_closed(client, 1)
    client.open(2)
    client.do(2, commands.Basic.Get(queue="q", no_ack=True))
    ((_, ok, body),) = client.take(commands.Basic.GetOk)
    assert body == b"1" and ok.redelivered and ok.message_count == 1


def test_unknown_delivery_tag(client):
    with pytest.raises(ChannelError) as err:
        client.do(1, commands.Basic.Ack(delivery_tag=7))
    assert err.value.reply_text == "PRECONDITION_FAILED - unknown delivery tag 7"
    assert (err.value.class_id, err.value.method_id) == (60, 80)


def test_ack_multiple_zero_acks_everything(client):
    publish(client, b"1", b"2", b"3")
    client.do(1, commands.Basic.Consume(queue="q", consumer_tag="a"))
    client.take()
    client.do(1, commands.Basic.Ack(delivery_tag=0, multiple=True))
    assert client.broker.sessions[client].channels[1].unacked == {}


def test_confirms_are_coalesced_and_follow_returns(client):
    client.do(1, commands.Confirm.Select())
    client.take()
    # One batch of frames: the confirms are flushed once, after it.
    send(client, b"1", flush=False)
    send(client, b"2", key="nowhere", mandatory=True, flush=False)
    send(client, b"3", flush=False)
    client.broker.flush()
    sent = [type(m).__name__ for _, m, _ in client.take()]
    assert sent == ["Return", "Ack"]
    assert client.sent == []


def test_confirm_multiple_only_below_the_oldest_unsettled():
    confirms = Confirms()
    seqs = [confirms.publish() for _ in range(5)]
    for seq in (1, 2, 4):
        confirms.resolve(seq)
    assert confirms.flush() == [ConfirmReply(True, 2, True), ConfirmReply(True, 4, False)]
    confirms.resolve(3)
    confirms.resolve(5)
    assert confirms.flush() == [ConfirmReply(True, 5, True)]
    assert seqs == [1, 2, 3, 4, 5]


def test_deleting_a_queue_cancels_its_consumers(model, client):
    other = FakeSession(model)
    other.open(1)
    other.do(1, commands.Basic.Consume(queue="q", consumer_tag="c1"))
    other.take()
    client.do(1, commands.Queue.Delete(queue="q"))
    ((channel, cancel, _),) = other.take(commands.Basic.Cancel)
    assert channel == 1 and cancel.consumer_tag == "c1"


def test_exclusive_queue_goes_with_its_connection(model):
    owner = FakeSession(model)
    owner.open(1)
    owner.do(1, commands.Queue.Declare(queue="mine", exclusive=True))
    other = FakeSession(model)
    other.open(1)
    with pytest.raises(ChannelError) as err:
        other.do(1, commands.Queue.Declare(queue="mine", passive=True))
    assert err.value.code == 405
    model.connection_closed(owner)
    assert "mine" not in model.vhosts["/"].queues


def test_auto_delete_queue_goes_after_its_last_consumer(client):
    client.do(1, commands.Queue.Declare(queue="auto", auto_delete=True))
    client.do(1, commands.Basic.Consume(queue="auto", consumer_tag="a"))
    client.do(1, commands.Basic.Cancel(consumer_tag="a"))
    assert "auto" not in client.broker.vhosts["/"].queues


def test_slow_session_gets_no_deliveries_until_writable(model, client):
    client.do(1, commands.Basic.Consume(queue="q", consumer_tag="a", no_ack=True))
    client.take()
    client.writable = False
    publish(client, b"1", b"2")
    assert client.take(commands.Basic.Deliver) == []
    client.writable = True
    model.writable_again(client)
    assert len(client.take(commands.Basic.Deliver)) == 2


def test_immediate_is_not_implemented(client):
    with pytest.raises(AMQPConnectionError) as err:
        client.do(1, commands.Basic.Publish(routing_key="q", immediate=True), b"x")
    assert err.value.reply_text == "NOT_IMPLEMENTED - immediate=true"


def test_per_consumer_qos_clears_the_channel_limit_as_in_rabbitmq_3_10(client):
    client.do(1, commands.Basic.Qos(prefetch_count=3, global_=True))
    client.do(1, commands.Basic.Qos(prefetch_count=2, global_=False))
    client.do(1, commands.Basic.Consume(queue="q", consumer_tag="a"))
    client.do(1, commands.Basic.Consume(queue="q", consumer_tag="b"))
    client.take()
    publish(client, *[b"m"] * 10)
    assert len(client.take(commands.Basic.Deliver)) == 4


def test_transaction_publishes_and_acks_only_at_commit(client):
    publish(client, b"old")
    client.do(1, commands.Tx.Select())
    client.do(1, commands.Basic.Get(queue="q"))
    ((_, ok, _),) = client.take(commands.Basic.GetOk)
    client.do(1, commands.Basic.Ack(delivery_tag=ok.delivery_tag))
    publish(client, b"new")
    client.do(1, commands.Basic.Publish(routing_key="nowhere", mandatory=True), b"lost")
    assert client.broker.vhosts["/"].queues["q"].message_count == 0
    assert client.take(commands.Basic.Return) == []
    client.do(1, commands.Tx.Rollback())
    assert client.broker.sessions[client].channels[1].unacked  # the ack was rolled back
    publish(client, b"new")
    client.do(1, commands.Basic.Ack(delivery_tag=ok.delivery_tag))
    client.do(1, commands.Basic.Publish(routing_key="nowhere", mandatory=True), b"lost")
    client.take()
    client.do(1, commands.Tx.Commit())
    sent = [type(m).__name__ for _, m, _ in client.take()]
    assert sent == ["Return", "CommitOk"]
    assert client.broker.vhosts["/"].queues["q"].message_count == 1
    assert client.broker.sessions[client].channels[1].unacked == {}


def test_confirm_and_tx_modes_exclude_each_other(client):
    client.do(1, commands.Tx.Select())
    with pytest.raises(ChannelError) as err:
        client.do(1, commands.Confirm.Select())
    assert err.value.reply_text == "PRECONDITION_FAILED - cannot switch from tx to confirm mode"
