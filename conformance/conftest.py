import pytest

from conformance.rawclient import RawClient


@pytest.fixture
def raw(broker):
    """A raw socket client connected to the broker under test."""
    client = RawClient(broker.host, broker.port)
    yield client
    client.close()


@pytest.fixture
def opened(raw, broker):
    """A raw client past the handshake, heartbeats off."""
    raw.handshake(user=broker.user, password=broker.password, vhost=broker.vhost)
    return raw
