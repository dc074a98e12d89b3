"""Deep queues in the model: a window of messages in memory, the rest paged from the store.

A queue keeps at most PAGE_WINDOW ready messages in memory; the rest stay in
the store and are read back a page at a time as the window drains. Purges,
deletes, expiry and recovered deliveries must agree with the pages in flight.
Uses ``World`` (tests/model_world.py): a broker over a MemoryStore, virtual clocks.
"""

import pytest
from pamqp import commands

from amqpd.model.errors import WaitForStore
from amqpd.model.queue import PAGE_WINDOW
from tests.model_world import World, advance, declare, send


@pytest.fixture
def world():
    return World()


def fill(session, total, key="q"):
    for i in range(total):
        send(session, str(i).encode(), key=key, persistent=True)


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
        send(s, str(i).encode(), persistent=True)
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
        send(s, str(i).encode(), persistent=True)
    s.do(1, commands.Queue.Purge(queue="q"))
    [(_c, ok, _b)] = s.take(commands.Queue.PurgeOk)
    assert ok.message_count == PAGE_WINDOW + 100
    world.settle()
    assert world.store.messages == {}
    send(s, b"after", persistent=True)
    assert world.restart().model.vhosts["/"].queues["q"].message_count == 1


def test_deleting_a_queue_drops_its_stored_messages(world):
    s = world.session()
    declare(s)
    for i in range(10):
        send(s, str(i).encode(), persistent=True)
    world.settle()
    s.do(1, commands.Queue.Delete(queue="q"))
    world.settle()
    assert world.store.messages == {} and world.store.queues == {}


# ---- pages in flight while the queue changes ---------------------------------------


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
