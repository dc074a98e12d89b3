"""Every timer of the model, driven by a virtual clock: exact to the millisecond."""

import pytest
from pamqp import commands

from amqpd.model.broker import Broker
from amqpd.model.timers import Timers
from tests.model_world import Clock, FakeSession, advance, args, count, send


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def model(clock):
    return Broker(clock=clock, wall_clock=lambda: 1_700_000_000.0, consumer_timeout=None)


def client_for(model, **queue_args):
    session = FakeSession(model)
    session.open(1)
    session.do(1, commands.Queue.Declare(queue="q", arguments=args(**queue_args)))
    session.take()
    return session


def test_timers_move_and_cancel():
    timers = Timers()
    timers.schedule("a", 5.0)
    timers.schedule("b", 3.0)
    timers.schedule("a", 1.0)
    assert timers.next_deadline() == 1.0
    timers.cancel("a")
    assert timers.next_deadline() == 3.0
    assert timers.pop_due(2.9) == []
    assert timers.pop_due(3.0) == ["b"]
    assert timers.next_deadline() is None


def test_queue_ttl_expires_at_the_exact_millisecond(model, clock):
    session = client_for(model, **{"x-message-ttl": 250})
    send(session)
    advance(model, clock, 0.249)
    assert count(model) == 1
    advance(model, clock, 0.001)
    assert count(model) == 0


def test_ttl_zero_reaches_a_ready_consumer_and_dies_otherwise(model, clock):
    session = client_for(model, **{"x-message-ttl": 0})
    send(session, b"nobody")
    advance(model, clock, 0)
    assert count(model) == 0
    session.do(1, commands.Basic.Consume(queue="q", consumer_tag="c", no_ack=True))
    session.take()
    send(session, b"ready")
    assert [s[2] for s in session.take(commands.Basic.Deliver)] == [b"ready"]


def test_per_message_ttl_only_expires_at_the_head(model, clock):
    session = client_for(model)
    send(session, b"forever")
    send(session, b"short", expiration="100")
    advance(model, clock, 0.5)
    assert count(model) == 2  # the expired one waits behind the head
    session.do(1, commands.Basic.Get(queue="q", no_ack=True))
    ((_, ok, body),) = session.take(commands.Basic.GetOk)
    assert body == b"forever" and ok.message_count == 0


def test_lower_of_queue_and_message_ttl_wins(model, clock):
    session = client_for(model, **{"x-message-ttl": 1000})
    send(session, expiration="200")
    advance(model, clock, 0.2)
    assert count(model) == 0


def test_expired_messages_are_dead_lettered(model, clock):
    session = client_for(model, **{"x-message-ttl": 100, "x-dead-letter-exchange": ""})
    session.do(1, commands.Queue.Declare(queue="dlq"))
    session.do(
        1,
        commands.Queue.Declare(
            queue="q2",
            arguments=args(
                **{
                    "x-message-ttl": 100,
                    "x-dead-letter-exchange": "",
                    "x-dead-letter-routing-key": "dlq",
                }
            ),
        ),
    )
    send(session, b"late", key="q2")
    advance(model, clock, 0.1)
    assert count(model, "q2") == 0 and count(model, "dlq") == 1


def test_unused_queue_expires_and_get_restarts_the_period(model, clock):
    session = client_for(model, **{"x-expires": 1000})
    advance(model, clock, 0.6)
    session.do(1, commands.Basic.Get(queue="q"))
    advance(model, clock, 0.999)
    assert "q" in model.vhosts["/"].queues
    advance(model, clock, 0.001)
    assert "q" not in model.vhosts["/"].queues


def test_a_consumer_keeps_a_queue_from_expiring(model, clock):
    session = client_for(model, **{"x-expires": 100})
    session.do(1, commands.Basic.Consume(queue="q", consumer_tag="c"))
    advance(model, clock, 5)
    assert "q" in model.vhosts["/"].queues
    session.do(1, commands.Basic.Cancel(consumer_tag="c"))
    advance(model, clock, 0.1)
    assert "q" not in model.vhosts["/"].queues


def test_delayed_message_is_routed_when_its_delay_is_over(model, clock):
    session = client_for(model)
    session.do(
        1,
        commands.Exchange.Declare(
            exchange="later",
            exchange_type="x-delayed-message",
            arguments=args(**{"x-delayed-type": "direct"}),
        ),
    )
    session.do(1, commands.Queue.Bind(queue="q", exchange="later", routing_key="q"))
    send(session, b"remind me", exchange="later", headers={"x-delay": ("I", 3_600_000)})
    advance(model, clock, 3599.999)
    assert count(model) == 0
    advance(model, clock, 0.001)
    assert count(model) == 1


def test_consumer_timeout_closes_the_channel_at_the_deadline(clock):
    model = Broker(clock=clock, consumer_timeout=1500)
    session = client_for(model)
    send(session)
    session.do(1, commands.Basic.Consume(queue="q", consumer_tag="c"))
    advance(model, clock, 1.499)
    assert model.channel_faults == []
    advance(model, clock, 0.001)
    (fault,) = model.channel_faults
    assert fault[1] == 1
    assert fault[2].reply_text == (
        "PRECONDITION_FAILED - delivery acknowledgement on channel 1 timed out. Timeout value "
        "used: 1500 ms. This timeout value can be configured, see consumers doc guide to "
        "learn more"
    )


def test_acking_in_time_keeps_the_channel(clock):
    model = Broker(clock=clock, consumer_timeout=1000)
    session = client_for(model)
    send(session)
    session.do(1, commands.Basic.Consume(queue="q", consumer_tag="c"))
    ((_, deliver, _),) = session.take(commands.Basic.Deliver)
    advance(model, clock, 0.9)
    session.do(1, commands.Basic.Ack(delivery_tag=deliver.delivery_tag))
    advance(model, clock, 5)
    assert model.channel_faults == []
