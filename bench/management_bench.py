"""Does polling the management API stall AMQP? Latency of a steady flow, unpolled and polled.

    python bench/management_bench.py [--queues 10000] [--rate 1000] [--seconds 10]
                                     [--reference URL|none] [--reference-api URL]

With ``--queues`` idle queues declared, one producer publishes at a steady
``--rate`` msg/s to one more queue and a consumer on its own connection measures
publish-to-deliver latency. The flow runs ``--seconds`` in each phase: unpolled,
then while another process GETs ``/api/queues`` in a loop, then while it GETs
``/api/queues?page=1&page_size=100``. It prints p50/p99/max per phase, the
polled-minus-unpolled difference, and how long one poll took, for amqpd and the
reference RabbitMQ side by side (its API: ``--reference-api``, default
http://guest:guest@127.0.0.1:15672). The queues are deleted at the end.
"""

from __future__ import annotations

import asyncio
import base64
import http.client
import multiprocessing as mp
import os
import sys
import time
import uuid
from urllib.parse import urlparse

import harness
from harness.client import DELIVER, Client, Publish, decode_method, stamp_of
from pamqp import commands

API_ENV = "AMQPD_BENCH_API_URL"  # tells a scenario's process where the broker's API is
PHASES = {
    "unpolled": None,
    "polling /api/queues": "/api/queues",
    "polling ?page=1&page_size=100": "/api/queues?page=1&page_size=100",
}
PIPELINE = 500  # declares or deletes in flight on one channel


class AmqpdWithApi(harness.Amqpd):
    """amqpd with its management API on a port we know."""

    def __init__(self) -> None:
        super().__init__(management_port=harness.free_port())

    @property
    def api_url(self) -> str:
        return f"http://guest:guest@127.0.0.1:{self.management_port}"


# ---- queues -----------------------------------------------------------------------------
async def each_queue(broker: harness.Endpoint, names: list[str], method, reply) -> None:
    """queue.declare or queue.delete for every name, ``PIPELINE`` in flight at a time."""
    client = await Client.connect(broker)
    try:
        for start in range(0, len(names), PIPELINE):
            chunk = names[start : start + PIPELINE]
            for name in chunk:
                client.send(method(name))
            await client.writer.drain()
            for _ in chunk:
                await client.expect(reply)
    finally:
        await client.close()


def declare_all(broker, names) -> None:
    asyncio.run(each_queue(broker, names, lambda n: commands.Queue.Declare(queue=n),
                           commands.Queue.DeclareOk))  # fmt: skip


def delete_all(broker, names) -> None:
    asyncio.run(each_queue(broker, names, lambda n: commands.Queue.Delete(queue=n),
                           commands.Queue.DeleteOk))  # fmt: skip


# ---- the poller (its own process, so its parsing never delays our clients) ---------------
def _poll(api_url: str, target: str, stop, polls, seconds) -> None:
    parsed = urlparse(api_url)
    token = base64.b64encode(f"{parsed.username}:{parsed.password}".encode()).decode()
    headers = {"Authorization": f"Basic {token}"}
    connection = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=120)
    while not stop.is_set():
        began = time.monotonic()
        connection.request("GET", target, headers=headers)
        response = connection.getresponse()
        body = response.read()
        if response.status != 200:
            raise RuntimeError(f"GET {target}: {response.status} {body[:200]!r}")
        with polls.get_lock():
            polls.value += 1
            seconds.value += time.monotonic() - began
    connection.close()


class Poller:
    def __init__(self, api_url: str, target: str) -> None:
        ctx = mp.get_context("fork")
        self.stop = ctx.Event()
        self.polls = ctx.Value("i", 0)
        self.seconds = ctx.Value("d", 0.0)
        args = (api_url, target, self.stop, self.polls, self.seconds)
        self.proc = ctx.Process(target=_poll, args=args, daemon=True)

    def __enter__(self) -> Poller:
        self.proc.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.proc.join(180)
        if self.proc.is_alive():
            self.proc.kill()


# ---- the steady flow --------------------------------------------------------------------
async def consume(broker, queue: str, latencies: list[tuple[int, int]], ready, stop) -> None:
    """(publish stamp, latency) in ns for every delivery, until ``stop`` is set."""
    client = await Client.connect(broker)
    await client.call(commands.Basic.Consume(queue=queue, no_ack=True), commands.Basic.ConsumeOk)
    ready.set()
    stamp_next = False
    while not stop.is_set():
        try:
            frames = await asyncio.wait_for(client.batch(), 0.1)
        except TimeoutError:
            continue
        now = time.monotonic_ns()
        for kind, channel, payload in frames:
            if kind == 1:
                if payload[:4] != DELIVER:
                    decode_method(channel, payload)
                    continue
                stamp_next = True
            elif kind == 3 and stamp_next:
                stamp = stamp_of(payload)
                latencies.append((stamp, now - stamp))
                stamp_next = False
    await client.close()


