"""Fixtures for tests/; helper modules are listed in tests/README.md."""

import pytest

from tests.restartable import KilledNode, ThreadNode


@pytest.fixture(params=["graceful", "kill9"])
def node(request, tmp_path):
    """A broker on a fresh data folder, restarted gracefully or by kill -9."""
    if request.param == "graceful":
        started = ThreadNode(tmp_path / "data")
    else:
        started = KilledNode(tmp_path / "data", tmp_path / "logs")
    started.start()
    yield started
    started.close()


@pytest.fixture
def killed(tmp_path):
    """An amqpd subprocess on a fresh data folder, restarted by kill -9."""
    started = KilledNode(tmp_path / "data", tmp_path / "logs")
    started.start()
    yield started
    started.close()
