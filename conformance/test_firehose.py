"""The firehose tracer, switched on through the management API in a vhost of its own.

While a vhost traces, every publish in it is copied to amq.rabbitmq.trace as
``publish.<exchange>`` and every delivery (basic.deliver, basic.get-ok) as
``deliver.<queue>``, with headers in a fixed order and with fixed types. Each
test makes its own vhost (so no other test's traffic shows), gives guest every
permission there and turns tracing on with ``PUT /api/vhosts/NAME {"tracing":
true}``; it turns tracing off before deleting the vhost, as RabbitMQ remembers
a traced name after the vhost is gone.
"""

from __future__ import annotations

import uuid

import pytest
from pamqp import commands as C

from conformance import typed
from conformance.helpers import wait_for
from conformance.http_api import ApiClient, path
from conformance.rawclient import RawClient

TRACE = "amq.rabbitmq.trace"


class Traced:
    """A vhost that traces, a client bound to its trace and a client that publishes."""

    def __init__(self, api_target) -> None:  # noqa: ANN001 - conftest's ApiTarget
        self.api = ApiClient(api_target.url)
        self.broker = api_target.broker
        self.vhost = f"trace-{uuid.uuid4().hex[:8]}"
        self.clients: list[RawClient] = []
        assert self.api.put(path("vhosts", self.vhost), {}).status == 201
        every = {"configure": ".*", "write": ".*", "read": ".*"}
        assert self.api.put(path("permissions", self.vhost, "guest"), every).status in (201, 204)
        self.switch(True)
        self.node = self.api.get("/api/overview").json["node"]
        self.tracer = self.connect()
        self.tracer.call_ok(1, C.Queue.Declare(queue="trace", exclusive=True), C.Queue.DeclareOk)
        bind = C.Queue.Bind(queue="trace", exchange=TRACE, routing_key="#")
        self.tracer.call_ok(1, bind, C.Queue.BindOk)
        self.client = self.connect(1, 2)

    def switch(self, on: bool) -> None:
        assert self.api.put(path("vhosts", self.vhost), {"tracing": on}).status == 204

    def connect(self, *channels: int) -> RawClient:
        client = RawClient(self.broker.host, self.broker.port)
        self.clients.append(client)
        client.handshake(vhost=self.vhost)
        for number in channels or (1,):
            client.open_channel(number)
        return client

    def connection_name(self, client: RawClient) -> str:
        host, port = client.sock.getsockname()[:2]
        return f"{host}:{port} -> {self.broker.host}:{self.broker.port}"

    def next_trace(self) -> tuple[str, bytes, list]:
        """The next copy in the trace queue: (routing key, body, headers)."""
        got = wait_for(lambda: typed.get(self.tracer, 1, "trace"), what="a trace message")
        method, props, body = got
        assert method.exchange == TRACE and list(props) == ["headers"], (method, props)
        return method.routing_key, body, props["headers"]

    def declare(self, *queues: str, exchange: str = "", key: str = "") -> None:
        for queue in queues:
            self.client.call_ok(1, C.Queue.Declare(queue=queue, exclusive=True), C.Queue.DeclareOk)
            if exchange:
                bind = C.Queue.Bind(queue=queue, exchange=exchange, routing_key=key)
                self.client.call_ok(1, bind, C.Queue.BindOk)

    def close(self) -> None:
        for client in self.clients:
            client.close()
        self.switch(False)
        self.api.delete(path("vhosts", self.vhost))


@pytest.fixture
def traced(api_target):
    found = Traced(api_target)
    yield found
    found.close()


def publish_headers(traced: Traced, exchange: str, keys: list[str], properties: list,
                    routed: list[str], channel: int = 1) -> list:  # fmt: skip
    return [
        ("exchange_name", "S", exchange),
        ("routing_keys", "A", [("S", key) for key in keys]),
        ("properties", "F", properties),
        ("node", "S", traced.node),
        ("vhost", "S", traced.vhost),
        ("connection", "S", traced.connection_name(traced.client)),
        ("channel", "I", channel),
        ("user", "S", "guest"),
        ("routed_queues", "A", [("S", name) for name in routed]),
    ]


