"""Stream queues in the model: the log, its cursors, the store behind it.

With a small tail (TAIL patched to 16 messages) and small reads (READ_BATCH 8),
a consumer far behind reads the log back from the store batch by batch while
memory keeps only the newest messages; publisher confirms wait for the log's
write; retention removes whole segments from memory and store; a restart
brings the log back, offsets and all. Uses ``World`` (tests/model_world.py).
"""

import pytest
from pamqp import commands

from amqpd.model import stream, stream_readers
from amqpd.model.policies import parse
from amqpd.model.policy_admin import PolicyAdmin
from tests.model_world import World, acks, advance, args, send

TAIL = 16


@pytest.fixture(autouse=True)
def small_memory(monkeypatch):
    monkeypatch.setattr(stream, "TAIL", TAIL)
    monkeypatch.setattr(stream_readers, "READ_BATCH", 8)


@pytest.fixture
def world():
    return World()


def declare_stream(session, name="s", **arguments):
    arguments = {"x-queue-type": "stream", **arguments}
    session.do(1, commands.Queue.Declare(queue=name, durable=True, arguments=args(**arguments)))


def log_of(world, name="s"):
    return world.model.vhosts["/"].queues[name].stream


def consumer(world, offset="first", prefetch=1000, name="s", tag="c"):
    session = world.session()
    session.do(1, commands.Basic.Qos(prefetch_count=prefetch))
    arguments = args(**({"x-stream-offset": offset} if offset is not None else {}))
    session.take()
    session.do(1, commands.Basic.Consume(queue=name, consumer_tag=tag, arguments=arguments))
    session.sent = [s for s in session.sent if isinstance(s[1], commands.Basic.Deliver)]
    return session


def read_all(world, session):
    """Deliveries until the consumer has caught up, writing and reading back as the
    shell would; returns their bodies."""
    got = []
    while True:
        world.settle()
        more = session.bodies()
        if not more:
            return got
        got += more


def stored_offsets(world, queue_id):
    return sorted(world.store.streams.get(queue_id, {}))


def test_a_long_replay_reads_the_log_back_in_batches(world):
    publisher = world.session()
    declare_stream(publisher)
    bodies = [b"%d" % i for i in range(200)]
    for body in bodies:
        send(publisher, body, key="s")
    world.settle()
    log = log_of(world)
    assert len(log.tail) == TAIL and log.count == 200  # memory holds the newest only
    reader = consumer(world)
    reads = []
    original = stream_readers.read_back
    try:
        stream_readers.read_back = lambda r, e: (reads.append(len(e)), original(r, e))
        assert read_all(world, reader) == bodies
    finally:
        stream_readers.read_back = original
    assert reads and max(reads) <= 8  # never more than a batch at a time
    assert len(log.tail) == TAIL


def test_readers_are_independent_and_acks_leave_the_log(world):
    publisher = world.session()
    declare_stream(publisher)
    for i in range(40):
        send(publisher, b"%d" % i, key="s")
    one = consumer(world, tag="one")
    assert len(read_all(world, one)) == 40
    one.do(1, commands.Basic.Ack(delivery_tag=0, multiple=True))
    two = consumer(world, offset=30, tag="two")
    assert read_all(world, two) == [b"%d" % i for i in range(30, 40)]
    assert log_of(world).count == 40


def test_prefetch_paces_a_stream_consumer(world):
    publisher = world.session()
    declare_stream(publisher)
    for i in range(5):
        send(publisher, b"%d" % i, key="s")
    world.settle()
    reader = consumer(world, prefetch=2)
    assert reader.bodies() == [b"0", b"1"]
    reader.do(1, commands.Basic.Ack(delivery_tag=1))
    assert reader.bodies() == [b"2"]


def test_confirms_wait_for_the_log_to_be_written(world):
    publisher = world.session(confirm=True)
    declare_stream(publisher)
    world.settle()
    publisher.take()
    send(publisher, b"a", key="s")
    assert acks(publisher) == []
    world.commit()
    assert acks(publisher) == [1]
    queue_id = world.model.vhosts["/"].queues["s"].store_id
    assert stored_offsets(world, queue_id) == [0]


def test_consumers_get_a_message_once_the_log_is_written(world):
    publisher = world.session()
    declare_stream(publisher)
    reader = consumer(world)
    send(publisher, b"a", key="s")
    assert reader.bodies() == []  # not yet on disk: as RabbitMQ, only committed ones
    world.commit()
    assert reader.bodies() == [b"a"]


def test_a_closed_channel_leaves_the_log_alone(world):
    publisher = world.session()
    declare_stream(publisher)
    send(publisher, b"a", key="s")
    world.settle()
    reader = consumer(world)
    assert reader.bodies() == [b"a"]
    world.model.channel_closed(reader, 1)
    again = consumer(world)
    assert again.bodies() == [b"a"]
    assert log_of(world).count == 1


def test_retention_by_size_drops_whole_segments_from_memory_and_store(world):
    publisher = world.session()
    declare_stream(publisher, **{"x-stream-max-segment-size-bytes": 100,
                                 "x-max-length-bytes": 300})  # fmt: skip
    for i in range(40):
        send(publisher, b"%030d" % i, key="s")  # 4 a segment
    world.settle()
    log = log_of(world)
    assert log.bytes <= 300 + 120 and log.first_offset > 0
    assert log.first_offset % 4 == 0  # a segment's first message
    queue_id = world.model.vhosts["/"].queues["s"].store_id
    assert stored_offsets(world, queue_id) == list(range(log.first_offset, 40))
    reader = consumer(world)
    assert read_all(world, reader) == [b"%030d" % i for i in range(log.first_offset, 40)]


