"""Durability in the model: what waits for the store, what is written, what comes back.

A MemoryStore stands in for the disk; ``commit`` plays the shell's store task
(take the pending batch, write it, hand it back), and ``restart`` builds a new
broker over the same store, as a restart would. Clocks are virtual.
"""

import pytest
from pamqp import commands

from amqpd.model import recovery
from amqpd.model.broker import Broker
from amqpd.model.errors import WaitForStore
from amqpd.model.journal import Journal
from amqpd.model.queue import PAGE_WINDOW
from amqpd.store.memory import MemoryStore
from amqpd.wire.assembler import Command
from amqpd.wire.codec import ContentHeader
from amqpd.wire.properties import encode as encode_props
from tests.test_model_broker import FakeSession
from tests.test_model_time import Clock, advance, args

WALL = 1_700_000_000.0


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
        """The shell's store task, run once: write, read pages, release."""
        model = self.model
        commit = model.journal.take()
        if commit is None:
            return []
        self.store.apply(commit.batch)
        for page in commit.pages:
            records = self.store.read_messages(page.queue.store_id, page.from_seq, page.limit)
            model.page_read(page.queue, page.generation, records)
        released = model.committed(commit)
        model.flush()
        return released

    def settle(self):
        while self.model.journal.pending:
            self.commit()

    def restart(self, after=0.0):
        """A new broker on the same store, ``after`` wall seconds later."""
        self.settle()
        return World(self.store, self.wall_start + self.clock.now + after - 100.0)


def send(session, body=b"m", key="q", exchange="", persistent=True, **props):
    if persistent:
        props["delivery_mode"] = 2
    raw = encode_props({k: v.encode() if isinstance(v, str) else v for k, v in props.items()})
    header = ContentHeader(60, len(body), raw)
    method = commands.Basic.Publish(exchange=exchange, routing_key=key)
    session.broker.command(session, 1, Command(method, header, body))
    session.broker.flush()


def declare(session, name="q", durable=True, **arguments):
    session.do(1, commands.Queue.Declare(queue=name, durable=durable, arguments=args(**arguments)))


def acks(session):
    return [m.delivery_tag for _c, m, _b in session.take(commands.Basic.Ack)]


@pytest.fixture
def world():
    return World()


# ---- promises wait for the disk ---------------------------------------------------


def test_confirm_of_a_persistent_message_waits_for_its_commit(world):
    s = world.session(confirm=True)
    declare(s)
    world.settle()
    s.take()
    send(s, b"a")
    assert acks(s) == []
    assert world.store.messages == {}
    world.commit()
    assert acks(s) == [1]
    assert [r.body for r in world.store.messages.values()] == [b"a"]
    assert world.store.durable_batches >= 2  # the declaration, then the message


def test_transient_messages_and_transient_queues_are_confirmed_at_once(world):
    s = world.session(confirm=True)
    declare(s, "d")
    declare(s, "t", durable=False)
    world.settle()
    s.take()
    send(s, b"1", key="d", persistent=False)
    send(s, b"2", key="t", persistent=True)
    assert acks(s) == [1, 2]
    world.settle()
    assert world.store.messages == {}


def test_durable_declare_ok_waits_and_holds_the_session(world):
    s = world.session()
    declare(s, "d")
    assert s.take() == []
    assert world.model.is_held(s)
    assert world.commit() == [s]
    assert [type(m) for _c, m, _b in s.take()] == [commands.Queue.DeclareOk]
    assert not world.model.is_held(s)
    declare(s, "d")  # already there: nothing to write, answered at once
    assert [type(m) for _c, m, _b in s.take()] == [commands.Queue.DeclareOk]
    declare(s, "t", durable=False)
    assert [type(m) for _c, m, _b in s.take()] == [commands.Queue.DeclareOk]


def test_a_message_acked_before_its_batch_is_taken_is_never_written(world):
    s = world.session(confirm=True)
    declare(s)
    world.settle()
    s.do(1, commands.Basic.Consume(queue="q", consumer_tag="c"))
    s.take()
    send(s, b"fast")
    [(_c, deliver, _b)] = s.take(commands.Basic.Deliver)
    s.do(1, commands.Basic.Ack(delivery_tag=deliver.delivery_tag))
    commit = world.model.journal.take()
    assert not commit.batch.puts and not commit.batch.removes
    assert len(commit.confirms) == 1  # still confirmed only after the commit


