"""Stream queues as RabbitMQ 3.10.8 shows them to an AMQP 0-9-1 client.

A stream is declared durable, shared and kept, with its own arguments
(x-max-age, x-max-length-bytes, x-stream-max-segment-size-bytes,
x-initial-cluster-size, x-queue-leader-locator). Messages are appended to a
log and stay there: each consumer reads from where its x-stream-offset says
(first, last, next, an offset, a timestamp, an interval), needs a prefetch and
manual acks, and an ack only frees prefetch. basic.get, queue.purge,
basic.nack and basic.reject are refused. Retention drops whole segments, so
the oldest offset moves forward.
"""

import math
import time

import pytest
from pamqp import commands as C

from conformance import typed
from conformance.helpers import (
    acked,
    confirming,
    consume,
    count,
    declare,
)

STREAM = ("x-queue-type", "S", "stream")


def stream(lab, client, *fields):
    """A new stream (deleted at teardown)."""
    name = lab.queue("stream")
    declare(client, name, STREAM, *fields, durable=True)
    return name


def where(name):
    return f"queue '{name}' in vhost '/'"


def declare_error(client, name, *fields, **flags):
    method = C.Queue.Declare(queue=name, **flags)
    client.send_with_table(1, method, typed.encode_table(fields))
    return client.expect_channel_error(1)


def append(client, name, *bodies, headers=None):
    """Publish each body to the stream on a confirming client; wait for the acks."""
    first = client.confirmed + 1
    for body in bodies:
        if headers is None:
            typed.publish(client, 1, body, routing_key=name)
        else:
            typed.publish(client, 1, body, routing_key=name, headers=headers)
    client.confirmed += len(bodies)
    acked(client, client.confirmed, first)


def reader(lab, name, *offset, prefetch=100, tag="r"):
    """A new connection consuming the stream from x-stream-offset ``offset``
    (a (type, value) pair; none: the default)."""
    client = lab.connect()
    client.call_ok(1, C.Basic.Qos(prefetch_count=prefetch), C.Basic.QosOk)
    fields = [("x-stream-offset", *offset)] if offset else []
    consume(client, name, tag, *fields)
    return client


def deliveries(client, n):
    """The next n deliveries as (deliver, typed properties, body)."""
    got = []
    for _ in range(n):
        _, method, properties, body = typed.read_message(client)
        assert isinstance(method, C.Basic.Deliver), method
        got.append((method, properties, body))
    return got


def bodies(client, n):
    return [body for _, _, body in deliveries(client, n)]


def offset_of(properties):
    (found,) = [(code, value) for key, code, value in properties["headers"]
                if key == "x-stream-offset"]  # fmt: skip
    return found


def consume_error(client, name, *fields, prefetch=10, **flags):
    """basic.consume that must fail; (code, text, class, method) of the close."""
    if prefetch is not None:
        client.call_ok(1, C.Basic.Qos(prefetch_count=prefetch), C.Basic.QosOk)
    client.send_with_table(1, C.Basic.Consume(queue=name, **flags), typed.encode_table(fields))
    _, close = client.read_frame()
    assert isinstance(close, C.Channel.Close | C.Connection.Close), close
    if isinstance(close, C.Channel.Close):
        client.send(1, C.Channel.CloseOk())
    return close.reply_code, close.reply_text, close.class_id, close.method_id


# ---- declaring -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("flags", "prop"),
    [
        ({"durable": False}, "non-durable"),
        ({"durable": True, "exclusive": True}, "exclusive-owner"),
        ({"durable": True, "auto_delete": True}, "auto-delete"),
        ({"durable": False, "exclusive": True, "auto_delete": True}, "auto-delete"),
    ],
)
def test_a_stream_is_durable_shared_and_kept(lab, flags, prop):
    client = lab.connect()
    name = lab.queue()
    assert declare_error(client, name, STREAM, **flags) == (
        406, f"PRECONDITION_FAILED - invalid property '{prop}' for {where(name)}", 50, 10,
    )  # fmt: skip


def test_a_stream_has_a_name(lab):
    client = lab.connect()
    assert declare_error(client, "", STREAM, durable=True) == (
        406,
        "PRECONDITION_FAILED - Cannot declare a server-named queue for type rabbit_stream_queue",
        50,
        10,
    )