async def produce(broker, queue: str, rate: float, seconds: float) -> None:
    """Publish at a steady ``rate`` for ``seconds``: each message at its own time."""
    client = await Client.connect(broker)
    publish = Publish.make(queue, 64, client.frame_max, persistent=False)
    began = time.monotonic()
    count = int(rate * seconds)
    for n in range(count):
        delay = began + n / rate - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        client.writer.write(publish.stamped(time.monotonic_ns()))
        if n % 50 == 0:
            await client.writer.drain()
    await client.writer.drain()
    await client.close()


async def flow(broker, queue: str, rate: float, seconds: float, api_url: str, target) -> dict:
    latencies: list[tuple[int, int]] = []
    ready, stop = asyncio.Event(), asyncio.Event()
    consumer = asyncio.create_task(consume(broker, queue, latencies, ready, stop))
    await ready.wait()
    polls = seconds_polling = 0.0
    if target is None:
        await produce(broker, queue, rate, seconds)
    else:
        with Poller(api_url, target) as poller:
            await produce(broker, queue, rate, seconds)
        polls, seconds_polling = poller.polls.value, poller.seconds.value
    deadline = time.monotonic() + 30
    while len(latencies) < int(rate * seconds) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    stop.set()
    await consumer
    figures = harness.percentiles(sorted(latency for _stamp, latency in latencies))
    figures["received"] = len(latencies)
    figures["polls"] = int(polls)
    figures["poll_ms"] = seconds_polling / polls * 1000 if polls else None
    return figures


def scenario(args, broker: harness.Endpoint) -> dict:
    api_url = os.environ[API_ENV]
    run = uuid.uuid4().hex[:6]
    idle = [f"mbench-{run}-{n:05d}" for n in range(args.queues)]
    queue = f"mbench-{run}-flow"
    began = time.monotonic()
    declare_all(broker, [*idle, queue])
    harness.log(f"{broker.name}: {args.queues} queues declared in {time.monotonic() - began:.1f} s")
    results = {}
    try:
        for phase, target in PHASES.items():
            results[phase] = asyncio.run(
                flow(broker, queue, args.rate, args.seconds, api_url, target)
            )
            r = results[phase]
            harness.log(f"{broker.name} {phase}: p99 {r['p99']:.2f} ms, {r['polls']} polls")
    finally:
        delete_all(broker, [*idle, queue])
    return results


RUNNER = harness.Scenarios(__file__, {"flow": scenario})


def main() -> None:
    parser = harness.parser(__doc__)
    parser.add_argument("--queues", type=int, default=10_000, help="idle queues declared")
    parser.add_argument("--rate", type=float, default=1000.0, help="msg/s of the flow")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each phase")
    parser.add_argument("--reference-api", default="http://guest:guest@127.0.0.1:15672")
    args = parser.parse_args()
    if RUNNER.child(args):
        return
    reference = harness.reference(args.reference, local_info=False)
    print(
        f"{args.queues:,} idle queues, a steady {args.rate:,.0f} msg/s flow of 64-byte messages, "
        f"{args.seconds:g} s a phase; {os.cpu_count()} CPUs; Python {sys.version.split()[0]}",
        flush=True,
    )
    results: dict[str, dict] = {}
    with AmqpdWithApi() as amqpd:
        brokers = [(amqpd.endpoint, amqpd.api_url)]
        if reference:
            brokers.append((reference, args.reference_api))
        for broker, api_url in brokers:
            os.environ[API_ENV] = api_url
            results[broker.name] = RUNNER.run("flow", broker)
            for phase, r in results[broker.name].items():
                poll = f", one poll {r['poll_ms']:.0f} ms" if r["poll_ms"] else ""
                harness.progress(
                    phase,
                    broker.name,
                    f"p50 {r['p50']:.2f} ms  p99 {r['p99']:.2f} ms  max {r['max']:.1f} ms{poll}",
                )
    a, b = results["amqpd"], results.get("RabbitMQ", {})
    table = harness.Table()
    base_a, base_b = a["unpolled"], b.get("unpolled", {})
    for phase in PHASES:
        pa, pb = a[phase], b.get(phase, {})
        for key in ("p50", "p99", "max"):
            table.add(f"{phase}: latency {key} (ms)", pa[key], pb.get(key), "ms")
        if PHASES[phase]:
            for key in ("p50", "p99"):
                da = pa[key] - base_a[key]
                db = pb[key] - base_b[key] if pb else None
                table.add(f"{phase}: {key} minus unpolled (ms)", da, db, "ms", with_ratio=False)
            table.add(f"{phase}: one poll (ms)", pa["poll_ms"], pb.get("poll_ms"), "ms")
            table.add(f"{phase}: polls", pa["polls"], pb.get("polls"), "count", with_ratio=False)
    print()
    print("Ratio: amqpd / RabbitMQ (above 1 is worse for ms).")
    print()
    table.print()


if __name__ == "__main__":
    main()
