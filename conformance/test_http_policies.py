"""Policies and operator policies through the API of the broker under test, their
effect observed over AMQP and in the queue's JSON (RabbitMQ's lags: poll)."""

from __future__ import annotations

import uuid

import pika
import pytest

from conformance.helpers import wait_for
from conformance.http_api import ApiClient, path


@pytest.fixture
def api(api_target):
    return ApiClient(api_target.url)


@pytest.fixture
def made(api):
    """Unique names; the policies, queues and exchanges named are removed afterwards."""
    created: list[tuple[str, str]] = []

    def make(kind: str) -> str:
        name = f"http-pol-{uuid.uuid4().hex[:8]}"
        created.append((kind, name))
        return name

    yield make
    for kind, name in reversed(created):
        api.delete(path(kind, "/", name))


@pytest.fixture
def channel(api_target):
    connection = pika.BlockingConnection(pika.URLParameters(api_target.broker.url))
    yield connection.channel()
    connection.close()


def _count(channel, queue: str) -> int:
    return channel.queue_declare(queue, passive=True).method.message_count


def _queue_json(api, name: str, key: str, want: object) -> dict:
    return wait_for(
        lambda: (j := api.get(path("queues", "/", name)).json).get(key) == want and j,
        timeout=20, what=f"{key} of {name} to be {want!r}",
    )  # fmt: skip


def test_put_get_list_delete(api, made):
    name = made("policies")
    body = {"pattern": f"^{name}$", "definition": {"message-ttl": 1000}, "priority": 3,
            "apply-to": "queues"}  # fmt: skip
    assert api.put(path("policies", "/", name), body).status == 201
    assert api.put(path("policies", "/", name), body).status == 204
    want = {"vhost": "/", "name": name, "pattern": f"^{name}$", "apply-to": "queues",
            "definition": {"message-ttl": 1000}, "priority": 3}  # fmt: skip
    assert api.get(path("policies", "/", name)).json == want
    assert want in api.get("/api/policies").json
    assert want in api.get(path("policies", "/")).json
    assert api.delete(path("policies", "/", name)).status == 204
    assert api.get(path("policies", "/", name)).status == 404
    assert api.delete(path("policies", "/", name)).status == 404


def test_defaults_are_priority_0_and_apply_to_all(api, made):
    name = made("policies")
    api.put(path("policies", "/", name), {"pattern": "x", "definition": {"expires": 5000}})
    answer = api.get(path("policies", "/", name)).json
    assert answer["priority"] == 0 and answer["apply-to"] == "all"


V = "Validation failed\n\n"


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ({"pattern": "x", "definition": {"foo": 1}},
         V + "[{&lt;&lt;\"foo\"&gt;&gt;,1}] are not recognised policy settings\n"),
        ({"pattern": "x", "definition": {"message-ttl": -1, "foo": 2}},
         V + "-1 is not a valid message TTL\n"),
        ({"pattern": "x", "definition": {"message-ttl": "a"}},
         V + "&lt;&lt;\"a\"&gt;&gt; is not a valid message TTL\n"),
        ({"pattern": "x", "definition": {"expires": 0}}, V + "0 is not a valid queue expiry\n"),
        ({"pattern": "x", "definition": {"max-length": 1.5}},
         V + "1.5 is not a valid maximum length\n"),
        ({"pattern": "x", "definition": {"overflow": "foo"}},
         V + "&lt;&lt;\"foo\"&gt;&gt; is not a valid overflow value\n"),
        ({"pattern": "x", "definition": {"dead-letter-exchange": 1}},
         V + "1 is not a valid dead letter exchange name\n"),
        ({"pattern": "x", "definition": {"max-priority": 5}},
         V + "[{&lt;&lt;\"max-priority\"&gt;&gt;,5}] are not recognised policy settings\n"),
        ({"pattern": "x", "definition": {"ha-sync-mode": "automatic"}},
         V + "ha-mode must be specified to specify ha-params, ha-sync-mode or "
         "ha-promote-on-shutdown\n"),
        ({"pattern": "x", "definition": {}}, V + "no policy provided\n"),
        ({"pattern": "x"}, "[{key_missing,definition}]"),
        ({"definition": {"message-ttl": 1}}, "[{key_missing,pattern}]"),
        ({"pattern": 1, "definition": {"message-ttl": 1}},
         V + "pattern should be a binary but was 1\n"),
        ({"pattern": "(", "definition": {"message-ttl": -1}, "apply-to": "foo", "priority": "x"},
         V + "-1 is not a valid message TTL\n"
         "apply-to 'foo' unrecognised; should be 'queues', 'exchanges' or 'all'\n"
         "pattern should be regular expression but is invalid: {\"missing )\",1}\n"
         "priority should be a number, actually was &lt;&lt;\"x\"&gt;&gt;\n"),
    ],
)  # fmt: skip
def test_invalid_policies_are_400_with_rabbitmqs_reason(api, made, body, reason):
    name = made("policies")
    answer = api.put(path("policies", "/", name), body)
    assert (answer.status, answer.json) == (400, {"error": "bad_request", "reason": reason})
    assert api.get(path("policies", "/", name)).status == 404


