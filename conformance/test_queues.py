"""Queue rules, as RabbitMQ 3.10.8 replies to a raw client.

queue.declare equivalence and naming, exclusive queues seen from other
connections, the empty-name shortcut, bind/unbind, purge, delete and
auto-delete lifetimes.
"""

import re

import pytest
from pamqp import commands as C

from conformance.helpers import consume, declare, declare_exchange, no_queue, publish, wait_for
from conformance.typed import encode_table

DEFAULT_REFUSED = "ACCESS_REFUSED - operation not permitted on the default exchange"
NO_PREVIOUS = "NOT_FOUND - no previously declared queue"


def locked(name):
    return (
        f"RESOURCE_LOCKED - cannot obtain exclusive access to locked queue '{name}' in vhost "
        "'/'. It could be originally declared on another connection or the exclusive property "
        "value does not match that of the original declaration."
    )


def inequivalent(arg, name, tail):
    return f"PRECONDITION_FAILED - inequivalent arg '{arg}' for queue '{name}' in vhost '/': {tail}"


def state(client, name, ch=1):
    """Passive declare: (message_count, consumer_count), or the channel error."""
    client.send(ch, C.Queue.Declare(queue=name, passive=True))
    _, reply = client.read_frame()
    if isinstance(reply, C.Queue.DeclareOk):
        return reply.message_count, reply.consumer_count
    assert isinstance(reply, C.Channel.Close), reply
    client.send(ch, C.Channel.CloseOk())
    client.open_channel(ch)
    return reply.reply_code, reply.reply_text, reply.class_id, reply.method_id


def expect_deliveries(client, count):
    return [client.read_message()[1] for _ in range(count)]


# ---- queue.declare ---------------------------------------------------------------------


@pytest.mark.parametrize("flags", [{}, {"exclusive": True}, {"durable": True, "auto_delete": True}])
def test_server_named_queue(lab, flags):
    client, other = lab.connect(), lab.connect()
    reply = declare(client, "", **flags)
    lab.queues.append(reply.queue)
    assert re.fullmatch(r"amq\.gen-[A-Za-z0-9_-]{22}", reply.queue), reply.queue
    assert (reply.message_count, reply.consumer_count) == (0, 0)
    reserved = f"ACCESS_REFUSED - queue name '{reply.queue}' contains reserved prefix 'amq.*'"
    for connection in (client, other):
        redeclare = C.Queue.Declare(queue=reply.queue, **flags)
        assert connection.call_error(1, redeclare) == (403, reserved, 50, 10)
    assert state(client, reply.queue) == (0, 0)
    if not flags.get("exclusive"):
        deleted = other.call_ok(1, C.Queue.Delete(queue=reply.queue), C.Queue.DeleteOk)
        assert deleted.message_count == 0
        assert state(client, reply.queue) == (404, no_queue(reply.queue), 50, 10)


def test_passive_declare(lab):
    client, name = lab.connect(), lab.queue()
    missing = (404, no_queue(name), 50, 10)
    assert state(client, name) == missing
    client.send(1, C.Queue.Declare(queue=name, passive=True, nowait=True))
    assert client.expect_channel_error(1) == missing
    client.open_channel(1)
    declare(client, name, exclusive=True)
    # Every other field of a passive declare is ignored...
    declare(client, name, ("x-a", "b", 1), passive=True, durable=True, auto_delete=True)
    # ...and '' is not the last declared queue here.
    client.send(1, C.Queue.Declare(queue="", passive=True))
    assert client.expect_channel_error(1) == (404, no_queue(""), 50, 10)


@pytest.mark.parametrize("flag", ["durable", "auto_delete"])
def test_redeclare_with_a_different_flag(lab, flag):
    client, name = lab.connect(), lab.queue()
    declare(client, name)
    declare(client, name)
    text = inequivalent(flag, name, "received 'true' but current is 'false'")
    assert client.call_error(1, C.Queue.Declare(queue=name, **{flag: True})) == (406, text, 50, 10)
    client.send(1, C.Queue.Declare(queue=name, nowait=True, **{flag: True}))
    assert client.expect_channel_error(1) == (406, text, 50, 10)


