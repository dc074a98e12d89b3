"""The x-delayed-message exchange (RabbitMQ's delayed-message plugin).

A broker without the plugin refuses the exchange type; these tests then skip
and say so. amqpd has it built in.
"""

import time

import pytest
from pamqp import commands

from conformance.helpers import count, unique, wait_for
from conformance.rawclient import Closed


@pytest.fixture
def delayed(opened):
    """Channel 1 with a delayed direct exchange bound to an exclusive queue."""
    opened.open_channel(1)
    exchange = unique("delayed")
    opened.send(
        1,
        commands.Exchange.Declare(
            exchange=exchange,
            exchange_type="x-delayed-message",
            auto_delete=True,
            arguments={"x-delayed-type": "direct"},
        ),
    )
    try:
        _, reply = opened.read_frame()
    except Closed:
        reply = None
    if isinstance(reply, commands.Connection.Close) or reply is None:
        pytest.skip("broker has no delayed-message exchange (plugin absent)")
    assert isinstance(reply, commands.Exchange.DeclareOk)
    opened.queue = unique("q")
    opened.call(1, commands.Queue.Declare(queue=opened.queue, exclusive=True))
    opened.call(1, commands.Queue.Bind(queue=opened.queue, exchange=exchange, routing_key="k"))
    opened.exchange = exchange
    return opened


def publish(client, body, delay=None):
    headers = None if delay is None else {"x-delay": delay}
    client.publish(
        1,
        body,
        exchange=client.exchange,
        routing_key="k",
        properties=commands.Basic.Properties(headers=headers),
    )


def test_message_waits_for_its_delay(delayed):
    published = time.monotonic()
    publish(delayed, b"later", delay=400)
    assert count(delayed, delayed.queue) == 0
    wait_for(lambda: count(delayed, delayed.queue) == 1, what="the delayed message")
    assert time.monotonic() - published >= 0.4


@pytest.mark.parametrize("delay", [None, 0, -5])
def test_no_positive_delay_routes_at_once(delayed, delay):
    publish(delayed, b"now", delay=delay)
    assert count(delayed, delayed.queue) == 1


def test_delayed_messages_keep_their_order_by_due_time(delayed):
    publish(delayed, b"second", delay=300)
    publish(delayed, b"first", delay=100)
    wait_for(lambda: count(delayed, delayed.queue) == 2, what="both delayed messages")
    bodies = []
    for _ in range(2):
        delayed.send(1, commands.Basic.Get(queue=delayed.queue, no_ack=True))
        bodies.append(delayed.read_message()[3])
    assert bodies == [b"first", b"second"]
