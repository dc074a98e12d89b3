"""Exchange rules and routing, as RabbitMQ 3.10.8 replies to a raw client.

Declare, delete, bind and unbind errors with their exact texts, auto-delete
lifetimes, and routing checked end to end: publish, then basic.get.
"""

import pytest
from pamqp import commands as C

from conformance import typed
from conformance.helpers import acked, bind, declare_exchange, drain, wait_for
from conformance.typed import encode_table

DEFAULT_REFUSED = "ACCESS_REFUSED - operation not permitted on the default exchange"


def xdecl(name, kind="direct", **kw):
    return C.Exchange.Declare(exchange=name, exchange_type=kind, **kw)


def not_found(name):
    return f"NOT_FOUND - no exchange '{name}' in vhost '/'"


def inequivalent(arg, name, tail):
    return (
        f"PRECONDITION_FAILED - inequivalent arg '{arg}' for exchange '{name}' in vhost '/': {tail}"
    )


def exists(client, name):
    client.send(1, xdecl(name, passive=True))
    _, reply = client.read_frame()
    if isinstance(reply, C.Exchange.DeclareOk):
        return True
    assert isinstance(reply, C.Channel.Close), reply
    assert (reply.reply_code, reply.reply_text) == (404, not_found(name))
    client.send(1, C.Channel.CloseOk())
    client.open_channel(1)
    return False


def temp_queue(client):
    """A server-named exclusive queue: it goes away with the connection."""
    method = C.Queue.Declare(queue="", exclusive=True)
    return client.call_ok(1, method, C.Queue.DeclareOk).queue


def xbind(client, destination, source, key="", method=C.Exchange.Bind):
    reply = C.Exchange.BindOk if method is C.Exchange.Bind else C.Exchange.UnbindOk
    client.call_ok(1, method(destination=destination, source=source, routing_key=key), reply)


def gets(client, queue):
    """basic.get until get-empty: [(exchange, routing_key, body)]."""
    out = []
    while (got := client.basic_get(1, queue)) is not None:
        out.append((got[0].exchange, got[0].routing_key, got[2]))
    return out


# ---- exchange.declare ----------------------------------------------------------------


@pytest.mark.parametrize("kind", ["direct", "", "foo"])
def test_passive_declare_of_a_missing_exchange(lab, kind):
    client, name = lab.connect(), lab.exchange("missing")
    assert client.call_error(1, xdecl(name, kind, passive=True)) == (404, not_found(name), 40, 10)


def test_passive_declare_ignores_every_other_field(lab):
    client, name = lab.connect(), lab.exchange()
    declare_exchange(client, name, "direct")
    declare_exchange(client, name, "fanout", passive=True)
    declare_exchange(client, name, "foo", passive=True)
    declare_exchange(
        client, name, "fanout", passive=True, durable=True, auto_delete=True, internal=True
    )
    declare_exchange(
        client, name, "fanout", passive=True, arguments={"alternate-exchange": "elsewhere"}
    )


@pytest.mark.parametrize(
    "change, arg, received, current",
    [
        ({"exchange_type": "fanout"}, "type", "fanout", "direct"),
        ({"durable": True}, "durable", "true", "false"),
        ({"auto_delete": True}, "auto_delete", "true", "false"),
        ({"internal": True}, "internal", "true", "false"),
    ],
)
def test_redeclare_with_a_different_type_or_flag(lab, change, arg, received, current):
    client, name = lab.connect(), lab.exchange()
    declare_exchange(client, name, "direct")
    declare_exchange(client, name, "direct")  # identical: fine
    text = inequivalent(arg, name, f"received '{received}' but current is '{current}'")
    method = C.Exchange.Declare(**{"exchange": name, "exchange_type": "direct", **change})
    assert client.call_error(1, method) == (406, text, 40, 10)


AE = "alternate-exchange"