def test_ha_keys_are_accepted(api, made):
    name = made("policies")
    body = {"pattern": "^nothing-matches$", "definition": {"ha-mode": "exactly", "ha-params": 2,
            "ha-sync-mode": "automatic", "queue-master-locator": "min-masters"}}  # fmt: skip
    assert api.put(path("policies", "/", name), body).status == 201


def test_operator_policies_take_only_limits_and_their_reason_is_not_escaped(api, made):
    name = made("operator-policies")
    answer = api.put(path("operator-policies", "/", name),
                     {"pattern": "x", "definition": {"overflow": "drop-head"}})  # fmt: skip
    assert answer.status == 400
    assert answer.json["reason"] == (
        V + '[{<<"overflow">>,<<"drop-head">>}] are not recognised policy settings\n'
    )
    body = {"pattern": "^nothing$", "definition": {"max-length": 5}}
    assert api.put(path("operator-policies", "/", name), body).status == 201
    assert api.get(path("operator-policies", "/", name)).json["definition"] == {"max-length": 5}


def test_an_unknown_vhost_is_404(api):
    answer = api.put(path("policies", "no-such-vhost", "p"), {"pattern": "x",
                     "definition": {"message-ttl": 1}})  # fmt: skip
    assert (answer.status, answer.json) == (404, {"error": "not_found",
                                                  "reason": "vhost_not_found"})  # fmt: skip


def test_a_shorter_max_length_dead_letters_the_oldest_at_once(api, made, channel):
    queue, dlq, policy = made("queues"), made("queues"), made("policies")
    channel.queue_declare(dlq)
    channel.queue_declare(queue, arguments={"x-dead-letter-exchange": "",
                                            "x-dead-letter-routing-key": dlq})  # fmt: skip
    for i in range(5):
        channel.basic_publish("", queue, str(i).encode())
    wait_for(lambda: _count(channel, queue) == 5)
    body = {"pattern": f"^{queue}$", "definition": {"max-length": 2}, "apply-to": "queues"}
    assert api.put(path("policies", "/", policy), body).status == 201
    wait_for(lambda: _count(channel, queue) == 2 and _count(channel, dlq) == 3, timeout=10)
    assert channel.basic_get(queue, auto_ack=True)[2] == b"3"
    assert channel.basic_get(dlq, auto_ack=True)[2] == b"0"
    q = _queue_json(api, queue, "policy", policy)
    assert q["effective_policy_definition"] == {"max-length": 2}
    assert q["operator_policy"] is None


def test_a_reject_publish_queue_keeps_what_it_holds(api, made, channel):
    queue, policy = made("queues"), made("policies")
    channel.queue_declare(queue, arguments={"x-overflow": "reject-publish"})
    for i in range(4):
        channel.basic_publish("", queue, str(i).encode())
    wait_for(lambda: _count(channel, queue) == 4)
    api.put(path("policies", "/", policy), {"pattern": f"^{queue}$",
            "definition": {"max-length": 2}})  # fmt: skip
    _queue_json(api, queue, "policy", policy)
    channel.confirm_delivery()
    with pytest.raises(pika.exceptions.NackError):
        channel.basic_publish("", queue, b"refused")
    assert _count(channel, queue) == 4


def test_the_argument_wins_for_dead_lettering_and_the_lower_length_counts(api, made, channel):
    queue, dlq, other, policy = made("queues"), made("queues"), made("queues"), made("policies")
    channel.queue_declare(dlq)
    channel.queue_declare(other)
    channel.queue_declare(queue, arguments={"x-max-length": 1, "x-dead-letter-exchange": "",
                                            "x-dead-letter-routing-key": dlq})  # fmt: skip
    api.put(
        path("policies", "/", policy),
        {
            "pattern": f"^{queue}$",
            "definition": {
                "max-length": 3,
                "dead-letter-exchange": "",
                "dead-letter-routing-key": other,
            },
        },
    )
    _queue_json(api, queue, "policy", policy)
    for i in range(3):
        channel.basic_publish("", queue, str(i).encode())
    wait_for(lambda: _count(channel, dlq) == 2)
    assert _count(channel, queue) == 1 and _count(channel, other) == 0