def deliver_headers(traced: Traced, exchange: str, keys: list[str], properties: list,
                    redelivered: int, channel: int = 1) -> list:  # fmt: skip
    return [
        ("exchange_name", "S", exchange),
        ("routing_keys", "A", [("S", key) for key in keys]),
        ("properties", "F", properties),
        ("node", "S", traced.node),
        ("redelivered", "I", redelivered),
        ("vhost", "S", traced.vhost),
        ("connection", "S", traced.connection_name(traced.client)),
        ("channel", "I", channel),
        ("user", "S", "guest"),
    ]


EVERY_PROPERTY = {
    "content_type": "text/plain", "content_encoding": "gzip",
    "headers": [("a", "S", "b"), ("n", "l", 5)], "delivery_mode": 2, "priority": 3,
    "correlation_id": "cid", "reply_to": "rt", "expiration": "60000", "message_id": "mid",
    "timestamp": 1_700_000_000, "type": "ty", "user_id": "guest", "app_id": "app",
    "cluster_id": "cl",
}  # fmt: skip
# The properties header lists them last first, numbers as signedint.
EVERY_PROPERTY_TRACED = [
    ("cluster_id", "S", "cl"), ("app_id", "S", "app"), ("user_id", "S", "guest"),
    ("type", "S", "ty"), ("timestamp", "I", 1_700_000_000), ("message_id", "S", "mid"),
    ("expiration", "S", "60000"), ("reply_to", "S", "rt"), ("correlation_id", "S", "cid"),
    ("priority", "I", 3), ("delivery_mode", "I", 2),
    ("headers", "F", [("a", "S", "b"), ("n", "l", 5)]), ("content_encoding", "S", "gzip"),
    ("content_type", "S", "text/plain"),
]  # fmt: skip


def test_a_publish_and_its_get_are_traced_with_every_property(traced):
    traced.declare("q1")
    typed.publish(traced.client, 1, b"hello", "", "q1", **EVERY_PROPERTY)
    assert traced.next_trace() == (
        "publish.",
        b"hello",
        publish_headers(traced, "", ["q1"], EVERY_PROPERTY_TRACED, ["q1"]),
    )
    typed.get(traced.client, 1, "q1")
    assert traced.next_trace() == (
        "deliver.q1",
        b"hello",
        deliver_headers(traced, "", ["q1"], EVERY_PROPERTY_TRACED, 0),
    )


def test_routed_queues_are_sorted_and_the_default_exchange_names_missing_ones(traced):
    traced.declare("b", "B", "a", exchange="amq.topic", key="#")
    typed.publish(traced.client, 2, b"t", "amq.topic", "k")
    assert traced.next_trace() == (
        "publish.amq.topic", b"t",
        publish_headers(traced, "amq.topic", ["k"], [], ["B", "a", "b"], channel=2),
    )  # fmt: skip
    typed.publish(traced.client, 1, b"nowhere", "", "no-such-queue")
    assert traced.next_trace()[2][-1] == ("routed_queues", "A", [("S", "no-such-queue")])


def test_cc_and_bcc_keys_are_routing_keys_and_bcc_stays_hidden(traced):
    traced.declare("c1", "c2")
    cc, bcc = ("CC", "A", [("S", "c1")]), ("BCC", "A", [("S", "c2")])
    typed.publish(traced.client, 1, b"x", "", "zz", headers=[cc, bcc])
    assert traced.next_trace() == (
        "publish.", b"x",
        publish_headers(traced, "", ["zz", "c1", "c2"], [("headers", "F", [cc])],
                        ["c1", "c2", "zz"]),
    )  # fmt: skip


def test_an_unroutable_mandatory_publish_routes_to_no_queue(traced):
    typed.publish(traced.client, 1, b"m", "amq.direct", "none", mandatory=True)
    assert isinstance(typed.read_message(traced.client)[1], C.Basic.Return)
    assert traced.next_trace()[2][-1] == ("routed_queues", "A", [])


def test_a_timestamp_past_32_bits_keeps_its_low_bits(traced):
    typed.publish(traced.client, 1, b"t", "amq.direct", "none", timestamp=2**40 + 5)
    assert traced.next_trace()[2][2] == ("properties", "F", [("timestamp", "I", 5)])


