"""Stream queues in the management API: listed with type "stream" and their log's
length as messages (all ready, none unacknowledged), on amqpd and the reference."""

from __future__ import annotations

import time
import uuid

import pika
import pytest

from conformance.http_api import ApiClient, path


@pytest.fixture
def api(api_target):
    return ApiClient(api_target.url)


@pytest.fixture
def stream_name(api):
    name = f"http-stream-{uuid.uuid4().hex[:8]}"
    yield name
    api.delete(path("queues", "/", name))


def _eventually(api, target, condition, timeout=15.0):
    """RabbitMQ's counts lag by seconds; poll until they show (amqpd's are exact)."""
    deadline = time.monotonic() + timeout
    while True:
        body = api.get(target).json
        if condition(body) or time.monotonic() > deadline:
            return body
        time.sleep(0.2)


def test_a_stream_is_listed_with_the_length_of_its_log(api, api_target, stream_name):
    connection = pika.BlockingConnection(pika.URLParameters(api_target.broker.url))
    try:
        channel = connection.channel()
        channel.queue_declare(stream_name, durable=True, arguments={"x-queue-type": "stream"})
        channel.confirm_delivery()
        for _ in range(3):
            channel.basic_publish("", stream_name, b"m")
        body = _eventually(api, path("queues", "/", stream_name),
                           lambda q: q.get("messages") == 3)  # fmt: skip
        assert body["type"] == "stream" and body["durable"] is True
        assert (body["messages_ready"], body["messages_unacknowledged"]) == (3, 0)
        assert body["arguments"] == {"x-queue-type": "stream"}
        listed = [q for q in api.get(path("queues", "/")).json if q["name"] == stream_name]
        assert [q["type"] for q in listed] == ["stream"]
    finally:
        connection.close()


@pytest.mark.parametrize(
    ("definition", "applies"),
    [
        ({"max-age": "1h", "stream-max-segment-size-bytes": 1000, "max-length-bytes": 5000}, True),
        ({"message-ttl": 1000, "max-age": "1h"}, False),
        ({"max-length": 10}, False),
        ({"dead-letter-exchange": "dlx"}, False),
        ({"overflow": "reject-publish"}, False),
    ],
    ids=["stream-keys", "message-ttl", "max-length", "dead-letter-exchange", "overflow"],
)
def test_a_policy_applies_to_a_stream_only_with_keys_streams_have(
    api, api_target, stream_name, definition, applies
):
    policy = f"{stream_name}-policy"
    body = {"pattern": f"^{stream_name}$", "definition": definition, "apply-to": "queues"}
    assert api.put(path("policies", "/", policy), body).status in (201, 204)
    try:
        connection = pika.BlockingConnection(pika.URLParameters(api_target.broker.url))
        connection.channel().queue_declare(
            stream_name, durable=True, arguments={"x-queue-type": "stream"}
        )
        connection.close()
        target = path("queues", "/", stream_name)
        if applies:
            shown = _eventually(api, target, lambda q: q.get("policy") == policy)
            assert shown["effective_policy_definition"] == definition
        else:
            # RabbitMQ lists a queue's policy a moment after the declare; give it the time.
            time.sleep(1.5)
            shown = _eventually(api, target, lambda q: "policy" in q)
            assert (shown["policy"], shown["effective_policy_definition"]) == (None, {})
    finally:
        api.delete(path("policies", "/", policy))


def test_a_stream_cannot_be_purged_or_got_from_through_the_api(api, api_target, stream_name):
    declared = {"durable": True, "arguments": {"x-queue-type": "stream"}}
    assert api.put(path("queues", "/", stream_name), declared).status == 201
    where = f"queue '{stream_name}' in vhost '/'"
    body = {"count": 1, "ackmode": "ack_requeue_true", "encoding": "auto"}
    answer = api.post(path("queues", "/", stream_name, "get"), body)
    assert (answer.status, answer.json) == (400, {
        "error": "bad_request",
        "reason": f"540 basic.get not supported by stream queues {where}",
    })  # fmt: skip
    answer = api.delete(path("queues", "/", stream_name, "contents"))
    assert (answer.status, answer.json) == (400, {
        "error": "bad_request",
        "reason": f"queue.purge not supported by stream queues {where}",
    })  # fmt: skip


def test_a_stream_declared_through_the_api_follows_the_same_rules(api, stream_name):
    answer = api.put(path("queues", "/", stream_name),
                     {"durable": False, "arguments": {"x-queue-type": "stream"}})  # fmt: skip
    assert (answer.status, answer.json) == (400, {
        "error": "bad_request",
        "reason": f"invalid property 'non-durable' for queue '{stream_name}' in vhost '/'",
    })  # fmt: skip
