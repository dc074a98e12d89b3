"""Quorum queue behaviour, as RabbitMQ 3.10.8 shows it to an AMQP 0-9-1 client.

The x-delivery-count header (a long: always on basic.get, on basic.deliver only
once it is above 0), x-delivery-limit (the message is dead-lettered with reason
'delivery_limit', or dropped, when it comes back once more than the limit), and
the refusal of global qos. The declare rules are in test_queue_arguments.
"""

import time

import pytest
from pamqp import commands as C

from conformance import typed
from conformance.helpers import consume, count, declare, dlx, wait_get

QUORUM = ("x-queue-type", "S", "quorum")


def quorum(lab, client, *fields, dlq=None):
    """A new quorum queue (deleted at teardown), dead-lettering into dlq if given."""
    name = lab.queue()
    if dlq is not None:
        declare(client, dlq, exclusive=True)
        fields += tuple(dlx("", dlq))
    declare(client, name, QUORUM, *fields, durable=True)
    return name


def delivery_count(properties):
    """The x-delivery-count header as (type, value), or None."""
    for name, code, value in properties.get("headers", []):
        if name == "x-delivery-count":
            return code, value
    return None


def first_death(properties):
    (x_death,) = [value for name, _, value in properties["headers"] if name == "x-death"]
    entry = {name: value for name, _, value in x_death[0][1]}
    return entry["reason"], entry["queue"]


def deliver(client):
    """The next basic.deliver as (deliver, properties, body)."""
    _, method, properties, body = typed.read_message(client)
    assert isinstance(method, C.Basic.Deliver), method
    return method, properties, body


# ---- x-delivery-count --------------------------------------------------------------------


def test_get_always_carries_the_delivery_count(lab):
    client = lab.connect()
    name = quorum(lab, client)
    typed.publish(client, 1, b"a", routing_key=name)
    typed.publish(client, 1, b"b", routing_key=name, headers=[("k", "S", "v")])
    _, properties, body = wait_get(client, name)
    assert (body, properties) == (b"a", {"headers": [("x-delivery-count", "l", 0)]})
    _, properties, body = wait_get(client, name)
    headers = [("k", "S", "v"), ("x-delivery-count", "l", 0)]
    assert (body, properties) == (b"b", {"headers": headers})


def test_first_delivery_to_a_consumer_has_no_count(lab):
    client = lab.connect()
    name = quorum(lab, client)
    typed.publish(client, 1, b"a", routing_key=name)
    typed.publish(client, 1, b"b", routing_key=name, headers=[("k", "S", "v")])
    consume(client, name, "c")
    first, second = deliver(client), deliver(client)
    assert (first[1:], second[1:]) == (({}, b"a"), ({"headers": [("k", "S", "v")]}, b"b"))
    client.send(1, C.Basic.Reject(delivery_tag=first[0].delivery_tag, requeue=True))
    again, properties, body = deliver(client)
    assert (again.redelivered, body) == (True, b"a")
    assert properties == {"headers": [("x-delivery-count", "l", 1)]}


def test_every_return_counts(lab):
    client = lab.connect()
    name = quorum(lab, client)
    typed.publish(client, 1, b"m", routing_key=name)
    returns = [
        lambda tag: client.send(1, C.Basic.Reject(delivery_tag=tag, requeue=True)),
        lambda tag: client.send(1, C.Basic.Nack(delivery_tag=tag, requeue=True)),
        lambda tag: client.call_ok(1, C.Basic.Recover(requeue=True), C.Basic.RecoverOk),
        lambda tag: client.call_ok(1, C.Channel.Close(200, "bye", 0, 0), C.Channel.CloseOk),
    ]
    for returned, give_back in enumerate(returns):
        get_ok, properties, _ = wait_get(client, name, no_ack=False)
        assert delivery_count(properties) == ("l", returned)
        assert get_ok.redelivered is (returned > 0)
        give_back(get_ok.delivery_tag)
    client.open_channel(1)
    get_ok, properties, _ = wait_get(client, name)
    assert (get_ok.redelivered, delivery_count(properties)) == (True, ("l", 4))


