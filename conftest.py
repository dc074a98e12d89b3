"""Broker targets shared by conformance/ and interop/.

A test that takes the ``broker`` fixture runs once per target: amqpd (started
in-process on an ephemeral port) and the reference RabbitMQ. ``--broker-url URL``
(repeatable) points the suite at other brokers instead. When the reference is
not reachable its runs are skipped with a notice naming the URL.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from urllib.parse import unquote, urlparse

import pytest

REFERENCE_URL = os.environ.get("AMQPD_REFERENCE_URL", "amqp://guest:guest@127.0.0.1:5672/%2F")


@dataclass(frozen=True)
class BrokerTarget:
    name: str
    url: str

    @property
    def _parsed(self):
        return urlparse(self.url)

    @property
    def host(self) -> str:
        return self._parsed.hostname or "127.0.0.1"

    @property
    def port(self) -> int:
        return self._parsed.port or 5672

    @property
    def user(self) -> str:
        return unquote(self._parsed.username or "guest")

    @property
    def password(self) -> str:
        return unquote(self._parsed.password or "guest")

    @property
    def vhost(self) -> str:
        path = self._parsed.path
        return unquote(path[1:]) if len(path) > 1 else "/"

    def url_with(self, *, user: str | None = None, password: str | None = None,
                 vhost: str | None = None, query: str = "") -> str:
        from urllib.parse import quote

        u = quote(user if user is not None else self.user, safe="")
        p = quote(password if password is not None else self.password, safe="")
        v = quote(vhost if vhost is not None else self.vhost, safe="")
        return f"amqp://{u}:{p}@{self.host}:{self.port}/{v}" + (f"?{query}" if query else "")


def pytest_addoption(parser):
    parser.addoption(
        "--broker-url",
        action="append",
        default=[],
        help="run conformance/interop tests against this AMQP URL instead of "
        "amqpd and the reference RabbitMQ (repeatable)",
    )


def pytest_generate_tests(metafunc):
    if "broker" in metafunc.fixturenames:
        urls = metafunc.config.getoption("broker_url")
        targets = urls or ["amqpd", "reference"]
        metafunc.parametrize("broker", targets, indirect=True, ids=_target_id)
    elif "api_target" in metafunc.fixturenames:
        metafunc.parametrize("api_target", ["amqpd", "reference"], indirect=True)


def _target_id(target: str) -> str:
    return target if target in ("amqpd", "reference") else urlparse(target).netloc.split("@")[-1]


_unreachable: set[str] = set()


def _reachable(url: str) -> bool:
    parsed = urlparse(url)
    try:
        with socket.create_connection((parsed.hostname, parsed.port or 5672), timeout=2):
            return True
    except OSError:
        return False


@pytest.fixture
def broker(request) -> BrokerTarget:
    target = request.param
    if target == "amqpd":
        return BrokerTarget("amqpd", request.getfixturevalue("amqpd_broker").url)
    url = REFERENCE_URL if target == "reference" else target
    if url in _unreachable or not _reachable(url):
        _unreachable.add(url)
        pytest.skip(f"NOTICE: reference broker at {urlparse(url).netloc.split('@')[-1]} "
                    "is not reachable; reference run skipped")
    return BrokerTarget(target if target == "reference" else "custom", url)


def pytest_terminal_summary(terminalreporter):
    for url in sorted(_unreachable):
        where = urlparse(url).netloc.split("@")[-1]
        terminalreporter.write_line(
            f"NOTICE: reference broker at {where} was not reachable: its runs were skipped; "
            "results speak for amqpd alone.",
            yellow=True,
        )


# ---- the management HTTP API ---------------------------------------------------
REFERENCE_API_URL = os.environ.get("AMQPD_REFERENCE_API_URL", "http://guest:guest@127.0.0.1:15672")


@dataclass(frozen=True)
class ApiTarget:
    """A broker's management API and its AMQP side, for HTTP conformance tests."""

    name: str
    url: str  # http://user:pass@host:port
    broker: BrokerTarget


def _api_reachable(url: str) -> bool:
    parsed = urlparse(url)
    try:
        with socket.create_connection((parsed.hostname, parsed.port or 15672), timeout=2):
            return True
    except OSError:
        return False


@pytest.fixture
def api_target(request) -> ApiTarget:
    target = request.param
    if target == "amqpd":
        thread = request.getfixturevalue("amqpd_broker")
        return ApiTarget("amqpd", thread.management_url, BrokerTarget("amqpd", thread.url))
    if not (_api_reachable(REFERENCE_API_URL) and _reachable(REFERENCE_URL)):
        _unreachable.add(REFERENCE_API_URL)
        pytest.skip("NOTICE: the reference's management API is not reachable; reference run "
                    "skipped (rabbitmq-plugins enable rabbitmq_management)")
    return ApiTarget("reference", REFERENCE_API_URL, BrokerTarget("reference", REFERENCE_URL))
