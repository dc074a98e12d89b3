"""Durable messaging in amqpd next to RabbitMQ: persistent messages, confirms, deep queues.

    python bench/durable_bench.py [--messages 100000] [--size 1024] [--producers 2]
                                  [--consumers 2] [--window 1000] [--rate 1000]
                                  [--latency-messages 10000] [--backlog 1000000]
                                  [--prefetch 500] [--skip-reference-backlog] [--parts 1,2,3]

Every message is persistent (delivery-mode 2) and goes to a durable queue; every
publisher uses confirms. amqpd runs as a subprocess on a free port with its data
folder in a temporary directory (removed at the end); the reference RabbitMQ is
AMQPD_REFERENCE_HOSTPORT (default 127.0.0.1:5672, guest/guest). Each scenario runs
in a fresh interpreter; the clients are lean raw-socket processes (pre-encoded
frames) so that the brokers, not a client library, set the pace.

1. Throughput: --producers processes each keep up to --window unconfirmed
   publishes in flight; --consumers processes consume with manual acks
   (prefetch 200, multiple-acks). msg/s = messages / time until every message
   was both confirmed and consumed.
2. Confirm latency: one publisher at a fixed --rate; publish->confirm p50, p99 and
   max. Once with no consumer (every message must reach the disk before its
   confirm) and once with a consumer acking (both brokers may then confirm a
   message that was consumed before it was written).
3. Backlog: --backlog messages published (confirmed) into one durable queue with
   no consumer; then the broker's resident memory (VmRSS, and VmHWM, from
   /proc/<pid>/status) and its store's size on disk; a restart after SIGKILL (at
   once, with the last commits still in SQLite's write-ahead log) and then one
   after SIGTERM, each timed until the port accepts TCP, and until an AMQP
   connection's passive queue.declare reports the full count; the memory after
   recovery; then a drain by --consumers consumers (prefetch --prefetch,
   multiple-acks every prefetch/2) with the memory sampled throughout. On
   RabbitMQ (unless --skip-reference-backlog) the same publish and drain, but no
   restart (the reference is shared); its memory and disk figures need a local
   broker and rabbitmqctl (beam.smp's RSS, the data folder's growth).

Figures depend on the machine, its disk and whatever else runs on it; compare
the ratios. The queues are deleted at the end on both brokers.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import multiprocessing as mp
import os
import shutil
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time
import uuid
from collections import deque

from pamqp import commands, frame, header
from pamqp.body import ContentBody

PROTOCOL_HEADER = b"AMQP\x00\x00\x09\x01"
FRAME_MAX = 131072
MIB = 1024 * 1024
DELIVER = struct.pack(">HH", 60, 60)
ACK = struct.pack(">HH", 60, 80)
NACK = struct.pack(">HH", 60, 120)
THROUGHPUT_PREFETCH = 200


def log(text: str) -> None:
    print(f"  .. {text}", file=sys.stderr, flush=True)


# ---- a lean AMQP client -------------------------------------------------------------


class BrokerError(Exception):
    """The broker closed the channel or the connection."""


class Client:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.buffer = bytearray()
        self.frames: deque[tuple[int, int, bytes]] = deque()
        self.frame_max = FRAME_MAX

    @classmethod
    async def connect(cls, host: str, port: int) -> Client:
        reader, writer = await asyncio.open_connection(host, port, limit=1 << 20)
        writer.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        client = cls(reader, writer)
        writer.write(PROTOCOL_HEADER)
        await client.expect(commands.Connection.Start)
        client.send(
            commands.Connection.StartOk(
                client_properties={"product": "durable_bench"},
                mechanism="PLAIN",
                response="\0guest\0guest",
                locale="en_US",
            ),
            channel=0,
        )
        tune = await client.expect(commands.Connection.Tune)
        client.frame_max = min(tune.frame_max or FRAME_MAX, FRAME_MAX)
        client.send(commands.Connection.TuneOk(2047, client.frame_max, 0), channel=0)
        client.send(commands.Connection.Open(virtual_host="/"), channel=0)
        await client.expect(commands.Connection.OpenOk)
        client.send(commands.Channel.Open())
        await client.expect(commands.Channel.OpenOk)
        return client

    def send(self, method, channel: int = 1) -> None:
        self.writer.write(frame.marshal(method, channel))

    async def read_frames(self) -> None:
        """Read at least one more whole frame into self.frames."""
        buf = self.buffer
        while True:
            pos, size = 0, len(buf)
            while size - pos >= 7:
                kind, channel, length = struct.unpack_from(">BHI", buf, pos)
                end = pos + 8 + length
                if end > size:
                    break
                self.frames.append((kind, channel, bytes(buf[pos + 7 : end - 1])))
                pos = end
            if pos:
                del buf[:pos]
                return
            data = await self.reader.read(1 << 18)
            if not data:
                raise BrokerError("connection closed by the broker")
            buf.extend(data)

    async def batch(self) -> list[tuple[int, int, bytes]]:
        """Every frame received so far (at least one)."""
        if not self.frames:
            await self.read_frames()
        out = list(self.frames)
        self.frames.clear()
        return out

    async def method(self):
        while True:
            if not self.frames:
                await self.read_frames()
            kind, channel, payload = self.frames.popleft()
            if kind == 1:
                return decode_method(channel, payload)

    async def expect(self, kind):
        method = await self.method()
        if not isinstance(method, kind):
            raise BrokerError(f"expected {kind.__name__}, got {method!r}")
        return method

    async def call(self, method, reply):
        self.send(method)
        return await self.expect(reply)

    async def close(self) -> None:
        try:
            self.send(commands.Connection.Close(200, "bye", 0, 0), channel=0)
            await self.writer.drain()
            async with asyncio.timeout(5):
                while not isinstance(await self.method(), commands.Connection.CloseOk):
                    pass
        except (BrokerError, OSError, TimeoutError):
            pass
        self.writer.close()


def decode_method(channel: int, payload: bytes):
    raw = struct.pack(">BHI", 1, channel, len(payload)) + payload + b"\xce"
    method = frame.unmarshal(raw)[2]
    if isinstance(method, commands.Channel.Close | commands.Connection.Close):
        raise BrokerError(f"{type(method).__name__}: {method.reply_code} {method.reply_text}")
    return method


def publish_bytes(queue: str, size: int, frame_max: int) -> bytes:
    """The frames of one persistent publish to the default exchange."""
    body = (bytes(range(256)) * (size // 256 + 1))[:size]
    out = frame.marshal(commands.Basic.Publish(exchange="", routing_key=queue), 1)
    properties = commands.Basic.Properties(delivery_mode=2, content_type="application/octet-stream")
    out += frame.marshal(header.ContentHeader(0, size, properties), 1)
    chunk = frame_max - 8
    for at in range(0, size, chunk):
        out += frame.marshal(ContentBody(body[at : at + chunk]), 1)
    return out


class Confirms:
    """Publishes awaiting their confirm, by delivery tag (tags are sent in order)."""

    def __init__(self, keep_latencies: bool = False) -> None:
        self.pending: dict[int, int] = {}  # tag -> monotonic_ns at publish
        self.order: deque[int] = deque()
        self.sent = 0
        self.nacked = 0
        self.latencies: list[int] | None = [] if keep_latencies else None
        self.changed = asyncio.Event()
        self.error: BaseException | None = None

    @property
    def outstanding(self) -> int:
        return len(self.pending)

    @property
    def confirmed(self) -> int:
        return self.sent - len(self.pending)

    def add(self, count: int, now_ns: int) -> None:
        for _ in range(count):
            self.sent += 1
            self.pending[self.sent] = now_ns
            self.order.append(self.sent)

    def settle(self, tag: int, multiple: bool, nack: bool, now_ns: int) -> None:
        if multiple:
            order = self.order
            while order and order[0] <= tag:
                self._resolve(order.popleft(), nack, now_ns)
        else:
            self._resolve(tag, nack, now_ns)
            while self.order and self.order[0] not in self.pending:
                self.order.popleft()

    def _resolve(self, tag: int, nack: bool, now_ns: int) -> None:
        sent_at = self.pending.pop(tag, None)
        if sent_at is None:
            return
        if nack:
            self.nacked += 1
        elif self.latencies is not None:
            self.latencies.append(now_ns - sent_at)

    async def wait(self) -> None:
        self.changed.clear()
        await self.changed.wait()
        if self.error:
            raise self.error


async def read_confirms(client: Client, confirms: Confirms, report=None) -> None:
    try:
        while True:
            frames = await client.batch()
            now = time.monotonic_ns()
            for kind, channel, payload in frames:
                if kind != 1:
                    continue
                head = payload[:4]
                if head == ACK or head == NACK:
                    tag, bits = struct.unpack_from(">QB", payload, 4)
                    confirms.settle(tag, bool(bits & 1), head == NACK, now)
                else:
                    decode_method(channel, payload)  # raises on a close
            if report:
                report(confirms.confirmed)
            confirms.changed.set()
    except BaseException as err:  # noqa: B036 - handed to the publishing loop
        confirms.error = err if not isinstance(err, asyncio.CancelledError) else None
        confirms.changed.set()
        raise


async def stop_task(task: asyncio.Task) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def produce(host, port, queue, count, size, window, report) -> int:
    """Publish ``count`` persistent messages keeping up to ``window`` unconfirmed."""
    client = await Client.connect(host, port)
    await client.call(commands.Confirm.Select(), commands.Confirm.SelectOk)
    message = publish_bytes(queue, size, client.frame_max)
    confirms = Confirms()
    reader = asyncio.create_task(read_confirms(client, confirms, report))
    while confirms.sent < count:
        room = window - confirms.outstanding
        if room <= 0:
            await confirms.wait()
            continue
        n = min(room, count - confirms.sent, 100)
        confirms.add(n, time.monotonic_ns())
        client.writer.write(message * n)
        await client.writer.drain()
    while confirms.outstanding:
        await confirms.wait()
    await stop_task(reader)
    await client.close()
    return confirms.nacked


async def consume(host, port, queue, prefetch, ack_every, report, ready, stop) -> None:
    """Consume with manual multiple-acks until ``stop`` is set."""
    client = await Client.connect(host, port)
    await client.call(commands.Basic.Qos(prefetch_count=prefetch), commands.Basic.QosOk)
    await client.call(commands.Basic.Consume(queue=queue), commands.Basic.ConsumeOk)
    ready.set()
    got = unacked = last_tag = 0

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
        for kind, channel, payload in frames:
            if kind != 1:
                continue
            if payload[:4] == DELIVER:
                last_tag = struct.unpack_from(">Q", payload, 5 + payload[4])[0]
                got += 1
                unacked += 1
                if unacked >= ack_every:
                    ack()
                    unacked = 0
            else:
                decode_method(channel, payload)  # raises on a close
        report(got)
        await client.writer.drain()
    if unacked:
        ack()
    await client.close()


async def queue_count(host: str, port: int, queue: str) -> int:
    client = await Client.connect(host, port)
    try:
        ok = await client.call(
            commands.Queue.Declare(queue=queue, passive=True), commands.Queue.DeclareOk
        )
        return ok.message_count
    finally:
        await client.close()


async def declare(host: str, port: int, queue: str) -> None:
    client = await Client.connect(host, port)
    await client.call(commands.Queue.Declare(queue=queue, durable=True), commands.Queue.DeclareOk)
    await client.close()


async def delete(host: str, port: int, queue: str) -> int:
    client = await Client.connect(host, port)
    ok = await client.call(commands.Queue.Delete(queue=queue), commands.Queue.DeleteOk)
    await client.close()
    return ok.message_count


# ---- worker processes and the load runner -------------------------------------------


def _producer_main(host, port, queue, count, size, window, slot, confirmed, finished, start):
    def report(n: int) -> None:
        confirmed[slot] = n

    start.wait()
    nacked = asyncio.run(produce(host, port, queue, count, size, window, report))
    finished[slot] = time.monotonic()
    sys.exit(3 if nacked else 0)


def _consumer_main(host, port, queue, prefetch, slot, consumed, last_at, ready, stop):
    def report(n: int) -> None:
        if n != consumed[slot]:
            consumed[slot] = n
            last_at[slot] = time.monotonic()

    ack_every = max(1, prefetch // 2)
    asyncio.run(consume(host, port, queue, prefetch, ack_every, report, ready, stop))


def rss_of(pid: int | None) -> dict[str, int]:
    """VmRSS and VmHWM of a process, in bytes (empty if unknown)."""
    if not pid:
        return {}
    out = {}
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(("VmRSS:", "VmHWM:")):
                    key, value = line.split(":")
                    out[key] = int(value.split()[0]) * 1024
    except OSError:
        pass
    return out


def run_load(
    host: str,
    port: int,
    queue: str,
    *,
    messages: int,
    producers: int,
    consumers: int,
    size: int,
    window: int,
    prefetch: int,
    watch_pid: int | None = None,
    stall_timeout: float = 120.0,
    label: str = "",
) -> dict:
    """Publish ``messages`` (over ``producers``) and/or consume ``messages`` (when
    producers is 0, what is queued) with ``consumers``; returns timings and the
    watched process's memory samples."""
    ctx = mp.get_context("fork")
    per = messages // producers if producers else 0
    to_publish = per * producers
    to_consume = (to_publish if producers else messages) if consumers else 0
    confirmed = ctx.RawArray("q", max(1, producers))
    finished = ctx.RawArray("d", max(1, producers))
    consumed = ctx.RawArray("q", max(1, consumers))
    last_at = ctx.RawArray("d", max(1, consumers))
    start, stop = ctx.Event(), ctx.Event()
    readies = [ctx.Event() for _ in range(consumers)]
    began = time.monotonic()  # a drain starts as soon as the consumers subscribe
    consumer_procs = [
        ctx.Process(
            target=_consumer_main,
            args=(host, port, queue, prefetch, i, consumed, last_at, readies[i], stop),
        )
        for i in range(consumers)
    ]
    producer_procs = [
        ctx.Process(
            target=_producer_main,
            args=(host, port, queue, per, size, window, i, confirmed, finished, start),
        )
        for i in range(producers)
    ]
    for p in consumer_procs:
        p.start()
    for ready, p in zip(readies, consumer_procs, strict=True):
        while not ready.wait(0.5):
            if not p.is_alive():
                raise RuntimeError(f"consumer exited early (code {p.exitcode})")
    for p in producer_procs:
        p.start()
    if producers:
        began = time.monotonic()
    start.set()
    samples: list[tuple[float, int]] = []
    progress: list[tuple[float, int, int]] = [(0.0, 0, 0)]
    last_progress, last_change = (-1, -1), time.monotonic()
    next_log = time.monotonic() + 10
    error = None
    try:
        while True:
            time.sleep(0.25)
            now = time.monotonic()
            rss = rss_of(watch_pid).get("VmRSS")
            if rss:
                samples.append((now - began, rss))
            pub, con = sum(confirmed[:producers]), sum(consumed[:consumers])
            progress.append((now - began, pub, con))
            if (pub, con) != last_progress:
                last_progress, last_change = (pub, con), now
            if now >= next_log:
                next_log = now + 10
                mem = f", broker RSS {rss / MIB:.0f} MiB" if rss else ""
                log(f"{label}{now - began:6.0f}s: {pub} confirmed, {con} consumed{mem}")
            failed = [p.exitcode for p in producer_procs + consumer_procs if p.exitcode]
            if failed:
                error = f"a client process failed (exit codes {failed})"
                break
            publishing = any(p.is_alive() for p in producer_procs)
            if not publishing and con >= to_consume:
                break
            if now - last_change > stall_timeout:
                error = (
                    f"stalled: no progress for {stall_timeout:.0f}s "
                    f"at {pub} confirmed, {con} consumed"
                )
                break
    finally:
        stop.set()
        for p in producer_procs + consumer_procs:
            p.join(30)
            if p.is_alive():
                p.kill()
                p.join()
    if error:
        raise RuntimeError(error)
    ends = list(finished[:producers]) + list(last_at[:consumers])
    ended = max(ends) if ends else time.monotonic()
    published_at = max(finished[:producers]) if producers else None
    rss = [r for _, r in samples]
    return {
        "published": to_publish,
        "consumed": sum(consumed[:consumers]),
        "seconds": ended - began,
        "publish_seconds": (published_at - began) if published_at else None,
        "rss_peak": max(rss) if rss else None,
        "rss_median": statistics.median(rss) if rss else None,
        "publish_tenths": tenths(progress, 1, to_publish),
        "consume_tenths": tenths(progress, 2, to_consume),
    }


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


