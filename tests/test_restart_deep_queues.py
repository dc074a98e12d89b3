"""Deep (paged) queues across a restart of amqpd, graceful or ``kill -9``.

A queue keeps 2,048 ready messages in memory and the rest on disk; after a
restart it comes back whole and in order, from where consumers had got to,
without reading the backlog into memory, and purges and deletes of deep
queues hold. Each test runs with both kinds of restart (the ``node`` fixture).
"""

from __future__ import annotations

import sqlite3

import pika

from amqpd.model.queue import PAGE_WINDOW
from amqpd.model.ready import lane_window
from amqpd.store.sqlite import FILE_NAME
from tests.restartable import PERSISTENT, TRANSIENT, bodies, consume_all, count, exists, get_all


def test_a_length_limited_queue_deeper_than_the_window_comes_back_whole(node):
    """A length-limited queue pages too; all of it must come back, and the
    limit still holds."""
    channel = node.channel()
    channel.queue_declare("limited", durable=True, arguments={"x-max-length": 2500})
    publish_numbered(channel, "limited", 3000)  # drop-head: 500..2999 remain

    node.restart()

    channel = node.channel()
    assert count(channel, "limited") == 2500
    publish_numbered(channel, "limited", 1)  # number 0 again, pushing out 500
    got = consume_all(channel, "limited", 2500)
    assert numbers(got) == [*range(501, 3000), 0]


DEEP = 5000  # well past the 2,048 messages a queue keeps in memory


def publish_numbered(channel, queue: str, total: int, transient_every: int = 0) -> list[int]:
    """Publish ``total`` numbered messages; returns the numbers of the persistent ones."""
    kept = []
    for n in range(total):
        transient = transient_every and n % transient_every == 0
        channel.basic_publish("", queue, b"%06d" % n + b"." * 100,
                              TRANSIENT if transient else PERSISTENT)  # fmt: skip
        if not transient:
            kept.append(n)
    return kept


def numbers(got: list[tuple]) -> list[int]:
    return [int(body[:6]) for _m, _p, body in got]


def test_a_deep_queue_comes_back_whole_and_in_order(node):
    channel = node.channel()
    channel.queue_declare("deep", durable=True)
    kept = publish_numbered(channel, "deep", DEEP, transient_every=7)

    node.restart()

    channel = node.channel()
    assert count(channel, "deep") == len(kept)
    if node.mode == "graceful":  # restored without reading the backlog into memory
        assert node.in_memory("deep") == PAGE_WINDOW
    # basic.get through the restored window into the paged part, then a consumer.
    got = [channel.basic_get("deep", auto_ack=True) for _ in range(2500)]
    got += consume_all(channel, "deep", len(kept) - 2500)
    assert numbers(got) == kept
    assert not any(method.redelivered for method, _p, _b in got)
    assert count(channel, "deep") == 0


def test_a_deep_queue_read_past_its_window_comes_back_from_where_it_was(node):
    channel = node.channel()
    channel.queue_declare("deep", durable=True)
    publish_numbered(channel, "deep", DEEP)
    # basic.get through the first window and into the paged part, acking each.
    taken = []
    for _ in range(3000):
        method, _props, body = channel.basic_get("deep")
        channel.basic_ack(method.delivery_tag)
        taken.append(int(body[:6]))
    assert taken == list(range(3000))
    unacked = [channel.basic_get("deep") for _ in range(2)]  # 3000 and 3001, left unacked
    assert [int(body[:6]) for _m, _p, body in unacked] == [3000, 3001]

    node.restart()

    channel = node.channel()
    assert count(channel, "deep") == DEEP - 3000
    got = consume_all(channel, "deep", DEEP - 3000)
    assert numbers(got) == list(range(3000, DEEP))
    assert [method.redelivered for method, _p, _b in got[:3]] == [True, True, False]


