"""Every kind of queue pages: transient, priority and length-limited queues.

With a small window (PAGE_WINDOW patched to 8, so a lane keeps 8 messages),
each kind keeps its order, priorities and limits while most of its messages
are only in the store: a transient queue's under an id of their own, dropped
with the queue or at a restart; a priority queue's in one paged lane per
priority; a length-limited queue counts paged messages and drops (and
dead-letters) heads that are paged. Uses ``World`` (tests/model_world.py).
"""

import pytest
from pamqp import commands

from amqpd.model import ready
from amqpd.model.admin import Admin
from amqpd.model.broker import Broker
from amqpd.model.errors import WaitForStore
from amqpd.model.policies import parse
from amqpd.model.policy_admin import PolicyAdmin
from tests.model_world import FakeSession, World, advance, declare, send

WINDOW = 8


@pytest.fixture(autouse=True)
def small_window(monkeypatch):
    monkeypatch.setattr(ready, "PAGE_WINDOW", WINDOW)


@pytest.fixture
def world():
    return World()


def queue_of(world, name="q"):
    return world.model.vhosts["/"].queues[name]


def get_all(world, session, queue="q", no_ack=True):
    """basic.get until empty, running a get that waits for the store again after
    a commit (as the shell does); returns (body, redelivered) pairs."""
    session.take()
    got = []
    while True:
        try:
            session.do(1, commands.Basic.Get(queue=queue, no_ack=no_ack))
        except WaitForStore:
            world.commit()
            continue
        [(_c, method, body)] = session.take()
        if isinstance(method, commands.Basic.GetEmpty):
            return got
        got.append((body, method.redelivered))
        world.settle()


def bodies(got):
    return [body for body, _redelivered in got]


def rows(world, name="q"):
    """Store rows of the queue (stored or transient)."""
    page_id = queue_of(world, name).page_id
    return [record for (qid, _seq), record in world.store.messages.items() if qid == page_id]


# ---- transient queues ---------------------------------------------------------------


@pytest.mark.parametrize("kind", ["transient", "exclusive", "auto-delete"])
def test_a_transient_queue_pages_its_messages_to_the_store(world, kind):
    s = world.session()
    s.do(1, commands.Queue.Declare(queue="q", durable=kind == "exclusive",
                                   exclusive=kind == "exclusive",
                                   auto_delete=kind == "auto-delete"))  # fmt: skip
    total = WINDOW * 5 + 3
    for i in range(total):
        send(s, b"%d" % i, persistent=i % 2 == 0)
    queue = queue_of(world)
    assert queue.store_id is None and queue.page_id is not None
    assert queue.message_count == total and queue.in_memory == WINDOW
    world.settle()
    stored = rows(world)
    assert len(stored) == total - WINDOW
    assert not any(r.persistent for r in stored), "nothing of a transient queue survives"
    assert bodies(get_all(world, s)) == [b"%d" % i for i in range(total)]
    assert world.store.messages == {}


def test_a_deleted_transient_queue_leaves_nothing_in_the_store(world):
    s = world.session()
    declare(s, durable=False)
    for i in range(WINDOW * 3):
        send(s, b"%d" % i, persistent=True)
    world.settle()
    assert world.store.messages
    s.do(1, commands.Queue.Delete(queue="q"))
    world.settle()
    assert world.store.messages == {} and world.store.queues == {}


def test_a_transient_queue_and_its_paged_messages_are_gone_after_a_restart(world):
    s = world.session()
    declare(s, durable=False)
    declare(s, "kept")
    for i in range(WINDOW * 3):
        send(s, b"%d" % i, persistent=True)
        send(s, b"%d" % i, key="kept", persistent=i % 2 == 0)
    world.settle()
    again = world.restart()
    assert "q" not in again.model.vhosts["/"].queues
    kept = again.model.vhosts["/"].queues["kept"]
    assert kept.message_count == len(range(0, WINDOW * 3, 2))
    assert all(record.queue == kept.store_id for record in again.store.messages.values())


def test_a_transient_queue_without_a_store_does_not_page():
    broker = Broker()  # no store: the journal is off
    s = FakeSession(broker)
    s.open(1)
    declare(s, durable=False)
    for i in range(WINDOW * 3):
        send(s, b"%d" % i)
    assert broker.vhosts["/"].queues["q"].in_memory == WINDOW * 3


