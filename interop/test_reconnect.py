"""Clients that outlive their connection: aio-pika's robust connection after a
broker restart, and pika's threaded-worker pattern.

A restart means, for amqpd, stopping the broker and starting it again on the
same port and data folder; for the shared reference it is the broker-side close
a restart sends every client (320 CONNECTION_FORCED), made with rabbitmqctl for
this test's connection only, so other users of the reference are untouched.
"""

from __future__ import annotations

import asyncio
import functools
import queue as queue_module
import shutil
import subprocess
import threading
import time

import aio_pika
import pika
import pytest

from amqpd.config import BrokerConfig
from amqpd.testing import BrokerThread
from interop.helpers import run, unique


class Restartable:
    """The broker under test, with a way to make it drop every client."""

    def __init__(self, broker, tmp_path):
        self.target = broker
        self._own: BrokerThread | None = None
        if broker.name == "amqpd":  # a broker of our own: the shared one is not restarted
            self._config = BrokerConfig(data_dir=str(tmp_path / "data"))
            self._own = BrokerThread(self._config).start()
            self.url = self._own.url
        else:
            if shutil.which("rabbitmqctl") is None:
                pytest.skip("no rabbitmqctl here: cannot close the reference's connections")
            self.url = broker.url

    def restart(self, connection_name: str) -> None:
        if self._own is not None:
            port = self._own.port
            self._own.stop()
            self._own = BrokerThread(self._config, port=port).start()
        else:
            close_reference_connections(connection_name)

    def stop(self) -> None:
        if self._own is not None:
            self._own.stop()


def close_reference_connections(name: str, seconds: float = 20) -> None:
    """Close the reference's connections named ``name`` as a shutdown would."""
    deadline = time.monotonic() + seconds
    while True:
        listed = subprocess.run(
            ["rabbitmqctl", "-q", "list_connections", "pid", "client_properties"],
            capture_output=True, text=True, check=True, timeout=seconds,
        ).stdout  # fmt: skip
        pids = [line.split("\t")[0] for line in listed.splitlines() if f'"{name}"' in line]
        if pids:
            break
        assert time.monotonic() < deadline, f"no reference connection named {name}"
    for pid in pids:
        subprocess.run(["rabbitmqctl", "-q", "close_connection", pid, "broker restart"],
                       check=True, capture_output=True, timeout=seconds)  # fmt: skip


@pytest.fixture
def restartable(broker, tmp_path):
    node = Restartable(broker, tmp_path)
    yield node
    node.stop()


def test_aio_pika_robust_connection_carries_on_after_a_restart(restartable):
    name = unique("robust")

    async def scenario():
        connection = await aio_pika.connect_robust(
            restartable.url, client_properties={"connection_name": name}, reconnect_interval=0.2
        )
        reconnected = asyncio.Event()
        connection.reconnect_callbacks.add(lambda *_: reconnected.set())
        channel = await connection.channel(publisher_confirms=True)
        await channel.set_qos(prefetch_count=10)
        queue = await channel.declare_queue(name, durable=True)
        received: asyncio.Queue[bytes] = asyncio.Queue()

        async def on_message(message: aio_pika.abc.AbstractIncomingMessage) -> None:
            async with message.process():
                await received.put(message.body)

        await queue.consume(on_message)
        exchange = channel.default_exchange
        await exchange.publish(aio_pika.Message(b"before", delivery_mode=2), routing_key=name)
        assert await received.get() == b"before"

        await asyncio.to_thread(restartable.restart, name)
        await reconnected.wait()
        # The robust channel declared the queue and consumer again on its own.
        await exchange.publish(aio_pika.Message(b"after", delivery_mode=2), routing_key=name)
        assert await received.get() == b"after"
        await queue.delete(if_unused=False, if_empty=False)
        await connection.close()

    run(scenario(), seconds=60)


def test_aio_pika_durable_messages_wait_for_the_consumer_across_a_restart(restartable, broker):
    """Published and confirmed while nobody consumes, still there after the restart."""
    name = unique("robust-backlog")

    async def scenario():
        connection = await aio_pika.connect_robust(
            restartable.url, client_properties={"connection_name": name}, reconnect_interval=0.2
        )
        reconnected = asyncio.Event()
        connection.reconnect_callbacks.add(lambda *_: reconnected.set())
        channel = await connection.channel(publisher_confirms=True)
        queue = await channel.declare_queue(name, durable=True)
        for i in range(50):
            message = aio_pika.Message(str(i).encode(), delivery_mode=2)
            await channel.default_exchange.publish(message, routing_key=name)
        await asyncio.to_thread(restartable.restart, name)
        await reconnected.wait()
        bodies = []
        async with queue.iterator() as messages:
            async for message in messages:
                await message.ack()
                bodies.append(int(message.body))
                if len(bodies) == 50:
                    break
        assert bodies == list(range(50))
        await queue.delete(if_unused=False, if_empty=False)
        await connection.close()

    run(scenario(), seconds=60)


def test_pika_threaded_workers_ack_through_the_connection_thread(broker):
    """pika's threaded pattern: the connection's thread consumes, worker threads do
    the work, and acks go back through add_callback_threadsafe."""
    name = unique("threaded")
    connection = pika.BlockingConnection(pika.URLParameters(broker.url))
    channel = connection.channel()
    channel.queue_declare(name)
    channel.basic_qos(prefetch_count=8)
    total = 400
    for i in range(total):
        channel.basic_publish("", name, str(i).encode())
    work: queue_module.Queue = queue_module.Queue()
    done: list[int] = []
    lock = threading.Lock()

    def worker() -> None:
        while (item := work.get()) is not None:
            tag, body = item
            with lock:
                done.append(int(body))
            connection.add_callback_threadsafe(functools.partial(channel.basic_ack, tag))

    workers = [threading.Thread(target=worker) for _ in range(4)]
    for thread in workers:
        thread.start()
    channel.basic_consume(name, lambda _ch, method, _props, body: work.put(
        (method.delivery_tag, body)))  # fmt: skip
    deadline = time.monotonic() + 30
    try:
        while len(done) < total:
            assert time.monotonic() < deadline, f"only {len(done)} of {total} processed"
            connection.process_data_events(time_limit=0.05)
    finally:
        for _ in workers:
            work.put(None)
        for thread in workers:
            thread.join()
    connection.process_data_events(time_limit=0)  # run the last acks
    assert sorted(done) == list(range(total))
    assert channel.queue_declare(name, passive=True).method.message_count == 0
    channel.queue_delete(name)
    connection.close()
