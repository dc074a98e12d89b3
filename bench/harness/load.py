"""Load: producer and consumer processes against one queue, and the run that watches them.

Each producer and consumer is a forked process with its own event loop and
connection, reading and writing in batches, so that the clients spend far less
CPU per message than a broker does and one client never waits on another.
They report progress through shared arrays; the parent polls them four times
a second, samples the broker's memory, and gives up when nothing moves for
``stall_timeout`` seconds.
"""

from __future__ import annotations

import asyncio
import itertools
import multiprocessing as mp
import statistics
import sys
import time
from dataclasses import dataclass

from pamqp import commands

from harness.brokers import Endpoint
from harness.client import (
    DELIVER,
    Client,
    Confirms,
    Publish,
    decode_method,
    delivery_tag,
    read_confirms,
    stamp_of,
    stop_task,
)
from harness.memory import MemorySampler
from harness.report import log

MIB = 1024 * 1024


@dataclass(frozen=True)
class Load:
    """What the clients do. ``messages`` are split over the producers; with no
    producers the consumers take that many from what is queued."""

    messages: int
    producers: int = 1
    consumers: int = 1
    size: int = 1024
    persistent: bool = True
    confirm: bool = True
    window: int = 1000  # unconfirmed publishes per producer
    prefetch: int = 200
    manual_ack: bool = True
    ack_every: int = 0  # multiple-ack every N deliveries; 0: prefetch // 2
    latency: bool = False  # stamp bodies; consumers measure publish -> deliver
    priorities: int = 0  # if set, messages take priorities 0 .. priorities-1 in turn
    stall_timeout: float = 120.0
    label: str = ""


# ---- in each client process -----------------------------------------------------------