# ---- what comes back after a restart ----------------------------------------------


def test_entities_survive_a_restart_and_transient_ones_do_not(world):
    s = world.session()
    s.do(1, commands.Exchange.Declare(exchange="dx", exchange_type="topic", durable=True))
    s.do(1, commands.Exchange.Declare(exchange="tx", exchange_type="fanout", durable=False))
    declare(s, "dq", **{"x-message-ttl": 60000})
    declare(s, "tq", durable=False)
    s.do(1, commands.Queue.Bind(queue="dq", exchange="dx", routing_key="a.*"))
    s.do(1, commands.Queue.Bind(queue="dq", exchange="amq.direct", routing_key="k"))
    s.do(1, commands.Queue.Bind(queue="tq", exchange="dx", routing_key="b"))
    s.do(1, commands.Exchange.Bind(destination="dx", source="amq.fanout"))
    vhost = world.restart().model.vhosts["/"]
    assert set(vhost.exchanges) >= {"dx"} and "tx" not in vhost.exchanges
    assert set(vhost.queues) == {"dq"}
    queue = vhost.queues["dq"]
    assert queue.message_ttl == 60000 and queue.durable
    assert queue.bindings == {("dx", "a.*", ()), ("amq.direct", "k", ())}
    assert [d for d, _k, _a in vhost.exchanges["amq.fanout"].bindings] == [("exchange", "dx")]


def test_messages_come_back_in_order_with_delivered_ones_redelivered(world):
    s = world.session()
    declare(s)
    for body in (b"1", b"2", b"3"):
        send(s, body)
    send(s, b"transient", persistent=False)
    s.do(1, commands.Basic.Get(queue="q"))  # "1" delivered, never acked
    world.settle()
    after = world.restart()
    s2 = after.session()
    got = []
    while True:
        s2.do(1, commands.Basic.Get(queue="q", no_ack=True))
        [(_c, method, body)] = s2.take()
        if isinstance(method, commands.Basic.GetEmpty):
            break
        got.append((body, method.redelivered))
    assert got == [(b"1", True), (b"2", False), (b"3", False)]


def test_acked_and_dead_lettered_messages_leave_the_store(world):
    s = world.session()
    declare(s, "dlq")
    declare(s, "q", **{"x-dead-letter-exchange": "", "x-dead-letter-routing-key": "dlq"})
    send(s, b"ack me")
    send(s, b"reject me")
    s.do(1, commands.Basic.Get(queue="q"))
    s.do(1, commands.Basic.Get(queue="q"))
    s.do(1, commands.Basic.Ack(delivery_tag=1))
    s.do(1, commands.Basic.Reject(delivery_tag=2, requeue=False))
    world.settle()
    assert [r.body for r in world.store.messages.values()] == [b"reject me"]
    vhost = world.restart().model.vhosts["/"]
    assert (vhost.queues["q"].message_count, vhost.queues["dlq"].message_count) == (0, 1)


def test_message_ttl_keeps_its_deadline_across_a_restart(world):
    s = world.session()
    declare(s)
    send(s, b"short", expiration="10000")
    advance(world.model, world.clock, 4.0)
    after = world.restart(after=3.0)  # 7 s of the 10 are gone
    queue = after.model.vhosts["/"].queues["q"]
    advance(after.model, after.clock, 2.9)
    assert queue.message_count == 1
    advance(after.model, after.clock, 0.2)
    assert queue.message_count == 0