@pytest.mark.parametrize(
    "before, after, tail",
    [
        ({}, {AE: "{ae1}"}, "received the value '{ae1}' of type 'longstr' but current is none"),
        ({AE: "{ae1}"}, {}, "received none but current is the value '{ae1}' of type 'longstr'"),
        ({AE: "{ae1}"}, {AE: "{ae2}"}, "received '{ae2}' but current is '{ae1}'"),
        ({AE: "{ae1}"}, {AE: 5}, "received '5' but current is '{ae1}'"),
        ({AE: "{ae1}"}, {AE: bytearray(b"{ae1}")}, None),  # equal value, other type
        ({}, {"x-foo": 1}, None),
        ({"x-foo": 1}, {"x-foo": 2}, None),
        ({"x-foo": 1}, {"x-foo": 1, "x-bar": "b", "foo": 1}, None),
        ({"x-foo": 1, AE: "{ae1}"}, {AE: "{ae1}"}, None),
    ],
)
def test_only_alternate_exchange_is_compared_on_redeclare(lab, before, after, tail):
    client, name = lab.connect(), lab.exchange()
    names = {"ae1": f"{lab.prefix}-ae1", "ae2": f"{lab.prefix}-ae2"}

    def real(args):
        def fill(v):
            if isinstance(v, bytearray):
                return bytearray(fill(v.decode()).encode())
            return v.format(**names) if isinstance(v, str) else v

        return {key: fill(value) for key, value in args.items()}

    declare_exchange(client, name, "direct", arguments=real(before))
    if tail is None:
        declare_exchange(client, name, "direct", arguments=real(after))
    else:
        text = inequivalent(AE, name, tail.format(**names))
        assert client.call_error(1, xdecl(name, arguments=real(after))) == (406, text, 40, 10)


def test_new_exchange_with_a_non_string_alternate_exchange(lab):
    client, name = lab.connect(), lab.exchange()
    text = f"PRECONDITION_FAILED - invalid type 'byte' for arg '{AE}' in exchange '{name}'"
    text += " in vhost '/'"
    assert client.call_error(1, xdecl(name, arguments={AE: 5})) == (406, text, 40, 10)


def test_reserved_amq_prefix(lab):
    client, name = lab.connect(), f"amq.{lab.prefix}"
    text = f"ACCESS_REFUSED - exchange name '{name}' contains reserved prefix 'amq.*'"
    assert client.call_error(1, xdecl(name)) == (403, text, 40, 10)
    assert client.call_error(1, xdecl(name, passive=True)) == (404, not_found(name), 40, 10)


@pytest.mark.parametrize(
    "kind, durable, passive, error",
    [
        ("direct", False, False, ("durable", "false", "true")),
        ("direct", True, False, None),
        ("fanout", False, False, ("type", "fanout", "direct")),  # type is checked first
        ("fanout", False, True, None),
    ],
)
def test_redeclare_amq_direct(lab, kind, durable, passive, error):
    client = lab.connect()
    if error is None:
        declare_exchange(client, "amq.direct", kind, durable=durable, passive=passive)
    else:
        arg, received, current = error
        text = inequivalent(arg, "amq.direct", f"received '{received}' but current is '{current}'")
        method = xdecl("amq.direct", kind, durable=durable)
        assert client.call_error(1, method) == (406, text, 40, 10)


@pytest.mark.parametrize("kind, passive", [("direct", False), ("fanout", False), ("direct", True)])
def test_declare_of_the_default_exchange_is_refused(lab, kind, passive):
    client = lab.connect()
    assert client.call_error(1, xdecl("", kind, passive=passive)) == (403, DEFAULT_REFUSED, 40, 10)


# x-consistent-hash stands for a plugin type neither broker has (the reference runs
# without plugins; amqpd has no consistent-hash exchange).
@pytest.mark.parametrize(
    "target, kind, word",
    [
        ("new", "foo", "invalid"),
        ("new", "", "invalid"),
        ("new", "x-consistent-hash", "unknown"),
        ("existing", "foo", "invalid"),
        ("existing", "x-consistent-hash", "unknown"),
        ("amq.foo", "foo", "invalid"),
        ("default", "foo", "invalid"),
    ],
)
def test_bad_exchange_type_closes_the_connection(lab, target, kind, word):
    client = lab.connect()
    name = {"amq.foo": "amq.foo", "default": ""}.get(target) or lab.exchange()
    if target == "existing":
        declare_exchange(client, name, "direct")
    client.send(1, xdecl(name, kind))
    text = f"COMMAND_INVALID - {word} exchange type '{kind}'"
    assert client.expect_connection_error() == (503, text, 40, 10)