def test_purged_and_deleted_deep_queues_stay_empty_and_gone(node):
    channel = node.channel()
    channel.queue_declare("deep.purged", durable=True)
    channel.queue_declare("deep.deleted", durable=True)
    publish_numbered(channel, "deep.purged", DEEP)
    publish_numbered(channel, "deep.deleted", DEEP)
    assert channel.queue_purge("deep.purged").method.message_count == DEEP
    assert channel.queue_delete("deep.deleted").method.message_count == DEEP
    channel.basic_publish("", "deep.purged", b"%06d after the purge" % 1, PERSISTENT)

    node.restart()

    channel = node.channel()
    assert not exists(node, "queue", "deep.deleted")
    channel.queue_declare("deep.deleted", durable=True)
    assert count(channel, "deep.deleted") == 0
    assert bodies(channel, "deep.purged") == [b"000001 after the purge"]
    publish_numbered(channel, "deep.purged", 3)
    node.restart()
    channel = node.channel()
    assert numbers(get_all(channel, "deep.purged")) == [0, 1, 2]


def test_a_restored_deep_queue_can_be_purged_and_deleted(node):
    channel = node.channel()
    for queue in ("deep.purged", "deep.deleted"):
        channel.queue_declare(queue, durable=True)
        publish_numbered(channel, queue, DEEP)

    node.restart()  # both come back with most of their messages paged

    channel = node.channel()
    assert channel.queue_purge("deep.purged").method.message_count == DEEP
    assert channel.queue_delete("deep.deleted").method.message_count == DEEP
    publish_numbered(channel, "deep.purged", 2)
    node.restart()

    channel = node.channel()
    assert not exists(node, "queue", "deep.deleted")
    assert numbers(get_all(channel, "deep.purged")) == [0, 1]


def stored_rows(node) -> int:
    """Message rows in the data folder's store (read beside the running broker)."""
    db = sqlite3.connect(node.data_dir / FILE_NAME)
    try:
        return db.execute("SELECT COUNT(*) FROM messages").fetchone()[0]
    finally:
        db.close()


def test_a_deep_priority_queue_comes_back_paged_in_priority_order(node):
    channel = node.channel()
    channel.queue_declare("prio", durable=True, arguments={"x-max-priority": 9})
    for n in range(DEEP):
        properties = pika.BasicProperties(delivery_mode=2, priority=n % 10)
        channel.basic_publish("", "prio", b"%06d" % n, properties)
    windows = 10 * lane_window(10)  # one per priority, the one served reads further ahead
    if node.mode == "graceful":  # paged while it ran
        assert windows <= node.in_memory("prio") <= windows + PAGE_WINDOW

    node.restart()

    channel = node.channel()
    assert count(channel, "prio") == DEEP
    if node.mode == "graceful":
        assert windows <= node.in_memory("prio") <= windows + PAGE_WINDOW
    got = consume_all(channel, "prio", DEEP)
    assert numbers(got) == sorted(range(DEEP), key=lambda n: (-(n % 10), n))
    assert [p.priority for _m, p, _b in got] == sorted((n % 10 for n in range(DEEP)), reverse=True)


def test_transient_paged_messages_and_transient_queues_leave_nothing_after_a_restart(node):
    channel = node.channel()
    channel.queue_declare("transient.deep", durable=False)
    channel.queue_declare("durable.deep", durable=True)
    publish_numbered(channel, "transient.deep", DEEP)  # persistent, in a transient queue
    publish_numbered(channel, "durable.deep", DEEP, transient_every=1)  # all transient
    assert count(channel, "transient.deep") == DEEP
    if node.mode == "graceful":
        assert node.in_memory("transient.deep") == PAGE_WINDOW
    node.barrier()
    assert stored_rows(node) == 2 * (DEEP - PAGE_WINDOW)  # the paged parts

    node.restart()

    channel = node.channel()
    assert not exists(node, "queue", "transient.deep")
    assert count(channel, "durable.deep") == 0
    assert stored_rows(node) == 0
