"""CPU cost of amqpd's hot path: publish -> deliver -> ack, through the wire and the model.

    python bench/hotpath.py [--messages 100000] [--size 128] [--prefetch 100]
                            [--ack-every 1] [--confirms] [--profile FILE]

One process, no sockets, no Trio. Two wire state machines
(``amqpd.wire.connection.Connection``), a publisher's and a consumer's, are fed
client bytes in memory; their events go to one ``amqpd.model.broker.Broker``
exactly as the Trio shell hands them over (amqpd/server/connection.py), through
a ``Session`` of the same shape. The client side is pre-encoded with pamqp: the
publisher sends rounds of --batch publishes while fewer than --window are
unacked, the consumer acks every delivery (or every --ack-every with
multiple=true) and, with --confirms, the publisher reads its confirms.

Two passes. The first is timed: msg/s end to end, and the share of that time
spent inside the broker (wire + model). The second, shorter one (--profile-messages)
runs under cProfile, switched on only around the broker's entry points, and
gives the function calls per message (Python functions and built-ins);
--profile FILE writes its stats for ``python -m pstats FILE`` or snakeviz. At
the end each pass checks that every message was delivered once, acked once
(the broker's queue is empty and nothing comes back when the consumer's channel
closes) and, with --confirms, confirmed once.

Only the entry points the shell uses are touched (Connection's receive_data,
next_event, data_to_send; Broker's connection_opened, channel_opened,
channel_closed, connection_closed, command, flush), so the model's insides can
change under it.
"""

from __future__ import annotations

import argparse
import cProfile
import platform
import pstats
import struct
import sys
import time
from dataclasses import dataclass

from pamqp import commands, frame, header
from pamqp.body import ContentBody

from amqpd.errors import AMQPError
from amqpd.model.broker import Broker
from amqpd.wire.connection import Connection, ConnectionSettings
from amqpd.wire.events import (
    ChannelClosed,
    ChannelOpened,
    CommandReceived,
    ConnectionClosed,
    ConnectionOpened,
)

PROTOCOL_HEADER = b"AMQP\x00\x00\x09\x01"
QUEUE = "hotpath"
TRACE_QUEUE = "hotpath-trace"  # --trace: where the firehose's copies go
RECEIVE_SIZE = 65536  # what the shell's reader takes from a socket at a time
MAX_OUTPUT = 4 * 1024 * 1024  # the shell's default max_connection_output
FRAME_HEAD = struct.Struct(">BHI")
DELIVER = struct.pack(">HH", 60, 60)
CONFIRM_ACK = struct.pack(">HH", 60, 80)
U64_BIT = struct.Struct(">QB")


class Guests:
    """The wire's Authority: guest/guest on vhost /."""

    def check_password(self, user: str, password: str) -> bool:
        return user == "guest" and password == "guest"

    def open_refusal(self, user: str, vhost: str) -> str | None:
        return None if vhost == "/" else f"vhost {vhost} not found"


class Meter:
    """Wraps every call into the broker: timed in the first pass, profiled in the second."""

    def __init__(self, profiler: cProfile.Profile | None = None) -> None:
        self.profiler = profiler
        self.seconds = 0.0
        self._began = 0.0

    def __enter__(self) -> None:
        if self.profiler:
            self.profiler.enable()
        else:
            self._began = time.perf_counter()

    def __exit__(self, *exc: object) -> None:
        if self.profiler:
            self.profiler.disable()
        else:
            self.seconds += time.perf_counter() - self._began


