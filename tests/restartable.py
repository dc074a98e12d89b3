"""A broker on one data folder that a test restarts, and pika steps to look inside it.

``ThreadNode`` restarts an in-process ``BrokerThread`` gracefully; ``KilledNode``
kills an ``amqpd`` subprocess with SIGKILL and starts a new one. The ``node``
fixture (tests/conftest.py) runs a test with each, ``killed`` with the second.
Before a kill, ``restart()`` first passes a commit barrier (a fresh durable
queue's declare-ok is only sent once everything before it is committed),
because acks and delivery marks are written lazily with the next commit; tests
about promises pass ``barrier=False``.

The steps take a pika channel: ``count``, ``get_all``, ``bodies``,
``consume_all``; ``exists`` and ``channel_error`` open their own channel.
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import pika
import pytest
import trio

from amqpd.config import BrokerConfig
from amqpd.testing import BrokerThread
from conformance.rawclient import RawClient
from tests.broker_process import HOST, ProcessBroker, connection_parameters

PERSISTENT = pika.BasicProperties(delivery_mode=2)
TRANSIENT = pika.BasicProperties(delivery_mode=1)


class Node:
    """A broker on one data folder that a test can restart; tracks the client
    connections it opened so a restart can drop them."""

    mode = ""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.port = 0
        self._clients: list = []

    # ---- clients ----------------------------------------------------------------
    def connect(self) -> pika.BlockingConnection:
        connection = pika.BlockingConnection(connection_parameters(self.port))
        self._clients.append(connection)
        return connection

    def channel(self):
        return self.connect().channel()

    def raw(self) -> RawClient:
        client = RawClient(HOST, self.port)
        self._clients.append(client)
        client.handshake()
        client.open_channel(1)
        return client

    def drop_clients(self) -> None:
        for client in self._clients:
            try:
                client.close()
            except Exception:  # noqa: BLE001 - the broker may be gone already
                pass
        self._clients.clear()

    def barrier(self) -> None:
        """Return once everything the broker did so far is committed."""
        connection = pika.BlockingConnection(connection_parameters(self.port))
        try:
            channel = connection.channel()
            name = f"barrier.{uuid.uuid4().hex}"
            channel.queue_declare(name, durable=True)
            channel.queue_delete(name)
        finally:
            connection.close()

    # ---- lifecycle --------------------------------------------------------------
    def start(self) -> None:
        raise NotImplementedError

    def stop(self, barrier: bool) -> None:
        raise NotImplementedError

    def restart(self, downtime: float = 0.0, barrier: bool = True) -> None:
        """Stop (gracefully or by SIGKILL), stay down ``downtime`` s, start again."""
        self.stop(barrier)
        if downtime:
            time.sleep(downtime)  # time passing while the broker is down
        self.start()

    def close(self) -> None:
        raise NotImplementedError


class ThreadNode(Node):
    mode = "graceful"

    def __init__(self, data_dir: Path) -> None:
        super().__init__(data_dir)
        self.broker: BrokerThread | None = None

    def start(self) -> None:
        self.broker = BrokerThread(BrokerConfig(data_dir=str(self.data_dir))).start()
        self.port = self.broker.port

    def stop(self, barrier: bool) -> None:
        self.drop_clients()  # closed politely: their unacked messages are requeued
        self.broker.stop()
        self.broker = None

    def close(self) -> None:
        if self.broker is not None:
            self.stop(False)

    def in_memory(self, queue: str) -> int:
        """How many ready messages of ``queue`` the broker holds in memory."""
        broker = self.broker
        return trio.from_thread.run_sync(
            lambda: broker._server.broker.vhosts["/"].queues[queue].in_memory,
            trio_token=broker._token,
        )


class KilledNode(Node):
    mode = "kill9"

    def __init__(self, data_dir: Path, log_dir: Path) -> None:
        super().__init__(data_dir)
        self.process = ProcessBroker(data_dir, log_dir)

    def start(self) -> None:
        self.port = self.process.start()

    def stop(self, barrier: bool) -> None:
        if barrier:
            self.barrier()
        self.process.kill()  # clients still connected, deliveries still unacked
        self.drop_clients()

    def close(self) -> None:
        self.drop_clients()
        self.process.kill()


def count(channel, queue: str) -> int:
    """The queue's ready messages, from a passive declare."""
    return channel.queue_declare(queue, passive=True).method.message_count


def exists(node: Node, kind: str, name: str) -> bool:
    """Whether the exchange or queue exists (a passive declare on its own channel)."""
    channel = node.connect().channel()
    try:
        if kind == "queue":
            channel.queue_declare(name, passive=True)
        else:
            channel.exchange_declare(name, passive=True)
    except pika.exceptions.ChannelClosedByBroker as err:
        assert err.reply_code == 404, err
        return False
    channel.close()
    return True


def channel_error(node: Node, action) -> tuple[int, str]:
    """Run ``action(channel)`` on a fresh channel; it must close the channel."""
    channel = node.connect().channel()
    with pytest.raises(pika.exceptions.ChannelClosedByBroker) as caught:
        action(channel)
    return caught.value.reply_code, caught.value.reply_text


def get_all(channel, queue: str, ack: bool = True) -> list[tuple]:
    """(method, properties, body) of every ready message, by basic.get."""
    got = []
    while True:
        method, properties, body = channel.basic_get(queue, auto_ack=False)
        if method is None:
            return got
        if ack:
            channel.basic_ack(method.delivery_tag)
        got.append((method, properties, body))


def bodies(channel, queue: str) -> list[bytes]:
    return [body for _m, _p, body in get_all(channel, queue)]


def consume_all(channel, queue: str, expected: int, timeout: float = 20.0) -> list[tuple]:
    """Consume ``expected`` messages with a prefetch window, acking in batches."""
    channel.basic_qos(prefetch_count=500)
    got = []
    deadline = time.monotonic() + timeout
    for method, properties, body in channel.consume(queue, inactivity_timeout=0.5):
        if method is None:
            assert time.monotonic() < deadline, f"only {len(got)} of {expected} consumed"
            continue
        got.append((method, properties, body))
        if len(got) % 100 == 0 or len(got) == expected:
            channel.basic_ack(method.delivery_tag, multiple=True)
        if len(got) == expected:
            break
    channel.cancel()
    return got