def test_redeclare_with_a_different_exclusive_flag(lab):
    client, shared, owned = lab.connect(), lab.queue("shared"), lab.queue("owned")
    declare(client, shared)
    method = C.Queue.Declare(queue=shared, exclusive=True)
    assert client.call_error(1, method) == (405, locked(shared), 50, 10)
    declare(client, owned, exclusive=True)
    declare(client, owned, exclusive=True)
    assert client.call_error(1, C.Queue.Declare(queue=owned)) == (405, locked(owned), 50, 10)


def ttl(code="s", value=1000):
    return ("x-message-ttl", code, value)


def maxlen(value):
    return ("x-max-length", "b", value)


def qtype(value):
    return ("x-queue-type", "S", value)


@pytest.mark.parametrize(
    "before, after, tail",
    [
        ([], [ttl()], "received the value '1000' of type 'short' but current is none"),
        ([ttl()], [], "received none but current is the value '1000' of type 'short'"),
        ([ttl()], [ttl("s", 2000)], "received '2000' but current is '1000'"),
        ([maxlen(10)], [maxlen(11)], "received '11' but current is '10'"),
        ([ttl()], [ttl("I")], None),  # integers compare by value
        ([ttl()], [ttl("l")], None),
        ([ttl()], [ttl("i")], None),
        ([ttl()], [ttl("S", "1000")], "received '1000' but current is '1000'"),
        ([ttl()], [ttl("d", 1000.0)], "received '1.0e3' but current is '1000'"),
        ([], [("x-foo", "b", 1)], None),  # unknown arguments are not compared
        ([("x-foo", "b", 1)], [("x-foo", "b", 2)], None),
        ([("x-foo", "b", 1), ttl()], [ttl()], None),
        ([], [qtype("classic")], None),
        ([qtype("classic")], [], None),
        ([], [qtype("quorum")],
         "received the value 'quorum' of type 'longstr' but current is none"),
        ([qtype("classic")], [qtype("quorum")], "received 'quorum' but current is 'classic'"),
    ],
)  # fmt: skip
def test_redeclare_with_other_arguments(lab, before, after, tail):
    client, name = lab.connect(), lab.queue()
    client.send_with_table(1, C.Queue.Declare(queue=name), encode_table(before))
    client.expect(C.Queue.DeclareOk)
    client.send_with_table(1, C.Queue.Declare(queue=name), encode_table(after))
    if tail is None:
        client.expect(C.Queue.DeclareOk)
    else:
        arg = (after or before)[0][0]
        assert client.expect_channel_error(1) == (406, inequivalent(arg, name, tail), 50, 10)


@pytest.mark.parametrize(
    "arg, value, detail",
    [
        ("x-queue-type", "foo", "\"unsupported queue type 'foo'\""),
        ("x-message-ttl", -1, "{value_negative,-1}"),
        ("x-message-ttl", "abc", '"expected integer, got longstr"'),
        ("x-max-length", -1, "{value_negative,-1}"),
    ],
)
def test_invalid_argument_on_a_new_queue(lab, arg, value, detail):
    client, name = lab.connect(), lab.queue()
    text = f"PRECONDITION_FAILED - invalid arg '{arg}' for queue '{name}' in vhost '/': {detail}"
    method = C.Queue.Declare(queue=name, arguments={arg: value})
    assert client.call_error(1, method) == (406, text, 50, 10)


@pytest.mark.parametrize("prefix", ["amq.", "amq.gen-"])
def test_reserved_amq_prefix(lab, prefix):
    client = lab.connect()
    name = prefix + lab.prefix
    text = f"ACCESS_REFUSED - queue name '{name}' contains reserved prefix 'amq.*'"
    assert client.call_error(1, C.Queue.Declare(queue=name)) == (403, text, 50, 10)
    assert state(client, name) == (404, no_queue(name), 50, 10)


