"""Throughput and latency of amqpd next to RabbitMQ, under the same load, in one run.

    python bench/amqp_bench.py [--messages 100000] [--producers 2] [--consumers 2]

Starts amqpd on a free port, runs each scenario against it and against the
reference RabbitMQ (AMQPD_REFERENCE_URL host/port, default 127.0.0.1:5672), and
prints msg/s, latency percentiles and the amqpd/RabbitMQ ratio. Clients are
lean raw-socket processes (pre-encoded frames), so the brokers, not the client
library, set the pace. Figures depend on the machine; compare the ratios.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time
import uuid

from pamqp import commands, frame, header
from pamqp.body import ContentBody

HEADER = b"AMQP\x00\x00\x09\x01"


# ---- a lean AMQP client -------------------------------------------------------------


class Client:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def connect(cls, host: str, port: int) -> Client:
        reader, writer = await asyncio.open_connection(host, port)
        writer.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        client = cls(reader, writer)
        writer.write(HEADER)
        await client.method()
        client.send(
            0,
            commands.Connection.StartOk(
                client_properties={}, mechanism="PLAIN", response="\0guest\0guest", locale="en_US"
            ),
        )
        await client.method()
        client.send(0, commands.Connection.TuneOk(2047, 131072, 0))
        client.send(0, commands.Connection.Open(virtual_host="/"))
        await client.method()
        client.send(1, commands.Channel.Open())
        await client.method()
        return client

    def send(self, channel: int, value) -> None:
        self.writer.write(frame.marshal(value, channel))

    async def raw_frame(self) -> tuple[int, int, bytes]:
        head = await self.reader.readexactly(7)
        kind, channel, size = struct.unpack(">BHI", head)
        payload = await self.reader.readexactly(size + 1)
        return kind, channel, payload[:-1]

    async def method(self):
        while True:
            kind, _, payload = await self.raw_frame()
            if kind == 1:
                return frame.unmarshal(struct.pack(">BHI", 1, 0, len(payload)) + payload + b"\xce")[
                    2
                ]


def publish_frames(queue: str, size: int) -> tuple[bytes, bytes]:
    """The frames of one publish, split where the 8-byte timestamp goes."""
    method = frame.marshal(commands.Basic.Publish(routing_key=queue), 1)
    content = frame.marshal(header.ContentHeader(0, size, commands.Basic.Properties()), 1)
    body = frame.marshal(ContentBody(b"\0" * size), 1)
    prefix = method + content + body[:7]
    return prefix, body[15:]  # the timestamp replaces the body's first 8 bytes


async def produce(host, port, queue, count, size, confirm, window):
    client = await Client.connect(host, port)
    prefix, suffix = publish_frames(queue, size)
    confirmed = 0
    if confirm:
        client.send(1, commands.Confirm.Select())
        await client.method()

    async def read_acks():
        nonlocal confirmed
        while confirmed < count:
            kind, _, payload = await client.raw_frame()
            if kind == 1 and payload[:4] == b"\x00\x3c\x00\x50":
                tag, flags = struct.unpack_from(">QB", payload, 4)
                confirmed = tag if flags & 1 else max(confirmed, tag)

    acks = asyncio.create_task(read_acks()) if confirm else None
    sent = 0
    while sent < count:
        batch = min(100, count - sent)
        if confirm:
            while sent - confirmed > window:
                await asyncio.sleep(0)
        now = struct.pack(">Q", time.monotonic_ns())
        client.writer.write((prefix + now + suffix) * batch)
        sent += batch
        await client.writer.drain()
    if acks:
        await acks
    client.writer.close()


async def consume(host, port, queue, prefetch, manual_ack, ready, tally, total, done):
    """Consume until all consumers together have received ``total`` messages."""
    client = await Client.connect(host, port)
    client.send(1, commands.Basic.Qos(prefetch_count=prefetch))
    await client.method()
    client.send(1, commands.Basic.Consume(queue=queue, no_ack=not manual_ack))
    await client.method()
    ready.set()
    latencies, last_tag, unacked, uncounted = [], 0, 0, 0
    while not done.is_set():
        try:
            kind, _, payload = await asyncio.wait_for(client.raw_frame(), 0.2)
        except TimeoutError:
            if uncounted:  # quiet for a moment: report what arrived
                _count(tally, uncounted, total, done)
                uncounted = 0
            continue
        if kind == 1:
            tag_at = 4 + 1 + payload[4]  # after class/method and the consumer tag
            last_tag = struct.unpack_from(">Q", payload, tag_at)[0]
        elif kind == 3:
            sent_at = struct.unpack_from(">Q", payload)[0]
            latencies.append(time.monotonic_ns() - sent_at)
            unacked += 1
            uncounted += 1
            if manual_ack and unacked >= 50:
                client.send(1, commands.Basic.Ack(delivery_tag=last_tag, multiple=True))
                unacked = 0
            if uncounted >= 100:
                _count(tally, uncounted, total, done)
                uncounted = 0
    if manual_ack and unacked:
        client.send(1, commands.Basic.Ack(delivery_tag=last_tag, multiple=True))
        await client.writer.drain()
    client.writer.close()
    return latencies


def _count(tally, n, total, done) -> None:
    with tally.get_lock():
        tally.value += n
        if tally.value >= total:
            done.set()


def _run_consumer(args, results):
    results.put(asyncio.run(consume(*args)))


def _run_producer(args, start):
    start.wait()
    asyncio.run(produce(*args))


# ---- a scenario against one broker --------------------------------------------------


async def declare(host, port, queue):
    client = await Client.connect(host, port)
    client.send(1, commands.Queue.Declare(queue=queue, auto_delete=False))
    await client.method()
    return client


async def delete(host, port, queue):
    client = await Client.connect(host, port)
    client.send(1, commands.Queue.Delete(queue=queue))
    await client.method()
    client.writer.close()


def run_scenario(host, port, scenario, messages, producers, consumers, size):
    queue = f"bench-{uuid.uuid4().hex[:8]}"
    asyncio.run(declare(host, port, queue))
    ctx = mp.get_context("fork")
    results, start, done = ctx.Queue(), ctx.Event(), ctx.Event()
    tally = ctx.Value("q", 0)
    per_producer = messages // producers
    total = per_producer * producers
    readies = [ctx.Event() for _ in range(consumers)]
    consumer_procs = [
        ctx.Process(
            target=_run_consumer,
            args=(
                (
                    host,
                    port,
                    queue,
                    scenario["prefetch"],
                    scenario["manual_ack"],
                    readies[i],
                    tally,
                    total,
                    done,
                ),
                results,
            ),
        )
        for i in range(consumers)
    ]
    producer_procs = [
        ctx.Process(
            target=_run_producer,
            args=((host, port, queue, per_producer, size, scenario["confirm"], 1000), start),
        )
        for _ in range(producers)
    ]
    for p in consumer_procs + producer_procs:
        p.start()
    for ready in readies:
        ready.wait(30)
    began = time.monotonic()
    start.set()
    done.wait(600)
    elapsed = time.monotonic() - began
    latencies = []
    for _ in consumer_procs:
        latencies.extend(results.get(timeout=60))
    for p in consumer_procs + producer_procs:
        p.join(30)
    asyncio.run(delete(host, port, queue))
    latencies.sort()
    return {
        "rate": len(latencies) / elapsed,
        "p50": latencies[len(latencies) // 2] / 1e6,
        "p99": latencies[int(len(latencies) * 0.99)] / 1e6,
        "mean": statistics.fmean(latencies) / 1e6,
    }


SCENARIOS = {
    "transient, auto-ack": {"confirm": False, "manual_ack": False, "prefetch": 0},
    "confirms + manual acks": {"confirm": True, "manual_ack": True, "prefetch": 200},
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_amqpd() -> tuple[subprocess.Popen, int]:
    port = free_port()
    data = tempfile.mkdtemp(prefix="amqpd-bench-")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "amqpd",
            "--bind",
            "127.0.0.1",
            "--port",
            str(port),
            "--data-dir",
            data,
            "--log-level",
            "warning",
        ]
    )
    deadline = time.monotonic() + 30
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return proc, port
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError("amqpd did not start") from None
            try:
                proc.wait(timeout=0.05)
                raise RuntimeError("amqpd exited at start") from None
            except subprocess.TimeoutExpired:
                pass


def run_isolated(host: str, port: int, name: str, args) -> dict:
    """One scenario in a fresh interpreter, so no state leaks between runs."""
    out = subprocess.run(
        [
            sys.executable,
            __file__,
            "--one",
            name,
            "--host",
            host,
            "--port",
            str(port),
            "--messages",
            str(args.messages),
            "--producers",
            str(args.producers),
            "--consumers",
            str(args.consumers),
            "--size",
            str(args.size),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--producers", type=int, default=2)
    parser.add_argument("--consumers", type=int, default=2)
    parser.add_argument("--size", type=int, default=128, help="body bytes (at least 8)")
    parser.add_argument("--one", help=argparse.SUPPRESS)
    parser.add_argument("--host", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        figures = run_scenario(
            args.host,
            args.port,
            SCENARIOS[args.one],
            args.messages,
            args.producers,
            args.consumers,
            max(8, args.size),
        )
        print(json.dumps(figures))
        return
    reference = os.environ.get("AMQPD_REFERENCE_HOSTPORT", "127.0.0.1:5672")
    ref_host, ref_port = reference.rsplit(":", 1)
    proc, port = start_amqpd()
    try:
        print(
            f"{args.messages} messages of {args.size} bytes, "
            f"{args.producers} producers, {args.consumers} consumers",
            flush=True,
        )
        print(f"{'scenario':26} {'broker':9} {'msg/s':>9} {'p50 ms':>8} {'p99 ms':>8}")
        for name in SCENARIOS:
            figures = {}
            for broker, host, bport in (
                ("amqpd", "127.0.0.1", port),
                ("rabbitmq", ref_host, int(ref_port)),
            ):
                r = run_isolated(host, bport, name, args)
                figures[broker] = r
                print(
                    f"{name:26} {broker:9} {r['rate']:9.0f} {r['p50']:8.1f} {r['p99']:8.1f}",
                    flush=True,
                )
            ratio = figures["amqpd"]["rate"] / figures["rabbitmq"]["rate"]
            print(f"{name:26} {'ratio':9} {ratio:9.2f}x  (amqpd / RabbitMQ throughput)", flush=True)
    finally:
        proc.terminate()
        proc.wait(10)


if __name__ == "__main__":
    main()
