"""Small helpers the interop tests share."""

import asyncio
import time
import uuid


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