def test_declare_nowait(lab):
    client, name = lab.connect(), lab.queue()
    client.send(1, C.Queue.Declare(queue=name, exclusive=True, nowait=True))
    assert state(client, name) == (0, 0)  # the first reply is the passive declare's


def test_message_count_counts_ready_messages_only(lab):
    client, other, name = lab.connect(), lab.connect(), lab.queue()
    declare(client, name)
    publish(client, name, b"1", b"2", b"3")
    # RabbitMQ answers a declare ahead of deliveries still on their way to the queue.
    wait_for(lambda: state(client, name) == (3, 0))
    assert declare(client, name).message_count == 3
    other.call_ok(1, C.Basic.Qos(prefetch_count=1), C.Basic.QosOk)
    for tag in ("a", "b"):
        consume(other, name, tag)
        assert expect_deliveries(other, 1)[0].consumer_tag == tag
    reply = declare(client, name)
    assert (reply.message_count, reply.consumer_count) == (1, 2)


# ---- exclusive queues --------------------------------------------------------------------

FROM_OTHER_CONNECTION = {
    "declare-passive": (lambda q: C.Queue.Declare(queue=q, passive=True), (50, 10)),
    "declare-exclusive": (lambda q: C.Queue.Declare(queue=q, exclusive=True), (50, 10)),
    "declare": (lambda q: C.Queue.Declare(queue=q), (50, 10)),
    "bind": (lambda q: C.Queue.Bind(queue=q, exchange="amq.direct", routing_key=q), (50, 20)),
    "consume": (lambda q: C.Basic.Consume(queue=q), (60, 20)),
    "get": (lambda q: C.Basic.Get(queue=q), (60, 70)),
    "purge": (lambda q: C.Queue.Purge(queue=q), (50, 30)),
    "delete": (lambda q: C.Queue.Delete(queue=q), (50, 40)),
    "delete-if-unused": (lambda q: C.Queue.Delete(queue=q, if_unused=True), (50, 40)),
}


@pytest.mark.parametrize("make, ids", FROM_OTHER_CONNECTION.values(), ids=FROM_OTHER_CONNECTION)
def test_exclusive_queue_is_locked_to_other_connections(lab, make, ids):
    owner, other, name = lab.connect(), lab.connect(), lab.queue()
    declare(owner, name, exclusive=True)
    assert other.call_error(1, make(name)) == (405, locked(name), *ids)


def test_exclusive_queue_unbind_and_publish_from_another_connection(lab):
    owner, other, name = lab.connect(), lab.connect(), lab.queue()
    declare(owner, name, exclusive=True)
    unbind = C.Queue.Unbind(queue=name, exchange="amq.direct", routing_key=name)
    other.call_ok(1, unbind, C.Queue.UnbindOk)
    other.publish(1, b"from-other", routing_key=name, mandatory=True)
    other.call_ok(1, C.Basic.Qos(), C.Basic.QosOk)  # no basic.return came first
    assert owner.basic_get(1, name)[2] == b"from-other"


def test_exclusive_queue_lives_as_long_as_its_connection(lab):
    owner, other, name = lab.connect(channels=(1, 2)), lab.connect(), lab.queue()
    declare(owner, name, exclusive=True)
    owner.call_ok(1, C.Channel.Close(200, "bye", 0, 0), C.Channel.CloseOk)
    assert state(owner, name, ch=2) == (0, 0)
    owner.close_connection()
    wait_for(lambda: state(other, name) == (404, no_queue(name), 50, 10))


# ---- the empty queue name: the last queue declared on the channel ------------------------

EMPTY_NAME = {
    "bind": (C.Queue.Bind(queue="", exchange="amq.direct", routing_key="k"), (50, 20)),
    "unbind": (C.Queue.Unbind(queue="", exchange="amq.direct", routing_key="k"), (50, 50)),
    "purge": (C.Queue.Purge(queue=""), (50, 30)),
    "delete": (C.Queue.Delete(queue=""), (50, 40)),
    "get": (C.Basic.Get(queue=""), (60, 70)),
    "consume": (C.Basic.Consume(queue=""), (60, 20)),
}


