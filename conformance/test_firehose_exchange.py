"""amq.rabbitmq.trace, the firehose tracer's exchange, which every vhost has.

A durable, internal topic exchange: declared again only with those flags, never
deleted, never published to by a client, bound to and from like any other; the
management API lists it and a definitions export leaves it out, as every amq.*
exchange.
"""

import pytest
from pamqp import commands as C

from conformance.helpers import declare_exchange
from conformance.http_api import ApiClient, path

TRACE = "amq.rabbitmq.trace"


def inequivalent(arg, received, current):
    return (
        f"PRECONDITION_FAILED - inequivalent arg '{arg}' for exchange '{TRACE}' in vhost '/': "
        f"received '{received}' but current is '{current}'"
    )


def test_passive_declare_finds_it(lab):
    declare_exchange(lab.connect(), TRACE, passive=True)


def test_declare_with_its_own_flags_is_ok(lab):
    declare_exchange(lab.connect(), TRACE, "topic", durable=True, internal=True)


@pytest.mark.parametrize(
    "flags, error",
    [
        ({"exchange_type": "direct", "durable": True, "internal": True},
         ("type", "direct", "topic")),
        ({"exchange_type": "topic", "durable": False, "internal": True},
         ("durable", "false", "true")),
        ({"exchange_type": "topic", "durable": True, "internal": False},
         ("internal", "false", "true")),
        ({"exchange_type": "topic", "durable": True, "internal": True, "auto_delete": True},
         ("auto_delete", "true", "false")),
    ],
)  # fmt: skip
def test_declare_with_other_flags_is_inequivalent(lab, flags, error):
    client = lab.connect()
    method = C.Exchange.Declare(exchange=TRACE, **flags)
    assert client.call_error(1, method) == (406, inequivalent(*error), 40, 10)


@pytest.mark.parametrize("if_unused", [False, True])
def test_it_cannot_be_deleted(lab, if_unused):
    client = lab.connect()
    text = f"ACCESS_REFUSED - deletion of system exchange '{TRACE}' in vhost '/' not allowed"
    method = C.Exchange.Delete(exchange=TRACE, if_unused=if_unused)
    assert client.call_error(1, method) == (403, text, 40, 20)
    declare_exchange(client, TRACE, passive=True)


def test_a_client_cannot_publish_to_it(lab):
    client = lab.connect()
    client.publish(1, b"x", exchange=TRACE, routing_key="publish.x")
    text = f"ACCESS_REFUSED - cannot publish to internal exchange '{TRACE}' in vhost '/'"
    assert client.expect_channel_error(1) == (403, text, 60, 40)


def test_queues_and_exchanges_bind_to_it_and_from_it(lab):
    client = lab.connect()
    queue = lab.queue()
    client.call_ok(1, C.Queue.Declare(queue=queue, exclusive=True), C.Queue.DeclareOk)
    for method, reply in (
        (C.Queue.Bind(queue=queue, exchange=TRACE, routing_key="#"), C.Queue.BindOk),
        (C.Queue.Unbind(queue=queue, exchange=TRACE, routing_key="#"), C.Queue.UnbindOk),
        (C.Exchange.Bind(destination="amq.fanout", source=TRACE, routing_key="#"),
         C.Exchange.BindOk),
        (C.Exchange.Unbind(destination="amq.fanout", source=TRACE, routing_key="#"),
         C.Exchange.UnbindOk),
        (C.Exchange.Bind(destination=TRACE, source="amq.fanout"), C.Exchange.BindOk),
        (C.Exchange.Unbind(destination=TRACE, source="amq.fanout"), C.Exchange.UnbindOk),
    ):  # fmt: skip
        client.call_ok(1, method, reply)


def test_no_other_amq_rabbitmq_exchange_exists(lab):
    client = lab.connect()
    method = C.Exchange.Declare(exchange="amq.rabbitmq.log", passive=True)
    text = "NOT_FOUND - no exchange 'amq.rabbitmq.log' in vhost '/'"
    assert client.call_error(1, method) == (404, text, 40, 10)


# ---- the management API --------------------------------------------------------------


@pytest.fixture
def api(api_target):
    return ApiClient(api_target.url)


def test_the_api_shows_it(api):
    answer = api.get(path("exchanges", "/", TRACE))
    assert answer.status == 200
    assert answer.json == {
        "arguments": {}, "auto_delete": False, "durable": True, "incoming": [],
        "internal": True, "name": TRACE, "outgoing": [], "type": "topic",
        "user_who_performed_action": "rmq-internal", "vhost": "/",
    }  # fmt: skip


def test_the_api_lists_it_in_name_order(api):
    names = [x["name"] for x in api.get(path("exchanges", "/")).json]
    assert names[names.index("amq.match") + 1] == TRACE
    assert names[names.index(TRACE) + 1] == "amq.topic"


def test_the_api_cannot_delete_it_or_publish_to_it(api):
    answer = api.delete(path("exchanges", "/", TRACE))
    assert (answer.status, answer.json) == (401, {"error": "not_authorised",
                                                  "reason": "Access refused."})  # fmt: skip
    answer = api.post(path("exchanges", "/", TRACE, "publish"),
                      {"properties": {}, "routing_key": "k", "payload": "x",
                       "payload_encoding": "string"})  # fmt: skip
    reason = f"403 ACCESS_REFUSED - cannot publish to internal exchange '{TRACE}' in vhost '/'"
    assert (answer.status, answer.json) == (400, {"error": "bad_request", "reason": reason})


def test_the_api_declares_it_again_only_with_its_flags(api):
    target = path("exchanges", "/", TRACE)
    assert api.put(target, {"type": "topic", "durable": True, "internal": True}).status == 204
    answer = api.put(target, {"type": "topic", "durable": False, "internal": True})
    reason = inequivalent("durable", "false", "true").removeprefix("PRECONDITION_FAILED - ")
    assert (answer.status, answer.json) == (400, {"error": "bad_request", "reason": reason})


def test_a_definitions_export_leaves_it_out(api):
    exported = api.get(path("definitions", "/")).json
    assert TRACE not in [x["name"] for x in exported["exchanges"]]
