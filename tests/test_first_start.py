"""What a first start creates (the default user, vhost and permission) reaches
the disk at once, not with whatever durable change happens to come next."""

from __future__ import annotations

import time

from amqpd.config import BrokerConfig
from amqpd.testing import BrokerThread


def test_the_first_start_records_are_written_without_waiting_for_a_client(tmp_path):
    with BrokerThread(BrokerConfig(data_dir=str(tmp_path / "data"))) as broker:
        journal = broker._server.broker.journal
        deadline = time.monotonic() + 10
        while journal.pending or journal.written == 0:
            assert time.monotonic() < deadline, "the first start's records were never written"
            time.sleep(0.02)