# ---- priority queues ----------------------------------------------------------------


def publish_priorities(s, pattern, key="q"):
    """One message per priority in ``pattern``, bodies 'p.n' (n counts per priority)."""
    counts = {}
    for p in pattern:
        n = counts.get(p, 0)
        counts[p] = n + 1
        send(s, b"%d.%d" % (p, n), key=key, persistent=True, priority=p)
    return counts


def expected_order(counts):
    return [b"%d.%d" % (p, n) for p in sorted(counts, reverse=True) for n in range(counts[p])]


def test_a_deep_priority_queue_pages_each_priority_and_keeps_their_order(world):
    s = world.session()
    declare(s, **{"x-max-priority": 9})
    pattern = [(i * 7) % 10 for i in range(WINDOW * 10 * 4)]
    counts = publish_priorities(s, pattern)
    queue = queue_of(world)
    assert queue.message_count == len(pattern)
    assert queue.in_memory <= 10 * queue.window < len(pattern)
    assert queue.paged == len(pattern) - queue.in_memory
    world.settle()
    # Priority 9 (capped at x-max-priority) first, FIFO within each priority.
    assert bodies(get_all(world, s)) == expected_order(counts)
    assert world.store.messages == {}


def test_a_high_priority_message_overtakes_paged_lower_ones(world):
    s = world.session()
    declare(s, **{"x-max-priority": 5})
    counts = publish_priorities(s, [1] * (WINDOW * 4) + [0] * (WINDOW * 2))
    world.settle()
    assert queue_of(world).paged
    send(s, b"urgent", persistent=False, priority=5)
    s.do(1, commands.Basic.Consume(queue="q", consumer_tag="c", no_ack=True))
    got = s.bodies()
    while world.model.journal.pending:
        world.commit()
        got += s.bodies()
    assert got == [b"urgent", *expected_order(counts)]


def test_a_priority_whose_next_message_is_paged_is_waited_for_not_skipped(world):
    s = world.session()
    declare(s, **{"x-max-priority": 3})
    counts = publish_priorities(s, [3] * (WINDOW * 3) + [1] * 3)
    world.settle()
    s.take()
    queue = queue_of(world)
    lane = queue.lanes()[0]
    while len(lane):
        queue.pop()  # the window of priority 3 consumed elsewhere
    with pytest.raises(WaitForStore):
        s.do(1, commands.Basic.Get(queue="q", no_ack=True))
    world.commit()
    s.do(1, commands.Basic.Get(queue="q", no_ack=True))
    [(_c, _method, body)] = s.take()
    assert body == b"3.%d" % WINDOW
    rest = bodies(get_all(world, s))
    assert rest == expected_order(counts)[WINDOW + 1 :]


def test_requeued_messages_go_first_among_their_priority_across_the_paged_part(world):
    s = world.session()
    declare(s, **{"x-max-priority": 2})
    counts = publish_priorities(s, [2, 1] * (WINDOW * 3))
    world.settle()
    s.do(1, commands.Basic.Qos(prefetch_count=WINDOW * 4))
    s.do(1, commands.Basic.Consume(queue="q", consumer_tag="c"))
    world.settle()
    taken = s.bodies()
    assert taken == expected_order(counts)[: WINDOW * 4]
    s.do(1, commands.Basic.Cancel(consumer_tag="c"))
    s.do(1, commands.Basic.Recover(requeue=True))
    world.settle()
    s.take()
    got = get_all(world, s)
    assert bodies(got) == expected_order(counts)
    assert [r for _b, r in got] == [True] * (WINDOW * 4) + [False] * (len(got) - WINDOW * 4)


def test_purging_a_deep_priority_queue_keeps_unacked_and_clears_the_store(world):
    s = world.session()
    declare(s, **{"x-max-priority": 4})
    publish_priorities(s, [4, 0, 2] * (WINDOW * 4))
    world.settle()
    s.do(1, commands.Basic.Get(queue="q"))  # 4.0, unacked
    s.take()
    s.do(1, commands.Queue.Purge(queue="q"))
    [(_c, ok, _b)] = s.take(commands.Queue.PurgeOk)
    assert ok.message_count == WINDOW * 12 - 1
    world.settle()
    assert len(world.store.messages) == 1
    publish_priorities(s, [0, 4])
    again = world.restart()
    assert again.model.vhosts["/"].queues["q"].message_count == 3