@pytest.mark.parametrize("method, ids", EMPTY_NAME.values(), ids=EMPTY_NAME)
def test_empty_queue_name_on_a_fresh_channel(lab, method, ids):
    client, name = lab.connect(channels=(1, 2)), lab.queue()
    declare(client, name, exclusive=True, channel=2)  # another channel's queue does not count
    assert client.call_error(1, method) == (404, NO_PREVIOUS, *ids)


def test_empty_queue_name_is_the_last_declared_queue(lab):
    client, first, name = lab.connect(channels=(1, 2)), lab.queue("first"), lab.queue()
    declare(client, first, exclusive=True)
    declare(client, name, exclusive=True)
    binding = {"queue": "", "exchange": "amq.direct", "routing_key": "k"}
    client.call_ok(1, C.Queue.Bind(**binding), C.Queue.BindOk)
    client.call_ok(1, C.Queue.Unbind(**binding), C.Queue.UnbindOk)
    publish(client, name, b"1")
    assert client.call_ok(1, C.Queue.Purge(queue=""), C.Queue.PurgeOk).message_count == 1
    publish(client, name, b"2", b"3")
    assert client.basic_get(1, "")[2] == b"2"
    assert client.call_ok(1, C.Queue.Delete(queue=""), C.Queue.DeleteOk).message_count == 1
    assert state(client, first) == (0, 0)
    declare(client, "", exclusive=True, channel=2)
    client.call_ok(2, C.Basic.Consume(queue=""), C.Basic.ConsumeOk)


@pytest.mark.parametrize("server_named", [False, True])
def test_bind_with_empty_queue_and_key_uses_the_queue_name(lab, server_named):
    client, x = lab.connect(), lab.exchange()
    declare_exchange(client, x)
    name = declare(client, "" if server_named else lab.queue(), exclusive=True).queue
    client.call_ok(1, C.Queue.Bind(queue="", exchange=x, routing_key=""), C.Queue.BindOk)
    client.publish(1, b"by-name", exchange=x, routing_key=name)
    client.publish(1, b"empty-key", exchange=x, routing_key="")
    assert client.basic_get(1, name)[2] == b"by-name"
    assert client.basic_get(1, name) is None


# ---- queue.bind / queue.unbind -----------------------------------------------------------


@pytest.mark.parametrize("missing", ["queue", "exchange", "both"])
def test_queue_bind_with_a_missing_name(lab, missing):
    client, x, name = lab.connect(), lab.exchange(), lab.queue()
    declare_exchange(client, x)
    declare(client, name, exclusive=True)
    queue = lab.queue("missing-q") if missing != "exchange" else name
    exchange = lab.exchange("missing-x") if missing != "queue" else x
    text = f"NOT_FOUND - no exchange '{exchange}' in vhost '/'"  # the exchange is reported first
    if missing == "queue":
        text = no_queue(queue)
    bind = C.Queue.Bind(queue=queue, exchange=exchange, routing_key="k")
    assert client.call_error(1, bind) == (404, text, 50, 20)


def test_queue_bind_to_the_default_exchange(lab):
    client, name = lab.connect(), lab.queue()
    declare(client, name, exclusive=True)
    for key in ("", name):
        bind = C.Queue.Bind(queue=name, exchange="", routing_key=key)
        assert client.call_error(1, bind) == (403, DEFAULT_REFUSED, 50, 20)
        unbind = C.Queue.Unbind(queue=name, exchange="", routing_key=key)
        assert client.call_error(1, unbind) == (403, DEFAULT_REFUSED, 50, 50)
    missing = "NOT_FOUND - no exchange 'amq.default' in vhost '/'"
    bind = C.Queue.Bind(queue=name, exchange="amq.default", routing_key=name)
    assert client.call_error(1, bind) == (404, missing, 50, 20)


def test_queue_bind_twice_routes_one_copy(lab):
    client, name = lab.connect(), lab.queue()
    declare(client, name, exclusive=True)
    binding = {"queue": name, "exchange": "amq.direct", "routing_key": name}
    for arguments in (None, None, {"x-other": 1}):
        client.call_ok(1, C.Queue.Bind(**binding, arguments=arguments), C.Queue.BindOk)
    client.publish(1, b"m", exchange="amq.direct", routing_key=name)
    assert client.basic_get(1, name)[2] == b"m"
    assert client.basic_get(1, name) is None


