"""Steps the conformance tests share, over a RawClient; they know nothing about amqpd.

- ``wait_for``: poll for an effect a broker applies asynchronously;
- ``unique``, ``no_queue``: names for one test, and a reply text several files check;
- queues: ``declare`` (arguments typed, see typed.py), ``declare_exchange``,
  ``bind``, ``count``, ``exists``, ``publish`` (plain pamqp properties),
  ``consume``, ``drain``, ``wait_get``, ``dlx``, ``dead_lettering``;
- confirms: ``confirming``, ``confirms``, ``acked``, ``publish_confirmed``;
- ``nothing_pending``: one round trip that shows no frame was waiting.

Field tables and properties with explicit wire types live in typed.py, the
socket client in rawclient.py.
"""

from __future__ import annotations

import time
import uuid

from pamqp import commands as C

from conformance import typed


def wait_for(check, timeout: float = 5.0, what: str = "the condition", interval: float = 0.02):
    """Poll ``check`` until it returns something true, and return that; fail
    after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not (result := check()):
        assert time.monotonic() < deadline, f"timed out after {timeout} s waiting for {what}"
        time.sleep(interval)
    return result


def unique(what: str = "q") -> str:
    """A queue or exchange name no other test (or earlier run) uses."""
    return f"conf-{what}-{uuid.uuid4().hex[:8]}"


def no_queue(name: str) -> str:
    """RabbitMQ's text for a queue that does not exist in vhost '/'."""
    return f"NOT_FOUND - no queue '{name}' in vhost '/'"


# ---- queues and messages ---------------------------------------------------------


def declare(client, queue: str, *fields, channel: int = 1, **flags) -> C.Queue.DeclareOk:
    """queue.declare with typed arguments, given as (name, type_code, value)."""
    assert "arguments" not in flags, "give arguments as typed fields"
    method = C.Queue.Declare(queue=queue, **flags)
    client.send_with_table(channel, method, typed.encode_table(fields))
    return client.expect(C.Queue.DeclareOk)[1]


def declare_exchange(client, name: str, kind: str = "direct", **flags) -> C.Exchange.DeclareOk:
    method = C.Exchange.Declare(exchange=name, exchange_type=kind, **flags)
    return client.call_ok(1, method, C.Exchange.DeclareOk)


def bind(client, queue: str, exchange: str, *keys: str, arguments: dict | None = None) -> None:
    """Bind the queue to the exchange with each routing key (by default "")."""
    for key in keys or ("",):
        method = C.Queue.Bind(queue=queue, exchange=exchange, routing_key=key, arguments=arguments)
        client.call_ok(1, method, C.Queue.BindOk)


def count(client, queue: str, channel: int = 1) -> int:
    """The queue's ready messages, from a passive declare."""
    method = C.Queue.Declare(queue=queue, passive=True)
    return client.call_ok(channel, method, C.Queue.DeclareOk).message_count


def exists(client, queue: str, channel: int = 1) -> bool:
    """Whether the queue is there, asked with queue.bind: a passive declare or a
    basic.get would count as using it and restart its x-expires timer."""
    bind = C.Queue.Bind(queue=queue, exchange="amq.direct", routing_key=queue)
    reply = client.call(channel, bind)
    if isinstance(reply, C.Queue.BindOk):
        return True
    assert isinstance(reply, C.Channel.Close) and reply.reply_code == 404, reply
    client.send(channel, C.Channel.CloseOk())
    client.open_channel(channel)
    return False


def publish(client, queue: str, *bodies: bytes, channel: int = 1, **props) -> None:
    """Publish each body to ``queue`` through the default exchange, with these
    (pamqp) properties."""
    properties = C.Basic.Properties(**props) if props else None
    for body in bodies:
        client.publish(channel, body, routing_key=queue, properties=properties)


def consume(client, queue: str, tag: str = "", *fields, channel: int = 1, **flags):
    """basic.consume with typed arguments; returns the consume-ok."""
    method = C.Basic.Consume(queue=queue, consumer_tag=tag, **flags)
    client.send_with_table(channel, method, typed.encode_table(fields))
    ok = client.expect(C.Basic.ConsumeOk)[1]
    assert not tag or ok.consumer_tag == tag, ok
    return ok


def drain(client, queue: str, channel: int = 1) -> list[bytes]:
    """The bodies of the queue's ready messages, in order, by basic.get."""
    bodies = []
    while (got := client.basic_get(channel, queue)) is not None:
        bodies.append(got[2])
    return bodies


def wait_get(client, queue: str, no_ack: bool = True, channel: int = 1, timeout: float = 5.0):
    """basic.get until a message comes: (get-ok, typed properties, body)."""
    return wait_for(
        lambda: typed.get(client, channel, queue, no_ack), timeout, f"a message in {queue}"
    )


def dlx(exchange: str, key: str | None = None) -> list:
    """Typed queue arguments that dead-letter to ``exchange`` (with ``key``)."""
    args = [("x-dead-letter-exchange", "S", exchange)]
    return args + ([("x-dead-letter-routing-key", "S", key)] if key is not None else [])


def dead_lettering(client, queue: str, dlq: str, *fields, **flags) -> C.Queue.DeclareOk:
    """Declare ``dlq`` (exclusive), then ``queue`` with these arguments,
    dead-lettering into it through the default exchange."""
    declare(client, dlq, exclusive=True)
    return declare(client, queue, *dlx("", dlq), *fields, **flags)


def nothing_pending(client, channel: int = 1) -> None:
    """No frame was waiting: the next one answers a later synchronous method."""
    client.call_ok(channel, C.Basic.Qos(prefetch_count=0), C.Basic.QosOk)


# ---- publisher confirms ------------------------------------------------------------


def confirming(lab):
    """A new connection with channel 1 in confirm mode; ``client.confirmed``
    counts the confirms taken so far (see publish_confirmed)."""
    client = lab.connect()
    client.call_ok(1, C.Confirm.Select(), C.Confirm.SelectOk)
    client.confirmed = 0
    return client


def confirms(client, up_to: int, first: int = 1) -> dict[int, str]:
    """Read confirms until tags first..up_to are settled: {tag: "ack" or "nack"}.
    Brokers batch them with multiple=true as timing allows; every nack must
    have requeue=true, as RabbitMQ sends them."""
    outcome = {}
    while len(outcome) <= up_to - first:
        _, reply = client.read_frame()
        assert isinstance(reply, C.Basic.Ack | C.Basic.Nack), reply
        kind = "ack" if isinstance(reply, C.Basic.Ack) else "nack"
        assert kind == "ack" or reply.requeue is True
        low = first if reply.multiple else reply.delivery_tag
        for tag in range(low, reply.delivery_tag + 1):
            if tag not in outcome:
                outcome[tag] = kind
    assert sorted(outcome) == list(range(first, up_to + 1)), outcome
    return outcome


def acked(client, up_to: int, first: int = 1) -> None:
    """Tags first..up_to are all acked."""
    assert set(confirms(client, up_to, first).values()) == {"ack"}


def publish_confirmed(client, queue: str, *messages) -> None:
    """Publish (body, pamqp properties) pairs on channel 1 of a ``confirming``
    client and wait until all are acked: the messages are in."""
    first = client.confirmed + 1
    for body, properties in messages:
        client.publish(1, body, routing_key=queue, properties=properties)
    client.confirmed += len(messages)
    if messages:
        acked(client, client.confirmed, first)
