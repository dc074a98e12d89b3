"""/api/queues/{vhost}/{name}/get reaches a deep queue's paged messages, as
basic.get does: they are read back from the store before the answer."""

from __future__ import annotations

import uuid

import pika

from amqpd.model.queue import PAGE_WINDOW
from conformance.http_api import ApiClient, path


def test_get_takes_messages_beyond_the_in_memory_window(amqpd_broker):
    api = ApiClient(amqpd_broker.management_url)
    name = f"deep-get-{uuid.uuid4().hex[:8]}"
    total = PAGE_WINDOW + 100
    connection = pika.BlockingConnection(pika.URLParameters(amqpd_broker.url))
    try:
        channel = connection.channel()
        channel.queue_declare(name, durable=True)
        channel.confirm_delivery()
        persistent = pika.BasicProperties(delivery_mode=2)
        for i in range(total):
            channel.basic_publish("", name, str(i).encode(), persistent)
        got = api.post(
            path("queues", "/", name, "get"),
            {"count": total, "ackmode": "ack_requeue_false", "encoding": "auto"},
        )
        assert got.status == 200
        assert [m["payload"] for m in got.json] == [str(i) for i in range(total)]
        assert api.get(path("queues", "/", name)).json["messages"] == 0
        channel.queue_delete(name)
    finally:
        connection.close()
