"""pytest plugin: start amqpd inside your own test suite.

Installing amqpd registers this plugin. A test that asks for ``amqpd_broker``
gets a broker on an ephemeral port of 127.0.0.1, shared by the test session:

    def test_publish(amqpd_broker):
        connection = pika.BlockingConnection(pika.URLParameters(amqpd_broker.url))
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator

import pytest

from amqpd.config import BrokerConfig
from amqpd.testing import BrokerThread


@pytest.fixture(scope="session")
def amqpd_broker() -> Iterator[BrokerThread]:
    """A broker shared by the whole test session, on an ephemeral port."""
    with tempfile.TemporaryDirectory(prefix="amqpd-") as data_dir:
        with BrokerThread(BrokerConfig(data_dir=data_dir)) as broker:
            yield broker
