"""Go amqp091-go (Debian's golang-github-rabbitmq-amqp091-go-dev) as applications use it.

interop/go/amqpclient is built once per session (GOPATH mode, against the Debian
package's source) and runs one scenario per test.
"""

from interop import clients
from interop.crosslang import temp_queue
from interop.helpers import unique


def test_confirms_returns_and_channel_close(broker):
    missing = unique("no-such-exchange")
    unroutable = unique("nowhere")
    with temp_queue(broker, "go-confirm") as queue:
        out = clients.go(
            "confirms",
            {
                "url": broker.url,
                "queue": queue,
                "count": 100,
                "unroutable": unroutable,
                "missing_exchange": missing,
            },
        )
    assert out["acks"] == 101
    assert (out["first_tag"], out["last_tag"]) == (1, 101)
    assert out["message_count"] == 100
    assert out["returned"] == {
        "ok": True,
        "before_ack": True,
        "code": 312,
        "text": "NO_ROUTE",
        "routing_key": unroutable,
        "body": "lost",
    }
    assert out["missing_exchange"] == {
        "code": 404,
        "reason": f"NOT_FOUND - no exchange '{missing}' in vhost '/'",
        "server": True,
    }


def test_get_nack_tx_qos_and_errors(broker):
    missing = unique("missing")
    out = clients.go(
        "basics", {"url": broker.url, "queue": unique("go-basics"), "missing_queue": missing}
    )
    assert out["get"] == {"ok": True, "body": "once", "redelivered": False, "left": 0}
    assert out["after_nack"] == {"ok": True, "redelivered": True}
    assert out["empty_ok"] is False
    assert (out["before_commit"], out["after_commit"]) == (0, 1)
    assert out["ready_while_two_unacked"] == 3
    assert out["consumed"] == ["committed", "q0", "q1", "q2", "q3"]
    assert out["missing_queue"] == {
        "code": 404,
        "reason": f"NOT_FOUND - no queue '{missing}' in vhost '/'",
        "server": True,
    }
    assert out["closed_after_error"] is True
    assert out["server_named_prefix"] == "amq.gen-"


def test_handshake_login_refusal_cancel_notify_and_flow(broker):
    bad_url = broker.url_with(password="wrong-password")
    out = clients.go("connection", {"url": broker.url, "bad_url": bad_url})
    assert out["version"] == [0, 9]
    assert out["locales"] == ["en_US"]
    # amqp091-go asks for a 10 s heartbeat; RabbitMQ offers 60 s, 2047 channels and
    # 128 KiB frames.
    assert (out["channel_max"], out["frame_max"], out["heartbeat"]) == (2047, 131072, 10)
    assert out["capabilities"] == {
        "authentication_failure_close": True,
        "basic.nack": True,
        "connection.blocked": True,
        "consumer_cancel_notify": True,
        "consumer_priorities": True,
        "direct_reply_to": True,
        "exchange_exchange_bindings": True,
        "per_consumer_qos": True,
        "publisher_confirms": True,
    }
    # The client announces authentication_failure_close, so a bad password gets a
    # connection.close 403 it maps to its own error.
    assert out["bad_login"]["code"] == 403
    # Deleting a consumed queue cancels the consumer from the broker's side.
    assert out["cancelled"] == "to-be-cancelled"
    assert out["deliveries_open"] is False
    # channel.flow active=false from a client is a connection error in RabbitMQ.
    assert out["flow_false"] == {
        "code": 540,
        "reason": "NOT_IMPLEMENTED - active=false",
        "server": True,
    }
