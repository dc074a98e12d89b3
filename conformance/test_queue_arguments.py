"""queue.declare and basic.consume arguments, as RabbitMQ 3.10.8 validates them.

Typed argument tables for classic queues (integer types, bounds, strings, the
order of checks), consumer arguments, and the declare rules of quorum queues.
"""

import re

import pytest
from pamqp import commands as C

from conformance.typed import encode_table

INTEGER_CODES = "bBsuIilL"
# Types RabbitMQ refuses where it wants an integer, with the name its error text uses.
NOT_INTEGERS = [("S", "1000", "longstr"), ("t", True, "bool"), ("d", 1000.0, "double"),
                ("f", 10.0, "float"), ("D", (0, 1000), "decimal"), ("T", 1000, "timestamp"),
                ("x", b"1000", "binary"), ("V", None, "void"), ("A", [("I", 1)], "array"),
                ("F", [], "table")]  # fmt: skip


def outcome(client, method, fields):
    """Send method with these arguments: "ok", or the channel error (channel reopened)."""
    client.send_with_table(1, method, encode_table(fields))
    _, reply = client.read_frame()
    if isinstance(reply, C.Channel.Close):
        client.send(1, C.Channel.CloseOk())
        client.open_channel(1)
        return reply.reply_code, reply.reply_text, reply.class_id, reply.method_id
    assert isinstance(reply, C.Queue.DeclareOk | C.Basic.ConsumeOk), reply
    return "ok"


def declare(client, name, *fields, **flags):
    return outcome(client, C.Queue.Declare(queue=name, **flags), fields)


def expected(arg, name, detail, queue_type="classic", ids=(50, 10)):
    """detail None: accepted; "*": an argument of another queue type; else the error detail."""
    if detail is None:
        return "ok"
    text = f"PRECONDITION_FAILED - invalid arg '{arg}' for queue '{name}' in vhost '/'"
    if detail == "*":
        return (406, f"{text} of queue type rabbit_{queue_type}_queue", *ids)
    return (406, f"{text}: {detail}", *ids)


# ---- integer arguments -------------------------------------------------------------------

INTEGER_ARGS = "x-expires x-message-ttl x-max-length x-max-length-bytes x-max-priority".split()


@pytest.mark.parametrize("arg", [*INTEGER_ARGS, "x-queue-version"])
def test_integer_argument_types(lab, arg):
    client = lab.connect()
    cases = [(code, 1, None) for code in INTEGER_CODES if arg != "x-queue-version"]
    cases += [
        (code, v, f'"expected integer, got {type_name}"') for code, v, type_name in NOT_INTEGERS
    ]
    for number, (code, value, detail) in enumerate(cases):
        name = lab.queue(str(number))
        reply = declare(client, name, (arg, code, value), exclusive=True)
        assert reply == expected(arg, name, detail), code


@pytest.mark.parametrize(
    "arg, code, value, detail",
    [
        ("x-expires", "I", 1, None),
        ("x-expires", "l", 315360000000, None),
        ("x-expires", "I", 0, "{value_zero,0}"),
        ("x-expires", "b", 0, "{value_zero,0}"),
        ("x-expires", "I", -1, "{value_negative,-1}"),
        ("x-expires", "b", -5, "{value_negative,-5}"),
        ("x-expires", "l", 315360000001, "{value_too_large,315360000001}"),
        ("x-expires", "l", 2**62, "{value_too_large,4611686018427387904}"),
        ("x-message-ttl", "I", 0, None),
        ("x-message-ttl", "l", 315360000000, None),
        ("x-message-ttl", "l", -1, "{value_negative,-1}"),
        ("x-message-ttl", "l", 315360000001, "{value_too_large,315360000001}"),
        ("x-max-length", "I", 0, None),
        ("x-max-length", "l", 2**62, None),
        ("x-max-length", "I", -1, "{value_negative,-1}"),
        ("x-max-length-bytes", "b", 0, None),
        ("x-max-length-bytes", "l", 2**62, None),
        ("x-max-length-bytes", "l", -1, "{value_negative,-1}"),
        ("x-max-priority", "I", 0, None),
        ("x-max-priority", "I", 255, None),
        ("x-max-priority", "I", -1, "{value_negative,-1}"),
        ("x-max-priority", "I", 256, "{max_value_exceeded,256}"),
        ("x-max-priority", "s", 300, "{max_value_exceeded,300}"),
        ("x-max-priority", "l", 2**31, "{max_value_exceeded,2147483648}"),
        ("x-queue-version", "I", 1, None),
        ("x-queue-version", "b", 2, None),
        ("x-queue-version", "I", 3, "\"unsupported queue version '3'\""),
    ],
)
def test_integer_argument_bounds(lab, arg, code, value, detail):
    client, name = lab.connect(), lab.queue()
    assert declare(client, name, (arg, code, value), exclusive=True) == expected(arg, name, detail)


