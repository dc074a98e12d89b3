"""The broker model driven in-process: fake sessions, a virtual clock, a store in memory.

- ``FakeSession`` stands in for a connection: it records what the broker sends
  (``take``) and runs commands (``do``);
- ``Clock`` and ``advance`` drive the model's timers on virtual time;
- ``args`` builds an arguments table as the wire would hand it over;
- ``send`` publishes one message, ``count`` reads a queue's ready messages;
- ``World`` is a broker over a MemoryStore whose ``commit`` plays the shell's
  store task and whose ``restart`` builds a new broker on the same store;
  ``declare`` declares a (durable) queue, ``acks`` takes the confirms sent.
"""

from __future__ import annotations

from pamqp import commands

from amqpd.model import recovery
from amqpd.model.broker import Broker
from amqpd.model.journal import Journal
from amqpd.store.memory import MemoryStore
from amqpd.wire.assembler import Command
from amqpd.wire.codec import ContentHeader
from amqpd.wire.fieldtable import ArgTable
from amqpd.wire.properties import encode as encode_props

PROPS = commands.Basic.Properties(content_type="text/plain").marshal()
WALL = 1_700_000_000.0  # the wall clock of a World at virtual time 100


class FakeSession:
    """What the broker sees of a connection; what it sends piles up in ``sent``."""

    def __init__(self, broker, cancel_notify=True):
        self.vhost, self.user = "/", "guest"
        self.name = "127.0.0.1:50000 -> 127.0.0.1:5672"
        self.client_properties = {"capabilities": {"consumer_cancel_notify": cancel_notify}}
        self.writable = True
        self.sent = []
        self.broker = broker
        broker.connection_opened(self)

    def send_method(self, channel, method):
        self.sent.append((channel, method, None))

    def send_content(self, channel, method, header, body):
        self.sent.append((channel, method, body))

    def send_delivery(self, channel, ctag, tag, redelivered, exchange, key, header, body):
        method = commands.Basic.Deliver(ctag, tag, redelivered, exchange, key)
        self.sent.append((channel, method, body))

    def take(self, kind=None):
        """What was sent since the last take, as (channel, method, body); only
        methods of ``kind`` if given."""
        sent, self.sent = self.sent, []
        return [s for s in sent if kind is None or isinstance(s[1], kind)]

    def do(self, channel, method, body=None):
        """Run one command (with a text/plain body if given), then flush confirms."""
        header = ContentHeader(60, len(body), PROPS) if body is not None else None
        self.broker.command(self, channel, Command(method, header, body or b""))
        self.broker.flush()

    def open(self, channel=1):
        self.broker.channel_opened(self, channel)

    def bodies(self):
        return [s[2] for s in self.take(commands.Basic.Deliver)]


class Clock:
    """A virtual monotonic clock, starting at 100."""

    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def advance(model, clock, seconds):
    """Move the clock, firing every deadline on the way at its own time."""
    target = clock.now + seconds
    while (due := model.next_deadline()) is not None and due <= target:
        clock.now = due
        model.handle_timer(due)
    clock.now = target


def args(**values):
    """An arguments table as decoded off the wire (plain values, no wire types)."""
    table = ArgTable(values)
    table.types = {}
    return table


def send(
    session, body=b"m", key="q", exchange="", *, channel=1, mandatory=False, persistent=False,
    flush=True, **props,
):  # fmt: skip
    """basic.publish of one message; ``props`` as content properties (str values
    are encoded). Confirms are flushed after it unless ``flush`` is false."""
    if persistent:
        props["delivery_mode"] = 2
    raw = encode_props({k: v.encode() if isinstance(v, str) else v for k, v in props.items()})
    method = commands.Basic.Publish(exchange=exchange, routing_key=key, mandatory=mandatory)
    session.broker.command(
        session, channel, Command(method, ContentHeader(60, len(body), raw), body)
    )
    if flush:
        session.broker.flush()


def count(model, queue="q"):
    """The ready messages of a queue in vhost '/'."""
    return model.vhosts["/"].queues[queue].message_count


class World:
    """A broker over a store, with a virtual clock and a wall clock that follows it."""

    def __init__(self, store=None, wall_start=WALL):
        self.store = store or MemoryStore()
        self.clock = Clock()
        self.wall_start = wall_start
        self.model = Broker(
            clock=self.clock,
            wall_clock=lambda: self.wall_start + self.clock.now,
            consumer_timeout=None,
            journal=Journal(enabled=True),
        )
        recovery.restore(self.model, self.store.open(), self.store.read_messages)

    def session(self, channel=1, confirm=False):
        session = FakeSession(self.model)
        session.open(channel)
        if confirm:
            session.do(channel, commands.Confirm.Select())
        session.take()
        return session

    def commit(self):
        """The shell's store task, run once: write, read pages and stream logs, release."""
        model = self.model
        commit = model.journal.take()
        if commit is None:
            return []
        self.store.apply(commit.batch)
        for page in commit.pages:
            records = self.store.read_messages(page.page_id, page.from_seq, page.limit, page.level)
            model.page_read(page.queue, page.generation, records, page.level)
        for read in commit.stream_reads:
            records = self.store.read_stream(read.queue.store_id, read.from_offset, read.limit)
            model.stream_read(read, records)
        released = model.committed(commit)
        model.flush()
        return released

    def settle(self):
        while self.model.journal.pending:
            self.commit()

    def restart(self, after=0.0):
        """A new broker on the same store, ``after`` wall seconds later; without
        closing the sessions first, as after a kill -9."""
        self.settle()
        return World(self.store, self.wall_start + self.clock.now + after - 100.0)


def declare(session, name="q", durable=True, **arguments):
    """queue.declare on channel 1, durable unless told otherwise."""
    session.do(1, commands.Queue.Declare(queue=name, durable=durable, arguments=args(**arguments)))


def acks(session):
    """The delivery tags of the basic.acks sent since the last take."""
    return [m.delivery_tag for _c, m, _b in session.take(commands.Basic.Ack)]