REFUSED = [
    ("x-max-length", "l", 10),
    ("x-message-ttl", "l", 1000),
    ("x-dead-letter-exchange", "S", "x"),
    ("x-dead-letter-routing-key", "S", "k"),
    ("x-max-priority", "l", 5),
    ("x-expires", "l", 10000),
    ("x-overflow", "S", "drop-head"),
    ("x-single-active-consumer", "t", True),
    ("x-delivery-limit", "l", 3),
    ("x-queue-mode", "S", "lazy"),
    ("x-queue-version", "l", 2),
    ("x-max-in-memory-length", "l", 3),
    ("x-quorum-initial-group-size", "l", 3),
    ("x-dead-letter-strategy", "S", "at-least-once"),
]


@pytest.mark.parametrize("field", REFUSED, ids=[f[0] for f in REFUSED])
def test_a_stream_refuses_what_queues_of_other_types_take(lab, field):
    client = lab.connect()
    name = lab.queue()
    assert declare_error(client, name, STREAM, field, durable=True) == (
        406,
        f"PRECONDITION_FAILED - invalid arg '{field[0]}' for {where(name)} "
        "of queue type rabbit_stream_queue",
        50,
        10,
    )


ACCEPTED = [
    ("x-max-age", "S", "1Y"),
    ("x-max-age", "S", "1M"),
    ("x-max-age", "S", "7D"),
    ("x-max-age", "S", "1h"),
    ("x-max-age", "S", "30m"),
    ("x-max-age", "S", "10s"),
    ("x-max-length-bytes", "l", 0),
    ("x-max-length-bytes", "l", 1000),
    ("x-stream-max-segment-size-bytes", "l", 0),
    ("x-stream-max-segment-size-bytes", "l", 1000),
    ("x-initial-cluster-size", "l", 5),
    ("x-queue-leader-locator", "S", "client-local"),
    ("x-queue-leader-locator", "S", "balanced"),
    ("x-queue-leader-locator", "S", "random"),
    ("x-queue-leader-locator", "S", "least-leaders"),
    ("x-stream-max-segment-size-bytes", "l", 3_000_000_000),
    ("x-consumer-timeout", "l", 1000),
]


@pytest.mark.parametrize("field", ACCEPTED, ids=[f"{f[0]}={f[2]}" for f in ACCEPTED])
def test_a_stream_takes_its_arguments(lab, field):
    client = lab.connect()
    name = stream(lab, client, field)
    declare(client, name, STREAM, field, durable=True)  # and again, equivalent


INVALID = [
    (("x-max-age", "S", "1x"), "invalid_max_age"),
    (("x-max-age", "S", "0s"), "invalid_max_age"),
    (("x-max-age", "S", "1.5h"), "invalid_max_age"),
    (("x-max-age", "S", "1h 1m"), "invalid_max_age"),
    (("x-max-age", "S", "1d"), "invalid_max_age"),
    (("x-max-age", "S", "5"), "invalid_max_age"),
    (("x-max-age", "l", 10), "{unacceptable_type,long}"),
    (("x-max-age", "x", b"1h"), "{unacceptable_type,binary}"),
    (("x-max-length-bytes", "l", -1), "{value_negative,-1}"),
    (("x-max-length-bytes", "S", "1"), '"expected integer, got longstr"'),
    (("x-stream-max-segment-size-bytes", "l", -1), "{value_negative,-1}"),
    (("x-initial-cluster-size", "l", 0), "{value_zero,0}"),
    (("x-initial-cluster-size", "S", "5"), '"expected integer, got longstr"'),
    (("x-queue-leader-locator", "S", "foo"), "invalid_queue_locator_arg"),
    (("x-queue-leader-locator", "S", "Balanced"), "invalid_queue_locator_arg"),
    (("x-queue-leader-locator", "l", 1), "{unacceptable_type,long}"),
    (("x-queue-leader-locator", "x", b"balanced"), "{unacceptable_type,binary}"),
]


@pytest.mark.parametrize(("field", "reason"), INVALID, ids=[f"{f[0]}={f[2]!r}" for f, _ in INVALID])
def test_a_stream_checks_its_arguments(lab, field, reason):
    client = lab.connect()
    name = lab.queue()
    assert declare_error(client, name, STREAM, field, durable=True) == (
        406, f"PRECONDITION_FAILED - invalid arg '{field[0]}' for {where(name)}: {reason}", 50, 10,
    )  # fmt: skip