# ---- other classic queue arguments -------------------------------------------------------

DLX = ("x-dead-letter-exchange", "S", "")
STRING_ARGS = [
    ("x-overflow", ["drop-head", "reject-publish", "reject-publish-dlx"],
     {"foo": "invalid_overflow", "": "invalid_overflow", "Drop-Head": "invalid_overflow"}),
    ("x-queue-mode", ["default", "lazy"],
     {m: f"\"unsupported queue mode '{m}'\"" for m in ("foo", "", "LAZY")}),
    ("x-queue-type", ["classic"],
     {t: f"\"unsupported queue type '{t}'\"" for t in ("foo", "", "Classic")}),
]  # fmt: skip


@pytest.mark.parametrize("arg, good, bad", STRING_ARGS, ids=[a[0] for a in STRING_ARGS])
def test_string_arguments(lab, arg, good, bad):
    client = lab.connect()
    cases = [("S", value, None) for value in good] + [("S", v, d) for v, d in bad.items()]
    for code, value, type_name in [("I", 5, "signedint"), ("b", 5, "byte"), ("t", True, "bool"),
                                   ("x", b"abc", "binary")]:  # fmt: skip
        cases.append((code, value, f"{{unacceptable_type,{type_name}}}"))
    for number, (code, value, detail) in enumerate(cases):
        name = lab.queue(str(number))
        reply = declare(client, name, (arg, code, value), exclusive=True)
        assert reply == expected(arg, name, detail), (code, value)


@pytest.mark.parametrize(
    "fields, arg, detail",
    [
        ([("x-single-active-consumer", "t", True)], None, None),
        ([("x-single-active-consumer", "t", False)], None, None),
        ([("x-single-active-consumer", "I", 1)], "x-single-active-consumer",
         "{unacceptable_type,signedint}"),
        ([("x-single-active-consumer", "b", 0)], "x-single-active-consumer",
         "{unacceptable_type,byte}"),
        ([("x-single-active-consumer", "S", "true")], "x-single-active-consumer",
         "{unacceptable_type,longstr}"),
        ([("x-dead-letter-exchange", "S", "amq.direct")], None, None),
        ([("x-dead-letter-exchange", "S", "amq.foo")], None, None),
        ([("x-dead-letter-exchange", "S", "conf-no-such-exchange")], None, None),
        ([DLX, ("x-dead-letter-routing-key", "S", "rk")], None, None),
        ([DLX, ("x-dead-letter-routing-key", "S", "")], None, None),
        ([("x-dead-letter-routing-key", "S", "rk"), DLX], None, None),
        ([("x-dead-letter-routing-key", "S", "rk")], "x-dead-letter-routing-key",
         "routing_key_but_no_dlx_defined"),
        ([("x-dead-letter-routing-key", "S", "")], "x-dead-letter-routing-key",
         "routing_key_but_no_dlx_defined"),
        ([("x-dead-letter-routing-key", "I", 5)], "x-dead-letter-routing-key",
         "{unacceptable_type,signedint}"),
        ([DLX, ("x-dead-letter-routing-key", "t", True)], "x-dead-letter-routing-key",
         "{unacceptable_type,bool}"),
        ([DLX, ("x-dead-letter-routing-key", "x", b"rk")], "x-dead-letter-routing-key",
         "{unacceptable_type,binary}"),
        ([("x-foo", "S", "bar")], None, None),
        ([("x-foo", "I", 1)], None, None),
        ([("foo", "F", [])], None, None),
        ([("x-consumer-timeout", "I", 1000)], None, None),
        # Arguments of other queue types, whatever their value.
        ([("x-delivery-limit", "I", 1)], "x-delivery-limit", "*"),
        ([("x-delivery-limit", "I", -1)], "x-delivery-limit", "*"),
        ([("x-delivery-limit", "S", "1000")], "x-delivery-limit", "*"),
        ([("x-max-in-memory-length", "I", 0)], "x-max-in-memory-length", "*"),
        ([("x-max-in-memory-length", "t", True)], "x-max-in-memory-length", "*"),
        ([("x-max-in-memory-bytes", "I", 3)], "x-max-in-memory-bytes", "*"),
        ([("x-dead-letter-strategy", "S", "at-least-once")], "x-dead-letter-strategy", "*"),
        ([("x-max-age", "S", "1D")], "x-max-age", "*"),
        ([("x-quorum-initial-group-size", "I", 3)], "x-quorum-initial-group-size", "*"),
        # One error is reported, in a fixed order.
        ([("x-message-ttl", "I", -1), ("x-expires", "I", 0)], "x-expires", "{value_zero,0}"),
        ([("x-expires", "I", 0), ("x-message-ttl", "I", -1)], "x-expires", "{value_zero,0}"),
        ([("x-max-length", "I", -1), ("x-queue-type", "S", "foo")], "x-queue-type",
         "\"unsupported queue type 'foo'\""),
        ([("x-delivery-limit", "I", 1), ("x-max-length", "I", -1)], "x-max-length",
         "{value_negative,-1}"),
        ([("x-max-priority", "I", 256), ("x-max-length", "I", -1)], "x-max-length",
         "{value_negative,-1}"),
        # A duplicated key: its first occurrence counts.
        ([("x-expires", "I", 1000), ("x-expires", "I", 0)], None, None),
        ([("x-expires", "I", 0), ("x-expires", "I", 1000)], "x-expires", "{value_zero,0}"),
    ],
)  # fmt: skip
def test_classic_queue_arguments(lab, fields, arg, detail):
    client, name = lab.connect(), lab.queue()
    assert declare(client, name, *fields, exclusive=True) == expected(arg, name, detail)


