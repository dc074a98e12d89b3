"""Ruby Bunny (Debian's ruby-bunny) publishing to and consuming from other languages.

Bunny writes integers as 64-bit and strings as long strings, and reads long
strings and byte arrays alike, so its messages compare with the "ruby" fidelity
of interop/crosslang.py. Its field-table codec (amq-protocol 2.3.2) has bugs of
its own, the same against any broker, so the messages leave those values out:

- writing: a float32 goes out in the wrong byte order, a BigDecimal such as
  123.45 goes out as 123 (scale lost);
- reading: no B, u or i (the delivery fails), I read as unsigned, b and s
  mis-read when negative, f read in the wrong byte order, and a void inside an
  array dropped.
"""

import pytest

from interop import clients, crosslang
from interop.crosslang import assert_same_messages, temp_queue
from interop.helpers import unique

RUBY_CANNOT_WRITE = "fD"
BUNNY_DEFAULTS = {"content_type": "application/octet-stream", "delivery_mode": 2, "priority": 0}
RUBY_CANNOT_READ = "Buif"


def ruby_misreads(value: dict, in_array: bool) -> bool:
    negative = value["t"] in "bsI" and value["v"] < 0
    return negative or (in_array and value["t"] == "V")


def test_ruby_to_python(broker):
    sent = crosslang.messages(broker.user, without=RUBY_CANNOT_WRITE)
    with temp_queue(broker, "ruby-out") as queue:
        out = clients.ruby("publish", {"url": broker.url, "routing_key": queue, "messages": sent})
        assert out == {"published": len(sent)}
        received = crosslang.py_amqp_consume(broker, queue, len(sent))
    # Bunny fills in these properties when a publish leaves them out.
    expected = [{**m, "properties": {**BUNNY_DEFAULTS, **m["properties"]}} for m in sent]
    assert_same_messages(expected, received, fidelity="ruby")


@pytest.mark.parametrize("publisher", ["node", "python"])
def test_to_ruby(broker, publisher):
    # pika has no float field type.
    sent = crosslang.messages(
        broker.user,
        without=RUBY_CANNOT_READ + ("fd" if publisher == "python" else ""),
        drop=ruby_misreads,
    )
    with temp_queue(broker, "ruby-in") as queue:
        if publisher == "node":
            request = {"url": broker.url, "routing_key": queue, "messages": sent, "confirm": True}
            clients.node("publish", request)
        else:
            crosslang.pika_publish(broker.url, queue, sent)
        received = clients.ruby(
            "consume", {"url": broker.url, "queue": queue, "count": len(sent), "prefetch": 10}
        )["messages"]
    assert_same_messages(sent, received, fidelity="ruby")
    assert all(m["routing_key"] == queue and not m["redelivered"] for m in received)


def test_ruby_channel_error(broker):
    missing = unique("missing")
    out = clients.ruby("errors", {"url": broker.url, "missing_queue": missing})
    assert out["missing_queue"]["class"] == "Bunny::NotFound"
    assert f"NOT_FOUND - no queue '{missing}' in vhost '/'" in out["missing_queue"]["message"]
    assert out["channel_open"] is False
    assert out["server_named"].startswith("amq.gen-")
