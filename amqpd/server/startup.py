"""What the broker logs while it starts: recovery progress, then one line once it serves.

Tools wait for RabbitMQ's "Server startup complete" (testcontainers' RabbitMQ
module, for one); amqpd logs the same words once every listener is up, then
one summary line: the listeners, the data folder, what came back from the
store and how long the start took. A long recovery is reported as it goes.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from amqpd.model.recovery import Recovered

log = logging.getLogger("amqpd.server")

PROGRESS_QUEUES = 1000  # report recovery after this many more queues...
PROGRESS_SECONDS = 5.0  # ...or after this long, whichever comes first


class RecoveryProgress:
    """The ``progress`` callback recovery calls after each queue: logs every
    ``every`` queues or ``interval`` seconds, never for a small store."""

    def __init__(
        self,
        every: int = PROGRESS_QUEUES,
        interval: float = PROGRESS_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.every, self.interval, self._clock = every, interval, clock
        self._last_queues = 0
        self._last_time = clock()

    def __call__(self, done: int, total: int, messages: int) -> None:
        now = self._clock()
        if done - self._last_queues < self.every and now - self._last_time < self.interval:
            return
        if done == total and self._last_queues == 0:
            return  # finished before the first report was due: the summary says it all
        self._last_queues, self._last_time = done, now
        log.info("recovery: %d of %d queues read, %d messages so far", done, total, messages)


@dataclass(frozen=True)
class Listener:
    kind: str  # "amqp", "management" or "prometheus"
    host: str
    port: int


def startup_lines(
    listeners: list[Listener], data_dir: str | None, recovered: Recovered, seconds: float
) -> tuple[str, str]:
    """RabbitMQ's first words, then amqpd's summary."""
    where = ", ".join(f"{x.kind} {x.host}:{x.port}" for x in listeners)
    folder = data_dir if data_dir is not None else "none (messages kept in memory only)"
    return (
        "Server startup complete",
        f"listening on {where}; data folder {folder}; recovered {recovered.exchanges} "
        f"exchanges, {recovered.queues} queues, {recovered.messages} messages "
        f"in {seconds:.2f} s",
    )