@pytest.mark.parametrize(
    "code, value, type_name",
    [("I", 5, "signedint"), ("b", 5, "byte"), ("t", True, "bool"), ("x", b"x", "binary")],
)
def test_dead_letter_exchange_type_is_checked_first(lab, code, value, type_name):
    client, name = lab.connect(), lab.queue()
    text = (
        f"PRECONDITION_FAILED - invalid type '{type_name}' for arg 'x-dead-letter-exchange' "
        f"in queue '{name}' in vhost '/'"
    )
    dlx = ("x-dead-letter-exchange", code, value)
    assert declare(client, name, dlx, exclusive=True) == (406, text, 50, 10)
    assert declare(client, name, ("x-expires", "I", 0), dlx, exclusive=True) == (406, text, 50, 10)


def test_existing_queue_is_compared_not_validated(lab):
    client, name = lab.connect(), lab.queue()
    assert declare(client, name, exclusive=True) == "ok"
    assert declare(client, name, ("x-expires", "I", 0), passive=True) == "ok"
    text = (
        f"PRECONDITION_FAILED - inequivalent arg '{{}}' for queue '{name}' in vhost '/': "
        "received the value '{}' of type '{}' but current is none"
    )
    reply = declare(client, name, ("x-expires", "I", 0), exclusive=True)
    assert reply == (406, text.format("x-expires", "0", "signedint"), 50, 10)
    reply = declare(client, name, ("x-queue-type", "S", "foo"), exclusive=True)
    assert reply == (406, text.format("x-queue-type", "foo", "longstr"), 50, 10)


def test_server_named_queue_is_validated_with_its_generated_name(lab):
    client = lab.connect()
    code, text, class_id, method_id = declare(client, "", ("x-expires", "I", 0), exclusive=True)
    assert (code, class_id, method_id) == (406, 50, 10)
    pattern = (
        r"PRECONDITION_FAILED - invalid arg 'x-expires' for queue 'amq\.gen-[A-Za-z0-9_-]{22}' "
        r"in vhost '/': \{value_zero,0\}"
    )
    assert re.fullmatch(pattern, text), text


# ---- basic.consume arguments -------------------------------------------------------------


@pytest.mark.parametrize(
    "fields, arg, detail",
    [
        ([("x-priority", "I", 5)], None, None),
        ([("x-priority", "b", -3)], None, None),
        ([("x-priority", "s", 10)], None, None),
        ([("x-priority", "l", 2**40)], None, None),
        ([("x-priority", "l", -(2**40))], None, None),
        ([("x-priority", "i", 4294967295)], None, None),
        ([("x-priority", "S", "5")], "x-priority", '"expected integer, got longstr"'),
        ([("x-priority", "t", True)], "x-priority", '"expected integer, got bool"'),
        ([("x-priority", "d", 1.0)], "x-priority", '"expected integer, got double"'),
        ([("x-priority", "V", None)], "x-priority", '"expected integer, got void"'),
        ([("x-priority", "I", 1), ("x-priority", "S", "x")], None, None),
        ([("x-cancel-on-ha-failover", "t", True)], None, None),
        ([("x-cancel-on-ha-failover", "I", 1)], "x-cancel-on-ha-failover",
         "{unacceptable_type,signedint}"),
        ([("x-stream-offset", "S", "first")], "x-stream-offset", "*"),
        ([("x-stream-offset", "I", 5)], "x-stream-offset", "*"),
        ([("x-foo", "S", "bar")], None, None),
    ],
)  # fmt: skip
def test_consume_arguments(lab, fields, arg, detail):
    client, name = lab.connect(), lab.queue()
    assert declare(client, name, exclusive=True) == "ok"
    reply = outcome(client, C.Basic.Consume(queue=name, consumer_tag="c"), fields)
    assert reply == expected(arg, name, detail, ids=(60, 20))


