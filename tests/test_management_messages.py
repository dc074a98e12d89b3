"""amqpd's own rules for the API's get and publish, where it differs from RabbitMQ
on purpose (docs/compatibility.md), and what survives a restart."""

from __future__ import annotations

import uuid

from amqpd.config import BrokerConfig
from amqpd.testing import BrokerThread
from conformance.http_api import ApiClient, path


def test_an_unknown_ackmode_is_400_not_500(amqpd_broker):
    api = ApiClient(amqpd_broker.management_url)
    queue = f"mgmt-msg-{uuid.uuid4().hex[:8]}"
    api.put(path("queues", "/", queue), {})
    try:
        body = {"count": 1, "ackmode": "bogus", "encoding": "auto"}
        answer = api.post(path("queues", "/", queue, "get"), body)
        assert answer.status == 400
        assert answer.json["reason"].startswith("Unsupported ackmode 'bogus'")
    finally:
        api.delete(path("queues", "/", queue))


def test_properties_or_headers_that_are_not_objects_are_400_not_500(amqpd_broker):
    api = ApiClient(amqpd_broker.management_url)
    good = {"properties": {}, "routing_key": "k", "payload": "x", "payload_encoding": "string"}
    for bad in ({**good, "properties": []}, {**good, "properties": {"headers": "x"}}):
        answer = api.post(path("exchanges", "/", "amq.direct", "publish"), bad)
        assert (answer.status, answer.json) == (400, {"error": "bad_request", "reason": "not_json"})


def test_a_persistent_message_published_through_the_api_survives_a_restart(tmp_path):
    config = BrokerConfig(data_dir=tmp_path, management_port=0)
    queue = "mgmt-durable"
    body = {"properties": {"delivery_mode": 2}, "routing_key": queue, "payload": "kept",
            "payload_encoding": "string"}  # fmt: skip
    with BrokerThread(config) as broker:
        api = ApiClient(broker.management_url)
        assert api.put(path("queues", "/", queue), {"durable": True}).status == 201
        answer = api.post(path("exchanges", "/", "amq.default", "publish"), body)
        assert answer.json == {"routed": True}
        port = broker.port
    with BrokerThread(config, port=port) as broker:
        api = ApiClient(broker.management_url)
        take = {"count": 5, "ackmode": "ack_requeue_false", "encoding": "auto"}
        got = api.post(path("queues", "/", queue, "get"), take)
        assert [m["payload"] for m in got.json] == ["kept"]
