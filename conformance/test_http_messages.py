"""Getting and publishing messages through the management API, on amqpd and the
reference alike: every ackmode and encoding, the answer's fields, and the refusals."""

from __future__ import annotations

import uuid

import pytest

from conformance.http_api import ApiClient, path


@pytest.fixture
def api(api_target):
    return ApiClient(api_target.url)


@pytest.fixture
def queues(api):
    """Declare queues in "/" with unique names; all deleted afterwards."""
    made: list[str] = []

    def make(arguments: dict | None = None) -> str:
        name = f"http-msg-{uuid.uuid4().hex[:8]}"
        assert api.put(path("queues", "/", name), {"arguments": arguments or {}}).status == 201
        made.append(name)
        return name

    yield make
    for name in made:
        api.delete(path("queues", "/", name))


def send(api, queue: str, payload: str, encoding: str = "string", **properties) -> dict:
    answer = api.post(path("exchanges", "/", "amq.default", "publish"), {
        "properties": properties, "routing_key": queue, "payload": payload,
        "payload_encoding": encoding,
    })  # fmt: skip
    assert answer.status == 200, answer.body
    return answer.json


def take(api, queue: str, ackmode: str = "ack_requeue_false", count: int = 10, **more):
    body = {"count": count, "ackmode": ackmode, "encoding": "auto", **more}
    answer = api.post(path("queues", "/", queue, "get"), body)
    assert answer.status == 200, answer.body
    return answer.json


FULL_PROPERTIES = {
    "app_id": "app", "user_id": "guest", "type": "kind", "timestamp": 1700000000,
    "message_id": "m1", "expiration": "60000", "reply_to": "back", "correlation_id": "c1",
    "priority": 3, "delivery_mode": 2,
    "headers": {"s": "x", "h": 1, "l": [1, "a"], "t": {"a": 1}, "f": 1.5, "b": True},
    "content_encoding": "identity", "content_type": "text/plain",
}  # fmt: skip


def test_a_published_message_comes_back_with_every_field(api, queues):
    queue = queues()
    assert send(api, queue, "hello", **FULL_PROPERTIES) == {"routed": True}
    [got] = take(api, queue, "ack_requeue_true")
    assert got == {
        "payload_bytes": 5, "redelivered": False, "exchange": "", "routing_key": queue,
        "message_count": 0, "properties": FULL_PROPERTIES, "payload": "hello",
        "payload_encoding": "string",
    }  # fmt: skip
    assert list(got["properties"]) == list(FULL_PROPERTIES)  # RabbitMQ's order
    assert list(got["properties"]["headers"]) == ["b", "f", "h", "l", "s", "t"]
    [again] = take(api, queue, "ack_requeue_true")
    assert again["redelivered"] is True


def test_no_properties_show_as_an_empty_list(api, queues):
    queue = queues()
    send(api, queue, "x")
    assert take(api, queue)[0]["properties"] == []


def test_requeue_modes_keep_the_messages_in_order_and_count_down(api, queues):
    queue = queues()
    for n in range(3):
        send(api, queue, f"m{n}")
    got = take(api, queue, "reject_requeue_true", count=5)
    assert [(m["payload"], m["message_count"], m["redelivered"]) for m in got] == [
        ("m0", 2, False), ("m1", 1, False), ("m2", 0, False)
    ]  # fmt: skip
    got = take(api, queue, "ack_requeue_true", count=2)
    assert [(m["payload"], m["message_count"], m["redelivered"]) for m in got] == [
        ("m0", 2, True), ("m1", 1, True)
    ]  # fmt: skip
    assert [m["payload"] for m in take(api, queue, "ack_requeue_false")] == ["m0", "m1", "m2"]
    assert take(api, queue) == []


def test_reject_without_requeue_dead_letters(api, queues):
    dlq = queues()
    queue = queues({"x-dead-letter-exchange": "", "x-dead-letter-routing-key": dlq})
    send(api, queue, "doomed")
    assert [m["payload"] for m in take(api, queue, "reject_requeue_false")] == ["doomed"]
    assert take(api, queue) == []
    [dead] = take(api, dlq)
    assert dead["payload"] == "doomed"
    [death] = dead["properties"]["headers"]["x-death"]
    assert (death["queue"], death["reason"], death["count"]) == (queue, "rejected", 1)


def test_encodings_and_truncation(api, queues):
    queue = queues()
    assert send(api, queue, "AAEC/w==", "base64") == {"routed": True}
    send(api, queue, "hello world")
    got = take(api, queue, "ack_requeue_true", encoding="base64", truncate=3)
    assert [(m["payload"], m["payload_encoding"], m["payload_bytes"]) for m in got] == [
        ("AAEC", "base64", 4), ("aGVs", "base64", 11)
    ]  # fmt: skip
    got = take(api, queue, "ack_requeue_false", truncate="5")
    assert [(m["payload"], m["payload_encoding"]) for m in got] == [
        ("AAEC/w==", "base64"), ("hello", "string")
    ]  # fmt: skip