def test_declare_nowait(lab):
    client, name = lab.connect(), lab.exchange()
    client.send(1, xdecl(name, "headers", nowait=True))
    declare_exchange(client, name, "headers", passive=True)  # the first reply is the passive one's
    text = inequivalent("type", name, "received 'fanout' but current is 'headers'")
    assert client.call_error(1, xdecl(name, "fanout", nowait=True)) == (406, text, 40, 10)


# ---- exchange.delete -------------------------------------------------------------------


@pytest.mark.parametrize("if_unused", [False, True])
def test_delete_of_a_missing_exchange_is_ok(lab, if_unused):
    client = lab.connect()
    method = C.Exchange.Delete(exchange=lab.exchange("missing"), if_unused=if_unused)
    client.call_ok(1, method, C.Exchange.DeleteOk)


@pytest.mark.parametrize(
    "name", ["", "amq.direct", "amq.rabbitmq.trace", "amq.conformance-missing"]
)
def test_delete_refused(lab, name):
    client = lab.connect()
    text = f"ACCESS_REFUSED - deletion of system exchange '{name}' in vhost '/' not allowed"
    expected = (403, text if name else DEFAULT_REFUSED, 40, 20)
    assert client.call_error(1, C.Exchange.Delete(exchange=name)) == expected


def test_delete_if_unused_counts_outgoing_bindings_only(lab):
    client = lab.connect()
    src, dst, xq = lab.exchange("src"), lab.exchange("dst"), lab.exchange("xq")
    for name in (src, dst, xq):
        declare_exchange(client, name, "fanout")
    queue = temp_queue(client)

    def delete(name):
        return C.Exchange.Delete(exchange=name, if_unused=True)

    def in_use(name):
        return (406, f"PRECONDITION_FAILED - exchange '{name}' in vhost '/' in use", 40, 20)

    bind(client, queue, xq)
    assert client.call_error(1, delete(xq)) == in_use(xq)
    client.call_ok(1, C.Queue.Unbind(queue=queue, exchange=xq), C.Queue.UnbindOk)
    client.call_ok(1, delete(xq), C.Exchange.DeleteOk)
    xbind(client, dst, src)
    assert client.call_error(1, delete(src)) == in_use(src)
    client.call_ok(1, delete(dst), C.Exchange.DeleteOk)  # only a destination: not in use
    assert not exists(client, dst)
    # Deleting the destination removed the binding: the source is unused now.
    client.call_ok(1, delete(src), C.Exchange.DeleteOk)
    assert not exists(client, src)


@pytest.mark.parametrize("mandatory", [False, True])
def test_publish_to_an_internal_exchange_is_refused(lab, mandatory):
    client, name = lab.connect(), lab.exchange("int")
    declare_exchange(client, name, "fanout", internal=True)
    client.publish(1, b"m", exchange=name, mandatory=mandatory)
    text = f"ACCESS_REFUSED - cannot publish to internal exchange '{name}' in vhost '/'"
    assert client.expect_channel_error(1) == (403, text, 60, 40)


# ---- exchange.bind / exchange.unbind ---------------------------------------------------


def test_exchange_bind_and_unbind_rules(lab):
    client, a, b, missing = lab.connect(), lab.exchange("a"), lab.exchange("b"), lab.exchange("m")
    declare_exchange(client, a, "fanout")
    # An internal exchange can be a destination.
    declare_exchange(client, b, "fanout", internal=True)
    xbind(client, b, a, "k")
    xbind(client, b, a, "k")  # idempotent
    xbind(client, a, a)  # self binding
    xbind(client, "amq.direct", a)
    # unbind never fails with 404: not bound, or either exchange missing
    for dst, src, key in [(b, a, "k"), (b, a, "x"), (a, a, ""), (b, missing, ""), (missing, a, ""),
                          (missing, missing, "")]:  # fmt: skip
        xbind(client, dst, src, key, method=C.Exchange.Unbind)


@pytest.mark.parametrize("missing", ["source", "destination", "both"])
def test_exchange_bind_with_a_missing_exchange(lab, missing):
    client, present = lab.connect(), lab.exchange()
    declare_exchange(client, present, "fanout")
    src = lab.exchange("missing-s") if missing in ("source", "both") else present
    dst = lab.exchange("missing-d") if missing in ("destination", "both") else present
    reported = src if missing != "destination" else dst  # the source is reported first
    bind = C.Exchange.Bind(destination=dst, source=src)
    assert client.call_error(1, bind) == (404, not_found(reported), 40, 30)


