"""Deep queues of every kind: the broker's memory with a backlog queued, and how fast it drains.

    python bench/paging_bench.py [--backlog 1000000] [--size 1024] [--producers 2]
                                 [--consumers 2] [--prefetch 500] [--levels 10]
                                 [--kinds in-memory,transient,priority,limited]
                                 [--reference-backlog 100000] [--reference URL|none]

For each kind of queue, on an amqpd of its own (so each RSS is that queue's):
--backlog messages of --size bytes are published with confirms (--producers,
up to 1,000 unconfirmed each) into one queue with no consumer; the broker's
resident memory (VmRSS) is read 2 s later; then --consumers consumers
(prefetch --prefetch, multiple-acks every prefetch/2) drain it, the memory
sampled throughout. The kinds:

- in-memory: the baseline, a transient queue on an amqpd whose page window is
  larger than the backlog, so every message stays in memory;
- transient: a transient (non-durable) queue, transient messages;
- priority: a transient priority queue of --levels levels, the messages'
  priorities taking each level in turn;
- limited: a transient queue with x-max-length equal to the backlog (drop-head).

The table gives each kind's backlog RSS and drain rate, and its drain rate over
the in-memory baseline's. Unless --reference none, the same kinds (the
baseline is RabbitMQ's own transient queue) run on the reference RabbitMQ with
--reference-backlog messages (it is shared: a million messages would press its
memory), for its figures next to ours; its RSS needs rabbitmqctl and a local
broker. Every queue is deleted at the end.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
import uuid

import harness
from harness import Amqpd, Endpoint, fmt, log, progress, rss_of

KINDS = ("in-memory", "transient", "priority", "limited")
NO_PAGING = 1 << 40  # a page window no backlog reaches


class UnpagedAmqpd(Amqpd):
    """amqpd with a page window larger than any backlog: every message in memory."""

    def __init__(self) -> None:
        super().__init__()
        code = (
            "import sys; import amqpd.model.ready as ready; "
            f"ready.PAGE_WINDOW = {NO_PAGING}; from amqpd.cli import main; sys.exit(main())"
        )
        self.launch = [sys.executable, "-c", code]


def arguments(kind: str, args) -> dict:
    if kind == "priority":
        return {"x-max-priority": args.levels - 1}
    if kind == "limited":
        return {"x-max-length": args.backlog_here}
    return {}


def backlog_and_drain(kind: str, args, broker: Endpoint) -> dict:
    queue = f"paging-bench-{kind}-{uuid.uuid4().hex[:8]}"
    asyncio.run(harness.declare(broker, queue, False, arguments(kind, args)))
    out: dict = {"rss_idle": rss_of(broker.pid).get("VmRSS")}
    try:
        log(f"{broker.name}: {kind}: publishing {args.backlog_here} messages of {args.size} bytes")
        spec = harness.Load(
            messages=args.backlog_here, producers=args.producers, consumers=0, size=args.size,
            persistent=False, priorities=args.levels if kind == "priority" else 0,
            label=f"{broker.name} {kind} publish ",
        )  # fmt: skip
        r = harness.run_load(broker, queue, spec)
        out["publish_rate"] = r["published"] / r["publish_seconds"]
        out["count"] = asyncio.run(harness.queue_count(broker, queue))
        time.sleep(2)
        out["rss_backlog"] = rss_of(broker.pid).get("VmRSS")
        log(f"{broker.name}: {kind}: draining")
        spec = harness.Load(
            messages=out["count"], producers=0, consumers=args.consumers,
            prefetch=args.prefetch, label=f"{broker.name} {kind} drain ",
        )  # fmt: skip
        d = harness.run_load(broker, queue, spec)
        out["drain_rate"] = d["consumed"] / d["seconds"]
        out["drain_tenths"] = d["consume_tenths"]
        out["rss_drain_peak"] = d["rss_peak"]
        out["left"] = asyncio.run(harness.queue_count(broker, queue))
    finally:
        try:
            asyncio.run(harness.delete(broker, queue))
        except (OSError, harness.BrokerError) as err:
            log(f"{broker.name}: could not delete queue {queue}: {err}")
    return out


def on_amqpd(kind: str):
    def run(args, _broker: Endpoint) -> dict:
        amqpd = UnpagedAmqpd() if kind == "in-memory" else Amqpd()
        with amqpd:
            args.backlog_here = args.backlog
            out = backlog_and_drain(kind, args, amqpd.endpoint)
            out["log"] = amqpd.log_lines()
        return out

    return run


def on_reference(kind: str):
    def run(args, broker: Endpoint) -> dict:
        args.backlog_here = args.reference_backlog
        return backlog_and_drain("transient" if kind == "in-memory" else kind, args, broker)

    return run


RUNNER = harness.Scenarios(
    __file__,
    {f"{kind}@amqpd": on_amqpd(kind) for kind in KINDS}
    | {f"{kind}@RabbitMQ": on_reference(kind) for kind in KINDS if kind != "in-memory"},
)


def main() -> None:
    parser = harness.parser(__doc__)
    parser.add_argument("--backlog", type=int, default=1_000_000)
    parser.add_argument("--reference-backlog", type=int, default=100_000)
    parser.add_argument("--size", type=int, default=1024, help="body bytes")
    parser.add_argument("--producers", type=int, default=2)
    parser.add_argument("--consumers", type=int, default=2)
    parser.add_argument("--prefetch", type=int, default=500)
    parser.add_argument("--levels", type=int, default=10, help="priority levels")
    parser.add_argument("--kinds", default=",".join(KINDS))
    args = parser.parse_args()
    if RUNNER.child(args):
        return
    kinds = [k.strip() for k in args.kinds.split(",") if k.strip()]
    reference = harness.reference(args.reference)
    print(
        f"backlogs of {args.backlog} messages of {args.size} bytes (RabbitMQ: "
        f"{args.reference_backlog if reference else 'not run'}); {args.producers} producers, "
        f"{args.consumers} consumers (prefetch {args.prefetch}); {os.cpu_count()} CPUs; "
        f"Python {sys.version.split()[0]}",
        flush=True,
    )
    results: dict[tuple[str, str], dict] = {}
    own = Endpoint("amqpd", "127.0.0.1", 0)  # each scenario starts its own broker
    for kind in kinds:
        r = results[(kind, "amqpd")] = RUNNER.run(f"{kind}@amqpd", own)
        text = f"RSS {fmt(r['rss_backlog'], 'mib')} MiB, drain {r['drain_rate']:.0f} msg/s"
        progress(kind, "amqpd", text)
        if reference and kind != "in-memory":
            r = results[(kind, "RabbitMQ")] = RUNNER.run(f"{kind}@RabbitMQ", reference)
            text = f"RSS {fmt(r['rss_backlog'], 'mib')} MiB, drain {r['drain_rate']:.0f} msg/s"
            progress(kind, "RabbitMQ", text)
    print()
    print(report(results, kinds))


def report(results: dict, kinds: list[str]) -> str:
    """A table: per kind, amqpd's backlog RSS, drain rate and its share of the
    in-memory baseline's, then RabbitMQ's figures."""
    base = results.get(("in-memory", "amqpd"), {}).get("drain_rate")
    lines = [
        "| queue | amqpd: RSS with backlog (MiB) | drain peak RSS (MiB) | drain (msg/s) "
        "| drain / in-memory | publish (msg/s) | RabbitMQ: RSS with backlog (MiB) "
        "| RabbitMQ: drain (msg/s) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for kind in kinds:
        a, b = results.get((kind, "amqpd"), {}), results.get((kind, "RabbitMQ"), {})
        share = f"{a['drain_rate'] / base:.2f}" if base and a.get("drain_rate") else "n/a"
        cells = [
            kind, fmt(a.get("rss_backlog"), "mib"), fmt(a.get("rss_drain_peak"), "mib"),
            fmt(a.get("drain_rate"), "rate"), share, fmt(a.get("publish_rate"), "rate"),
            fmt(b.get("rss_backlog"), "mib"), fmt(b.get("drain_rate"), "rate"),
        ]  # fmt: skip
        lines.append("| " + " | ".join(cells) + " |")
    problems = [(kind, r) for (kind, name), r in results.items() if name == "amqpd"
                and (r.get("left") or r.get("log"))]  # fmt: skip
    for kind, r in problems:
        lines.append(f"{kind}: {r.get('left')} left in the queue; log: {r.get('log', [])[:5]}")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