def test_count_zero_takes_nothing(api, queues):
    queue = queues()
    send(api, queue, "stays")
    assert take(api, queue, count=0) == []
    assert len(take(api, queue)) == 1


def test_publish_says_whether_it_was_routed(api, queues):
    answer = api.post(path("exchanges", "/", "amq.direct", "publish"), {
        "properties": {"bogus": 1}, "routing_key": f"nowhere-{uuid.uuid4().hex}",
        "payload": "x", "payload_encoding": "string",
    })  # fmt: skip
    assert (answer.status, answer.json) == (200, {"routed": False})


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ({}, "[{key_missing,ackmode},{key_missing,count},{key_missing,encoding}]"),
        ({"count": 1, "encoding": "auto"}, "[{key_missing,ackmode}]"),
        ({"count": 1, "ackmode": "ack_requeue_true", "encoding": "bogus"},
         "Unsupported encoding. Please use auto or base64."),
        ({"count": 1, "ackmode": "ack_requeue_true", "encoding": "auto", "truncate": "x"},
         ["not_integer", "x"]),
    ],
)  # fmt: skip
def test_get_refuses_bad_input(api, queues, body, reason):
    answer = api.post(path("queues", "/", queues(), "get"), body)
    assert (answer.status, answer.json) == (400, {"error": "bad_request", "reason": reason})


def test_get_from_a_missing_queue_and_with_get(api):
    body = {"count": 1, "ackmode": "ack_requeue_true", "encoding": "auto"}
    answer = api.post(path("queues", "/", "http-no-such-queue", "get"), body)
    assert (answer.status, answer.json) == (404, {
        "error": "not_found", "reason": "NOT_FOUND - no queue 'http-no-such-queue' in vhost '/'"
    })  # fmt: skip
    answer = api.post(path("queues", "/", "q", "get"), raw=b"{nope",
                      headers={"content-type": "application/json"})  # fmt: skip
    assert (answer.status, answer.json) == (400, {"error": "bad_request", "reason": "not_json"})
    answer = api.get(path("queues", "/", "http-no-such-queue", "get"))
    assert (answer.status, answer.headers["allow"]) == (405, "POST, OPTIONS")


GOOD = {"properties": {}, "routing_key": "k", "payload": "x", "payload_encoding": "string"}


def _without(*keys: str) -> dict:
    return {k: v for k, v in GOOD.items() if k not in keys}


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (_without("properties"), "[{key_missing,properties}]"),
        (_without("payload", "payload_encoding", "routing_key"),
         "[{key_missing,routing_key},\n {key_missing,payload},\n {key_missing,payload_encoding}]"),
        (_without("payload_encoding"), "[{key_missing,payload_encoding}]"),
        ({**GOOD, "payload_encoding": "rot13"}, ["unsupported_encoding", "rot13"]),
        ({**GOOD, "payload": "!!!", "payload_encoding": "base64"}, ["not_base64", "!!!"]),
        ({**GOOD, "payload": 5}, "payload_not_string"),
        ({**GOOD, "properties": {"delivery_mode": "x"}}, ["not_int", "delivery_mode"]),
        ({**GOOD, "properties": {"priority": "x"}}, ["not_int", "priority"]),
        ({**GOOD, "properties": {"delivery_mode": 3}},
         "406 PRECONDITION_FAILED - invalid message: {delivery_mode_unknown,3}"),
        ({**GOOD, "properties": {"delivery_mode": 0}},
         "406 PRECONDITION_FAILED - invalid message: {delivery_mode_unknown,0}"),
        ({**GOOD, "properties": {"delivery_mode": 256}},
         "406 PRECONDITION_FAILED - invalid message: {delivery_mode_unknown,256}"),
        ({**GOOD, "properties": {"delivery_mode": -1}},
         "406 PRECONDITION_FAILED - invalid message: {delivery_mode_unknown,-1}"),
        ({**GOOD, "properties": {"user_id": "bob"}},
         "406 PRECONDITION_FAILED - user_id property set to 'bob' but authenticated user was "
         "'guest'"),
        ({**GOOD, "properties": {"expiration": "abc"}},
         "406 PRECONDITION_FAILED - invalid expiration 'abc': no_integer"),
    ],
)  # fmt: skip
def test_publish_refuses_bad_input(api, body, reason):
    answer = api.post(path("exchanges", "/", "amq.direct", "publish"), body)
    assert (answer.status, answer.json) == (400, {"error": "bad_request", "reason": reason})


def test_publish_to_a_missing_exchange(api):
    answer = api.post(path("exchanges", "/", "http-no-such-x", "publish"), GOOD)
    reason = "404 NOT_FOUND - no exchange 'http-no-such-x' in vhost '/'"
    assert (answer.status, answer.json) == (400, {"error": "bad_request", "reason": reason})