@pytest.mark.parametrize(
    "method, ids", [(C.Exchange.Bind, (40, 30)), (C.Exchange.Unbind, (40, 40))]
)
@pytest.mark.parametrize("side", ["source", "destination"])
def test_exchange_bind_with_the_default_exchange(lab, method, ids, side):
    client, other = lab.connect(), lab.exchange()
    declare_exchange(client, other, "fanout")
    names = {"source": "", "destination": other} if side == "source" else {"source": other}
    bind = method(**{"destination": "", **names})
    assert client.call_error(1, bind) == (403, DEFAULT_REFUSED, *ids)


# ---- auto_delete exchanges -------------------------------------------------------------

AUTO_DELETE = {  # steps on the auto-delete exchange X, and whether X survives them
    "never-bound": ([], True),
    "one-of-two-queue-bindings-removed": (["bind q1", "bind q2", "unbind q1"], True),
    "last-queue-binding-removed": (["bind q1", "unbind q1"], False),
    "only-bound-queue-deleted": (["bind q1", "delete q1"], False),
    "exclusive-queue-owner-closed": (["owner binds", "owner closes"], False),
    "e2e-source-unbound": (["bind e", "unbind e"], False),
    "e2e-destination-deleted": (["bind e", "delete e"], False),
    "only-e2e-destination-unbound": (["e binds", "e unbinds"], True),
}


@pytest.mark.parametrize("steps, survives", AUTO_DELETE.values(), ids=AUTO_DELETE)
def test_auto_delete_exchange_lifetime(lab, steps, survives):
    client, x, e = lab.connect(), lab.exchange("ad"), lab.exchange("e")
    declare_exchange(client, x, "fanout", auto_delete=True)
    declare_exchange(client, e, "fanout")
    queues, owner = {"q1": temp_queue(client), "q2": temp_queue(client)}, lab.connect()
    for step in steps:
        match step.split():
            case ["bind", "e"] | ["unbind", "e"]:
                xbind(client, e, x, method=C.Exchange.Bind if step[0] == "b" else C.Exchange.Unbind)
            case ["e", verb]:
                xbind(
                    client, x, e, method=C.Exchange.Bind if verb == "binds" else C.Exchange.Unbind
                )
            case ["bind", q]:
                bind(client, queues[q], x)
            case ["unbind", q]:
                client.call_ok(1, C.Queue.Unbind(queue=queues[q], exchange=x), C.Queue.UnbindOk)
            case ["delete", "e"]:
                client.call_ok(1, C.Exchange.Delete(exchange=e), C.Exchange.DeleteOk)
            case ["delete", q]:
                client.call_ok(1, C.Queue.Delete(queue=queues[q]), C.Queue.DeleteOk)
            case ["owner", "binds"]:
                bind(owner, temp_queue(owner), x)
            case ["owner", "closes"]:
                owner.close_connection()
    if survives:
        assert exists(client, x)
    elif "owner closes" in steps:  # exclusive queues go after their connection: asynchronous
        wait_for(lambda: not exists(client, x))
    else:
        assert not exists(client, x)


# ---- routing ---------------------------------------------------------------------------

TOPOLOGIES = {  # bindings "source>destination" over fanout exchanges a, b, c and queue q
    "chain": "a>b b>q",
    "loop": "a>b b>a a>q b>q",
    "diamond": "a>b a>c b>q c>q",
    "self": "a>a a>q",
    "loop-of-three": "a>b b>c c>a c>q b>q",
}


@pytest.mark.parametrize("edges", TOPOLOGIES.values(), ids=TOPOLOGIES)
def test_a_message_reaches_a_queue_at_most_once(lab, edges):
    client = lab.connect()
    names = {n: lab.exchange(n) for n in "abc"}
    for name in names.values():
        declare_exchange(client, name, "fanout")
    names["q"] = temp_queue(client)
    for source, destination in (edge.split(">") for edge in edges.split()):
        if destination == "q":
            bind(client, names["q"], names[source])
        else:
            xbind(client, names[destination], names[source])
    client.publish(1, b"m", exchange=names["a"])
    assert drain(client, names["q"]) == [b"m"]