# ---- x-delivery-limit --------------------------------------------------------------------


@pytest.mark.parametrize("how", ["get-reject", "consume-nack"])
def test_delivery_limit_dead_letters(lab, how):
    client, dlq = lab.connect(), lab.queue("dlq")
    name = quorum(lab, client, ("x-delivery-limit", "I", 2), dlq=dlq)
    typed.publish(client, 1, b"m", routing_key=name, headers=[("h", "S", "v")], expiration="60000")
    if how == "consume-nack":
        consume(client, name, "c")
    seen = []
    for _ in range(3):
        if how == "get-reject":
            method, properties, body = wait_get(client, name, no_ack=False)
            client.send(1, C.Basic.Reject(delivery_tag=method.delivery_tag, requeue=True))
        else:
            method, properties, body = deliver(client)
            client.send(1, C.Basic.Nack(delivery_tag=method.delivery_tag, requeue=True))
        seen.append((method.redelivered, delivery_count(properties), body))
    counts = [None if how == "consume-nack" else ("l", 0), ("l", 1), ("l", 2)]
    assert seen == [(r, c, b"m") for r, c in zip([False, True, True], counts, strict=True)]
    _, properties, body = wait_get(client, dlq)  # the third return was one too many
    assert body == b"m"
    assert first_death(properties) == ("delivery_limit", name)
    assert "expiration" not in properties
    names = [header for header, _, _ in properties["headers"]]
    assert "h" in names and "x-delivery-count" not in names
    if how == "consume-nack":
        with pytest.raises(TimeoutError):
            client.read_frame(timeout=0.3)
        client.call_ok(1, C.Basic.Cancel(consumer_tag="c"), C.Basic.CancelOk)
    assert typed.get(client, 1, name) is None


def test_delivery_limit_zero_without_dead_lettering_drops(lab):
    client = lab.connect()
    name = quorum(lab, client, ("x-delivery-limit", "I", 0))
    typed.publish(client, 1, b"first", routing_key=name)
    get_ok, properties, _ = wait_get(client, name, no_ack=False)
    assert delivery_count(properties) == ("l", 0)
    client.send(1, C.Basic.Reject(delivery_tag=get_ok.delivery_tag, requeue=True))
    typed.publish(client, 1, b"marker", routing_key=name)
    assert wait_get(client, name)[2] == b"marker"  # a requeued "first" would come before it
    time.sleep(0.2)
    assert typed.get(client, 1, name) is None
    assert count(client, name) == 0


def test_reject_without_requeue_dead_letters(lab):
    client, dlq = lab.connect(), lab.queue("dlq")
    name = quorum(lab, client, dlq=dlq)
    typed.publish(client, 1, b"m", routing_key=name)
    get_ok, _, _ = wait_get(client, name, no_ack=False)
    client.send(1, C.Basic.Reject(delivery_tag=get_ok.delivery_tag, requeue=False))
    _, properties, body = wait_get(client, dlq)
    assert (body, first_death(properties)) == (b"m", ("rejected", name))


# ---- consumers ---------------------------------------------------------------------------


def test_global_qos_is_refused(lab):
    client = lab.connect()
    name = quorum(lab, client)
    client.call_ok(1, C.Basic.Qos(prefetch_count=10, global_=True), C.Basic.QosOk)
    client.send(1, C.Basic.Consume(queue=name, consumer_tag="c"))
    text = f"NOT_IMPLEMENTED - queue '{name}' in vhost '/' does not support global qos"
    assert client.expect_connection_error() == (540, text, 60, 20)


def test_global_qos_of_zero_and_other_consumers_are_fine(lab):
    client = lab.connect()
    name = quorum(lab, client)
    client.call_ok(1, C.Basic.Qos(prefetch_count=0, global_=True), C.Basic.QosOk)
    consume(client, name, "global-zero")
    client.open_channel(2)
    # 3.10's quorum queues take an exclusive consumer next to others, and others after it.
    consume(client, name, "exclusive", channel=2, exclusive=True)
    consume(client, name, "priority", ("x-priority", "I", 5), channel=2)
