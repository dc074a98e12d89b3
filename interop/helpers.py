"""Small helpers the interop tests share.

``unique`` names; ``run`` (aio-pika scenarios with a deadline); ``drive`` (pump
pika connections) and ``drain_events`` (the same for py-amqp and kombu);
``py_amqp_connection`` (a py-amqp connection to the broker under test).
Cross-language message checks are in crosslang.py, the other languages'
client stacks in clients.py.
"""

import asyncio
import time
import uuid

import amqp


def unique(prefix: str) -> str:
    """A queue or exchange name no other test (or earlier run) uses."""
    return f"interop-{prefix}-{uuid.uuid4().hex[:8]}"


def run(coro, seconds: float = 30):
    """Run an aio-pika scenario with a deadline."""
    return asyncio.run(asyncio.wait_for(coro, seconds))


def drive(connections, done, seconds: float = 20) -> None:
    """Pump pika connections' I/O until ``done()`` or the deadline."""
    deadline = time.monotonic() + seconds
    while not done():
        assert time.monotonic() < deadline, "timed out"
        for conn in connections:
            conn.process_data_events(time_limit=0.02)


def drain_events(conn, done, seconds: float = 15) -> None:
    """Dispatch a py-amqp or kombu connection's deliveries until ``done()`` or the deadline."""
    deadline = time.monotonic() + seconds
    while not done():
        assert time.monotonic() < deadline, "timed out"
        try:
            conn.drain_events(timeout=0.05)
        except TimeoutError:
            pass


def py_amqp_connection(broker) -> amqp.Connection:
    """A py-amqp connection to the broker under test, not yet connected."""
    return amqp.Connection(
        host=f"{broker.host}:{broker.port}",
        userid=broker.user,
        password=broker.password,
        virtual_host=broker.vhost,
    )
