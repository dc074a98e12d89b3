"""Review of the durability and paging feature: the bugs it found (fixed since)
and the races it worried about, pinned.

Model-level tests use the World helper of test_model_durability (a broker over
a MemoryStore with virtual clocks; ``restart`` without closing sessions is a
kill -9); end-to-end ones use BrokerThread with a temporary data folder.
"""

from pamqp import commands, frame

from amqpd.config import BrokerConfig
from amqpd.model.errors import WaitForStore
from amqpd.model.queue import PAGE_WINDOW
from amqpd.testing import BrokerThread
from conformance.rawclient import RawClient
from tests.test_model_durability import World, declare, send
from tests.test_model_time import advance, args


def fill(session, total, key="q"):
    for i in range(total):
        send(session, str(i).encode(), key=key)


def get_all(world, session, queue="q"):
    """basic.get until empty, running a WaitForStore get again after a commit
    (as the shell does)."""
    got = []
    while True:
        try:
            session.do(1, commands.Basic.Get(queue=queue, no_ack=True))
        except WaitForStore:
            world.commit()
            continue
        [(_c, method, body)] = session.take()
        if isinstance(method, commands.Basic.GetEmpty):
            return got
        got.append(body)


def numbered(total):
    return [str(i).encode() for i in range(total)]


# ---- bugs the review found ------------------------------------------------------


def test_quorum_delivery_in_flight_at_a_crash_counts_as_a_return():
    # RabbitMQ's quorum queues return the messages of consumers that went down
    # (a node restart) with delivery_count + 1, and only report redelivered
    # when the count is above 0. amqpd stores (delivered=True, count=0) at
    # delivery and restores exactly that: redelivered, but no x-delivery-count,
    # and x-delivery-limit sees one delivery fewer.
    world = World()
    s = world.session()
    declare(s, **{"x-queue-type": "quorum"})
    send(s, b"poison")
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
    send(s, b"later", key="a", exchange="later",
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


def _pipelined_declare_and_close(port: int, queue: str) -> list[tuple[int, str]]:
    client = RawClient("127.0.0.1", port)
    try:
        client.handshake()
        client.open_channel(1)
        data = frame.marshal(commands.Queue.Declare(queue=queue, durable=True), 1)
        data += frame.marshal(commands.Channel.Close(200, "bye", 0, 0), 1)
        client.send_raw(data)  # one write: the broker reads both at once
        got = []
        for _ in range(2):
            channel, method = client.read_frame(timeout=5)
            got.append((channel, type(method).__name__))
        client.open_channel(2)
        client.send(2, commands.Queue.Delete(queue=queue))
        client.read_frame()
        return got
    finally:
        client.close()


def test_replies_to_pipelined_commands_keep_their_order(tmp_path):
    # RabbitMQ 3.10.8 (the reference) answers [queue.declare, channel.close]
    # sent in one write with declare-ok, then close-ok. amqpd's wire layer
    # sends close-ok while parsing, before the broker (held for the store, or
    # not) has answered the declare; the declare-ok then arrives on a channel
    # the client already considers closed.
    with BrokerThread(BrokerConfig(data_dir=str(tmp_path))) as broker:
        got = _pipelined_declare_and_close(broker.port, "review.pipelined")
    assert got == [(1, "DeclareOk"), (1, "CloseOk")]


# ---- checked and found correct ------------------------------------------------------


def test_a_purge_while_a_page_is_being_read_drops_the_stale_page():
    world = World()
    s = world.session()
    declare(s)
    world.settle()
    fill(s, PAGE_WINDOW + 500)
    world.settle()
    s.do(1, commands.Basic.Consume(queue="q", consumer_tag="c", no_ack=True))
    s.take()
    commit = world.model.journal.take()  # carries the page request
    assert commit.pages
    world.store.apply(commit.batch)
    pages = [world.store.read_messages(p.queue.store_id, p.from_seq, p.limit) for p in commit.pages]
    s.do(1, commands.Basic.Cancel(consumer_tag="c"))
    s.do(1, commands.Queue.Purge(queue="q"))
    fill(s, 10)
    for page, records in zip(commit.pages, pages, strict=True):
        world.model.page_read(page.queue, page.generation, records)  # stale: ignored
    world.model.committed(commit)
    world.model.dispatch()
    world.settle()
    s.take()
    assert world.model.vhosts["/"].queues["q"].message_count == 10
    assert get_all(world, s) == numbered(10)


def test_recovered_deliveries_of_a_deep_queue_keep_their_place():
    world = World()
    s = world.session()
    declare(s)
    world.settle()
    total = PAGE_WINDOW * 2 + 7
    fill(s, total)
    world.settle()
    s.do(1, commands.Basic.Qos(prefetch_count=1500))
    s.do(1, commands.Basic.Consume(queue="q", consumer_tag="c"))
    world.settle()
    s.do(1, commands.Basic.Cancel(consumer_tag="c"))
    s.do(1, commands.Basic.Recover(requeue=True))
    world.settle()
    s.take()
    assert get_all(world, s) == numbered(total)


def test_a_deep_queue_with_a_ttl_expires_whole_and_leaves_the_store():
    world = World()
    s = world.session()
    declare(s, **{"x-message-ttl": 1000})
    world.settle()
    fill(s, PAGE_WINDOW * 2 + 7)
    world.settle()
    advance(world.model, world.clock, 2.0)
    for _ in range(10):
        world.settle()
        advance(world.model, world.clock, 0.01)
    assert world.model.vhosts["/"].queues["q"].message_count == 0
    world.settle()
    assert world.store.messages == {}


def test_a_purge_of_a_deep_queue_keeps_its_unacked_message():
    world = World()
    s = world.session()
    declare(s)
    world.settle()
    fill(s, PAGE_WINDOW + 10)
    world.settle()
    s.do(1, commands.Basic.Get(queue="q"))  # unacked
    s.do(1, commands.Queue.Purge(queue="q"))
    world.settle()
    assert world.restart().model.vhosts["/"].queues["q"].message_count == 1
