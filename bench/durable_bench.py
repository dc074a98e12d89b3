"""Durable messaging in amqpd next to RabbitMQ: persistent messages, confirms, deep queues.

    python bench/durable_bench.py [--messages 100000] [--size 1024] [--producers 2]
                                  [--consumers 2] [--window 1000] [--rate 1000]
                                  [--latency-messages 10000] [--backlog 1000000]
                                  [--prefetch 500] [--skip-reference-backlog]
                                  [--parts 1,2,3] [--reference URL|none]

Every message is persistent (delivery-mode 2) and goes to a durable queue; every
publisher uses confirms. The queues are deleted at the end on both brokers.

1. Throughput: --producers processes each keep up to --window unconfirmed
   publishes in flight; --consumers processes consume with manual acks
   (prefetch 200, multiple-acks). msg/s = messages / time until every message
   was both confirmed and consumed.
2. Confirm latency: one publisher at a fixed --rate; publish->confirm p50, p99 and
   max. Once with no consumer (every message must reach the disk before its
   confirm) and once with a consumer acking (both brokers may then confirm a
   message that was consumed before it was written).
3. Backlog: --backlog messages published (confirmed) into one durable queue with
   no consumer; then the broker's resident memory (VmRSS, and VmHWM) and its
   store's size on disk; a restart after SIGKILL (at once, with the last commits
   still in SQLite's write-ahead log) and then one after SIGTERM, each timed
   until the port accepts TCP, and until an AMQP connection's passive
   queue.declare reports the full count; the memory after recovery; then a
   drain by --consumers consumers (prefetch --prefetch, multiple-acks every
   prefetch/2) with the memory sampled throughout. On RabbitMQ (unless
   --skip-reference-backlog) the same publish and drain, but no restart (the
   reference is shared); its memory and disk figures need a local broker and
   rabbitmqctl (beam.smp's RSS, the data folder's growth).

Figures depend on the machine, its disk and whatever else runs on it; compare
the ratios.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
import uuid

import harness
from harness import Amqpd, Endpoint, Load, fmt, log, progress, rss_of
from pamqp import commands

THROUGHPUT_PREFETCH = 200
LATENCY_PREFETCH = 100


def load(args, **changes) -> Load:
    base = dict(producers=args.producers, consumers=args.consumers, size=args.size)
    return Load(**(base | dict(window=args.window, prefetch=args.prefetch) | changes))


def new_queue(broker: Endpoint, kind: str) -> str:
    queue = f"durable-bench-{kind}-{uuid.uuid4().hex[:8]}"
    asyncio.run(harness.declare(broker, queue, durable=True))
    return queue


# ---- 1. throughput ---------------------------------------------------------------------


def throughput(args, broker: Endpoint) -> dict:
    queue = new_queue(broker, "throughput")
    try:
        r = harness.run_load(
            broker,
            queue,
            load(args, messages=args.messages, prefetch=THROUGHPUT_PREFETCH, label="throughput "),
        )
    finally:
        asyncio.run(harness.delete(broker, queue))
    return {
        "rate": r["published"] / r["seconds"],
        "confirm_rate": r["published"] / r["publish_seconds"],
        "messages": r["published"],
        "rss_peak": r["rss_peak"],
    }


# ---- 2. confirm latency ------------------------------------------------------------------


async def publish_at_rate(broker: Endpoint, queue: str, rate: float, count: int, size: int):
    """One publisher sending at ``rate`` msg/s; publish->confirm latency."""
    client = await harness.Client.connect(broker)
    await client.call(commands.Confirm.Select(), commands.Confirm.SelectOk)
    message = harness.Publish.make(queue, size, client.frame_max, persistent=True).plain
    confirms = harness.Confirms(keep_latencies=True)
    reader = asyncio.create_task(harness.read_confirms(client, confirms))
    began = time.monotonic()
    behind = 0
    for i in range(count):
        delay = began + i / rate - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        elif delay < -0.01:
            behind += 1
        confirms.add(1, time.monotonic_ns())
        client.writer.write(message)
        await client.writer.drain()
        if confirms.error:
            raise confirms.error
    sent_for = time.monotonic() - began
    async with asyncio.timeout(120):
        while confirms.outstanding:
            await confirms.wait()
    await harness.stop_task(reader)
    await client.close()
    return {
        **harness.percentiles(sorted(confirms.latencies)),
        "achieved_rate": count / sent_for,
        "late_sends": behind,
        "nacked": confirms.nacked,
    }


def latency(with_consumer: bool):
    def run(args, broker: Endpoint) -> dict:
        queue = new_queue(broker, "latency")
        consumer = None
        try:
            if with_consumer:
                spec = load(args, messages=0, producers=0, consumers=1, prefetch=LATENCY_PREFETCH)
                consumer = harness.Consumers(broker, queue, spec)
                consumer.start()
            n = args.latency_messages
            r = asyncio.run(publish_at_rate(broker, queue, args.rate, n, args.size))
            if consumer:
                deadline = time.monotonic() + 60
                while consumer.count < n and time.monotonic() < deadline:
                    time.sleep(0.05)
        finally:
            if consumer:
                consumer.stop()
            asyncio.run(harness.delete(broker, queue))
        return r

    return run


# ---- 3. backlog ------------------------------------------------------------------------


def publish_backlog(args, broker: Endpoint, queue: str, out: dict) -> int:
    log(f"{broker.name}: publishing {args.backlog} persistent messages of {args.size} bytes")
    spec = load(args, messages=args.backlog, consumers=0, label=f"{broker.name} backlog publish ")
    r = harness.run_load(broker, queue, spec)
    total = out["backlog"] = r["published"]
    out["publish_rate"] = total / r["publish_seconds"]
    out["rss_publish_peak"] = r["rss_peak"]
    out["publish_tenths"] = r["publish_tenths"]
    out["count_after_publish"] = asyncio.run(harness.queue_count(broker, queue))
    time.sleep(2)
    mem = rss_of(broker.pid)
    out["rss_backlog"], out["hwm_backlog"] = mem.get("VmRSS"), mem.get("VmHWM")
    return total


def drain_backlog(args, broker: Endpoint, queue: str, total: int, out: dict) -> None:
    log(f"{broker.name}: draining")
    spec = load(args, messages=total, producers=0, label=f"{broker.name} drain ")
    d = harness.run_load(broker, queue, spec)
    out["drain_rate"] = d["consumed"] / d["seconds"]
    out["drain_tenths"] = d["consume_tenths"]
    out["drained"] = d["consumed"]
    out["rss_drain_peak"], out["rss_drain_median"] = d["rss_peak"], d["rss_median"]
    out["count_after_drain"] = asyncio.run(harness.queue_count(broker, queue))
    mem = rss_of(broker.pid)
    out["rss_after_drain"], out["hwm_after_drain"] = mem.get("VmRSS"), mem.get("VmHWM")


def backlog_amqpd(args, _broker: Endpoint) -> dict:
    """On a broker of its own, so that it can be killed and restarted."""
    amqpd = Amqpd()
    out: dict = {}
    queue = None
    try:
        amqpd.start()
        amqpd.wait_port()
        asyncio.run(harness.queue_count(amqpd.endpoint, None, timeout=120))
        out["rss_idle"] = rss_of(amqpd.pid).get("VmRSS")
        queue = new_queue(amqpd.endpoint, "backlog")
        total = publish_backlog(args, amqpd.endpoint, queue, out)
        out["disk_backlog"] = amqpd.store_size()
        out["wal_backlog"] = amqpd.wal_size()
        # SIGKILL first, while the write-ahead log still holds the last commits.
        for variant, sig in (("sigkill", signal.SIGKILL), ("sigterm", signal.SIGTERM)):
            log(f"amqpd: restart after {variant.upper()}")
            out[variant] = restart(amqpd, sig, queue, total)
        drain_backlog(args, amqpd.endpoint, queue, total, out)
        out["disk_after_drain"] = amqpd.store_size()
        out["wal_after_drain"] = amqpd.wal_size()
    finally:
        if amqpd.proc and amqpd.proc.poll() is None:
            try:
                if queue:
                    asyncio.run(harness.delete(amqpd.endpoint, queue))
                    out["disk_after_delete"] = amqpd.store_size()
            except (OSError, harness.BrokerError) as err:
                log(f"amqpd: queue delete failed: {err}")
        out["log"] = amqpd.log_lines()
        amqpd.close()
        if amqpd.exit:
            out["final_stop"] = {"seconds": amqpd.exit[0], "code": amqpd.exit[1]}
    return out


def restart(amqpd: Amqpd, sig: int, queue: str, expected: int) -> dict:
    stop_seconds, code = amqpd.stop(sig)
    wal = amqpd.wal_size()
    began = time.monotonic()
    amqpd.start()
    port_open = amqpd.wait_port()
    count = asyncio.run(harness.queue_count(amqpd.endpoint, queue, timeout=120))
    ready = time.monotonic() - began
    deadline = time.monotonic() + 30
    while count != expected and time.monotonic() < deadline:
        time.sleep(0.5)
        count = asyncio.run(harness.queue_count(amqpd.endpoint, queue))
    if count == expected:
        ready = time.monotonic() - began
    mem = rss_of(amqpd.pid)
    time.sleep(2)
    later = rss_of(amqpd.pid)
    return {
        "stop_seconds": stop_seconds,
        "exit_code": code,
        "wal_at_start": wal,
        "port_open": port_open,
        "ready": ready,
        "count": count,
        "rss": mem.get("VmRSS"),
        "rss_2s": later.get("VmRSS"),
        "hwm": later.get("VmHWM"),
    }


def backlog_rabbitmq(args, broker: Endpoint) -> dict:
    out: dict = {"rss_idle": rss_of(broker.pid).get("VmRSS")}
    disk_before = harness.disk_usage(broker.data_dir)
    queue = new_queue(broker, "backlog")
    try:
        total = publish_backlog(args, broker, queue, out)
        out.pop("hwm_backlog")  # beam.smp's peak since it started, not this run's
        disk = harness.disk_usage(broker.data_dir)
        out["disk_backlog"] = disk - disk_before if disk is not None else None
        drain_backlog(args, broker, queue, total, out)
        out.pop("hwm_after_drain")
    finally:
        try:
            asyncio.run(harness.delete(broker, queue))
        except (OSError, harness.BrokerError) as err:
            log(f"{broker.name}: could not delete queue {queue}: {err}")
    return out


RUNNER = harness.Scenarios(
    __file__,
    {
        "throughput": throughput,
        "latency": latency(with_consumer=False),
        "latency-consumer": latency(with_consumer=True),
        "backlog-amqpd": backlog_amqpd,
        "backlog-rabbitmq": backlog_rabbitmq,
    },
)


def main() -> None:
    parser = harness.parser(__doc__)
    parser.add_argument("--messages", type=int, default=100_000, help="throughput run")
    parser.add_argument("--size", type=int, default=1024, help="body bytes")
    parser.add_argument("--producers", type=int, default=2)
    parser.add_argument("--consumers", type=int, default=2)
    parser.add_argument("--window", type=int, default=1000, help="unconfirmed per producer")
    parser.add_argument("--rate", type=float, default=1000.0, help="latency run, msg/s")
    parser.add_argument("--latency-messages", type=int, default=10_000)
    parser.add_argument("--backlog", type=int, default=1_000_000)
    parser.add_argument("--prefetch", type=int, default=500, help="backlog drain")
    parser.add_argument("--skip-reference-backlog", action="store_true")
    parser.add_argument(
        "--parts",
        default="1,2,3",
        help="which parts to run: 1 throughput, 2 confirm latency, 3 backlog",
    )
    args = parser.parse_args()
    if RUNNER.child(args):
        return
    parts = {int(p) for p in args.parts.split(",") if p.strip()}
    reference = harness.reference(args.reference)
    print(
        f"persistent messages of {args.size} bytes to durable queues, publisher confirms; "
        f"{os.cpu_count()} CPUs; Python {sys.version.split()[0]}",
        flush=True,
    )
    results: dict[tuple[str, str], dict] = {}
    if parts & {1, 2}:
        with Amqpd() as amqpd:
            brokers = [amqpd.endpoint] + ([reference] if reference else [])
            if 1 in parts:
                print(
                    f"1. throughput: {args.messages} messages, {args.producers} producers "
                    f"(window {args.window}), {args.consumers} consumers "
                    f"(prefetch {THROUGHPUT_PREFETCH})",
                    flush=True,
                )
                for broker in brokers:
                    r = results[("throughput", broker.name)] = RUNNER.run("throughput", broker)
                    text = f"{r['rate']:9.0f} msg/s  (confirmed {r['confirm_rate']:.0f} msg/s)"
                    progress("persistent + confirms", broker.name, text)
            if 2 in parts:
                print(
                    f"2. confirm latency: one publisher at {args.rate:.0f} msg/s, "
                    f"{args.latency_messages} messages",
                    flush=True,
                )
                for scenario in ("latency", "latency-consumer"):
                    for broker in brokers:
                        r = results[(scenario, broker.name)] = RUNNER.run(scenario, broker)
                        text = (
                            f"p50 {r['p50']:.2f} ms, p99 {r['p99']:.2f} ms, max {r['max']:.2f} ms"
                            f" (sent at {r['achieved_rate']:.0f} msg/s)"
                        )
                        progress(scenario, broker.name, text)
            problems = amqpd.log_lines()
        code = amqpd.exit[1] if amqpd.exit else None
        if code != 0 or problems:
            print(f"  amqpd (parts 1-2) exit code {code}; log lines: {len(problems)}")
            for line in problems[:20]:
                print(f"    {line}")
    if 3 in parts:
        print(
            f"3. backlog: {args.backlog} messages, {args.producers} producers; drain with "
            f"{args.consumers} consumers (prefetch {args.prefetch})",
            flush=True,
        )
        own = Endpoint("amqpd", "127.0.0.1", 0)  # the scenario starts its own broker
        results[("backlog", "amqpd")] = RUNNER.run("backlog-amqpd", own)
        if reference and not args.skip_reference_backlog:
            results[("backlog", "RabbitMQ")] = RUNNER.run("backlog-rabbitmq", reference)
    report(results, args)


def report(results: dict, args) -> None:
    t = harness.Table()
    rows = {
        "throughput": (
            ("throughput, persistent + confirms, end to end (msg/s)", "rate", "rate"),
            ("throughput, confirmed by the broker (msg/s)", "confirm_rate", "rate"),
            ("throughput run: broker RSS peak (MiB)", "rss_peak", "mib"),
        ),
        "latency": [(f"confirm latency, no consumer, {k} (ms)", k, "ms") for k in PERCENTILES],
        "latency-consumer": [
            (f"confirm latency, consumer acking, {k} (ms)", k, "ms") for k in PERCENTILES
        ],
    }
    for scenario, metrics in rows.items():
        a, b = results.get((scenario, "amqpd")), results.get((scenario, "RabbitMQ"), {})
        if a:
            for metric, key, kind in metrics:
                t.add(metric, a.get(key), b.get(key), kind)
    a = results.get(("backlog", "amqpd"))
    if a:
        report_backlog(t, a, results.get(("backlog", "RabbitMQ"), {}), args)
    print()
    print(
        f"Persistent {args.size}-byte messages, durable queues, confirms; "
        f"{args.producers} producers, {args.consumers} consumers. Ratio: amqpd / RabbitMQ "
        "(above 1 is better for msg/s, worse for ms and MiB)."
    )
    print()
    t.print()
    if a and a.get("log"):
        print()
        print(f"amqpd log during the backlog run ({len(a['log'])} lines):")
        for line in a["log"][:30]:
            print(f"    {line}")


PERCENTILES = ("p50", "p99", "max")

BACKLOG_ROWS = (
    ("backlog: messages queued (passive declare)", "count_after_publish", "count", False),
    ("backlog: publish with confirms (msg/s)", "publish_rate", "rate", True),
    ("backlog: publish msg/s by tenth of the backlog", "publish_tenths", "tenths", False),
    ("backlog: RSS idle before publishing (MiB)", "rss_idle", "mib", True),
    ("backlog: RSS peak while publishing (MiB)", "rss_publish_peak", "mib", True),
    ("backlog: RSS with backlog queued (MiB)", "rss_backlog", "mib", True),
    ("backlog: VmHWM with backlog queued (MiB)", "hwm_backlog", "mib", False),
    ("backlog: on disk (MiB; RabbitMQ: data folder growth)", "disk_backlog", "mib", True),
    ("backlog: of which SQLite WAL (MiB)", "wal_backlog", "mib", False),
)
RESTART_ROWS = (
    ("WAL at start-up (MiB)", "wal_at_start", "mib"),
    ("start-up until the port accepts TCP (s)", "port_open", "s"),
    ("start-up until passive declare reports the full count (s)", "ready", "s"),
    ("messages after recovery (expected {n})", "count", "count"),
    ("RSS right after recovery (MiB)", "rss", "mib"),
    ("RSS 2 s after recovery (MiB)", "rss_2s", "mib"),
)
DRAIN_ROWS = (
    ("drain: msg/s (prefetch {prefetch}, multiple-acks)", "drain_rate", "rate", True),
    ("drain: msg/s by tenth of the backlog", "drain_tenths", "tenths", False),
    ("drain: messages consumed", "drained", "count", False),
    ("drain: RSS peak (MiB)", "rss_drain_peak", "mib", True),
    ("drain: RSS median (MiB)", "rss_drain_median", "mib", True),
    ("drain: messages left in the queue", "count_after_drain", "count", False),
    ("after drain: RSS (MiB)", "rss_after_drain", "mib", True),
    ("after drain: VmHWM since the last restart (MiB)", "hwm_after_drain", "mib", False),
    ("after drain: store on disk (MiB)", "disk_after_drain", "mib", False),
    ("after drain: of which SQLite WAL (MiB)", "wal_after_drain", "mib", False),
    ("after queue delete: store on disk (MiB)", "disk_after_delete", "mib", False),
)


def report_backlog(t: harness.Table, a: dict, b: dict, args) -> None:
    for metric, key, kind, with_ratio in BACKLOG_ROWS:
        t.add(metric, a.get(key), b.get(key), kind, with_ratio)
    n = fmt(a.get("backlog"), "count")
    for variant in ("sigkill", "sigterm"):
        r, v = a.get(variant) or {}, variant.upper()
        stop = f"{fmt(r.get('stop_seconds'), 's')} / {r.get('exit_code')}"
        t.text(f"{v}: stop time (s) / exit code", stop, "not restarted (shared)")
        for metric, key, kind in RESTART_ROWS:
            t.add(f"{v}: {metric.format(n=n)}", r.get(key), None, kind, False)
    for metric, key, kind, with_ratio in DRAIN_ROWS:
        metric = metric.format(prefetch=args.prefetch)
        t.add(metric, a.get(key), b.get(key), kind, with_ratio)
    stop = a.get("final_stop") or {}
    t.text(
        "final SIGTERM: stop time (s) / exit code",
        f"{fmt(stop.get('seconds'), 's')} / {stop.get('code')}",
    )


if __name__ == "__main__":
    main()