def test_queue_unbind_never_fails(lab):
    client, name, x = lab.connect(), lab.queue(), lab.exchange()
    declare_exchange(client, x)
    declare(client, name, exclusive=True)
    client.call_ok(1, C.Queue.Bind(queue=name, exchange=x, routing_key="k"), C.Queue.BindOk)
    missing_q, missing_x = lab.queue("missing"), lab.exchange("missing")
    for queue, exchange, key in [(name, x, "k"), (name, x, "k"), (name, x, "never-bound"),
                                 (missing_q, x, "k"), (name, missing_x, "k"),
                                 (missing_q, missing_x, "k")]:  # fmt: skip
        unbind = C.Queue.Unbind(queue=queue, exchange=exchange, routing_key=key)
        client.call_ok(1, unbind, C.Queue.UnbindOk)


# ---- queue.purge -------------------------------------------------------------------------


def test_purge_of_a_missing_queue(lab):
    client, name = lab.connect(), lab.queue()
    assert client.call_error(1, C.Queue.Purge(queue=name)) == (404, no_queue(name), 50, 30)


def test_purge_removes_ready_messages_only(lab):
    client, other, name = lab.connect(), lab.connect(), lab.queue()
    declare(client, name)
    publish(client, name, b"1", b"2", b"3", b"4", b"5")
    other.call_ok(1, C.Basic.Qos(prefetch_count=2), C.Basic.QosOk)
    consume(other, name, "c")
    expect_deliveries(other, 2)
    assert client.basic_get(1, name, no_ack=False)[2] == b"3"
    assert client.call_ok(1, C.Queue.Purge(queue=name), C.Queue.PurgeOk).message_count == 2
    assert state(client, name) == (0, 1)
    client.send(1, C.Queue.Purge(queue=name, nowait=True))
    assert state(client, name) == (0, 1)  # no purge-ok before this reply
    other.close_connection()
    wait_for(lambda: state(client, name) == (2, 0))


# ---- queue.delete ------------------------------------------------------------------------


def test_delete_of_a_missing_queue(lab):
    client, name = lab.connect(), lab.queue()
    for flags in ({}, {"if_unused": True, "if_empty": True}):
        method = C.Queue.Delete(queue=name, **flags)
        assert client.call_ok(1, method, C.Queue.DeleteOk).message_count == 0
    client.send(1, C.Queue.Delete(queue=name, nowait=True))
    client.call_ok(1, C.Basic.Qos(), C.Basic.QosOk)  # nothing came before this reply


def test_delete_if_unused_and_if_empty(lab):
    client, name = lab.connect(channels=(1, 2)), lab.queue()
    declare(client, name, exclusive=True)
    publish(client, name, b"1", b"2", b"3")
    wait_for(lambda: state(client, name) == (3, 0))
    text = f"PRECONDITION_FAILED - queue '{name}' in vhost '/' not empty"
    assert client.call_error(1, C.Queue.Delete(queue=name, if_empty=True)) == (406, text, 50, 40)
    consume(client, name, "c", channel=2)
    expect_deliveries(client, 3)
    text = f"PRECONDITION_FAILED - queue '{name}' in vhost '/' in use"
    assert client.call_error(1, C.Queue.Delete(queue=name, if_unused=True)) == (406, text, 50, 40)


@pytest.mark.parametrize("holder", ["consumer", "get"])
def test_delete_if_empty_ignores_unacked_messages(lab, holder):
    client, other, name = lab.connect(), lab.connect(), lab.queue()
    declare(client, name)
    publish(client, name, b"1", b"2")
    if holder == "consumer":
        consume(other, name, "c")
        expect_deliveries(other, 2)
    else:
        assert client.basic_get(1, name, no_ack=False)[2] == b"1"
        assert client.basic_get(1, name, no_ack=False)[2] == b"2"
    delete = C.Queue.Delete(queue=name, if_empty=True)
    assert client.call_ok(1, delete, C.Queue.DeleteOk).message_count == 0
    assert state(client, name) == (404, no_queue(name), 50, 10)


