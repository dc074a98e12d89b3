"""The consumer timeout through the whole server, with a short configured timeout."""

import tempfile

import pytest
from pamqp import commands

from amqpd.config import BrokerConfig
from amqpd.testing import BrokerThread
from conformance.rawclient import RawClient


@pytest.fixture(scope="module")
def quick_broker():
    with tempfile.TemporaryDirectory() as data:
        with BrokerThread(BrokerConfig(data_dir=data, consumer_timeout=300)) as broker:
            yield broker


def test_unacked_delivery_past_the_timeout_closes_the_channel_and_requeues(quick_broker):
    with RawClient(quick_broker.host, quick_broker.port) as client:
        client.handshake()
        client.open_channel(1)
        client.call(1, commands.Queue.Declare(queue="slow", exclusive=True))
        client.publish(1, b"job", routing_key="slow")
        client.send(1, commands.Basic.Consume(queue="slow", consumer_tag="c"))
        client.expect(commands.Basic.ConsumeOk)
        _, deliver, _, body = client.read_message()
        assert body == b"job"
        close = client.expect_channel_close(1, timeout=5)
        assert (close.reply_code, close.class_id, close.method_id) == (406, 0, 0)
        assert close.reply_text.startswith(
            "PRECONDITION_FAILED - delivery acknowledgement on channel 1 timed out. "
            "Timeout value used: 300 ms."
        )
        client.send(1, commands.Channel.CloseOk())
        client.open_channel(2)
        client.send(2, commands.Basic.Get(queue="slow", no_ack=True))
        _, ok, _, body = client.read_message()
        assert body == b"job" and ok.redelivered