class Peer:
    """One client connection: the wire state machine, the Session the broker sees
    (as the shell's ConnectionHandler), and the hand-over of its events."""

    def __init__(self, broker: Broker, now: float) -> None:
        self.broker = broker
        self.conn = Connection(ConnectionSettings(), Guests(), now)
        self._rest = b""

    # ---- the Session ---------------------------------------------------------------
    name = "hotpath"

    @property
    def vhost(self) -> str:
        return self.conn.vhost or ""

    @property
    def user(self) -> str:
        return self.conn.user or ""

    @property
    def client_properties(self) -> dict:
        return self.conn.client_properties

    @property
    def writable(self) -> bool:
        return self.conn.pending_output < MAX_OUTPUT

    def send_method(self, channel: int, method) -> None:
        self.conn.send_method(channel, method)

    def send_content(self, channel: int, method, header, body: bytes) -> None:
        self.conn.send_content(channel, method, header, body)

    def send_delivery(self, channel: int, *delivery) -> None:
        self.conn.send_delivery(channel, *delivery)

    # ---- the shell's part ----------------------------------------------------------
    def feed(self, data: bytes, now: float) -> None:
        """Bytes from the client, in the reader's chunks, each followed by its events."""
        for at in range(0, len(data), RECEIVE_SIZE):
            self.conn.receive_data(data[at : at + RECEIVE_SIZE], now)
            self.handle_events()

    def handle_events(self) -> None:
        broker = self.broker
        while (event := self.conn.next_event()) is not None:
            try:
                match event:
                    case CommandReceived(channel=channel, command=command):
                        broker.command(self, channel, command)
                    case ChannelOpened(channel=channel):
                        broker.channel_opened(self, channel)
                    case ChannelClosed(channel=channel):
                        broker.channel_closed(self, channel)
                    case ConnectionOpened():
                        broker.connection_opened(self)
                    case ConnectionClosed():
                        broker.connection_closed(self)
            except AMQPError as err:
                channel = event.channel if isinstance(event, CommandReceived) else 0
                self.conn.fail(channel, err)
        broker.flush()

    def output(self) -> bytes:
        return self.conn.data_to_send()

    # ---- the client's part (set-up and checks only: pamqp, not timed) ---------------
    def call(self, now: float, *methods, channel: int = 1):
        """Send methods (after the protocol header, if the first is bytes); the replies."""
        data = b"".join(
            m if isinstance(m, bytes) else frame.marshal(m, 0 if _on_zero(m) else channel)
            for m in methods
        )
        self.feed(data, now)
        return decode_all(self.output())

    def open(self, now: float) -> None:
        self.call(now, PROTOCOL_HEADER)
        start_ok = commands.Connection.StartOk(
            client_properties={"product": "hotpath"},
            mechanism="PLAIN",
            response="\0guest\0guest",
            locale="en_US",
        )
        self.call(now, start_ok)
        replies = self.call(
            now,
            commands.Connection.TuneOk(2047, 131072, 0),
            commands.Connection.Open(virtual_host="/"),
            commands.Channel.Open(),
        )
        expect(replies, commands.Connection.OpenOk, commands.Channel.OpenOk)


def _on_zero(method) -> bool:
    return method.name.startswith("Connection.")


def decode_all(data: bytes) -> list:
    out = []
    while data:
        used, _channel, value = frame.unmarshal(data)
        out.append(value)
        data = data[used:]
    return out


def describe(data: bytes) -> str:
    """The first frame of ``data``, for an error message."""
    method = decode_all(data)[0]
    return f"{method.name} {dict(method)}"


def expect(replies: list, *kinds: type) -> list:
    got = [type(r) for r in replies]
    if got != list(kinds):
        raise RuntimeError(f"expected {[k.__name__ for k in kinds]}, got {replies!r}")
    return replies


# ---- one pass ----------------------------------------------------------------------------


@dataclass
class Result:
    messages: int
    published: int = 0
    delivered: int = 0
    acked: int = 0
    confirmed: int = 0
    seconds: float = 0.0
    broker_seconds: float = 0.0

    @property
    def rate(self) -> float:
        return self.messages / self.seconds


