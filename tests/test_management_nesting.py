"""The management API keeps the wire's nesting limit: nothing deeper than a
client could send over AMQP enters the model through HTTP JSON either."""

from __future__ import annotations

import uuid

from amqpd.wire.fieldtable import MAX_DEPTH
from conformance.http_api import ApiClient, path


def nested(levels: int) -> dict:
    value: dict = {"leaf": 1}
    for _ in range(levels - 1):
        value = {"x": value}
    return value


def test_queue_arguments_past_the_limit_are_refused_with_400(amqpd_broker):
    api = ApiClient(amqpd_broker.management_url)
    name = f"deep-{uuid.uuid4().hex[:8]}"
    # The arguments table is level 1; a value holding a table is level 2, and so on.
    answer = api.put(path("queues", "/", name),
                     {"durable": True, "arguments": {"x-deep": nested(MAX_DEPTH)}})  # fmt: skip
    assert answer.status == 400
    assert "nested deeper than 64 levels" in str(answer.json["reason"])
    assert api.get(path("queues", "/", name)).status == 404
    fits = api.put(path("queues", "/", name),
                   {"durable": True, "arguments": {"x-deep": nested(MAX_DEPTH - 1)}})  # fmt: skip
    assert fits.status == 201
    api.delete(path("queues", "/", name))


def test_published_headers_past_the_limit_are_refused_with_400(amqpd_broker):
    api = ApiClient(amqpd_broker.management_url)
    answer = api.post(path("exchanges", "/", "amq.default", "publish"), {
        "routing_key": "nowhere", "payload": "x", "payload_encoding": "string",
        "properties": {"headers": {"deep": nested(MAX_DEPTH)}},
    })  # fmt: skip
    assert answer.status == 400


def test_json_nested_past_what_the_parser_allows_is_not_json(amqpd_broker):
    api = ApiClient(amqpd_broker.management_url)
    body = b"[" * 200_000 + b"]" * 200_000
    answer = api.request("PUT", path("queues", "/", "deep-json"), raw=body,
                         headers={"Content-Type": "application/json"})  # fmt: skip
    assert (answer.status, answer.json) == (400, {"error": "bad_request", "reason": "not_json"})
