"""Publisher confirms and transactions."""

import pytest
from pamqp import commands

from conformance.helpers import acked, count


def test_confirm_select_and_sequence_numbers_from_one(ch):
    assert isinstance(ch.call(1, commands.Confirm.Select()), commands.Confirm.SelectOk)
    for i in range(5):
        ch.publish(1, b"m%d" % i, routing_key=ch.queue)
    acked(ch, 5)


def test_confirm_select_twice_and_nowait(ch):
    ch.send(1, commands.Confirm.Select(nowait=True))
    assert isinstance(ch.call(1, commands.Confirm.Select()), commands.Confirm.SelectOk)
    ch.publish(1, b"x", routing_key=ch.queue)
    _, ack = ch.expect(commands.Basic.Ack)
    assert ack.delivery_tag == 1


def test_unroutable_messages_are_acked_and_returns_come_first(ch):
    ch.call(1, commands.Confirm.Select())
    ch.publish(1, b"lost", exchange="amq.direct", routing_key="nowhere")
    acked(ch, 1)
    ch.publish(1, b"returned", exchange="amq.direct", routing_key="nowhere", mandatory=True)
    _, ret, _, body = ch.read_message()
    assert isinstance(ret, commands.Basic.Return) and body == b"returned"
    _, ack = ch.expect(commands.Basic.Ack)
    assert ack.delivery_tag == 2


def test_publish_to_a_missing_exchange_closes_the_channel_without_a_confirm(ch):
    ch.call(1, commands.Confirm.Select())
    ch.publish(1, b"x", exchange="conf-no-such-exchange")
    _, close = ch.expect(commands.Channel.Close)
    assert close.reply_code == 404


def test_confirm_then_tx_is_refused(ch):
    ch.call(1, commands.Confirm.Select())
    ch.send(1, commands.Tx.Select())
    close = ch.expect_channel_close(1)
    assert (close.reply_code, close.reply_text, close.class_id, close.method_id) == (
        406,
        "PRECONDITION_FAILED - cannot switch from confirm to tx mode",
        90,
        10,
    )


def test_tx_then_confirm_is_refused(ch):
    ch.call(1, commands.Tx.Select())
    ch.send(1, commands.Confirm.Select())
    close = ch.expect_channel_close(1)
    assert (close.reply_code, close.reply_text, close.class_id, close.method_id) == (
        406,
        "PRECONDITION_FAILED - cannot switch from tx to confirm mode",
        85,
        10,
    )


@pytest.mark.parametrize(
    "method, ids", [(commands.Tx.Commit(), (90, 20)), (commands.Tx.Rollback(), (90, 30))]
)
def test_commit_or_rollback_without_select(ch, method, ids):
    ch.send(1, method)
    close = ch.expect_channel_close(1)
    assert (close.reply_code, close.reply_text, close.class_id, close.method_id) == (
        406,
        "PRECONDITION_FAILED - channel is not transactional",
        *ids,
    )


def test_transaction_publishes_land_at_commit_and_returns_precede_commit_ok(ch):
    ch.call(1, commands.Tx.Select())
    ch.publish(1, b"a", routing_key=ch.queue)
    ch.publish(1, b"lost", exchange="amq.direct", routing_key="nowhere", mandatory=True)
    assert count(ch, ch.queue) == 0
    ch.send(1, commands.Tx.Commit())
    _, ret, _, _ = ch.read_message()
    assert isinstance(ret, commands.Basic.Return)
    ch.expect(commands.Tx.CommitOk)
    assert count(ch, ch.queue) == 1


def test_transaction_rollback_drops_publishes_and_keeps_acks_undone(ch):
    ch.publish(1, b"kept", routing_key=ch.queue)
    ch.call(1, commands.Tx.Select())
    ch.send(1, commands.Basic.Get(queue=ch.queue))
    _, ok, _, _ = ch.read_message()
    ch.send(1, commands.Basic.Ack(delivery_tag=ok.delivery_tag))
    ch.publish(1, b"dropped", routing_key=ch.queue)
    assert isinstance(ch.call(1, commands.Tx.Rollback()), commands.Tx.RollbackOk)
    assert count(ch, ch.queue) == 0
    # The rolled-back ack left the message unacked: recovering requeues it.
    ch.call(1, commands.Basic.Recover(requeue=True))
    assert count(ch, ch.queue) == 1


def test_transaction_publish_to_missing_exchange_fails_at_once(ch):
    ch.call(1, commands.Tx.Select())
    ch.publish(1, b"x", exchange="conf-no-such-exchange")
    close = ch.expect_channel_close(1)
    assert (close.reply_code, close.class_id, close.method_id) == (404, 60, 40)
