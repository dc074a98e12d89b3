"""The firehose as a pika application reads it: a queue bound to amq.rabbitmq.trace,
a consumer that sorts the copies by their routing key and headers."""

from __future__ import annotations

import uuid

import pika
import pytest

from conformance.http_api import ApiClient, path
from interop.helpers import drive


@pytest.fixture
def traced_vhost(api_target):
    """A vhost of its own that traces; tracing off and the vhost gone afterwards."""
    api = ApiClient(api_target.url)
    name = f"firehose-{uuid.uuid4().hex[:8]}"
    api.put(path("vhosts", name), {})
    api.put(path("permissions", name, "guest"), {"configure": ".*", "write": ".*", "read": ".*"})
    assert api.put(path("vhosts", name), {"tracing": True}).status == 204
    yield api_target.broker.url_with(vhost=name), name
    api.put(path("vhosts", name), {"tracing": False})
    api.delete(path("vhosts", name))


def test_a_pika_consumer_sees_each_publish_and_delivery(traced_vhost):
    url, vhost = traced_vhost
    connection = pika.BlockingConnection(pika.URLParameters(url))
    try:
        channel = connection.channel()
        channel.queue_declare("firehose", exclusive=True)
        channel.queue_bind("firehose", "amq.rabbitmq.trace", routing_key="#")
        channel.queue_declare("orders", exclusive=True)
        seen: list[tuple[str, bytes, dict]] = []
        channel.basic_consume(
            "firehose",
            lambda ch, method, props, body: seen.append((method.routing_key, body, props.headers)),
            auto_ack=True,
        )
        props = pika.BasicProperties(content_type="application/json", delivery_mode=2)
        channel.basic_publish("", "orders", b'{"id": 1}', props)
        drive([connection], lambda: len(seen) >= 1, 10)
        channel.basic_get("orders", auto_ack=True)
        drive([connection], lambda: len(seen) >= 2, 10)
    finally:
        connection.close()
    (pub_key, pub_body, pub), (del_key, del_body, dlv) = seen
    assert (pub_key, pub_body, del_key, del_body) == ("publish.", b'{"id": 1}', "deliver.orders",
                                                      b'{"id": 1}')  # fmt: skip
    assert pub["exchange_name"] == "" and pub["routing_keys"] == ["orders"]
    assert pub["properties"] == {"delivery_mode": 2, "content_type": "application/json"}
    assert (pub["vhost"], pub["user"], pub["routed_queues"]) == (vhost, "guest",
                                                                 ["orders"])  # fmt: skip
    assert (dlv["redelivered"], dlv["channel"]) == (0, pub["channel"])