def test_delayed_message_keeps_its_due_time_across_a_restart(world):
    s = world.session()
    delayed_args = args(**{"x-delayed-type": "direct"})
    s.do(1, commands.Exchange.Declare(exchange="later", exchange_type="x-delayed-message",
                                      durable=True, arguments=delayed_args))  # fmt: skip
    declare(s)
    s.do(1, commands.Queue.Bind(queue="q", exchange="later", routing_key="q"))
    send(s, b"in 5 s", exchange="later", headers={"x-delay": ("l", 5000)})
    after = world.restart(after=2.0)
    queue = after.model.vhosts["/"].queues["q"]
    advance(after.model, after.clock, 2.9)
    assert queue.message_count == 0
    advance(after.model, after.clock, 0.2)
    assert queue.message_count == 1
    after.settle()
    assert after.store.delayed == {}


def test_quorum_delivery_count_survives(world):
    s = world.session()
    declare(s, **{"x-queue-type": "quorum"})
    send(s, b"again")
    for tag in (1, 2):
        s.do(1, commands.Basic.Get(queue="q"))
        s.do(1, commands.Basic.Nack(delivery_tag=tag, requeue=True))
    after = world.restart()
    s2 = after.session()
    s2.do(1, commands.Basic.Get(queue="q"))
    [(_c, method, _b)] = s2.take()
    assert method.redelivered
    queue = after.model.vhosts["/"].queues["q"]
    assert queue.message_count == 0
    [unacked] = after.model.sessions[s2].channels[1].unacked.values()
    assert unacked.entry.delivery_count == 2


# ---- deep queues page ---------------------------------------------------------------


def test_a_deep_queue_keeps_a_window_in_memory_and_delivers_everything_in_order(world):
    s = world.session()
    declare(s)
    total = PAGE_WINDOW * 3 + 5
    for i in range(total):
        send(s, str(i).encode(), persistent=i % 2 == 0)
    queue = world.model.vhosts["/"].queues["q"]
    assert queue.message_count == total and queue.in_memory == PAGE_WINDOW
    world.settle()
    s.do(1, commands.Basic.Consume(queue="q", consumer_tag="c", no_ack=True))
    got = s.bodies()
    while len(got) < total:
        assert world.model.journal.pending, "a drained window must ask for the next page"
        world.commit()
        got += s.bodies()
    assert got == [str(i).encode() for i in range(total)]
    world.settle()
    assert world.store.messages == {}


def test_transient_paged_messages_do_not_survive_a_restart(world):
    s = world.session()
    declare(s)
    for i in range(PAGE_WINDOW + 10):
        send(s, str(i).encode(), persistent=i >= PAGE_WINDOW)
    send(s, b"paged transient", persistent=False)
    queue = world.restart().model.vhosts["/"].queues["q"]
    assert queue.message_count == 10


def test_get_on_an_empty_window_waits_for_the_store(world):
    s = world.session()
    declare(s)
    for i in range(PAGE_WINDOW + 3):
        send(s, str(i).encode())
    world.settle()
    s.take()
    queue = world.model.vhosts["/"].queues["q"]
    while queue.in_memory:
        queue.pop()  # as if the window were consumed elsewhere
    with pytest.raises(WaitForStore):
        s.do(1, commands.Basic.Get(queue="q", no_ack=True))
    assert world.model.is_held(s)
    assert world.commit() == [s]
    s.do(1, commands.Basic.Get(queue="q", no_ack=True))  # the shell runs it again
    [(_c, method, body)] = s.take()
    assert body == str(PAGE_WINDOW).encode() and method.message_count == 2


def test_purging_a_paged_queue_clears_memory_and_store(world):
    s = world.session()
    declare(s)
    for i in range(PAGE_WINDOW + 100):
        send(s, str(i).encode())
    s.do(1, commands.Queue.Purge(queue="q"))
    [(_c, ok, _b)] = s.take(commands.Queue.PurgeOk)
    assert ok.message_count == PAGE_WINDOW + 100
    world.settle()
    assert world.store.messages == {}
    send(s, b"after")
    assert world.restart().model.vhosts["/"].queues["q"].message_count == 1


def test_deleting_a_queue_drops_its_stored_messages(world):
    s = world.session()
    declare(s)
    for i in range(10):
        send(s, str(i).encode())
    world.settle()
    s.do(1, commands.Queue.Delete(queue="q"))
    world.settle()
    assert world.store.messages == {} and world.store.queues == {}
