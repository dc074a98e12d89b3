"""The model's global counters (what rabbitmq_prometheus's global and churn families read)."""

from __future__ import annotations

from pamqp import commands

from tests.model_world import World, args, declare, send


def test_publish_route_deliver_ack_and_confirm_are_counted():
    world = World()
    session = world.session(confirm=True)
    declare(session, "q", durable=False)
    for _ in range(3):
        send(session, key="q")
    send(session, key="nowhere")
    send(session, key="nowhere", mandatory=True)
    session.do(1, commands.Basic.Consume(queue="q", consumer_tag="c"))
    tags = [m.delivery_tag for _c, m, _b in session.take(commands.Basic.Deliver)]
    session.do(1, commands.Basic.Ack(delivery_tag=tags[0]))
    session.do(1, commands.Basic.Nack(delivery_tag=tags[1], requeue=True))  # comes back
    counters = world.model.counters.snapshot()
    assert counters.received == 5
    assert counters.received_confirm == 5
    assert counters.confirmed == 5
    assert counters.routed == 3
    assert counters.published_to_queues == 3
    assert counters.unroutable_dropped == 1
    assert counters.unroutable_returned == 1
    assert counters.delivered_consume_manual_ack == (4, 0, 0)  # 3, then the requeued one again
    assert counters.redelivered == (1, 0, 0)
    assert counters.acknowledged == (1, 0, 0)


def test_stream_deliveries_and_acks_count_as_the_stream_type():
    world = World()
    session = world.session()
    declare(session, "s", durable=True, **{"x-queue-type": "stream"})
    send(session, key="s")
    send(session, key="s")
    world.settle()
    session.do(1, commands.Basic.Qos(prefetch_count=10))
    consume = commands.Basic.Consume(queue="s", arguments=args(**{"x-stream-offset": "first"}))
    session.do(1, consume)
    session.do(1, commands.Basic.Ack(delivery_tag=1))
    counters = world.model.counters.snapshot()
    assert counters.delivered_consume_manual_ack == (0, 0, 2)
    assert counters.acknowledged == (0, 0, 1)


def test_basic_get_is_counted_by_ack_mode_and_queue_type():
    world = World()
    session = world.session()
    declare(session, "q", durable=False)
    declare(session, "qq", durable=True, **{"x-queue-type": "quorum"})
    send(session, key="q")
    send(session, key="qq")
    session.do(1, commands.Basic.Get(queue="q", no_ack=True))
    session.do(1, commands.Basic.Get(queue="qq", no_ack=False))
    session.do(1, commands.Basic.Get(queue="q"))
    counters = world.model.counters.snapshot()
    assert counters.delivered_get_auto_ack == (1, 0, 0)
    assert counters.delivered_get_manual_ack == (0, 1, 0)
    assert counters.get_empty == (1, 0, 0)


def test_connections_channels_and_queues_come_and_go():
    world = World()
    first, second = world.session(), world.session()
    second.open(2)
    declare(first, "q", durable=False)
    declare(first, "q", durable=False)  # declared again, not created
    first.do(1, commands.Queue.Declare(queue="q", passive=True))
    first.do(1, commands.Queue.Delete(queue="q"))
    world.model.channel_closed(first, 1)
    world.model.connection_closed(second)  # closes its two channels too
    counters = world.model.counters.snapshot()
    assert (counters.connections_opened, counters.connections_closed) == (2, 1)
    assert (counters.channels_opened, counters.channels_closed) == (3, 3)
    assert counters.queues_declared == 3
    assert (counters.queues_created, counters.queues_deleted) == (1, 1)


def test_dead_lettering_is_counted_by_reason_and_strategy():
    world = World()
    session = world.session()
    declare(session, "dlq", durable=False)
    declare(session, "q", durable=False, **{"x-dead-letter-exchange": "", "x-max-length": 1})
    declare(session, "plain", durable=False, **{"x-message-ttl": 0})
    send(session, key="q")
    send(session, key="q")  # drops the first: maxlen
    session.do(1, commands.Basic.Get(queue="q"))
    tag = session.take(commands.Basic.GetOk)[0][1].delivery_tag
    session.do(1, commands.Basic.Reject(delivery_tag=tag, requeue=False))
    send(session, key="plain")
    world.clock.now += 1  # its TTL has passed: it expires, with no dead-letter exchange
    session.do(1, commands.Basic.Get(queue="plain"))
    assert world.model.counters.snapshot().dead_lettered == {
        ("maxlen", False, True): 1,
        ("expired", False, False): 1,
        ("rejected", False, True): 1,
    }


def test_a_transaction_counts_its_publishes_once():
    world = World()
    session = world.session()
    declare(session, "q", durable=False)
    session.do(1, commands.Tx.Select())
    send(session, key="q")
    session.do(1, commands.Tx.Commit())
    counters = world.model.counters.snapshot()
    assert (counters.received, counters.routed) == (1, 1)
