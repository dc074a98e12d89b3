"""The management API's wait for the disk returns when there is nothing to write."""

from __future__ import annotations

import tempfile

import trio

from amqpd.config import BrokerConfig
from amqpd.testing import BrokerThread


def test_waiting_for_the_disk_with_nothing_pending_returns_at_once():
    with tempfile.TemporaryDirectory(prefix="amqpd-") as data_dir:
        with BrokerThread(BrokerConfig(data_dir=data_dir)) as broker:
            management = broker._server.management

            async def wait_twice() -> None:
                with trio.fail_after(5):
                    await management.written()  # whatever start-up left pending
                    assert not broker._server.broker.journal.pending
                    await management.written()  # nothing pending now

            trio.from_thread.run(wait_twice, trio_token=broker._token)