def test_a_segment_is_at_most_three_billion_bytes(lab):
    # Checked after every argument: another argument's fault is reported first.
    client = lab.connect()
    too_big = ("x-stream-max-segment-size-bytes", "l", 3_000_000_001)
    assert declare_error(client, lab.queue(), STREAM, too_big, durable=True) == (
        406, "PRECONDITION_FAILED - Exceeded max value for x-stream-max-segment-size-bytes",
        50, 10,
    )  # fmt: skip
    client.open_channel(1)
    name = lab.queue()
    assert declare_error(client, name, STREAM, too_big, ("x-max-age", "S", "1x"),
                         durable=True)[1].endswith("invalid_max_age")  # fmt: skip


@pytest.mark.parametrize("value", ["", "-1s", "h"])
def test_a_max_age_not_starting_with_a_digit_closes_the_connection(lab, value):
    # RabbitMQ 3.10's parser crashes on these: the connection goes with 541.
    client = lab.connect()
    method = C.Queue.Declare(queue=lab.queue(), durable=True)
    client.send_with_table(1, method, typed.encode_table([STREAM, ("x-max-age", "S", value)]))
    assert client.expect_connection_error() == (541, "INTERNAL_ERROR", 0, 0)


@pytest.mark.parametrize(
    ("fields", "text"),
    [
        ((), "received none but current is the value 'stream' of type 'longstr'"),
        ((("x-queue-type", "S", "classic"),), "received 'classic' but current is 'stream'"),
    ],
)
def test_a_stream_stays_a_stream(lab, fields, text):
    client = lab.connect()
    name = stream(lab, client)
    assert declare_error(client, name, *fields, durable=True) == (
        406, f"PRECONDITION_FAILED - inequivalent arg 'x-queue-type' for {where(name)}: {text}",
        50, 10,
    )  # fmt: skip


@pytest.mark.parametrize(
    "field",
    [
        ("x-max-age", "S", "1h"),
        ("x-max-length-bytes", "l", 10),
        ("x-stream-max-segment-size-bytes", "l", 10),
        ("x-initial-cluster-size", "l", 1),
        ("x-queue-leader-locator", "S", "balanced"),
    ],
)
def test_a_stream_is_redeclared_with_the_same_arguments(lab, field):
    client = lab.connect()
    name = stream(lab, client)
    kind = "long" if field[1] == "l" else "longstr"
    assert declare_error(client, name, STREAM, field, durable=True) == (
        406,
        f"PRECONDITION_FAILED - inequivalent arg '{field[0]}' for {where(name)}: "
        f"received the value '{field[2]}' of type '{kind}' but current is none",
        50,
        10,
    )


def test_declare_ok_and_delete_ok_count_no_messages(lab):
    client = confirming(lab)
    name = stream(lab, client)
    append(client, name, b"a", b"b", b"c")
    assert count(client, name) == 0
    ok = declare(client, name, STREAM, durable=True)
    assert (ok.message_count, ok.consumer_count) == (0, 0)
    deleted = client.call_ok(1, C.Queue.Delete(queue=name, if_empty=True), C.Queue.DeleteOk)
    assert deleted.message_count == 0


@pytest.mark.parametrize(
    ("method", "what", "ids"),
    [
        (lambda q: C.Queue.Purge(queue=q), "queue.purge", (50, 30)),
        (lambda q: C.Basic.Get(queue=q, no_ack=False), "basic.get", (60, 70)),
        (lambda q: C.Basic.Get(queue=q, no_ack=True), "basic.get", (60, 70)),
    ],
    ids=["purge", "get", "get-no-ack"],
)
def test_a_stream_cannot_be_purged_or_got_from(lab, method, what, ids):
    client = lab.connect()
    name = stream(lab, client)
    client.send(1, method(name))
    assert client.expect_connection_error() == (
        540, f"NOT_IMPLEMENTED - {what} not supported by stream queues {where(name)}", *ids,
    )  # fmt: skip


# ---- consuming: what a consumer must be ---------------------------------------------


def test_a_stream_consumer_needs_a_prefetch(lab):
    client = lab.connect()
    name = stream(lab, client)
    text = f"PRECONDITION_FAILED - consumer prefetch count is not set for '{where(name)}'"
    assert consume_error(client, name, prefetch=None) == (406, text, 60, 20)
    client.open_channel(1)
    # Even with no_ack (the prefetch is checked first), or with a global prefetch only.
    assert consume_error(client, name, prefetch=None, no_ack=True) == (406, text, 60, 20)
    client.open_channel(1)
    client.call_ok(1, C.Basic.Qos(prefetch_count=10, global_=True), C.Basic.QosOk)
    assert consume_error(client, name, prefetch=None) == (406, text, 60, 20)


