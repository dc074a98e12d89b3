"""Throughput and latency of amqpd next to RabbitMQ, under the same load, in one run.

    python bench/amqp_bench.py [--messages 100000] [--producers 2] [--consumers 2]
                               [--size 128] [--reference URL|none]

Starts amqpd on a free port, runs each scenario against it and against the
reference RabbitMQ, and prints msg/s, publish-to-deliver latency percentiles,
the broker's peak resident memory and the amqpd/RabbitMQ ratios. Transient
messages to a transient queue; producers keep up to 1,000 publishes
unconfirmed when they use confirms. Figures depend on the machine; compare the
ratios. The harness (bench/harness/) says how the clients and brokers are run.
"""

from __future__ import annotations

import asyncio
import os
import sys
import uuid

import harness

SCENARIOS = {
    "transient, auto-ack": dict(confirm=False, manual_ack=False, prefetch=0),
    "confirms + manual acks": dict(confirm=True, manual_ack=True, prefetch=200, ack_every=50),
}


def scenario(name: str):
    def run(args, broker: harness.Endpoint) -> dict:
        queue = f"bench-{uuid.uuid4().hex[:8]}"
        load = harness.Load(
            messages=args.messages,
            producers=args.producers,
            consumers=args.consumers,
            size=max(8, args.size),
            persistent=False,
            latency=True,
            label=f"{name}: ",
            **SCENARIOS[name],
        )
        asyncio.run(harness.declare(broker, queue, durable=False))
        try:
            r = harness.run_load(broker, queue, load)
        finally:
            asyncio.run(harness.delete(broker, queue))
        return {
            "rate": r["consumed"] / r["seconds"],
            "rss_peak": r["rss_peak"],
            **harness.percentiles(r["latencies"]),
        }

    return run


RUNNER = harness.Scenarios(__file__, {name: scenario(name) for name in SCENARIOS})


def main() -> None:
    parser = harness.parser(__doc__)
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--producers", type=int, default=2)
    parser.add_argument("--consumers", type=int, default=2)
    parser.add_argument("--size", type=int, default=128, help="body bytes (at least 8)")
    args = parser.parse_args()
    if RUNNER.child(args):
        return
    reference = harness.reference(args.reference)
    print(
        f"{args.messages} messages of {args.size} bytes, {args.producers} producers, "
        f"{args.consumers} consumers; {os.cpu_count()} CPUs; Python {sys.version.split()[0]}",
        flush=True,
    )
    results: dict[tuple[str, str], dict] = {}
    with harness.Amqpd() as amqpd:
        brokers = [amqpd.endpoint] + ([reference] if reference else [])
        for name in SCENARIOS:
            for broker in brokers:
                r = results[(name, broker.name)] = RUNNER.run(name, broker)
                harness.progress(
                    name,
                    broker.name,
                    f"{r['rate']:9.0f} msg/s  p50 {r['p50']:.1f} ms  p99 {r['p99']:.1f} ms",
                )
    table = harness.Table()
    for name in SCENARIOS:
        a, b = results[(name, "amqpd")], results.get((name, "RabbitMQ"), {})
        table.add(f"{name}: msg/s", a["rate"], b.get("rate"), "rate")
        for key in ("p50", "p99"):
            table.add(f"{name}: latency {key} (ms)", a[key], b.get(key), "ms")
        table.add(f"{name}: broker RSS peak (MiB)", a["rss_peak"], b.get("rss_peak"), "mib")
    print()
    print("Ratio: amqpd / RabbitMQ (above 1 is better for msg/s, worse for ms and MiB).")
    print()
    table.print()


if __name__ == "__main__":
    main()