def test_exchange_binding_keys_filter_and_internal_destinations(lab):
    client, src, mid = lab.connect(), lab.exchange("src"), lab.exchange("mid")
    declare_exchange(client, src, "direct")
    declare_exchange(client, mid, "fanout", internal=True)
    queue = temp_queue(client)
    xbind(client, mid, src, "k")
    bind(client, queue, mid)
    for key in ("k", "other", "k"):
        client.publish(1, key.encode(), exchange=src, routing_key=key)
    assert gets(client, queue) == [(src, "k", b"k"), (src, "k", b"k")]


def test_alternate_exchange_routing(lab):
    client = lab.connect()
    x, ae1, ae2 = lab.exchange("x"), lab.exchange("ae1"), lab.exchange("ae2")
    declare_exchange(client, ae2, "fanout")
    declare_exchange(client, ae1, "direct", arguments={AE: ae2})
    declare_exchange(client, x, "direct", arguments={AE: ae1})
    main, via_ae1, via_ae2 = temp_queue(client), temp_queue(client), temp_queue(client)
    bind(client, main, x, "main")
    bind(client, via_ae1, ae1, "ae1")
    bind(client, via_ae2, ae2)
    for key in ("main", "ae1", "other"):
        client.publish(1, key.encode(), exchange=x, routing_key=key, mandatory=True)
    client.call_ok(1, C.Basic.Qos(), C.Basic.QosOk)  # no basic.return came before this reply
    assert gets(client, main) == [(x, "main", b"main")]
    assert gets(client, via_ae1) == [(x, "ae1", b"ae1")]  # exchange and key as published
    assert gets(client, via_ae2) == [(x, "other", b"other")]


@pytest.mark.parametrize("case", ["missing", "cycle", "unused-when-routed-to-an-exchange"])
def test_alternate_exchange_that_routes_nowhere(lab, case):
    client, x, other = lab.connect(), lab.exchange("x"), lab.exchange("other")
    declare_exchange(client, x, "direct", arguments={AE: other})
    queue = temp_queue(client)
    if case == "cycle":
        declare_exchange(client, other, "direct", arguments={AE: x})
    elif case.startswith("unused"):
        # x routes to an exchange that routes to no queue: x's alternate is not used.
        empty = lab.exchange("empty")
        declare_exchange(client, empty, "fanout")
        xbind(client, empty, x, "k")
        declare_exchange(client, other, "fanout")
        bind(client, queue, other)
    client.publish(1, b"m", exchange=x, routing_key="k", mandatory=True)
    _, returned, _, body = client.read_message()
    assert isinstance(returned, C.Basic.Return), returned
    fields = (returned.reply_code, returned.reply_text, returned.exchange, returned.routing_key)
    assert (fields, body) == ((312, "NO_ROUTE", x, "k"), b"m")
    assert drain(client, queue) == []


KEYS = ["", "a", "b", "lazy", "a.b", "a.c", "b.a", "a.b.c", "a.", ".a", ".", "..", "a..b",
        "quick.orange.rabbit", "lazy.orange.elephant", "quick.orange.male.rabbit"]  # fmt: skip
ALL = set(KEYS)


@pytest.mark.parametrize(
    "pattern, matches",
    [
        ("a", {"a"}),
        ("", {""}),
        ("*", {"a", "b", "lazy"}),
        ("#", ALL),
        ("#.#", ALL),
        ("*.#", ALL - {""}),
        ("a.*", {"a.b", "a.c", "a."}),
        ("*.a", {"b.a", ".a"}),
        ("a.#", {"a", "a.b", "a.c", "a.b.c", "a.", "a..b"}),
        ("#.a", {"a", "b.a", ".a"}),
        ("#.b.#", {"b", "a.b", "b.a", "a.b.c", "a..b"}),
        ("a.#.c", {"a.c", "a.b.c"}),
        ("*.*", {"a.b", "a.c", "b.a", "a.", ".a", "."}),
        ("*.*.*", {"a.b.c", "..", "a..b", "quick.orange.rabbit", "lazy.orange.elephant"}),
        (".", {"."}),
        ("a..b", {"a..b"}),
        ("*.orange.*", {"quick.orange.rabbit", "lazy.orange.elephant"}),
        ("lazy.#", {"lazy", "lazy.orange.elephant"}),
    ],
)
def test_topic_routing(lab, pattern, matches):
    client, x = lab.connect(), lab.exchange("topic")
    declare_exchange(client, x, "topic")
    queue = temp_queue(client)
    bind(client, queue, x, pattern)
    for key in KEYS:
        client.publish(1, key.encode(), exchange=x, routing_key=key)
    assert sorted(drain(client, queue)) == sorted(k.encode() for k in matches)