def test_a_stream_consumer_acks_manually(lab):
    client = lab.connect()
    name = stream(lab, client)
    assert consume_error(client, name, no_ack=True) == (
        540,
        f"NOT_IMPLEMENTED - automatic acknowledgement not supported by stream queues {where(name)}",
        60,
        20,
    )


def test_a_stream_has_no_global_qos(lab):
    client = lab.connect()
    name = stream(lab, client)
    client.call_ok(1, C.Basic.Qos(prefetch_count=10), C.Basic.QosOk)
    client.call_ok(1, C.Basic.Qos(prefetch_count=5, global_=True), C.Basic.QosOk)
    assert consume_error(client, name, prefetch=None) == (
        540, f"NOT_IMPLEMENTED - {where(name)} does not support global qos", 60, 20,
    )  # fmt: skip


def test_a_stream_has_no_consumer_priorities(lab):
    client = lab.connect()
    name = stream(lab, client)
    assert consume_error(client, name, ("x-priority", "l", 5)) == (
        406,
        f"PRECONDITION_FAILED - invalid arg 'x-priority' for {where(name)} "
        "of queue type rabbit_stream_queue",
        60,
        20,
    )


def test_exclusive_consumers_do_not_exclude_on_a_stream(lab):
    publisher = confirming(lab)
    name = stream(lab, publisher)
    append(publisher, name, b"a")
    readers = []
    for _ in range(2):
        client = lab.connect()
        client.call_ok(1, C.Basic.Qos(prefetch_count=10), C.Basic.QosOk)
        consume(client, name, "x", ("x-stream-offset", "S", "first"), exclusive=True)
        readers.append(client)
    assert [bodies(client, 1) for client in readers] == [[b"a"], [b"a"]]


# ---- consuming: where a consumer starts ---------------------------------------------


@pytest.mark.parametrize(
    ("offset", "expected"),
    [
        (("S", "first"), [b"m0", b"m1", b"m2", b"m3", b"m4"]),
        (("x", b"first"), [b"m0", b"m1", b"m2", b"m3", b"m4"]),
        (("l", 3), [b"m3", b"m4"]),
        (("I", 3), [b"m3", b"m4"]),
        (("s", 3), [b"m3", b"m4"]),
        (("b", 3), [b"m3", b"m4"]),
        (("l", -1), [b"m0", b"m1", b"m2", b"m3", b"m4"]),
        (("l", 0), [b"m0", b"m1", b"m2", b"m3", b"m4"]),
        (("T", 0), [b"m0", b"m1", b"m2", b"m3", b"m4"]),
        (("S", "1Y"), [b"m0", b"m1", b"m2", b"m3", b"m4"]),
        (("S", "30m"), [b"m0", b"m1", b"m2", b"m3", b"m4"]),
    ],
    ids=lambda v: repr(v),
)
def test_a_consumer_starts_where_its_offset_says(lab, offset, expected):
    publisher = confirming(lab)
    name = stream(lab, publisher)
    for i in range(5):  # one at a time: RabbitMQ's chunks then hold one message each
        append(publisher, name, b"m%d" % i)
    client = reader(lab, name, *offset)
    got = deliveries(client, len(expected))
    assert [body for _, _, body in got] == expected
    first = 5 - len(expected)
    assert [offset_of(props) for _, props, _ in got] == [("l", i) for i in range(first, 5)]
    append(publisher, name, b"m5")  # and it goes on with what comes next
    assert bodies(client, 1) == [b"m5"]


@pytest.mark.parametrize("offset", [(), ("S", "next")], ids=["default", "next"])
def test_a_consumer_from_next_gets_only_new_messages(lab, offset):
    publisher = confirming(lab)
    name = stream(lab, publisher)
    append(publisher, name, b"old")
    client = reader(lab, name, *offset)
    append(publisher, name, b"new")
    assert bodies(client, 1) == [b"new"]


def test_an_offset_past_the_end_waits_for_the_log_to_reach_it(lab):
    publisher = confirming(lab)
    name = stream(lab, publisher)
    append(publisher, name, b"m0")
    client = reader(lab, name, "l", 3)
    for i in range(1, 6):
        append(publisher, name, b"m%d" % i)
    got = deliveries(client, 3)
    assert [(body, offset_of(props)) for _, props, body in got] == [
        (b"m3", ("l", 3)), (b"m4", ("l", 4)), (b"m5", ("l", 5)),
    ]  # fmt: skip