def test_retention_by_age_drops_segments_older_than_x_max_age(world):
    publisher = world.session()
    declare_stream(publisher, **{"x-stream-max-segment-size-bytes": 10, "x-max-age": "10s"})
    send(publisher, b"%010d" % 0, key="s")  # a segment of its own
    advance(world.model, world.clock, 11)
    send(publisher, b"%010d" % 1, key="s")  # rolls over: the first segment is too old
    assert log_of(world).first_offset == 1
    send(publisher, b"%010d" % 2, key="s")
    assert log_of(world).first_offset == 1  # this one is young


def test_a_cursor_behind_retention_moves_to_the_oldest_message(world):
    publisher = world.session()
    declare_stream(publisher, **{"x-stream-max-segment-size-bytes": 10,
                                 "x-max-length-bytes": 30})  # fmt: skip
    send(publisher, b"%010d" % 0, key="s")
    world.settle()
    reader = consumer(world, prefetch=1)
    assert reader.bodies() == [b"%010d" % 0]
    for i in range(1, 10):
        send(publisher, b"%010d" % i, key="s")
    world.settle()
    first = log_of(world).first_offset
    assert first > 1
    reader.do(1, commands.Basic.Ack(delivery_tag=1))
    assert reader.bodies() == [b"%010d" % first]


def test_a_timestamp_start_skips_older_messages_read_back_from_the_store(world):
    publisher = world.session()
    declare_stream(publisher)
    for i in range(30):
        send(publisher, b"old%d" % i, key="s")
    advance(world.model, world.clock, 5)
    since = world.wall_start + world.clock.now - 1
    for i in range(30):
        send(publisher, b"new%d" % i, key="s")
    world.settle()
    session = world.session()
    session.do(1, commands.Basic.Qos(prefetch_count=1000))
    table = args(**{"x-stream-offset": since})
    table.types = {"x-stream-offset": "T"}
    session.do(1, commands.Basic.Consume(queue="s", consumer_tag="t", arguments=table))
    assert read_all(world, session) == [b"new%d" % i for i in range(30)]


def test_a_stream_comes_back_after_a_restart(world):
    publisher = world.session()
    declare_stream(publisher, **{"x-stream-max-segment-size-bytes": 100,
                                 "x-max-length-bytes": 1000})  # fmt: skip
    for i in range(50):
        send(publisher, b"%030d" % i, key="s")
    first = log_of(world).first_offset
    later = world.restart()
    log = log_of(later)
    assert (log.first_offset, log.next_offset, len(log.tail)) == (first, 50, TAIL)
    publisher = later.session()
    send(publisher, b"%030d" % 50, key="s")
    reader = consumer(later)
    got = read_all(later, reader)
    assert got == [b"%030d" % i for i in range(first, 51)]
    for _ in range(40):  # retention goes on from the segments it found
        send(publisher, b"%030d" % 0, key="s")
    assert log_of(later).bytes <= 1000 + 120


def test_a_deleted_stream_leaves_nothing_in_the_store(world):
    publisher = world.session()
    declare_stream(publisher)
    for i in range(5):
        send(publisher, b"%d" % i, key="s")
    world.settle()
    queue_id = world.model.vhosts["/"].queues["s"].store_id
    publisher.do(1, commands.Queue.Delete(queue="s"))
    world.settle()
    assert stored_offsets(world, queue_id) == []


def test_a_traced_vhost_copies_stream_deliveries_to_the_firehose(world):
    publisher = world.session()
    declare_stream(publisher)
    publisher.do(1, commands.Queue.Declare(queue="trace", durable=False))
    publisher.do(1, commands.Queue.Bind(queue="trace", exchange="amq.rabbitmq.trace",
                                        routing_key="deliver.#"))  # fmt: skip
    world.model.vhosts["/"].tracing = True
    send(publisher, b"a", key="s")
    world.settle()
    reader = consumer(world)
    assert reader.bodies() == [b"a"]
    assert world.model.vhosts["/"].queues["trace"].message_count == 1


def put_policy(world, definition, pattern="^s$"):
    body = {"pattern": pattern, "definition": definition, "priority": 0, "apply-to": "queues"}
    PolicyAdmin(world.model).put_policy(parse("/", "p", body, False))


def test_a_policy_sets_max_age_and_segment_size_the_smaller_winning(world):
    publisher = world.session()
    declare_stream(publisher, **{"x-max-age": "1h"})
    put_policy(world, {"max-age": "10s", "stream-max-segment-size-bytes": 10})
    log = log_of(world)
    assert (log.max_age, log.segment_bytes) == (10, 10)
    send(publisher, b"%010d" % 0, key="s")
    advance(world.model, world.clock, 11)
    send(publisher, b"%010d" % 1, key="s")
    assert log.first_offset == 1  # the policy's age dropped the first segment
    put_policy(world, {"max-age": "1D"})
    assert (log.max_age, log.segment_bytes) == (3600, stream.DEFAULT_SEGMENT_BYTES)


def test_a_policy_with_keys_streams_lack_does_not_apply(world):
    publisher = world.session()
    declare_stream(publisher)
    put_policy(world, {"message-ttl": 1000, "max-age": "10s"})
    queue = world.model.vhosts["/"].queues["s"]
    assert (queue.policy, log_of(world).max_age) == (None, None)