def test_delete_counts_ready_messages_only(lab):
    client, other, name, plain = lab.connect(), lab.connect(), lab.queue(), lab.queue("plain")
    declare(client, plain, exclusive=True)
    publish(client, plain, b"1", b"2", b"3")
    assert client.call_ok(1, C.Queue.Delete(queue=plain), C.Queue.DeleteOk).message_count == 3
    declare(client, name)
    publish(client, name, b"1", b"2", b"3", b"4")
    other.call_ok(1, C.Basic.Qos(prefetch_count=1), C.Basic.QosOk)
    consume(other, name, "c")
    expect_deliveries(other, 1)
    client.basic_get(1, name, no_ack=False)
    assert client.call_ok(1, C.Queue.Delete(queue=name), C.Queue.DeleteOk).message_count == 2


@pytest.mark.parametrize(
    "capabilities, notified",
    [
        ({"consumer_cancel_notify": True}, True),
        ({"consumer_cancel_notify": False}, False),
        ({"basic.nack": True}, False),
        ({}, False),  # no capabilities table at all
    ],
)
def test_delete_cancels_consumers(lab, capabilities, notified):
    client, name = lab.connect(), lab.queue()
    consumer = lab.connect(capabilities=capabilities)
    declare(client, name)
    consume(consumer, name, "ctag1")
    publish(client, name, b"m")
    assert expect_deliveries(consumer, 1)[0].delivery_tag == 1
    client.call_ok(1, C.Queue.Delete(queue=name), C.Queue.DeleteOk)
    if notified:
        _, cancel = consumer.expect(C.Basic.Cancel)
        assert (cancel.consumer_tag, cancel.nowait) == ("ctag1", True)
    else:
        with pytest.raises(TimeoutError):  # nothing is sent: watch for a while
            consumer.read_frame(timeout=0.5)
    consumer.send(1, C.Basic.Ack(delivery_tag=1))  # the tag is still valid
    consumer.call_ok(1, C.Basic.Qos(prefetch_count=1), C.Basic.QosOk)
    consumer.call_ok(1, C.Basic.Cancel(consumer_tag="ctag1"), C.Basic.CancelOk)
    declare(consumer, "", exclusive=True)
    consume(consumer, "", "ctag1")  # the tag is free again


# ---- auto_delete queues ------------------------------------------------------------------


def test_auto_delete_queue_without_consumers_stays(lab):
    client, other, name = lab.connect(), lab.connect(), lab.queue()
    declare(client, name, auto_delete=True)
    publish(other, name, b"m")
    assert other.basic_get(1, name)[2] == b"m"
    other.close_connection()
    assert state(client, name) == (0, 0)


ENDINGS = "cancel-one-of-two cancel-last cancel-with-unacked close-channel close-connection"


@pytest.mark.parametrize("ending", ENDINGS.split())
def test_auto_delete_queue_goes_with_its_last_consumer(lab, ending):
    client, consumer, name = lab.connect(), lab.connect(channels=(1, 2)), lab.queue()
    declare(client, name, auto_delete=True)
    consume(consumer, name, "a")
    if ending == "cancel-one-of-two":
        consume(consumer, name, "b", channel=2)
    if ending == "cancel-with-unacked":
        publish(client, name, b"m")
        expect_deliveries(consumer, 1)
    if ending.startswith("cancel"):
        consumer.call_ok(1, C.Basic.Cancel(consumer_tag="a"), C.Basic.CancelOk)
    elif ending == "close-channel":
        consumer.call_ok(1, C.Channel.Close(200, "bye", 0, 0), C.Channel.CloseOk)
    else:
        consumer.close_connection()
    if ending == "cancel-one-of-two":
        assert state(client, name) == (0, 1)
    else:
        wait_for(lambda: state(client, name) == (404, no_queue(name), 50, 10))