def test_last_starts_at_the_newest_message(lab):
    # RabbitMQ starts at the newest chunk; messages confirmed one at a time are
    # one chunk each, so there both brokers start at the newest message.
    publisher = confirming(lab)
    name = stream(lab, publisher)
    for body in (b"a", b"b", b"c"):
        append(publisher, name, body)
    client = reader(lab, name, "S", "last")
    (deliver, props, body), = deliveries(client, 1)  # fmt: skip
    assert (body, offset_of(props)) == (b"c", ("l", 2))
    append(publisher, name, b"d")
    assert bodies(client, 1) == [b"d"]


def test_last_on_an_empty_stream_waits_for_the_first_message(lab):
    publisher = confirming(lab)
    name = stream(lab, publisher)
    client = reader(lab, name, "S", "last")
    append(publisher, name, b"a")
    assert bodies(client, 1) == [b"a"]


def test_a_timestamp_skips_what_came_before_it(lab):
    publisher = confirming(lab)
    name = stream(lab, publisher)
    append(publisher, name, b"old")
    # The timestamp is in whole seconds: one that is surely after "old".
    since = math.ceil(time.time()) + 1
    time.sleep(since - time.time() + 0.05)  # the time this behaviour is about
    append(publisher, name, b"new")
    client = reader(lab, name, "T", since)
    assert bodies(client, 1) == [b"new"]
    # A start in the future is the end of the log: what comes next.
    future = reader(lab, name, "T", since + 3600, tag="f")
    append(publisher, name, b"newer")
    assert bodies(client, 1) == bodies(future, 1) == [b"newer"]


@pytest.mark.parametrize("value", ["1x", "0s", "1h1m"])
def test_an_offset_interval_is_checked(lab, value):
    client = lab.connect()
    name = stream(lab, client)
    assert consume_error(client, name, ("x-stream-offset", "S", value)) == (
        406,
        f"PRECONDITION_FAILED - invalid arg 'x-stream-offset' for {where(name)}: "
        f'{{invalid_stream_offset_arg,{{longstr,<<"{value}">>}}}}',
        60,
        20,
    )


@pytest.mark.parametrize(
    "field",
    [("S", "bogus"), ("S", "FIRST"), ("S", "-1h"), ("t", True), ("d", 1.5)],
    ids=lambda v: repr(v),
)
def test_an_unknown_offset_closes_the_connection(lab, field):
    # RabbitMQ 3.10's consumer crashes on these: the connection goes with 541.
    client = lab.connect()
    name = stream(lab, client)
    assert consume_error(client, name, ("x-stream-offset", *field)) == (541, "INTERNAL_ERROR", 0, 0)


# ---- consuming: a log read by many ----------------------------------------------------


def test_every_consumer_reads_every_message(lab):
    publisher = confirming(lab)
    name = stream(lab, publisher)
    append(publisher, name, b"a", b"b")
    one = reader(lab, name, "S", "first", tag="one")
    two = reader(lab, name, "S", "first", tag="two")
    assert bodies(one, 2) == bodies(two, 2) == [b"a", b"b"]
    append(publisher, name, b"c")
    assert bodies(one, 1) == bodies(two, 1) == [b"c"]


def test_a_delivery_keeps_the_publishers_headers_and_adds_its_offset(lab):
    publisher = confirming(lab)
    name = stream(lab, publisher)
    append(publisher, name, b"a", headers=[("k", "S", "v"), ("n", "I", 7)])
    client = reader(lab, name, "S", "first")
    ((deliver, props, body),) = deliveries(client, 1)
    assert (deliver.redelivered, deliver.exchange, deliver.routing_key) == (False, "", name)
    assert props == {"headers": [("k", "S", "v"), ("n", "I", 7), ("x-stream-offset", "l", 0)]}


def test_acks_free_prefetch_and_leave_the_messages(lab):
    publisher = confirming(lab)
    name = stream(lab, publisher)
    append(publisher, name, b"a", b"b", b"c")
    client = reader(lab, name, "S", "first", prefetch=2)
    got = deliveries(client, 2)
    assert [body for _, _, body in got] == [b"a", b"b"]
    client.send(1, C.Basic.Ack(delivery_tag=got[0][0].delivery_tag))
    assert bodies(client, 1) == [b"c"]
    client.send(1, C.Basic.Ack(delivery_tag=0, multiple=True))
    again = reader(lab, name, "S", "first")
    assert bodies(again, 3) == [b"a", b"b", b"c"]


