"""Memory and disk alarms block publishers, as RabbitMQ's do."""

import tempfile

import pytest
import trio
from pamqp import commands

from amqpd.config import BrokerConfig
from amqpd.server.resources import ResourceMonitor
from amqpd.testing import BrokerThread
from conformance.helpers import count, wait_for
from conformance.rawclient import RawClient

CAPS = {"connection.blocked": True, "authentication_failure_close": True}


@pytest.fixture
def alarmed():
    """A broker whose memory watermark is already crossed (a few bytes)."""
    with tempfile.TemporaryDirectory() as data:
        config = BrokerConfig(
            data_dir=data, memory_high_watermark=1e-12, resource_check_interval=0.02
        )
        with BrokerThread(config) as broker:
            yield broker


def set_memory_limit(broker, limit):
    trio.from_thread.run_sync(
        lambda: setattr(broker._server.resources, "memory_limit", limit),
        trio_token=broker._token,
    )


def connect(broker, caps=CAPS):
    client = RawClient(broker.host, broker.port)
    client.handshake(capabilities=caps)
    client.open_channel(1)
    return client


def test_publisher_is_blocked_and_released_consumers_keep_going(alarmed):
    consumer = connect(alarmed)
    consumer.call(1, commands.Queue.Declare(queue="alarm-q"))
    publisher = connect(alarmed)
    publisher.publish(1, b"first", routing_key="alarm-q")
    _, blocked = publisher.expect(commands.Connection.Blocked)
    assert blocked.reason == "low on memory"
    publisher.publish(1, b"held", routing_key="alarm-q")
    # The broker reads nothing more from the publisher while the alarm is on...
    assert count(consumer, "alarm-q") == 1
    consumer.send(1, commands.Basic.Get(queue="alarm-q", no_ack=True))
    assert consumer.read_message()[3] == b"first"  # ...but consumers still drain.
    set_memory_limit(alarmed, 10**15)
    publisher.expect(commands.Connection.Unblocked)
    wait_for(lambda: count(consumer, "alarm-q") == 1, what="the held publish")
    consumer.close()
    publisher.close()


def test_client_without_the_capability_is_held_without_being_told(alarmed):
    watcher = connect(alarmed)
    watcher.call(1, commands.Queue.Declare(queue="alarm-quiet"))
    publisher = connect(alarmed, caps={"authentication_failure_close": True})
    publisher.publish(1, b"one", routing_key="alarm-quiet")
    wait_for(lambda: count(watcher, "alarm-quiet") == 1, what="the first publish")
    publisher.publish(1, b"two", routing_key="alarm-quiet")
    with pytest.raises(TimeoutError):
        publisher.read_frame(timeout=0.3)  # no connection.blocked for this client
    assert count(watcher, "alarm-quiet") == 1  # and "two" is not read
    set_memory_limit(alarmed, 10**15)
    wait_for(lambda: count(watcher, "alarm-quiet") == 2, what="the held publish")
    watcher.close()
    publisher.close()


def test_monitor_names_both_alarms(tmp_path):
    monitor = ResourceMonitor(10, 10**18, str(tmp_path), memory_used=lambda: 100)
    assert monitor.check() is True
    assert monitor.reason == "low on memory & disk"
    monitor.memory_limit = 1000
    monitor.disk_limit = 0
    assert monitor.check() is True and monitor.reason is None
    assert monitor.check() is False