def test_a_durable_priority_queue_comes_back_paged_in_priority_order(world):
    s = world.session()
    declare(s, **{"x-max-priority": 9})
    pattern = [(i * 3) % 10 for i in range(WINDOW * 10 * 3)]
    counts = publish_priorities(s, pattern)
    again = world.restart()
    queue = queue_of(again)
    assert queue.message_count == len(pattern)
    assert queue.in_memory == 10 * queue.window  # each priority's oldest window
    s2 = again.session()
    assert bodies(get_all(again, s2)) == expected_order(counts)


def test_head_expiry_reaches_the_paged_part_of_a_priority_queue(world):
    s = world.session()
    declare(s, **{"x-max-priority": 2, "x-message-ttl": 1000})
    publish_priorities(s, [2, 0] * (WINDOW * 3))
    world.settle()
    advance(world.model, world.clock, 2.0)
    for _ in range(20):
        world.settle()
        advance(world.model, world.clock, 0.01)
    assert queue_of(world).message_count == 0
    world.settle()
    assert world.store.messages == {}


# ---- length-limited queues ----------------------------------------------------------


def test_a_length_limited_queue_pages_and_drops_paged_heads_into_its_dead_letter_queue(world):
    s = world.session()
    declare(s, "dlq")
    declare(s, **{"x-max-length": WINDOW * 3, "x-dead-letter-exchange": "",
                  "x-dead-letter-routing-key": "dlq"})  # fmt: skip
    total = WINDOW * 10
    for i in range(total):
        send(s, b"%d" % i, persistent=True)
        # The limit holds at every publish, whether the head is in memory or paged.
        assert queue_of(world).message_count == min(i + 1, WINDOW * 3)
        if i % 5 == 0:
            world.commit()
    queue = queue_of(world)
    assert queue.in_memory <= WINDOW
    world.settle()
    assert bodies(get_all(world, s)) == [b"%d" % i for i in range(total - WINDOW * 3, total)]
    dead = bodies(get_all(world, s, "dlq"))
    assert dead == [b"%d" % i for i in range(total - WINDOW * 3)]
    assert world.store.messages == {}


def test_a_paged_head_dropped_without_a_dead_letter_exchange_leaves_the_store(world):
    s = world.session()
    declare(s, durable=False, **{"x-max-length": WINDOW * 2})
    for i in range(WINDOW * 8):
        send(s, b"%d" % i, persistent=True)
    assert queue_of(world).message_count == WINDOW * 2
    world.settle()
    assert len(rows(world)) <= WINDOW * 2
    assert bodies(get_all(world, s)) == [b"%d" % i for i in range(WINDOW * 6, WINDOW * 8)]


def test_a_byte_limit_counts_paged_messages(world):
    s = world.session()
    declare(s, **{"x-max-length-bytes": 99 * WINDOW * 3})
    for i in range(WINDOW * 6):
        send(s, b"%099d" % i, persistent=True)
    world.settle()
    queue = queue_of(world)
    assert queue.message_count == WINDOW * 3 and queue.paged
    assert queue.bytes + queue.paged_bytes == 99 * WINDOW * 3
    assert bodies(get_all(world, s)) == [b"%099d" % i for i in range(WINDOW * 3, WINDOW * 6)]


@pytest.mark.parametrize("overflow", ["reject-publish", "reject-publish-dlx"])
def test_reject_publish_counts_paged_messages(world, overflow):
    s = world.session(confirm=True)
    declare(s, "dlq")
    declare(s, **{"x-max-length": WINDOW * 3, "x-overflow": overflow,
                  "x-dead-letter-exchange": "", "x-dead-letter-routing-key": "dlq"})  # fmt: skip
    for i in range(WINDOW * 4):
        send(s, b"%d" % i, persistent=True)
    world.settle()
    nacks = s.take(commands.Basic.Nack)
    assert len(nacks) == WINDOW  # the last WINDOW publishes
    assert queue_of(world).message_count == WINDOW * 3 and queue_of(world).paged
    dead = queue_of(world, "dlq").message_count
    assert dead == (WINDOW if overflow == "reject-publish-dlx" else 0)
    assert bodies(get_all(world, s)) == [b"%d" % i for i in range(WINDOW * 3)]


