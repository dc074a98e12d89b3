"""The memory alarm follows what the broker holds, so it clears when the cause goes.

Memory freed by a purge mostly stays mapped, so resident memory alone would
keep publishers blocked until every message was gone. The monitor gives back
what the allocator allows and credits the message bytes the broker let go
(see amqpd/server/resources.py); resident memory that grows still counts.
"""

import tempfile

import pytest
import trio
from pamqp import commands

from amqpd.config import BrokerConfig
from amqpd.server.resources import ResourceMonitor, resident_memory
from amqpd.testing import BrokerThread
from conformance.helpers import count, wait_for
from conformance.rawclient import RawClient

MB = 1024 * 1024
CAPS = {"connection.blocked": True, "publisher_confirms": True}


class Memory:
    """A process whose RSS the test sets, and the bytes its broker holds."""

    def __init__(self, rss: int, held: int) -> None:
        self.rss, self.held = rss, held
        self.releases = 0

    def monitor(self, limit: int, tmp_path) -> ResourceMonitor:
        return ResourceMonitor(
            limit,
            0,
            str(tmp_path),
            memory_used=lambda: self.rss,
            memory_held=lambda: self.held,
            release_memory=self.release,
        )

    def release(self) -> None:
        self.releases += 1  # nothing given back: the worst case for the rule


def test_freed_messages_clear_the_alarm_though_rss_stays(tmp_path):
    memory = Memory(rss=1100 * MB, held=900 * MB)
    monitor = memory.monitor(1000 * MB, tmp_path)
    assert monitor.check() and monitor.reason == "low on memory"
    assert memory.releases == 1  # tried to give memory back first
    memory.held = 90 * MB  # 90% purged; RSS does not move
    assert monitor.check() and monitor.reason is None
    assert memory.releases == 2


def test_the_credit_is_spent_as_new_messages_reuse_the_memory(tmp_path):
    memory = Memory(rss=1100 * MB, held=900 * MB)
    monitor = memory.monitor(1000 * MB, tmp_path)
    monitor.check()
    memory.held = 90 * MB
    monitor.check()
    assert monitor.reason is None
    memory.held = 750 * MB  # published again, into the freed memory
    assert not monitor.check()
    memory.held = 850 * MB  # held again within 100 MB of before: over the line
    assert monitor.check() and monitor.reason == "low on memory"


def test_rss_that_grows_counts_in_full(tmp_path):
    memory = Memory(rss=1100 * MB, held=900 * MB)
    monitor = memory.monitor(1000 * MB, tmp_path)
    monitor.check()
    memory.held = 0
    monitor.check()
    assert monitor.reason is None
    memory.rss = 2100 * MB  # growing by something other than messages
    assert monitor.check() and monitor.reason == "low on memory"


def test_rss_below_the_watermark_ends_the_credit(tmp_path):
    memory = Memory(rss=1100 * MB, held=900 * MB)
    monitor = memory.monitor(1000 * MB, tmp_path)
    monitor.check()
    memory.rss, memory.held = 500 * MB, 0
    assert monitor.check() and monitor.reason is None
    memory.rss, memory.held = 1100 * MB, 0  # over again, and nothing was let go
    assert monitor.check() and monitor.reason == "low on memory"


# ---- through the broker ------------------------------------------------------------


@pytest.fixture
def running_broker():
    with tempfile.TemporaryDirectory() as data:
        config = BrokerConfig(data_dir=data, store="memory", resource_check_interval=0.05)
        with BrokerThread(config) as running:
            yield running


def set_memory_limit(broker, limit: int) -> None:
    trio.from_thread.run_sync(
        lambda: setattr(broker._server.resources, "memory_limit", limit),
        trio_token=broker._token,
    )


def connect(broker) -> RawClient:
    client = RawClient(broker.host, broker.port, timeout=30)
    client.handshake(capabilities=CAPS)
    client.open_channel(1)
    return client


def fill(client, queues: list[str], messages: int, size: int) -> None:
    """Publish in confirm mode, spread over the queues in turn, and wait for the acks."""
    client.call_ok(1, commands.Confirm.Select(), commands.Confirm.SelectOk)
    body = b"m" * size
    for n in range(messages):
        client.publish(1, body, routing_key=queues[n % len(queues)])
    acked = 0
    while acked < messages:
        _, ack = client.expect(commands.Basic.Ack)
        acked = ack.delivery_tag


def test_purging_most_of_a_backlog_unblocks_publishers(running_broker):
    set_memory_limit(running_broker, 10**15)
    with connect(running_broker) as publisher, connect(running_broker) as admin:
        # Nine messages of ten to "most", one to "rest", interleaved in memory.
        queues = ["most"] * 9 + ["rest"]
        for name in ("most", "rest"):
            admin.call_ok(1, commands.Queue.Declare(queue=name), commands.Queue.DeclareOk)
        fill(publisher, queues, 3000, 100_000)  # ~300 MB
        assert count(admin, "most") == 2700
        set_memory_limit(running_broker, resident_memory() - 100 * MB)
        _, blocked = publisher.expect(commands.Connection.Blocked)
        assert blocked.reason == "low on memory"
        admin.call_ok(1, commands.Queue.Purge(queue="most"), commands.Queue.PurgeOk)
        publisher.expect(commands.Connection.Unblocked, timeout=10)
        publisher.publish(1, b"after", routing_key="rest")
        wait_for(lambda: count(admin, "rest") == 301, what="the publish after the alarm")
