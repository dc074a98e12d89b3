import uuid

import pytest
from pamqp import commands

from conformance.helpers import unique
from conformance.rawclient import Closed, RawClient


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


@pytest.fixture
def ch(opened):
    """Channel 1 open, with an exclusive queue whose name is in ch.queue."""
    opened.open_channel(1)
    opened.queue = unique("q")
    opened.call_ok(1, commands.Queue.Declare(queue=opened.queue, exclusive=True),
                   commands.Queue.DeclareOk)  # fmt: skip
    return opened


class Lab:
    """Connections to the broker under test and unique names for one test.

    At teardown it drops every connection it opened, then deletes the exchanges
    and queues it named, over a fresh connection, so the reference broker is
    left clean.
    """

    def __init__(self, broker) -> None:
        self.broker = broker
        self.prefix = f"conf-{uuid.uuid4().hex[:8]}"
        self.clients: list[RawClient] = []
        self.exchanges: list[str] = []
        self.queues: list[str] = []

    def connect(self, channels=(1,), capabilities: dict | None = None) -> RawClient:
        """A new connection past the handshake, with these channels open."""
        client = RawClient(self.broker.host, self.broker.port)
        self.clients.append(client)
        client.handshake(
            user=self.broker.user,
            password=self.broker.password,
            vhost=self.broker.vhost,
            capabilities=capabilities,
        )
        for number in channels:
            client.open_channel(number)
        return client

    def exchange(self, what: str = "x") -> str:
        """A unique exchange name, deleted at teardown."""
        name = f"{self.prefix}-{what}"
        self.exchanges.append(name)
        return name

    def queue(self, what: str = "q") -> str:
        """A unique queue name, deleted at teardown."""
        name = f"{self.prefix}-{what}"
        self.queues.append(name)
        return name

    def cleanup(self) -> None:
        for client in self.clients:
            client.close()
        if not (self.exchanges or self.queues):
            return
        with RawClient(self.broker.host, self.broker.port) as client:
            client.handshake(
                user=self.broker.user, password=self.broker.password, vhost=self.broker.vhost
            )
            client.open_channel(1)
            deletes = [commands.Exchange.Delete(exchange=name) for name in self.exchanges]
            deletes += [commands.Queue.Delete(queue=name) for name in self.queues]
            for method in deletes:
                client.send(1, method)
                _, reply = client.read_frame()
                if isinstance(reply, commands.Channel.Close):
                    # An exclusive queue whose owner is still going away: it
                    # goes with its owner.
                    client.send(1, commands.Channel.CloseOk())
                    client.open_channel(1)
            try:
                client.close_connection()
            except (Closed, OSError):
                pass


@pytest.fixture
def lab(broker):
    """Connections and unique names for one test; see Lab."""
    lab = Lab(broker)
    yield lab
    lab.cleanup()