async def produce(broker: Endpoint, queue: str, load: Load, count: int, report) -> int:
    """Publish ``count`` messages, keeping up to ``load.window`` unconfirmed; the nacks."""
    client = await Client.connect(broker)
    publish = Publish.make(queue, load.size, client.frame_max, load.persistent)
    plain = publish.plain
    # With priorities, a batch of 100 cycles through them (batches are 100 or fewer).
    levels = [
        Publish.make(queue, load.size, client.frame_max, load.persistent, p).plain
        for p in range(load.priorities)
    ]
    cycle = b"".join(levels[i % len(levels)] for i in range(100)) if levels else b""
    confirms = Confirms()
    reader = None
    if load.confirm:
        await client.call(commands.Confirm.Select(), commands.Confirm.SelectOk)
        reader = asyncio.create_task(read_confirms(client, confirms, report))
    sent = 0
    while sent < count:
        room = load.window - confirms.outstanding if load.confirm else 100
        if room <= 0:
            await confirms.wait()
            continue
        n = min(room, count - sent, 100)
        now = time.monotonic_ns()
        if load.confirm:
            confirms.add(n, now)
        if levels:
            client.writer.write(cycle[: len(cycle) // 100 * n])
        else:
            client.writer.write((publish.stamped(now) if load.latency else plain) * n)
        sent += n
        await client.writer.drain()
        if not load.confirm:
            report(sent)
    if reader:
        while confirms.outstanding:
            await confirms.wait()
        await stop_task(reader)
    await client.close()
    return confirms.nacked


async def consume(broker: Endpoint, queue: str, load: Load, report, ready, stop) -> list[int]:
    """Consume until ``stop`` is set; publish-to-deliver latencies (ns) if stamped."""
    client = await Client.connect(broker)
    await client.call(commands.Basic.Qos(prefetch_count=load.prefetch), commands.Basic.QosOk)
    no_ack = not load.manual_ack
    await client.call(commands.Basic.Consume(queue=queue, no_ack=no_ack), commands.Basic.ConsumeOk)
    ready.set()
    ack_every = load.ack_every or max(1, load.prefetch // 2)
    got = unacked = last_tag = 0
    stamp_next = False
    latencies: list[int] = []

    def ack() -> None:
        client.send(commands.Basic.Ack(delivery_tag=last_tag, multiple=True))

    while not stop.is_set():
        try:
            frames = await asyncio.wait_for(client.batch(), 0.1)
        except TimeoutError:
            if unacked:  # quiet: settle what we hold
                ack()
                unacked = 0
            continue
        now = time.monotonic_ns()
        for kind, channel, payload in frames:
            if kind == 1:
                if payload[:4] != DELIVER:
                    decode_method(channel, payload)  # raises on a close
                    continue
                last_tag = delivery_tag(payload)
                got += 1
                stamp_next = load.latency
                if load.manual_ack:
                    unacked += 1
                    if unacked >= ack_every:
                        ack()
                        unacked = 0
            elif kind == 3 and stamp_next:
                latencies.append(now - stamp_of(payload))
                stamp_next = False
        report(got)
        await client.writer.drain()
    if unacked:
        ack()
    await client.close()
    return latencies


def _producer_main(broker, queue, load, count, slot, published, finished, start) -> None:
    def report(n: int) -> None:
        published[slot] = n

    start.wait()
    nacked = asyncio.run(produce(broker, queue, load, count, report))
    finished[slot] = time.monotonic()
    sys.exit(3 if nacked else 0)


def _consumer_main(broker, queue, load, slot, consumed, last_at, ready, stop, results) -> None:
    def report(n: int) -> None:
        if n != consumed[slot]:
            consumed[slot] = n
            last_at[slot] = time.monotonic()

    latencies = asyncio.run(consume(broker, queue, load, report, ready, stop))
    if results is not None:
        results.put(latencies)


# ---- in the parent ----------------------------------------------------------------------


class Consumers:
    """``load.consumers`` consumer processes on ``queue``; start() returns once all
    are subscribed, stop() returns their latencies (when the load stamps)."""

    def __init__(self, broker: Endpoint, queue: str, load: Load) -> None:
        ctx = mp.get_context("fork")
        n = load.consumers
        self.consumed, self.last_at = ctx.RawArray("q", max(1, n)), ctx.RawArray("d", max(1, n))
        self._stop = ctx.Event()
        self._readies = [ctx.Event() for _ in range(n)]
        self._results = ctx.Queue() if load.latency else None
        self.procs = [
            ctx.Process(
                target=_consumer_main,
                args=(broker, queue, load, i, self.consumed, self.last_at, self._readies[i])
                + (self._stop, self._results),
            )
            for i in range(n)
        ]

    def start(self) -> None:
        for p in self.procs:
            p.start()
        for ready, p in zip(self._readies, self.procs, strict=True):
            while not ready.wait(0.5):
                if not p.is_alive():
                    raise RuntimeError(f"consumer exited early (code {p.exitcode})")

    @property
    def count(self) -> int:
        return sum(self.consumed[: len(self.procs)])

    def stop(self) -> list[int]:
        self._stop.set()
        latencies: list[int] = []
        if self._results is not None:
            for p in self.procs:
                if p.exitcode is None or p.exitcode == 0:
                    latencies += self._results.get(timeout=60)
        _join(self.procs)
        return latencies


class Producers:
    """``load.producers`` producer processes; they start publishing at go()."""

    def __init__(self, broker: Endpoint, queue: str, load: Load) -> None:
        ctx = mp.get_context("fork")
        n = load.producers
        self.per = load.messages // n if n else 0
        self.published, self.finished = ctx.RawArray("q", max(1, n)), ctx.RawArray("d", max(1, n))
        self._go = ctx.Event()
        self.procs = [
            ctx.Process(
                target=_producer_main,
                args=(broker, queue, load, self.per, i, self.published, self.finished, self._go),
            )
            for i in range(n)
        ]
        for p in self.procs:
            p.start()

    def go(self) -> None:
        self._go.set()

    @property
    def count(self) -> int:
        return sum(self.published[: len(self.procs)])

    def stop(self) -> None:
        self._go.set()
        _join(self.procs)


def _join(procs: list) -> None:
    for p in procs:
        p.join(30)
        if p.is_alive():
            p.kill()
            p.join()


def run_load(broker: Endpoint, queue: str, load: Load) -> dict:
    """Run ``load`` to the end; timings, progress by tenths, the broker's memory
    (when ``broker.pid`` is known) and, for a stamped load, sorted latencies in ns."""
    to_publish = (load.messages // load.producers) * load.producers if load.producers else 0
    to_consume = (to_publish if load.producers else load.messages) if load.consumers else 0
    consumers = Consumers(broker, queue, load)
    producers = None
    began = time.monotonic()  # a drain starts as soon as the consumers subscribe
    progress: list[tuple[float, int, int]] = [(0.0, 0, 0)]
    error, latencies = None, []
    try:
        consumers.start()
        producers = Producers(broker, queue, load)
        with MemorySampler(broker.pid) as memory:
            if load.producers:
                began = time.monotonic()
            producers.go()
            error = _watch(load, producers, consumers, to_consume, began, progress, memory)
    finally:
        if producers:
            producers.stop()
        latencies = consumers.stop()
    if error:
        raise RuntimeError(error)
    ends = list(producers.finished[: load.producers]) + list(consumers.last_at[: load.consumers])
    published_at = max(producers.finished[: load.producers]) if load.producers else None
    latencies.sort()
    return {
        "published": to_publish,
        "consumed": consumers.count,
        "seconds": (max(ends) if ends else time.monotonic()) - began,
        "publish_seconds": (published_at - began) if published_at else None,
        "rss_peak": memory.peak,
        "rss_median": memory.median,
        "publish_tenths": tenths(progress, 1, to_publish),
        "consume_tenths": tenths(progress, 2, to_consume),
        "latencies": latencies,
    }


def _watch(load, producers, consumers, to_consume, began, progress, memory) -> str | None:
    """Poll until the load is done; a reason if it failed or stalled."""
    last_progress, last_change = (-1, -1), time.monotonic()
    next_log = time.monotonic() + 10
    while True:
        time.sleep(0.25)
        now = time.monotonic()
        pub, con = producers.count, consumers.count
        progress.append((now - began, pub, con))
        if (pub, con) != last_progress:
            last_progress, last_change = (pub, con), now
        if now >= next_log:
            next_log = now + 10
            mem = f", broker RSS {memory.last / MIB:.0f} MiB" if memory.last else ""
            log(f"{load.label}{now - began:6.0f}s: {pub} published, {con} consumed{mem}")
        failed = [p.exitcode for p in producers.procs + consumers.procs if p.exitcode]
        if failed:
            return f"a client process failed (exit codes {failed})"
        if not any(p.is_alive() for p in producers.procs) and con >= to_consume:
            return None
        if now - last_change > load.stall_timeout:
            return (
                f"stalled: no progress for {load.stall_timeout:.0f}s "
                f"at {pub} published, {con} consumed"
            )


def tenths(progress: list[tuple[float, int, int]], column: int, total: int) -> list[float]:
    """msg/s over each tenth of ``total`` (times interpolated between the samples, 4 a
    second): a slowdown or a stall part way through shows here, not in the overall rate."""
    if total < 10:
        return []
    crossed, mark = [0.0], 1
    for (t0, *c0), (t1, *c1) in itertools.pairwise(progress):
        before, after = c0[column - 1], c1[column - 1]
        while mark <= 10 and after >= total * mark / 10:
            goal = total * mark / 10
            share = (goal - before) / (after - before) if after > before else 1.0
            crossed.append(t0 + (t1 - t0) * share)
            mark += 1
    if len(crossed) < 11 or crossed[-1] < 5.0:  # too short for 4 samples a second
        return []
    step = total / 10
    return [step / (b - a) if b > a else 0.0 for a, b in itertools.pairwise(crossed)]


def percentiles(latencies_ns: list[int]) -> dict[str, float]:
    """p50, p99, max and mean in ms of sorted latencies."""
    if not latencies_ns:
        raise RuntimeError("no latencies were measured")
    n = len(latencies_ns)
    return {
        "p50": latencies_ns[n // 2] / 1e6,
        "p99": latencies_ns[min(n - 1, int(n * 0.99))] / 1e6,
        "max": latencies_ns[-1] / 1e6,
        "mean": statistics.fmean(latencies_ns) / 1e6,
    }
