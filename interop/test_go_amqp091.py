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