@pytest.mark.parametrize(
    "binding, headers, routed",
    [
        ({}, None, True),
        ({"x-match": "all"}, {}, True),
        ({"x-match": "any"}, {"a": 1}, False),
        ({"a": 1, "b": "x"}, {"a": 1, "b": "x", "c": 3}, True),
        ({"a": 1, "b": "x"}, {"a": 1}, False),
        ({"a": 1, "b": "x"}, {"a": 1, "b": "y"}, False),
        ({"x-match": "all", "a": 1}, None, False),
        ({"x-match": "any", "a": 1, "b": "x"}, {"b": "x"}, True),
        ({"x-match": "any", "a": 1, "b": "x"}, {"a": 2, "b": "y"}, False),
        ({"x-match": "any", "a": 1}, None, False),
        ({"a": None}, {"a": "anything"}, True),  # void: presence only
        ({"a": None}, {"b": 1}, False),
        ({"x-match": "any", "a": None, "b": 1}, {"a": 5}, True),
        ({"a": 1}, {"a": None}, False),
        ({"x-match": "all", "x-foo": "1"}, {}, True),  # x- keys are ignored
        ({"x-match": "any", "x-foo": "1", "a": 1}, {"x-foo": "1"}, False),
        ({"x-match": "all-with-x", "x-foo": "1"}, {"x-foo": "1"}, True),
        ({"x-match": "all-with-x", "x-foo": "1"}, {}, False),
        ({"x-match": "all-with-x", "x-foo": "1", "a": 1}, {"x-foo": "1"}, False),
        ({"x-match": "any-with-x", "x-foo": "1", "a": 1}, {"x-foo": "1"}, True),
        ({"x-match": "any-with-x", "x-foo": "1"}, {"x-foo": "2"}, False),
        ({"a": 1}, {"a": 1.0}, True),  # numbers compare by value
        ({"a": 1}, {"a": "1"}, False),
        ({"a": True}, {"a": 1}, False),
        ({"a": "abc"}, {"a": bytearray(b"abc")}, True),  # longstr and byte array alike
    ],
)
def test_headers_routing(lab, binding, headers, routed):
    client, x = lab.connect(), lab.exchange("headers")
    declare_exchange(client, x, "headers")
    queue = temp_queue(client)
    bind(client, queue, x, arguments=binding)
    client.publish(1, b"m", exchange=x, properties=C.Basic.Properties(headers=headers))
    assert drain(client, queue) == ([b"m"] if routed else [])


@pytest.mark.parametrize(
    "code, value, routed",
    [("b", 7, True), ("s", 7, True), ("I", 7, True), ("l", 7, True), ("d", 7.0, True),
     ("S", "7", False), ("t", True, False)],
)  # fmt: skip
def test_headers_binding_values_of_other_types(lab, code, value, routed):
    client, x = lab.connect(), lab.exchange("headers")
    declare_exchange(client, x, "headers")
    queue = temp_queue(client)
    client.send_with_table(
        1, C.Queue.Bind(queue=queue, exchange=x), encode_table([("a", code, value)])
    )
    client.expect(C.Queue.BindOk)
    client.publish(1, b"m", exchange=x, properties=C.Basic.Properties(headers={"a": 7}))
    assert drain(client, queue) == ([b"m"] if routed else [])


# Header values by how RabbitMQ's headers exchange compares them (Erlang's ==):
# each group matches itself and nothing else.
VALUE_GROUPS = {
    "five": [("b", 5), ("B", 5), ("s", 5), ("u", 5), ("I", 5), ("i", 5), ("l", 5),
             ("f", 5.0), ("d", 5.0), ("T", 5)],  # integers, floats, timestamps: by value
    "decimal 5": [("D", (0, 5))],  # not an integer, and not 5.0 with one decimal place
    "decimal 5.0": [("D", (1, 50))],
    "true": [("t", True)],  # not 1
    "one": [("b", 1)],
    "false": [("t", False)],
    "zero": [("b", 0)],
    "text 5": [("S", "5"), ("x", b"5")],  # longstr and byte array are both binaries
    "empty text": [("S", "")],
    "five and a half": [("f", 5.5), ("d", 5.5)],
    "array": [("A", [("I", 5)])],
    "array of a byte": [("A", [("b", 5)])],  # elements keep their types
    "table": [("F", [("a", "I", 5)])],
    "empty list": [("F", []), ("A", [])],  # both are Erlang's []
    "void": [("V", None)],
}  # fmt: skip
VALUES = [(group, field) for group, fields in VALUE_GROUPS.items() for field in fields]