# ---- quorum queues -----------------------------------------------------------------------

QUORUM = ("x-queue-type", "S", "quorum")


@pytest.mark.parametrize(
    "flags, prop",
    [
        ({"durable": True}, None),
        ({}, "non-durable"),
        ({"durable": True, "exclusive": True}, "exclusive-owner"),
        ({"durable": True, "auto_delete": True}, "auto-delete"),
        ({"exclusive": True, "auto_delete": True}, "auto-delete"),
    ],
)
def test_quorum_queue_properties(lab, flags, prop):
    client, name = lab.connect(), lab.queue()
    reply = declare(client, name, QUORUM, **flags)
    if prop is None:
        assert reply == "ok"
    else:
        text = f"PRECONDITION_FAILED - invalid property '{prop}' for queue '{name}' in vhost '/'"
        assert reply == (406, text, 50, 10)


@pytest.mark.parametrize("durable", [True, False])
def test_quorum_queue_cannot_be_server_named(lab, durable):
    client = lab.connect()
    text = "PRECONDITION_FAILED - Cannot declare a server-named queue for type rabbit_quorum_queue"
    assert declare(client, "", QUORUM, durable=durable) == (406, text, 50, 10)


@pytest.mark.parametrize(
    "fields, arg, detail",
    [
        ([("x-overflow", "S", "drop-head")], None, None),
        ([("x-overflow", "S", "reject-publish")], None, None),
        ([("x-overflow", "S", "reject-publish-dlx")], None, None),
        ([("x-message-ttl", "I", 1000), ("x-expires", "I", 100000)], None, None),
        ([("x-single-active-consumer", "t", True)], None, None),
        ([("x-max-in-memory-length", "I", 0)], None, None),
        ([("x-dead-letter-strategy", "S", "at-least-once")], None, None),
        ([("x-quorum-initial-group-size", "I", 3)], None, None),
        ([("x-queue-leader-locator", "S", "balanced")], None, None),
        ([("x-queue-leader-locator", "S", "random")], None, None),  # 3.10 keeps the old names
        ([("x-queue-leader-locator", "S", "least-leaders")], None, None),
        ([("x-max-length", "I", 10), ("x-max-length-bytes", "I", 1000)], None, None),
        ([("x-foo", "S", "bar")], None, None),
        ([("x-delivery-limit", "I", -1)], None, None),  # not validated at all
        ([("x-delivery-limit", "I", 0)], None, None),
        ([("x-delivery-limit", "S", "3")], None, None),
        ([("x-max-priority", "I", 5)], "x-max-priority", "*"),
        ([("x-queue-mode", "S", "lazy")], "x-queue-mode", "*"),
        ([("x-queue-version", "I", 2)], "x-queue-version", "*"),
        ([("x-max-age", "S", "1D")], "x-max-age", "*"),
        ([("x-max-in-memory-bytes", "I", -1)], "x-max-in-memory-bytes", "{value_negative,-1}"),
        ([("x-dead-letter-strategy", "S", "foo")], "x-dead-letter-strategy",
         "invalid_dlx_strategy"),
        ([("x-dead-letter-strategy", "I", 1)], "x-dead-letter-strategy",
         "{unacceptable_type,signedint}"),
        ([("x-quorum-initial-group-size", "I", 0)], "x-quorum-initial-group-size",
         "{value_zero,0}"),
        ([("x-queue-leader-locator", "S", "foo")], "x-queue-leader-locator",
         "invalid_queue_locator_arg"),
    ],
)  # fmt: skip
def test_quorum_queue_arguments(lab, fields, arg, detail):
    client, name = lab.connect(), lab.queue()
    reply = declare(client, name, QUORUM, *fields, durable=True)
    assert reply == expected(arg, name, detail, "quorum")
    if detail is not None:  # arguments are checked before the properties (non-durable here)
        assert declare(client, name, QUORUM, *fields) == reply


def test_quorum_queue_redeclare(lab):
    client, name = lab.connect(), lab.queue()
    assert declare(client, name, QUORUM, durable=True) == "ok"
    assert declare(client, name, QUORUM, durable=True) == "ok"
    assert declare(client, name, passive=True) == "ok"
    head = f"PRECONDITION_FAILED - inequivalent arg 'x-queue-type' for queue '{name}' in vhost '/'"
    tail = "received none but current is the value 'quorum' of type 'longstr'"
    assert declare(client, name, durable=True) == (406, f"{head}: {tail}", 50, 10)
    tail = "received 'classic' but current is 'quorum'"
    classic = ("x-queue-type", "S", "classic")
    assert declare(client, name, classic, durable=True) == (406, f"{head}: {tail}", 50, 10)