def test_a_transaction_is_traced_at_publish_not_at_commit(traced):
    traced.declare("txq")
    traced.client.call_ok(2, C.Tx.Select(), C.Tx.SelectOk)
    typed.publish(traced.client, 2, b"held", "", "txq")
    assert traced.next_trace() == (
        "publish.", b"held", publish_headers(traced, "", ["txq"], [], ["txq"], channel=2),
    )  # fmt: skip
    traced.client.call_ok(2, C.Tx.Commit(), C.Tx.CommitOk)
    typed.publish(traced.client, 1, b"marker", "", "none")
    assert traced.next_trace()[:2] == ("publish.", b"marker")


def test_a_consumer_delivery_and_a_redelivery_are_traced(traced):
    traced.declare("cq")
    typed.publish(traced.client, 1, b"m", "", "cq")
    assert traced.next_trace()[0] == "publish."
    traced.client.call_ok(2, C.Basic.Consume(queue="cq", consumer_tag="c"), C.Basic.ConsumeOk)
    _, deliver, _, _ = typed.read_message(traced.client)
    assert traced.next_trace() == (
        "deliver.cq", b"m", deliver_headers(traced, "", ["cq"], [], 0, channel=2),
    )  # fmt: skip
    traced.client.send(2, C.Basic.Reject(delivery_tag=deliver.delivery_tag, requeue=True))
    _, again, _, _ = typed.read_message(traced.client)
    assert again.redelivered
    assert traced.next_trace() == (
        "deliver.cq", b"m", deliver_headers(traced, "", ["cq"], [], 1, channel=2),
    )  # fmt: skip


def test_taking_the_trace_is_not_traced(traced):
    typed.publish(traced.client, 1, b"first", "", "none")
    assert traced.next_trace()[:2] == ("publish.", b"first")  # a get from the trace queue
    typed.publish(traced.client, 1, b"second", "", "none")
    assert traced.next_trace()[:2] == ("publish.", b"second")  # no deliver.trace before it


def test_nothing_is_traced_while_tracing_is_off(traced):
    traced.switch(False)
    typed.publish(traced.client, 1, b"untraced", "", "none")
    traced.switch(True)
    typed.publish(traced.client, 1, b"traced", "", "none")
    assert traced.next_trace()[:2] == ("publish.", b"traced")


# ---- the switch in the management API ------------------------------------------------


def test_the_api_shows_and_switches_tracing(traced):
    api, target = traced.api, path("vhosts", traced.vhost)

    def tracing() -> bool:
        return api.get(target).json["tracing"]

    assert tracing() is True
    listed = {v["name"]: v["tracing"] for v in api.get("/api/vhosts").json}
    assert listed[traced.vhost] is True and listed["/"] is False
    assert api.put(target, {}).status == 204 and tracing() is True  # absent: unchanged
    assert api.put(target, {"tracing": "false"}).status == 204 and tracing() is False
    assert api.put(target, {"tracing": "true"}).status == 204 and tracing() is True


@pytest.mark.parametrize("value", ["yes", 1, None])
def test_a_tracing_value_that_is_not_a_boolean_is_400(traced, value):
    answer = traced.api.put(path("vhosts", traced.vhost), {"tracing": value})
    assert (answer.status, answer.json) == (400, {"error": "bad_request",
                                                  "reason": ["not_boolean", value]})  # fmt: skip
    assert traced.api.get(path("vhosts", traced.vhost)).json["tracing"] is True


def test_a_vhost_made_again_under_a_traced_name_traces(api_target):
    api = ApiClient(api_target.url)
    name = f"trace-{uuid.uuid4().hex[:8]}"
    target = path("vhosts", name)
    try:
        assert api.put(target, {"tracing": True}).status == 201
        assert api.delete(target).status == 204
        assert api.put(target, {}).status == 201
        assert api.get(target).json["tracing"] is True
    finally:
        api.put(target, {"tracing": False})
        api.delete(target)