@pytest.mark.parametrize(
    ("method", "ids"),
    [
        (C.Basic.Nack(delivery_tag=1, requeue=True), (60, 120)),
        (C.Basic.Nack(delivery_tag=1, requeue=False), (60, 120)),
        (C.Basic.Reject(delivery_tag=1, requeue=True), (60, 90)),
        (C.Basic.Reject(delivery_tag=1, requeue=False), (60, 90)),
    ],
    ids=["nack-requeue", "nack", "reject-requeue", "reject"],
)
def test_a_stream_delivery_cannot_be_nacked_or_rejected(lab, method, ids):
    publisher = confirming(lab)
    name = stream(lab, publisher)
    append(publisher, name, b"a")
    client = reader(lab, name, "S", "first")
    assert bodies(client, 1) == [b"a"]
    client.send(1, method)
    assert client.expect_connection_error() == (
        540,
        "NOT_IMPLEMENTED - basic.nack and basic.reject not supported by stream queues "
        f"{where(name)}",
        *ids,
    )


@pytest.mark.parametrize("method", [C.Basic.Recover(requeue=True),
                                    C.Basic.RecoverAsync(requeue=True)])  # fmt: skip
def test_recovering_stream_deliveries_closes_the_connection(lab, method):
    # RabbitMQ 3.10's channel crashes requeueing them: the connection goes with 541.
    publisher = confirming(lab)
    name = stream(lab, publisher)
    append(publisher, name, b"a")
    client = reader(lab, name, "S", "first")
    assert bodies(client, 1) == [b"a"]
    client.send(1, method)
    assert client.expect_connection_error() == (541, "INTERNAL_ERROR", 0, 0)


def test_an_unknown_delivery_tag_is_still_a_channel_error(lab):
    publisher = confirming(lab)
    name = stream(lab, publisher)
    append(publisher, name, b"a")
    client = reader(lab, name, "S", "first")
    assert bodies(client, 1) == [b"a"]
    client.send(1, C.Basic.Ack(delivery_tag=9))
    assert client.expect_channel_error(1) == (
        406, "PRECONDITION_FAILED - unknown delivery tag 9", 60, 80,
    )  # fmt: skip


def test_deleting_a_stream_cancels_its_consumers(lab):
    publisher = confirming(lab)
    name = stream(lab, publisher)
    client = reader(lab, name, "S", "first", tag="c")
    publisher.call_ok(1, C.Queue.Delete(queue=name), C.Queue.DeleteOk)
    _, cancel = client.expect(C.Basic.Cancel)
    assert cancel.consumer_tag == "c"


def test_messages_reach_a_stream_through_exchanges(lab):
    publisher = confirming(lab)
    name = stream(lab, publisher)
    exchange = lab.exchange()
    publisher.call_ok(1, C.Exchange.Declare(exchange=exchange, exchange_type="fanout"),
                      C.Exchange.DeclareOk)  # fmt: skip
    publisher.call_ok(1, C.Queue.Bind(queue=name, exchange=exchange), C.Queue.BindOk)
    client = reader(lab, name)
    typed.publish(publisher, 1, b"via", exchange=exchange, routing_key="any")
    publisher.confirmed += 1
    acked(publisher, publisher.confirmed, publisher.confirmed)
    ((deliver, _props, body),) = deliveries(client, 1)
    assert (body, deliver.exchange, deliver.routing_key) == (b"via", exchange, "any")


def test_a_transaction_appends_at_commit(lab):
    client = lab.connect()
    name = stream(lab, client)
    watcher = reader(lab, name)
    client.call_ok(1, C.Tx.Select(), C.Tx.SelectOk)
    typed.publish(client, 1, b"t", routing_key=name)
    client.call_ok(1, C.Tx.Commit(), C.Tx.CommitOk)
    assert bodies(watcher, 1) == [b"t"]


# ---- retention ---------------------------------------------------------------------


def test_retention_drops_the_oldest_segments(lab):
    publisher = confirming(lab)
    name = stream(
        lab,
        publisher,
        ("x-stream-max-segment-size-bytes", "l", 100),
        ("x-max-length-bytes", "l", 300),
    )
    published = [b"%030d" % i for i in range(40)]
    for body in published:
        append(publisher, name, body)
    client = reader(lab, name, "S", "first")
    ((_deliver, props, body),) = deliveries(client, 1)
    # The oldest offset moved on (RabbitMQ's offsets also count its own
    # bookkeeping chunks, so they are not message numbers there).
    assert offset_of(props)[1] > 0
    kept = published[published.index(body) :]
    assert 1 <= len(kept) < 40
    assert [body, *bodies(client, len(kept) - 1)] == kept