def publish_bytes(size: int) -> bytes:
    body = (bytes(range(256)) * (size // 256 + 1))[:size]
    out = frame.marshal(commands.Basic.Publish(exchange="", routing_key=QUEUE), 1)
    out += frame.marshal(header.ContentHeader(0, size, commands.Basic.Properties()), 1)
    for at in range(0, size, 131072 - 8):
        out += frame.marshal(ContentBody(body[at : at + 131072 - 8]), 1)
    return out


def ack_bytes(tag: int, multiple: bool) -> bytes:
    payload = CONFIRM_ACK + U64_BIT.pack(tag, multiple)
    return FRAME_HEAD.pack(1, 1, len(payload)) + payload + b"\xce"


def start_tracing(broker: Broker, consumer: Peer, now: float) -> None:
    """The firehose on, its copies kept by a queue that holds the last 1,000 of them."""
    broker.set_tracing("/", True)
    expect(
        consumer.call(
            now,
            commands.Queue.Declare(queue=TRACE_QUEUE, arguments={"x-max-length": 1000}),
            commands.Queue.Bind(queue=TRACE_QUEUE, exchange="amq.rabbitmq.trace", routing_key="#"),
        ),
        commands.Queue.DeclareOk,
        commands.Queue.BindOk,
    )


def run(
    messages: int,
    size: int = 128,
    prefetch: int = 100,
    ack_every: int = 1,
    confirms: bool = False,
    batch: int = 100,
    window: int = 1000,
    trace: bool = False,
    meter: Meter | None = None,
) -> Result:
    """Publish, deliver and ack ``messages``; checks that each went through once."""
    meter = meter or Meter()
    now = time.monotonic
    broker = Broker(("/",), clock=now)
    publisher, consumer = Peer(broker, now()), Peer(broker, now())
    publisher.open(now())
    consumer.open(now())
    expect(
        consumer.call(
            now(),
            commands.Queue.Declare(queue=QUEUE),
            commands.Basic.Qos(prefetch_count=prefetch),
            commands.Basic.Consume(queue=QUEUE, consumer_tag="hotpath"),
        ),
        commands.Queue.DeclareOk,
        commands.Basic.QosOk,
        commands.Basic.ConsumeOk,
    )
    if confirms:
        expect(publisher.call(now(), commands.Confirm.Select()), commands.Confirm.SelectOk)
    if trace:
        start_tracing(broker, consumer, now())
    one = publish_bytes(size)
    result = Result(messages)
    confirmed = Tally(messages)
    last_tag = unacked = 0
    began = time.perf_counter()
    while result.acked < messages:
        room = min(batch, messages - result.published, window - (result.published - result.acked))
        if room > 0:
            with meter:
                publisher.feed(one * room, now())
            result.published += room
        with meter:
            out = consumer.output()
        tags = deliveries(out)
        if tags:
            if tags[0] != last_tag + 1 or tags[-1] != last_tag + len(tags):
                raise RuntimeError(f"delivery tags {tags[0]}..{tags[-1]} after {last_tag}")
            last_tag = tags[-1]
            result.delivered += len(tags)
            if ack_every == 1:
                acks = b"".join([ack_bytes(tag, False) for tag in tags])
                result.acked += len(tags)
            else:
                unacked += len(tags)
                due = unacked >= ack_every or result.delivered == messages
                acks = ack_bytes(last_tag, True) if due else b""
                if due:
                    result.acked, unacked = result.delivered, 0
            if acks:
                with meter:
                    consumer.feed(acks, now())
        elif room <= 0:
            raise RuntimeError(f"stuck at {result.delivered} delivered, {result.acked} acked")
        if confirms:
            with meter:
                out = publisher.output()
            confirmed.settle(out)
    result.seconds = time.perf_counter() - began
    result.broker_seconds = meter.seconds
    if confirms:
        confirmed.settle(publisher.output())
        result.confirmed = confirmed.count
    check(result, publisher, consumer, confirms)
    return result


def deliveries(data: bytes) -> list[int]:
    """The delivery tags of the basic.delivers in the consumer's output (in order);
    any other method but a delivery's content is a fault."""
    tags, at, end = [], 0, len(data)
    while at < end:
        kind, _channel, size = FRAME_HEAD.unpack_from(data, at)
        if kind == 1:
            if data[at + 7 : at + 11] != DELIVER:
                raise RuntimeError(f"consumer got {describe(data[at:])}")
            tag_at = at + 12 + data[at + 11]  # after the consumer tag
            tag, redelivered = U64_BIT.unpack_from(data, tag_at)
            if redelivered:
                raise RuntimeError(f"delivery {tag} was a redelivery")
            tags.append(tag)
        at += 8 + size
    return tags


class Tally:
    """Publisher confirms, each tag once: multiple=true acks cover everything up to theirs."""

    def __init__(self, messages: int) -> None:
        self.seen = bytearray(messages + 1)
        self.count = self.upto = 0

    def settle(self, data: bytes) -> None:
        at, end = 0, len(data)
        while at < end:
            kind, _channel, size = FRAME_HEAD.unpack_from(data, at)
            if kind != 1 or data[at + 7 : at + 11] != CONFIRM_ACK:
                raise RuntimeError(f"publisher got {describe(data[at:])}")
            tag, multiple = U64_BIT.unpack_from(data, at + 11)
            for t in range(self.upto + 1, tag + 1) if multiple else (tag,):
                if self.seen[t] and not multiple:
                    raise RuntimeError(f"confirm {t} came twice")
                self.count += not self.seen[t]
                self.seen[t] = 1
            if multiple:
                self.upto = tag
            at += 8 + size


def check(result: Result, publisher: Peer, consumer: Peer, confirms: bool) -> None:
    """Every message delivered and acked once: nothing left in the queue, nothing
    requeued when the consumer's channel closes; with confirms, each confirmed."""
    n = result.messages
    if (result.published, result.delivered, result.acked) != (n, n, n):
        raise RuntimeError(f"published/delivered/acked {result} of {n}")
    if confirms and result.confirmed != n:
        raise RuntimeError(f"{result.confirmed} of {n} confirmed")
    t = time.monotonic()
    passive = commands.Queue.Declare(queue=QUEUE, passive=True)
    (ok,) = expect(consumer.call(t, passive), commands.Queue.DeclareOk)
    if (ok.message_count, ok.consumer_count) != (0, 1):
        raise RuntimeError(f"after the run the queue holds {ok.message_count} messages")
    expect(consumer.call(t, commands.Channel.Close(200, "done", 0, 0)), commands.Channel.CloseOk)
    (ok,) = expect(publisher.call(t, passive), commands.Queue.DeclareOk)
    if (ok.message_count, ok.consumer_count) != (0, 0):
        raise RuntimeError(f"{ok.message_count} messages came back unacked")
    for peer in (publisher, consumer):
        close = commands.Connection.Close(200, "done", 0, 0)
        expect(peer.call(t, close), commands.Connection.CloseOk)


# ---- the two passes ----------------------------------------------------------------------


def count_calls(profiler: cProfile.Profile) -> tuple[int, int]:
    """(Python function calls, built-in calls) recorded, leaving out the Meter's own."""
    python = builtin = 0
    for (filename, _line, name), (_cc, calls, *_rest) in pstats.Stats(profiler).stats.items():
        if filename == "~":
            if "_lsprof.Profiler" not in name:
                builtin += calls
        elif not (filename == __file__ and name == "__exit__"):
            python += calls
    return python, builtin


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--messages", type=int, default=100_000, help="timed pass")
    parser.add_argument("--size", type=int, default=128, help="body bytes")
    parser.add_argument("--prefetch", type=int, default=100)
    parser.add_argument("--ack-every", type=int, default=1, help="1: one ack per delivery")
    parser.add_argument("--confirms", action="store_true", help="publisher confirms")
    parser.add_argument("--batch", type=int, default=100, help="publishes fed at a time")
    parser.add_argument("--window", type=int, default=1000, help="most messages unacked")
    parser.add_argument("--trace", action="store_true", help="the firehose tracer on")
    parser.add_argument("--profile-messages", type=int, default=10_000, help="profiled pass")
    parser.add_argument("--profile", metavar="FILE", help="write the profiled pass's pstats")
    args = parser.parse_args()
    if min(args.messages, args.prefetch, args.ack_every, args.batch, args.window) < 1:
        parser.error("counts must be at least 1")
    if args.ack_every > args.prefetch:
        parser.error("--ack-every above --prefetch: the consumer would wait forever")
    options = dict(
        size=args.size,
        prefetch=args.prefetch,
        ack_every=args.ack_every,
        confirms=args.confirms,
        batch=args.batch,
        window=args.window,
        trace=args.trace,
    )
    acks = "one ack per delivery" if args.ack_every == 1 else f"multiple-ack every {args.ack_every}"
    print(
        f"hotpath: {args.messages:,} messages of {args.size} bytes, prefetch {args.prefetch}, "
        f"{acks}, confirms {'on' if args.confirms else 'off'}"
        f"{', firehose tracer on' if args.trace else ''}; "
        f"Python {platform.python_version()}",
        flush=True,
    )
    timed = run(args.messages, **options)
    share = timed.broker_seconds / timed.seconds
    print(
        f"  {timed.rate:10,.0f} msg/s   publish -> deliver -> ack in one process; "
        f"{share:.0%} of the time in the broker (wire + model)",
        flush=True,
    )
    profiled_n = min(args.profile_messages, args.messages)
    profiler = cProfile.Profile()
    run(profiled_n, meter=Meter(profiler), **options)
    python, builtin = count_calls(profiler)
    print(
        f"  {(python + builtin) / profiled_n:10,.0f} calls/message in the broker: "
        f"{python / profiled_n:,.0f} Python functions, {builtin / profiled_n:,.0f} built-ins "
        f"({profiled_n:,} messages under cProfile)"
    )
    check_text = "delivered and acked once" + (", confirmed once" if args.confirms else "")
    print(f"  every message {check_text}")
    if args.profile:
        profiler.dump_stats(args.profile)
        print(f"  profile written to {args.profile} (python -m pstats {args.profile})")


if __name__ == "__main__":
    sys.exit(main())
