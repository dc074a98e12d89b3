"""Node.js amqplib (npm, pinned in interop/node/package.json) as applications use it.

Each test runs a scenario of interop/node/client.js in a node subprocess.
"""

import pika

from interop import clients
from interop.crosslang import temp_queue
from interop.helpers import unique


def test_confirm_channel_acks_returns_and_channel_errors(broker):
    with temp_queue(broker, "node-confirm") as queue:
        missing = unique("no-such-exchange")
        out = clients.node(
            "confirms",
            {
                "url": broker.url,
                "queue": queue,
                "count": 200,
                "unroutable": unique("nowhere"),
                "missing_exchange": missing,
            },
        )
    assert out["acks"] == 200
    assert out["message_count"] == 200
    # A mandatory message that no queue takes comes back, and is still acked.
    assert out["unroutable"] == "ack"
    [returned] = out["returned"]
    assert returned["body"] == "bG9zdA=="  # b"lost"
    assert returned["exchange"] == ""
    # A publish to a missing exchange closes the channel: the pending confirm fails.
    assert out["missing_exchange"] == {
        "outcome": "failed",
        "code": 404,
        "message": f"Channel closed by server: 404 (NOT-FOUND) with message "
        f"\"NOT_FOUND - no exchange '{missing}' in vhost '/'\"",
    }


def test_publish_then_consume_with_prefetch(broker):
    with temp_queue(broker, "node-pubsub") as queue:
        messages = [{"body": "", "properties": {}}] + [
            {
                "body": f"bWVzc2FnZS0{i}",
                "properties": {"delivery_mode": 2, "message_id": str(i)},
            }
            for i in range(50)
        ]
        out = clients.node(
            "publish",
            {"url": broker.url, "routing_key": queue, "messages": messages, "confirm": True},
        )
        assert out == {"published": 51, "returned": []}
        got = clients.node(
            "consume", {"url": broker.url, "queue": queue, "count": 51, "prefetch": 5}
        )["messages"]
    assert [m["properties"].get("message_id") for m in got] == [None] + [str(i) for i in range(50)]
    assert all(m["routing_key"] == queue and m["exchange"] == "" for m in got)


def test_work_queue_prefetch_bound_and_nack_requeue(broker):
    with temp_queue(broker, "node-work") as queue:
        out = clients.node(
            "worker", {"url": broker.url, "queue": queue, "count": 40, "prefetch": 4}
        )
    seen = out["seen"]
    assert len(seen) == 41
    assert ["job-3", False] in seen and ["job-3", True] in seen
    assert sorted({body for body, _ in seen}) == sorted(f"job-{i}" for i in range(40))
    assert 1 <= out["max_unacked"] <= 4


def test_rpc_over_direct_reply_to(broker):
    out = clients.node("rpc", {"url": broker.url, "queue": unique("node-rpc"), "count": 10})
    assert out["replies"] == {f"c{i}": str(i * i) for i in range(10)}
    # Replies arrive addressed to a pseudo-queue named like RabbitMQ's.
    assert out["reply_to"].startswith("amq.rabbitmq.reply-to.")


def test_channel_errors_cancel_notify_and_refused_login(broker):
    missing = unique("missing")
    exchange = unique("node-x")
    out = clients.node(
        "errors",
        {
            "url": broker.url,
            "missing_queue": missing,
            "exchange": exchange,
            "bad_url": broker.url_with(password="wrong-password"),
        },
    )
    assert out["missing_queue"] == {
        "code": 404,
        "message": f"Operation failed: QueueDeclare; 404 (NOT-FOUND) with message "
        f"\"NOT_FOUND - no queue '{missing}' in vhost '/'\"",
    }
    assert out["redeclare"]["code"] == 406
    assert out["redeclare"]["message"].startswith(
        "Operation failed: ExchangeDeclare; 406 (PRECONDITION-FAILED) with message "
        f"\"PRECONDITION_FAILED - inequivalent arg 'type' for exchange '{exchange}'"
    )
    assert out["server_named"].startswith("amq.gen-")
    assert out["consumer_cancelled"] is True
    # amqplib announces authentication_failure_close: the refusal comes as a
    # connection.close with RabbitMQ's text.
    assert out["bad_login"] == (
        "Handshake terminated by server: 403 (ACCESS-REFUSED) with message "
        '"ACCESS_REFUSED - Login was refused using authentication mechanism PLAIN. '
        'For details see the broker logfile."'
    )


def test_node_consumes_what_pika_published_to_a_topic(broker):
    # A pika publisher and an amqplib consumer share a topic exchange's binding.
    exchange = unique("node-topic")
    conn = pika.BlockingConnection(pika.URLParameters(broker.url))
    try:
        ch = conn.channel()
        ch.exchange_declare(exchange, "topic", auto_delete=True)
        with temp_queue(broker, "node-topic") as queue:
            ch.queue_bind(queue, exchange, "metrics.*.cpu")
            ch.confirm_delivery()
            for key in ("metrics.a.cpu", "metrics.a.mem", "metrics.b.cpu", "other.b.cpu"):
                ch.basic_publish(exchange, key, key.encode())
            got = clients.node("consume", {"url": broker.url, "queue": queue, "count": 2})
    finally:
        conn.close()
    assert [m["routing_key"] for m in got["messages"]] == ["metrics.a.cpu", "metrics.b.cpu"]
    assert all(m["exchange"] == exchange for m in got["messages"])