def test_headers_values_match_as_erlang_terms(lab):
    client, x = lab.connect(), lab.exchange("headers")
    declare_exchange(client, x, "headers")
    queues = []
    for code, value in (field for _, field in VALUES):
        queues.append(temp_queue(client))
        table = encode_table([("x-match", "S", "any"), ("k", code, value)])
        client.send_with_table(1, C.Queue.Bind(queue=queues[-1], exchange=x), table)
        client.expect(C.Queue.BindOk)
    client.call_ok(1, C.Confirm.Select(), C.Confirm.SelectOk)
    for number, (_, (code, value)) in enumerate(VALUES, 1):
        typed.publish(client, 1, str(number - 1).encode(), exchange=x, headers=[("k", code, value)])
    acked(client, len(VALUES))
    for (group, bound), queue in zip(VALUES, queues, strict=True):
        got = sorted(int(body) for body in drain(client, queue))
        void = bound == ("V", None)  # a void binding value: any header of that name
        expected = [n for n, (other, _) in enumerate(VALUES) if void or other == group]
        assert got == expected, (group, bound)


def bad_x_match_value(shown):
    return (
        f"PRECONDITION_FAILED - Invalid x-match field value {shown}; "
        "expected all, any, all-with-x, or any-with-x"
    )


def bad_x_match_type(kind, shown):
    return (
        f"PRECONDITION_FAILED - Invalid x-match field type {kind} (value {shown}); expected longstr"
    )


X_MATCH_REFUSED = [
    (("S", "foo"), bad_x_match_value('<<"foo">>')),
    (("S", ""), bad_x_match_value("<<>>")),
    (("S", "ALL"), bad_x_match_value('<<"ALL">>')),
    (("S", "any "), bad_x_match_value('<<"any ">>')),
    (("x", b"all"), bad_x_match_type("binary", '<<"all">>')),
    (("I", 1), bad_x_match_type("signedint", "1")),
    (("t", True), bad_x_match_type("bool", "true")),
    (("A", [("S", "all")]), bad_x_match_type("array", '[{longstr,<<"all">>}]')),
    (("V", None), bad_x_match_type("void", "undefined")),
    (("F", []), bad_x_match_type("table", "[]")),
]


@pytest.mark.parametrize(
    "x_match, text", X_MATCH_REFUSED, ids=[repr(v) for v, _ in X_MATCH_REFUSED]
)
def test_headers_binding_with_an_unknown_x_match_is_refused(lab, x_match, text):
    client, x, other = lab.connect(), lab.exchange("headers"), lab.exchange("fanout")
    declare_exchange(client, x, "headers")
    declare_exchange(client, other, "fanout")
    queue = temp_queue(client)
    table = encode_table([("x-match", *x_match), ("k", "S", "v")])
    client.send_with_table(1, C.Queue.Bind(queue=queue, exchange=x), table)
    assert client.expect_channel_error(1) == (406, text, 50, 20)
    client.open_channel(1)
    client.send_with_table(1, C.Exchange.Bind(destination=other, source=x), table)
    assert client.expect_channel_error(1) == (406, text, 40, 30)
    client.open_channel(1)
    # Only a headers exchange's bindings are checked, and unbinding is never refused.
    client.send_with_table(1, C.Exchange.Bind(destination=x, source=other), table)
    client.expect(C.Exchange.BindOk)
    client.send_with_table(1, C.Queue.Unbind(queue=queue, exchange=x), table)
    client.expect(C.Queue.UnbindOk)


@pytest.mark.parametrize("mode", ["all", "any", "all-with-x", "any-with-x"])
def test_headers_binding_with_each_x_match_mode(lab, mode):
    client, x = lab.connect(), lab.exchange("headers")
    declare_exchange(client, x, "headers")
    bind(client, temp_queue(client), x, arguments={"x-match": mode, "k": "v"})
