"""Durability in the model: what waits for the store, what is written, what comes back.

A MemoryStore stands in for the disk; ``World.commit`` plays the shell's store
task (take the pending batch, write it, hand it back), and ``World.restart``
builds a new broker over the same store without closing the sessions, as a
kill -9 and a start would (see tests/model_world.py). Clocks are virtual.
Deep queues and their pages are in test_model_paging.
"""

import pytest
from pamqp import commands

from tests.model_world import World, acks, advance, args, declare, send


@pytest.fixture
def world():
    return World()


# ---- promises wait for the disk ---------------------------------------------------


def test_confirm_of_a_persistent_message_waits_for_its_commit(world):
    s = world.session(confirm=True)
    declare(s)
    world.settle()
    s.take()
    send(s, b"a", persistent=True)
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
    send(s, b"fast", persistent=True)
    [(_c, deliver, _b)] = s.take(commands.Basic.Deliver)
    s.do(1, commands.Basic.Ack(delivery_tag=deliver.delivery_tag))
    commit = world.model.journal.take()
    assert not commit.batch.puts and not commit.batch.removes
    assert len(commit.confirms) == 1  # still confirmed only after the commit


def test_a_second_declare_waits_for_the_queue_to_be_on_disk():
    world = World()
    first, second = world.session(), world.session()
    declare(first, "d")
    assert first.take() == []  # held: "d" is not on disk yet
    in_flight = world.model.journal.take()  # the worker thread is writing it
    declare(second, "d")  # the same declaration, from elsewhere
    # A crash now loses "d", yet the second client was already told it exists.
    assert second.take() == []
    world.store.apply(in_flight.batch)
    world.model.committed(in_flight)
    world.settle()
    assert [type(m) for _c, m, _b in second.take()] == [commands.Queue.DeclareOk]


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
        send(s, body, persistent=True)
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
    send(s, b"ack me", persistent=True)
    send(s, b"reject me", persistent=True)
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
    send(s, b"short", expiration="10000", persistent=True)
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
    send(s, b"in 5 s", exchange="later", headers={"x-delay": ("l", 5000)}, persistent=True)
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
    send(s, b"again", persistent=True)
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


def test_quorum_delivery_in_flight_at_a_crash_counts_as_a_return():
    # RabbitMQ's quorum queues return the messages of consumers that went down
    # (a node restart) with delivery_count + 1, and only report redelivered
    # when the count is above 0. amqpd stores (delivered=True, count=0) at
    # delivery and restores exactly that: redelivered, but no x-delivery-count,
    # and x-delivery-limit sees one delivery fewer.
    world = World()
    s = world.session()
    declare(s, **{"x-queue-type": "quorum"})
    send(s, b"poison", persistent=True)
    s.do(1, commands.Basic.Get(queue="q"))  # delivered, never settled
    after = world.restart()  # kill -9: the session never closed
    s2 = after.session()
    s2.do(1, commands.Basic.Get(queue="q"))
    [(_c, method, _b)] = s2.take()
    assert method.redelivered
    [unacked] = after.model.sessions[s2].channels[1].unacked.values()
    assert unacked.entry.delivery_count == 1


def _delayed_with_bcc(world):
    s = world.session()
    s.do(1, commands.Exchange.Declare(exchange="later", exchange_type="x-delayed-message",
                                      durable=True,
                                      arguments=args(**{"x-delayed-type": "direct"})))  # fmt: skip
    for name in ("a", "b"):
        declare(s, name)
        s.do(1, commands.Queue.Bind(queue=name, exchange="later", routing_key=name))
    send(s, b"later", key="a", exchange="later", persistent=True,
         headers={"x-delay": ("l", 5000), "BCC": ("A", [("S", b"b")])})  # fmt: skip


def test_a_delayed_message_reaches_its_bcc_queue_without_a_restart():
    world = World()
    _delayed_with_bcc(world)
    advance(world.model, world.clock, 10.0)
    queues = world.model.vhosts["/"].queues
    assert (queues["a"].message_count, queues["b"].message_count) == (1, 1)


def test_a_delayed_message_reaches_its_bcc_queue_after_a_restart():
    world = World()
    _delayed_with_bcc(world)
    after = world.restart(after=1.0)
    advance(after.model, after.clock, 10.0)
    queues = after.model.vhosts["/"].queues
    assert (queues["a"].message_count, queues["b"].message_count) == (1, 1)