# ---- the brokers --------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def disk_usage(path: str | None) -> int | None:
    """Bytes allocated on disk by the files under ``path``."""
    if not path:
        return None
    total = 0
    try:
        for root, _dirs, files in os.walk(path):
            for name in files:
                try:
                    total += os.lstat(os.path.join(root, name)).st_blocks * 512
                except OSError:
                    pass
    except OSError:
        return None
    return total


class Amqpd:
    """An amqpd subprocess on a fixed port and data folder, restartable."""

    def __init__(self, workdir: str, port: int | None = None) -> None:
        self.workdir = workdir
        self.data = os.path.join(workdir, "data")
        self.log_path = os.path.join(workdir, "amqpd.log")
        self.port = port or free_port()
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        with open(self.log_path, "a") as logfile:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "amqpd",
                    "--bind",
                    "127.0.0.1",
                    "--port",
                    str(self.port),
                    "--data-dir",
                    self.data,
                    "--log-level",
                    "warning",
                ],
                stdout=logfile,
                stderr=subprocess.STDOUT,
            )

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def _check_alive(self) -> None:
        if self.proc.poll() is not None:
            raise RuntimeError(f"amqpd exited with code {self.proc.returncode}; see its log")

    def wait_port(self, timeout: float = 120) -> float:
        """Seconds until the port accepts a TCP connection."""
        began, deadline = time.monotonic(), time.monotonic() + timeout
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return time.monotonic() - began
            except OSError:
                self._check_alive()
                if time.monotonic() > deadline:
                    raise RuntimeError("amqpd did not open its port") from None
                time.sleep(0.005)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 120) -> tuple[float, int]:
        """Signal the broker; seconds until it exited, and its exit code."""
        began = time.monotonic()
        self.proc.send_signal(sig)
        code = self.proc.wait(timeout)
        return time.monotonic() - began, code

    def store_size(self) -> int:
        return disk_usage(self.data) or 0

    def wal_size(self) -> int:
        wal = [n for n in os.listdir(self.data) if n.endswith("-wal")]
        return sum(os.path.getsize(os.path.join(self.data, n)) for n in wal)

    def log_lines(self) -> list[str]:
        try:
            with open(self.log_path, errors="replace") as f:
                lines = [line.rstrip() for line in f if line.strip()]
        except OSError:
            return []
        return lines


