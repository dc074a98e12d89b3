"""The firehose tracer in the model: the copies it makes, when, and what it costs when off."""

from __future__ import annotations

from pamqp import commands

from amqpd.model.broker import Broker
from amqpd.model.exchange import TRACE_EXCHANGE
from amqpd.model.journal import Journal
from amqpd.model.message import Message
from amqpd.model.tracing import Tracer, properties_table, signedint
from amqpd.wire import properties as props_codec
from amqpd.wire.codec import ContentHeader
from amqpd.wire.fieldtable import decode_table
from tests.model_world import FakeSession, args, send


def message(exchange: str = "x", key: str = "k", **props: object) -> Message:
    raw = props_codec.encode(props)
    return Message(exchange, key, ContentHeader(60, 4, raw), b"body")


def traced_broker() -> tuple[Broker, FakeSession]:
    broker = Broker()
    session = FakeSession(broker)
    session.open(1)
    session.do(1, commands.Queue.Declare(queue="trace", arguments=args()))
    session.do(1, commands.Queue.Bind(queue="trace", exchange=TRACE_EXCHANGE, routing_key="#"))
    session.do(1, commands.Queue.Declare(queue="q", arguments=args()))
    session.take()
    return broker, session


def trace_keys(broker: Broker) -> list[str]:
    """The routing keys of the copies waiting in the trace queue, oldest first."""
    queue = broker.vhosts["/"].queues["trace"]
    keys = []
    while (entry := queue.pop()) is not None:
        keys.append(entry.message.routing_key)
    return keys


def test_signedint_keeps_the_low_32_bits():
    assert signedint(5) == ("I", 5)
    assert signedint(2**31) == ("I", -(2**31))
    assert signedint(2**40 + 5) == ("I", 5)


def test_properties_are_listed_last_first_with_rabbitmqs_types():
    props = {"content_type": b"t", "headers": {"h": ("l", 1)}, "delivery_mode": 2,
             "timestamp": 2**40 + 7, "cluster_id": b"c"}  # fmt: skip
    table, _ = decode_table(properties_table(props))
    assert list(table.items()) == [
        ("cluster_id", ("S", b"c")),
        ("timestamp", ("I", 7)),
        ("delivery_mode", ("I", 2)),
        ("headers", ("F", {"h": ("l", 1)})),
        ("content_type", ("S", b"t")),
    ]


def test_a_publish_copy_carries_the_body_and_the_headers_in_order():
    original = message("amq.direct", "k", message_id=b"m1")
    original.cc, original.bcc = ["c"], ["b"]
    copy = Tracer("rabbit@here").published(original, "/", "a -> b", 3, "guest", ["z", "Z", "a"])
    assert copy is not None
    assert (copy.exchange, copy.routing_key, copy.body) == (TRACE_EXCHANGE, "publish.amq.direct",
                                                            b"body")  # fmt: skip
    assert list(copy.props) == ["headers"]
    assert copy.props["headers"] == {
        "exchange_name": ("S", b"amq.direct"),
        "routing_keys": ("A", [("S", b"k"), ("S", b"c"), ("S", b"b")]),
        "properties": ("F", {"message_id": ("S", b"m1")}),
        "node": ("S", b"rabbit@here"),
        "vhost": ("S", b"/"),
        "connection": ("S", b"a -> b"),
        "channel": ("I", 3),
        "user": ("S", b"guest"),
        "routed_queues": ("A", [("S", b"Z"), ("S", b"a"), ("S", b"z")]),
    }


def test_a_delivery_copy_says_whether_it_was_redelivered():
    copy = Tracer().delivered(message(""), "q", True, "/", "c", 1, "guest")
    assert copy is not None and copy.routing_key == "deliver.q"
    assert list(copy.props["headers"])[4:] == ["redelivered", "vhost", "connection", "channel",
                                               "user"]  # fmt: skip
    assert copy.props["headers"]["redelivered"] == ("I", 1)


def test_the_trace_is_never_traced():
    original = message(TRACE_EXCHANGE, "publish.x")
    assert Tracer().published(original, "/", "c", 1, "guest", []) is None
    assert Tracer().delivered(original, "trace", False, "/", "c", 1, "guest") is None


def test_nothing_is_copied_while_the_vhost_does_not_trace():
    broker, session = traced_broker()
    send(session, b"m", "q")
    session.do(1, commands.Basic.Get(queue="q", no_ack=True))
    assert trace_keys(broker) == []


def test_a_publish_a_consumer_delivery_and_a_get_are_copied():
    broker, session = traced_broker()
    broker.set_tracing("/", True)
    send(session, b"one", "q")
    send(session, b"two", "q")
    session.do(1, commands.Basic.Get(queue="q", no_ack=True))
    session.do(1, commands.Basic.Consume(queue="q", consumer_tag="c", no_ack=True))
    assert trace_keys(broker) == ["publish.", "publish.", "deliver.q", "deliver.q"]
    broker.set_tracing("/", False)
    send(session, b"three", "q")
    assert trace_keys(broker) == []


def test_consuming_the_trace_makes_no_more_of_it():
    broker, session = traced_broker()
    broker.set_tracing("/", True)
    send(session, b"m", "nowhere")
    session.do(1, commands.Basic.Consume(queue="trace", consumer_tag="t", no_ack=True))
    assert len(session.take(commands.Basic.Deliver)) == 1
    assert broker.vhosts["/"].queues["trace"].message_count == 0


def test_a_traced_name_outlives_its_vhost_and_tracing_is_not_stored():
    broker = Broker(journal=Journal(enabled=True))
    broker.put_vhost("v")
    mark = broker.journal.mark()
    broker.set_tracing("v", True)
    assert not broker.journal.durable_since(mark)  # not stored: RabbitMQ starts untraced
    broker.delete_vhost("v")
    broker.put_vhost("v")
    assert broker.vhosts["v"].tracing