def test_message_ttl_by_policy_spares_what_was_queued_before(api, made, channel):
    queue, policy = made("queues"), made("policies")
    channel.queue_declare(queue)
    channel.basic_publish("", queue, b"before")
    api.put(path("policies", "/", policy), {"pattern": f"^{queue}$",
            "definition": {"message-ttl": 100}})  # fmt: skip
    _queue_json(api, queue, "policy", policy)
    channel.basic_publish("", queue, b"after")
    # Only the head expires: "before" has no deadline and keeps "after" behind it.
    assert channel.basic_get(queue, auto_ack=True)[2] == b"before"
    wait_for(lambda: _count(channel, queue) == 0, timeout=10)


def test_the_highest_priority_applies_and_the_operator_policy_merges_by_min(api, made, channel):
    queue, low, high, op = (
        made("queues"),
        made("policies"),
        made("policies"),
        made("operator-policies"),
    )
    channel.queue_declare(queue)
    api.put(path("policies", "/", low), {"pattern": f"^{queue}$", "priority": 1,
            "definition": {"max-length": 1}})  # fmt: skip
    api.put(path("policies", "/", high), {"pattern": f"^{queue}", "priority": 2,
            "definition": {"max-length": 10, "message-ttl": 60000}})  # fmt: skip
    api.put(path("operator-policies", "/", op), {"pattern": f"^{queue}$",
            "definition": {"max-length": 3, "message-ttl": 120000}})  # fmt: skip
    q = _queue_json(api, queue, "operator_policy", op)
    q = _queue_json(api, queue, "policy", high)
    assert q["effective_policy_definition"] == {"max-length": 3, "message-ttl": 60000}
    for i in range(5):
        channel.basic_publish("", queue, str(i).encode())
    wait_for(lambda: _count(channel, queue) == 3)
    assert api.delete(path("operator-policies", "/", op)).status == 204
    _queue_json(api, queue, "operator_policy", None)
    for i in range(5):
        channel.basic_publish("", queue, str(i).encode())
    wait_for(lambda: _count(channel, queue) == 8)


def test_policies_reach_exclusive_queues(api, made, channel):
    queue = channel.queue_declare("", exclusive=True).method.queue
    policy = made("policies")
    api.put(path("policies", "/", policy), {"pattern": f"^{queue}$",
            "definition": {"max-length": 1}})  # fmt: skip
    _queue_json(api, queue, "policy", policy)
    for i in range(3):
        channel.basic_publish("", queue, str(i).encode())
    wait_for(lambda: _count(channel, queue) == 1)


def test_an_alternate_exchange_by_policy(api, made, channel):
    exchange, queue, policy = made("exchanges"), made("queues"), made("policies")
    channel.exchange_declare(exchange, "direct")
    channel.queue_declare(queue)
    api.put(path("policies", "/", policy), {"pattern": f"^{exchange}$", "apply-to": "exchanges",
            "definition": {"alternate-exchange": "amq.fanout"}})  # fmt: skip
    channel.queue_bind(queue, "amq.fanout")
    wait_for(lambda: api.get(path("exchanges", "/", exchange)).json.get("policy") == policy,
             timeout=20)  # fmt: skip
    channel.basic_publish(exchange, "unrouted", b"m")
    wait_for(lambda: _count(channel, queue) == 1)
    channel.queue_unbind(queue, "amq.fanout")


@pytest.mark.parametrize(
    ("pattern", "fault"),
    [(")", '{"unmatched parentheses",\n' + " " * 54 + "0}"), ("*", '{"nothing to repeat",0}'),
     ("a(b", '{"missing )",3}'),
     ("[a", '{"missing terminating ] for character class",\n' + " " * 54 + "2}")],
)  # fmt: skip
def test_a_bad_pattern_is_named_as_pcre_names_it(api, made, pattern, fault):
    answer = api.put(path("policies", "/", made("policies")),
                     {"pattern": pattern, "definition": {"message-ttl": 1}})  # fmt: skip
    assert answer.json["reason"] == (
        V + "pattern should be regular expression but is invalid: " + fault + "\n"
    )