def test_the_apis_publish_and_get_are_traced(traced):
    api, vhost = traced.api, traced.vhost
    assert api.put(path("queues", vhost, "apiq"), {"durable": False}).status == 201
    body = {"properties": {}, "routing_key": "apiq", "payload": "x", "payload_encoding": "string"}
    assert api.post(path("exchanges", vhost, "amq.default", "publish"), body).json == {
        "routed": True
    }
    get = {"count": 1, "ackmode": "ack_requeue_false", "encoding": "auto"}
    assert api.post(path("queues", vhost, "apiq", "get"), get).status == 200
    for key in ("publish.", "deliver.apiq"):
        got, body, headers = traced.next_trace()
        found = {name: value for name, _, value in headers}
        # The connection is RabbitMQ's internal one for the API (a pid), not compared.
        assert (got, body, found["channel"], found["user"]) == (key, b"x", 1, "guest")


def test_a_quorum_queues_deliveries_show_their_delivery_count(traced):
    declare = C.Queue.Declare(queue="qq", durable=True, arguments={"x-queue-type": "quorum"})
    traced.client.call_ok(1, declare, C.Queue.DeclareOk)
    typed.publish(traced.client, 1, b"m", "", "qq")
    assert traced.next_trace()[0] == "publish."
    for count in (0, 1):
        got = wait_for(lambda: typed.get(traced.client, 1, "qq", no_ack=False), what="qq's message")
        counted = [("headers", "F", [("x-delivery-count", "l", count)])]
        assert traced.next_trace() == (
            "deliver.qq", b"m", deliver_headers(traced, "", ["qq"], counted, count),
        )  # fmt: skip
        traced.client.send(1, C.Basic.Reject(delivery_tag=got[0].delivery_tag, requeue=True))


def test_a_direct_reply_is_traced_as_routed_to_no_queue_and_never_delivered(traced):
    requester = traced.connect()
    consume = C.Basic.Consume(queue="amq.rabbitmq.reply-to", no_ack=True)
    requester.call_ok(1, consume, C.Basic.ConsumeOk)
    traced.declare("requests")
    typed.publish(requester, 1, b"req", "", "requests", reply_to="amq.rabbitmq.reply-to")
    key, _, headers = traced.next_trace()
    reply_to = dict((name, value) for name, _, value in headers)["properties"][0]
    assert key == "publish." and reply_to[0] == "reply_to"  # already the requester's own name
    assert reply_to[2].startswith("amq.rabbitmq.reply-to.")
    _, props, _ = wait_for(lambda: typed.get(traced.client, 1, "requests"), what="the request")
    assert traced.next_trace()[0] == "deliver.requests"
    typed.publish(traced.client, 1, b"reply", "", props["reply_to"])
    assert typed.read_message(requester)[3] == b"reply"
    assert traced.next_trace() == (
        "publish.", b"reply", publish_headers(traced, "", [props["reply_to"]], [], []),
    )  # fmt: skip
    typed.publish(traced.client, 1, b"marker", "", "none")
    assert traced.next_trace()[:2] == ("publish.", b"marker")  # no deliver. for the reply


def test_a_dead_lettered_message_is_delivered_as_its_dead_letter_exchange_sent_it(traced):
    traced.declare("dlq", exchange="amq.direct", key="dead")
    dead = {"x-dead-letter-exchange": "amq.direct", "x-dead-letter-routing-key": "dead"}
    traced.client.call_ok(1, C.Queue.Declare(queue="src", exclusive=True, arguments=dead),
                          C.Queue.DeclareOk)  # fmt: skip
    typed.publish(traced.client, 1, b"m", "", "src")
    assert traced.next_trace()[0] == "publish."
    got = wait_for(lambda: typed.get(traced.client, 1, "src", no_ack=False), what="src's message")
    assert traced.next_trace()[0] == "deliver.src"
    traced.client.send(1, C.Basic.Reject(delivery_tag=got[0].delivery_tag, requeue=False))
    wait_for(lambda: typed.get(traced.client, 1, "dlq"), what="the dead-lettered message")
    key, body, headers = traced.next_trace()  # no publish. for the dead-lettering itself
    found = {name: value for name, _, value in headers}
    assert (key, body, found["exchange_name"], found["routing_keys"]) == (
        "deliver.dlq", b"m", "amq.direct", [("S", "dead")],
    )  # fmt: skip
    assert [name for name, _, _ in found["properties"][0][2]] == [
        "x-death", "x-first-death-exchange", "x-first-death-queue", "x-first-death-reason",
    ]  # fmt: skip