def rabbitmq_local_info(host: str) -> dict:
    """The reference's OS pid and data folder, when it runs here and rabbitmqctl works."""
    if host not in ("127.0.0.1", "localhost", "::1") or not shutil.which("rabbitmqctl"):
        return {}
    try:
        out = subprocess.run(
            ["rabbitmqctl", "status", "--formatter", "json"],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        status = json.loads(out.stdout)
        pid, data = int(status["pid"]), status.get("data_directory")
    except (OSError, subprocess.SubprocessError, ValueError, KeyError, TypeError):
        return {}
    if not os.path.exists(f"/proc/{pid}/status"):
        return {}
    return {"pid": pid, "data_dir": data if data and os.access(data, os.R_OK) else None}


# ---- the scenarios (each in a fresh interpreter) ------------------------------------


def scenario_throughput(args) -> dict:
    queue = f"durable-bench-{uuid.uuid4().hex[:8]}"
    asyncio.run(declare(args.host, args.port, queue))
    try:
        r = run_load(
            args.host,
            args.port,
            queue,
            messages=args.messages,
            producers=args.producers,
            consumers=args.consumers,
            size=args.size,
            window=args.window,
            prefetch=THROUGHPUT_PREFETCH,
            watch_pid=args.watch_pid,
            label="throughput ",
        )
    finally:
        asyncio.run(delete(args.host, args.port, queue))
    return {
        "rate": r["published"] / r["seconds"],
        "confirm_rate": r["published"] / r["publish_seconds"],
        "messages": r["published"],
        "rss_peak": r["rss_peak"],
    }


async def _latency(host, port, queue, rate, count, size) -> dict:
    client = await Client.connect(host, port)
    await client.call(commands.Confirm.Select(), commands.Confirm.SelectOk)
    message = publish_bytes(queue, size, client.frame_max)
    confirms = Confirms(keep_latencies=True)
    reader = asyncio.create_task(read_confirms(client, confirms))
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
    await stop_task(reader)
    await client.close()
    lat = sorted(confirms.latencies)
    if not lat:
        raise RuntimeError("no confirms")
    return {
        "p50": lat[len(lat) // 2] / 1e6,
        "p99": lat[min(len(lat) - 1, int(len(lat) * 0.99))] / 1e6,
        "max": lat[-1] / 1e6,
        "mean": statistics.fmean(lat) / 1e6,
        "achieved_rate": count / sent_for,
        "late_sends": behind,
        "nacked": confirms.nacked,
    }


def scenario_latency(args, with_consumer: bool) -> dict:
    queue = f"durable-bench-{uuid.uuid4().hex[:8]}"
    asyncio.run(declare(args.host, args.port, queue))
    ctx = mp.get_context("fork")
    consumer = None
    try:
        if with_consumer:
            consumed, last_at = ctx.RawArray("q", 1), ctx.RawArray("d", 1)
            ready, stop = ctx.Event(), ctx.Event()
            consumer = ctx.Process(
                target=_consumer_main,
                args=(args.host, args.port, queue, 100, 0, consumed, last_at, ready, stop),
            )
            consumer.start()
            if not ready.wait(30):
                raise RuntimeError("consumer did not start")
        r = asyncio.run(
            _latency(args.host, args.port, queue, args.rate, args.latency_messages, args.size)
        )
        if consumer:
            deadline = time.monotonic() + 60
            while consumed[0] < args.latency_messages and time.monotonic() < deadline:
                time.sleep(0.05)
            stop.set()
            consumer.join(30)
    finally:
        if consumer and consumer.is_alive():
            consumer.kill()
        asyncio.run(delete(args.host, args.port, queue))
    return r


def scenario_backlog_amqpd(args) -> dict:
    workdir = tempfile.mkdtemp(prefix="amqpd-durable-bench-")
    broker = Amqpd(workdir)
    queue = f"durable-bench-backlog-{uuid.uuid4().hex[:8]}"
    host, port = "127.0.0.1", broker.port
    out: dict = {}
    try:
        broker.start()
        broker.wait_port()
        asyncio.run(queue_count_retry(host, port, None))
        out["rss_idle"] = rss_of(broker.pid).get("VmRSS")
        asyncio.run(declare(host, port, queue))
        log(f"amqpd: publishing {args.backlog} persistent messages of {args.size} bytes")
        r = run_load(
            host,
            port,
            queue,
            messages=args.backlog,
            producers=args.producers,
            consumers=0,
            size=args.size,
            window=args.window,
            prefetch=args.prefetch,
            watch_pid=broker.pid,
            label="amqpd backlog publish ",
        )
        total = r["published"]
        out["backlog"] = total
        out["publish_rate"] = total / r["publish_seconds"]
        out["rss_publish_peak"] = r["rss_peak"]
        out["publish_tenths"] = r["publish_tenths"]
        out["count_after_publish"] = asyncio.run(queue_count(host, port, queue))
        time.sleep(2)
        mem = rss_of(broker.pid)
        out["rss_backlog"], out["hwm_backlog"] = mem.get("VmRSS"), mem.get("VmHWM")
        out["disk_backlog"] = broker.store_size()
        out["wal_backlog"] = broker.wal_size()
        # SIGKILL first, while the write-ahead log still holds the last commits.
        for variant, sig in (("sigkill", signal.SIGKILL), ("sigterm", signal.SIGTERM)):
            log(f"amqpd: restart after {variant.upper()}")
            out[variant] = restart(broker, sig, queue, total)
        log("amqpd: draining")
        d = run_load(
            host,
            port,
            queue,
            messages=total,
            producers=0,
            consumers=args.consumers,
            size=args.size,
            window=args.window,
            prefetch=args.prefetch,
            watch_pid=broker.pid,
            label="amqpd drain ",
        )
        out["drain_rate"] = d["consumed"] / d["seconds"]
        out["drain_tenths"] = d["consume_tenths"]
        out["drained"] = d["consumed"]
        out["rss_drain_peak"], out["rss_drain_median"] = d["rss_peak"], d["rss_median"]
        out["count_after_drain"] = asyncio.run(queue_count(host, port, queue))
        mem = rss_of(broker.pid)
        out["rss_after_drain"], out["hwm_after_drain"] = mem.get("VmRSS"), mem.get("VmHWM")
        out["disk_after_drain"] = broker.store_size()
        out["wal_after_drain"] = broker.wal_size()
    finally:
        if broker.proc and broker.proc.poll() is None:
            try:
                asyncio.run(delete(host, port, queue))
                out["disk_after_delete"] = broker.store_size()
            except (OSError, BrokerError) as err:
                log(f"amqpd: queue delete failed: {err}")
            seconds, code = broker.stop()
            out["final_stop"] = {"seconds": seconds, "code": code}
        out["log"] = broker.log_lines()
        shutil.rmtree(workdir, ignore_errors=True)
    return out


async def queue_count_retry(host, port, queue, timeout: float = 120) -> int | None:
    """Connect (retrying while the broker comes up); the queue's count, if one is named."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            client = await Client.connect(host, port)
            break
        except (OSError, BrokerError, asyncio.IncompleteReadError):
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.01)
    try:
        if queue is None:
            return None
        ok = await client.call(
            commands.Queue.Declare(queue=queue, passive=True), commands.Queue.DeclareOk
        )
        return ok.message_count
    finally:
        await client.close()


def restart(broker: Amqpd, sig: int, queue: str, expected: int) -> dict:
    stop_seconds, code = broker.stop(sig)
    wal = broker.wal_size()
    began = time.monotonic()
    broker.start()
    port_open = broker.wait_port()
    count = asyncio.run(queue_count_retry("127.0.0.1", broker.port, queue))
    ready = time.monotonic() - began
    deadline = time.monotonic() + 30
    while count != expected and time.monotonic() < deadline:
        time.sleep(0.5)
        count = asyncio.run(queue_count("127.0.0.1", broker.port, queue))
    if count == expected:
        ready = time.monotonic() - began
    mem = rss_of(broker.pid)
    time.sleep(2)
    later = rss_of(broker.pid)
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


def scenario_backlog_rabbitmq(args) -> dict:
    host, port = args.host, args.port
    info = rabbitmq_local_info(host)
    pid, data_dir = info.get("pid"), info.get("data_dir")
    queue = f"durable-bench-backlog-{uuid.uuid4().hex[:8]}"
    out: dict = {"rss_idle": rss_of(pid).get("VmRSS")}
    disk_before = disk_usage(data_dir)
    asyncio.run(declare(host, port, queue))
    try:
        log(f"RabbitMQ: publishing {args.backlog} persistent messages of {args.size} bytes")
        r = run_load(
            host,
            port,
            queue,
            messages=args.backlog,
            producers=args.producers,
            consumers=0,
            size=args.size,
            window=args.window,
            prefetch=args.prefetch,
            watch_pid=pid,
            label="RabbitMQ backlog publish ",
        )
        total = r["published"]
        out["backlog"] = total
        out["publish_rate"] = total / r["publish_seconds"]
        out["rss_publish_peak"] = r["rss_peak"]
        out["publish_tenths"] = r["publish_tenths"]
        out["count_after_publish"] = asyncio.run(queue_count(host, port, queue))
        time.sleep(2)
        out["rss_backlog"] = rss_of(pid).get("VmRSS")
        disk = disk_usage(data_dir)
        out["disk_backlog"] = disk - disk_before if disk is not None else None
        log("RabbitMQ: draining")
        d = run_load(
            host,
            port,
            queue,
            messages=total,
            producers=0,
            consumers=args.consumers,
            size=args.size,
            window=args.window,
            prefetch=args.prefetch,
            watch_pid=pid,
            label="RabbitMQ drain ",
        )
        out["drain_rate"] = d["consumed"] / d["seconds"]
        out["drain_tenths"] = d["consume_tenths"]
        out["drained"] = d["consumed"]
        out["rss_drain_peak"], out["rss_drain_median"] = d["rss_peak"], d["rss_median"]
        out["count_after_drain"] = asyncio.run(queue_count(host, port, queue))
        out["rss_after_drain"] = rss_of(pid).get("VmRSS")
    finally:
        try:
            asyncio.run(delete(host, port, queue))
        except (OSError, BrokerError) as err:
            log(f"RabbitMQ: could not delete queue {queue}: {err}")
    return out


SCENARIOS = {
    "throughput": scenario_throughput,
    "latency": lambda args: scenario_latency(args, with_consumer=False),
    "latency-consumer": lambda args: scenario_latency(args, with_consumer=True),
    "backlog-amqpd": scenario_backlog_amqpd,
    "backlog-rabbitmq": scenario_backlog_rabbitmq,
}

PASSED_ON = (
    "messages",
    "size",
    "producers",
    "consumers",
    "window",
    "rate",
    "latency_messages",
    "backlog",
    "prefetch",
)


def run_isolated(name: str, host: str, port: int, args, watch_pid: int | None = None) -> dict:
    """One scenario in a fresh interpreter; its progress goes to our stderr."""
    command = [sys.executable, __file__, "--one", name, "--host", host, "--port", str(port)]
    for key in PASSED_ON:
        command += [f"--{key.replace('_', '-')}", str(getattr(args, key))]
    if watch_pid:
        command += ["--watch-pid", str(watch_pid)]
    out = subprocess.run(command, stdout=subprocess.PIPE, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


# ---- reporting ----------------------------------------------------------------------


def fmt(value, kind: str) -> str:
    if value is None:
        return "n/a"
    if kind == "rate":
        return f"{value:,.0f}"
    if kind == "ms":
        return f"{value:.1f}" if value >= 10 else f"{value:.2f}"
    if kind == "mib":
        return f"{value / MIB:,.0f}"
    if kind == "s":
        return f"{value:.2f}"
    if kind == "count":
        return f"{value:,}"
    if kind == "tenths":
        return " ".join(f"{v / 1000:.0f}k" for v in value) or "n/a"
    return str(value)


def ratio(a, b) -> str:
    if a is None or b is None or not b:
        return ""
    return f"{a / b:.2f}x"


class Table:
    def __init__(self) -> None:
        self.rows: list[tuple[str, str, str, str]] = []

    def add(self, metric: str, a, b, kind: str, with_ratio: bool = True) -> None:
        self.rows.append((metric, fmt(a, kind), fmt(b, kind), ratio(a, b) if with_ratio else ""))

    def print(self) -> None:
        print("| metric | amqpd | RabbitMQ | amqpd / RabbitMQ |")
        print("|---|---:|---:|---:|")
        for metric, a, b, r in self.rows:
            print(f"| {metric} | {a} | {b} | {r} |")


def print_row(scenario: str, broker: str, text: str) -> None:
    print(f"  {scenario:30} {broker:9} {text}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
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
    parser.add_argument("--one", help=argparse.SUPPRESS)
    parser.add_argument("--host", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--watch-pid", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(SCENARIOS[args.one](args)), flush=True)
        return

    parts = {int(p) for p in args.parts.split(",") if p.strip()}
    reference = os.environ.get("AMQPD_REFERENCE_HOSTPORT", "127.0.0.1:5672")
    ref_host, ref_port = reference.rsplit(":", 1)
    rabbit_pid = rabbitmq_local_info(ref_host).get("pid")
    print(
        f"persistent messages of {args.size} bytes to durable queues, publisher confirms; "
        f"{os.cpu_count()} CPUs; Python {sys.version.split()[0]}",
        flush=True,
    )
    results: dict[tuple[str, str], dict] = {}
    if parts & {1, 2}:
        workdir = tempfile.mkdtemp(prefix="amqpd-durable-bench-")
        broker = Amqpd(workdir)
        broker.start()
        broker.wait_port()
        brokers = (
            ("amqpd", "127.0.0.1", broker.port, broker.pid),
            ("rabbitmq", ref_host, int(ref_port), rabbit_pid),
        )
        try:
            if 1 in parts:
                print(
                    f"1. throughput: {args.messages} messages, {args.producers} producers "
                    f"(window {args.window}), {args.consumers} consumers "
                    f"(prefetch {THROUGHPUT_PREFETCH})",
                    flush=True,
                )
                for name, host, port, pid in brokers:
                    r = run_isolated("throughput", host, port, args, pid)
                    results[("throughput", name)] = r
                    print_row(
                        "persistent + confirms",
                        name,
                        f"{r['rate']:9.0f} msg/s  (confirmed {r['confirm_rate']:.0f} msg/s)",
                    )
            if 2 in parts:
                print(
                    f"2. confirm latency: one publisher at {args.rate:.0f} msg/s, "
                    f"{args.latency_messages} messages",
                    flush=True,
                )
                for scenario in ("latency", "latency-consumer"):
                    for name, host, port, _pid in brokers:
                        r = run_isolated(scenario, host, port, args)
                        results[(scenario, name)] = r
                        print_row(
                            scenario,
                            name,
                            f"p50 {r['p50']:.2f} ms, p99 {r['p99']:.2f} ms, max {r['max']:.2f} ms"
                            f" (sent at {r['achieved_rate']:.0f} msg/s)",
                        )
        finally:
            seconds, code = broker.stop()
            problems = broker.log_lines()
            shutil.rmtree(workdir, ignore_errors=True)
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
        results[("backlog", "amqpd")] = run_isolated("backlog-amqpd", "127.0.0.1", 0, args)
        if not args.skip_reference_backlog:
            results[("backlog", "rabbitmq")] = run_isolated(
                "backlog-rabbitmq", ref_host, int(ref_port), args
            )
    report(results, args)


def report(results: dict, args) -> None:
    t = Table()
    for scenario, rows in (
        (
            "throughput",
            (
                ("throughput, persistent + confirms, end to end (msg/s)", "rate", "rate"),
                ("throughput, confirmed by the broker (msg/s)", "confirm_rate", "rate"),
                ("throughput run: broker RSS peak (MiB)", "rss_peak", "mib"),
            ),
        ),
        (
            "latency",
            tuple(
                (f"confirm latency, no consumer, {k} (ms)", k, "ms") for k in ("p50", "p99", "max")
            ),
        ),
        (
            "latency-consumer",
            tuple(
                (f"confirm latency, consumer acking, {k} (ms)", k, "ms")
                for k in ("p50", "p99", "max")
            ),
        ),
    ):
        a, b = results.get((scenario, "amqpd")), results.get((scenario, "rabbitmq"), {})
        if a:
            for metric, key, kind in rows:
                t.add(metric, a.get(key), b.get(key), kind)
    a = results.get(("backlog", "amqpd"))
    if a:
        b = results.get(("backlog", "rabbitmq"), {})
        both = (
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
        for metric, key, kind, with_ratio in both:
            t.add(metric, a.get(key), b.get(key), kind, with_ratio)
        n = fmt(a.get("backlog"), "count")
        for variant in ("sigkill", "sigterm"):
            r = a.get(variant) or {}
            v = variant.upper()
            t.rows.append(
                (
                    f"{v}: stop time (s) / exit code",
                    f"{fmt(r.get('stop_seconds'), 's')} / {r.get('exit_code')}",
                    "not restarted (shared)",
                    "",
                )
            )
            for metric, key, kind in (
                ("WAL at start-up (MiB)", "wal_at_start", "mib"),
                ("start-up until the port accepts TCP (s)", "port_open", "s"),
                ("start-up until passive declare reports the full count (s)", "ready", "s"),
                (f"messages after recovery (expected {n})", "count", "count"),
                ("RSS right after recovery (MiB)", "rss", "mib"),
                ("RSS 2 s after recovery (MiB)", "rss_2s", "mib"),
            ):
                t.add(f"{v}: {metric}", r.get(key), None, kind, False)
        for metric, key, kind, with_ratio in (
            (f"drain: msg/s (prefetch {args.prefetch}, multiple-acks)", "drain_rate", "rate", True),
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
        ):
            t.add(metric, a.get(key), b.get(key), kind, with_ratio)
        stop = a.get("final_stop") or {}
        t.rows.append(
            (
                "final SIGTERM: stop time (s) / exit code",
                f"{fmt(stop.get('seconds'), 's')} / {stop.get('code')}",
                "",
                "",
            )
        )
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


if __name__ == "__main__":
    main()