def test_drop_head_in_a_priority_queue_drops_the_highest_priority_even_if_paged(world):
    s = world.session()
    declare(s, "dlq")
    declare(s, **{"x-max-priority": 1, "x-max-length": WINDOW * 4,
                  "x-dead-letter-exchange": "", "x-dead-letter-routing-key": "dlq"})  # fmt: skip
    publish_priorities(s, [1] * (WINDOW * 4))
    world.settle()
    publish_priorities(s, [0] * (WINDOW * 2))  # each pushes out the oldest priority-1 one
    assert queue_of(world).message_count == WINDOW * 4
    world.settle()
    dead = bodies(get_all(world, s, "dlq"))
    assert dead == [b"1.%d" % n for n in range(WINDOW * 2)]
    left = bodies(get_all(world, s))
    expected = [b"1.%d" % n for n in range(WINDOW * 2, WINDOW * 4)]
    assert left == expected + [b"0.%d" % n for n in range(WINDOW * 2)]


def test_a_policy_limit_on_a_deep_queue_drops_paged_heads_and_counts_them(world):
    s = world.session()
    declare(s, "dlq")
    declare(s, "deep")
    for i in range(WINDOW * 6):
        send(s, b"%d" % i, key="deep", persistent=True)
    world.settle()
    policies = PolicyAdmin(world.model)
    definition = {"max-length": WINDOW, "dead-letter-exchange": "",
                  "dead-letter-routing-key": "dlq"}  # fmt: skip
    body = {"pattern": "^deep$", "definition": definition, "priority": 0, "apply-to": "queues"}
    policies.put_policy(parse("/", "limit", body, False))
    assert queue_of(world, "deep").message_count == WINDOW
    world.settle()
    assert bodies(get_all(world, s, "dlq")) == [b"%d" % i for i in range(WINDOW * 5)]
    assert bodies(get_all(world, s, "deep")) == [b"%d" % i for i in range(WINDOW * 5, WINDOW * 6)]
    assert world.store.messages == {}


def test_a_transient_queue_drops_rows_once_read_back_not_at_each_ack(world):
    s = world.session()
    declare(s, durable=False)
    for i in range(WINDOW * 4):
        send(s, b"%d" % i)
    world.settle()
    assert len(rows(world)) == WINDOW * 3
    s.do(1, commands.Basic.Qos(prefetch_count=WINDOW * 2))
    s.do(1, commands.Basic.Consume(queue="q", consumer_tag="c"))  # unacked: nothing removed
    world.settle()
    assert len(s.bodies()) == WINDOW * 2
    assert len(rows(world)) < WINDOW * 3, "what came back into memory left the store"
    assert all(r.seq >= WINDOW * 2 for r in rows(world))


def test_the_priority_being_served_reads_ahead_as_far_as_a_fifo_queue(world, monkeypatch):
    monkeypatch.setattr(ready, "LANE_MIN", 2)  # each of 10 lanes keeps 2, the served one 8
    s = world.session()
    declare(s, **{"x-max-priority": 9})
    counts = publish_priorities(s, [9, 0] * 50)
    world.settle()
    lanes = {lane.priority: len(lane) for lane in queue_of(world).lanes()}
    assert lanes == {9: WINDOW, 0: 2}
    assert bodies(get_all(world, s)) == expected_order(counts)


def test_the_management_get_reaches_paged_messages_of_every_priority(world):
    s = world.session()
    declare(s, **{"x-max-priority": 2})
    counts = publish_priorities(s, [2, 1, 0] * (WINDOW * 3))
    world.settle()
    admin = Admin(world.model)
    wanted = WINDOW * 7  # past the paged part of priority 2, into priority 1's
    for _ in range(20):
        if not admin.page_in_for_get("/", "q", wanted):
            break
        world.commit()
    got = admin.get("/", "q", wanted, "ack_requeue_true").got
    assert [g.message.body for g in got] == expected_order(counts)[:wanted]
    world.settle()
    assert bodies(get_all(world, s)) == expected_order(counts)  # requeued, in place
