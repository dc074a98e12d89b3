"""basic.*: publish, consume, get, acknowledgements, prefetch — as RabbitMQ 3.10 does them."""

import pytest
from pamqp import commands
from pamqp import frame as pframe
from pamqp import header as pheader
from pamqp.body import ContentBody

from conformance.helpers import consume, nothing_pending, publish, unique, wait_for


def channel_close_of(client, channel=1):
    close = client.expect_channel_close(channel, timeout=10)
    return close.reply_code, close.reply_text, close.class_id, close.method_id


def get(client, no_ack=True, channel=1):
    client.send(channel, commands.Basic.Get(queue=client.queue, no_ack=no_ack))
    return client.read_message()


def test_publish_to_a_missing_exchange(ch):
    ch.publish(1, b"x", exchange="conf-no-such-exchange", routing_key="k")
    assert channel_close_of(ch) == (
        404,
        "NOT_FOUND - no exchange 'conf-no-such-exchange' in vhost '/'",
        60,
        40,
    )


def test_mandatory_unroutable_is_returned_with_the_same_properties(ch):
    props = commands.Basic.Properties(
        content_type="application/json",
        headers={"nested": {"a": 1, "list": [1, "two", 3.5]}, "neg": -5, "big": 2**40},
        priority=3,
        correlation_id="c-1",
        delivery_mode=2,
    )
    ch.send(1, commands.Basic.Publish(exchange="amq.direct", routing_key="nowhere", mandatory=True))
    ch.send(1, pheader.ContentHeader(0, 3, props))
    ch.send(1, ContentBody(b"abc"))
    _, ret, content_header, body = ch.read_message()
    assert isinstance(ret, commands.Basic.Return)
    assert (ret.reply_code, ret.reply_text, ret.exchange, ret.routing_key) == (
        312,
        "NO_ROUTE",
        "amq.direct",
        "nowhere",
    )
    assert body == b"abc" and content_header.properties == props


def test_default_exchange_drops_unroutable_non_mandatory(ch):
    ch.publish(1, b"x", routing_key=unique("missing"))
    nothing_pending(ch)


def test_immediate_is_not_implemented(ch):
    ch.publish(1, b"abc", exchange="amq.direct", routing_key="x", immediate=True)
    assert ch.expect_connection_error(timeout=10) == (
        540,
        "NOT_IMPLEMENTED - immediate=true",
        60,
        40,
    )


def test_get_reports_remaining_ready_messages(ch):
    publish(ch, ch.queue, b"1", b"2", b"3")
    counts = []
    for expected in (b"1", b"2", b"3"):
        _, ok, _, body = get(ch)
        assert body == expected and not ok.redelivered
        counts.append(ok.message_count)
    assert counts == [2, 1, 0]
    _, empty, _, _ = get(ch)
    assert isinstance(empty, commands.Basic.GetEmpty) and empty.cluster_id == ""


def test_bodies_cross_frame_boundaries_both_ways(raw, broker):
    raw.handshake(user=broker.user, password=broker.password, vhost=broker.vhost, frame_max=4096)
    raw.open_channel(1)
    raw.queue = unique("q")
    raw.call(1, commands.Queue.Declare(queue=raw.queue, exclusive=True))
    sizes = [0, 1, 4087, 4088, 4089, 10000, 300000]
    for size in sizes:
        body = bytes(i % 251 for i in range(size))
        # Split our own body frames at frame_max as a client must.
        raw.send(1, commands.Basic.Publish(routing_key=raw.queue))
        raw.send(1, pheader.ContentHeader(0, size, commands.Basic.Properties()))
        for i in range(0, size, 4088):
            raw.send_raw(pframe.marshal(ContentBody(body[i : i + 4088]), 1))
    for size in sizes:
        _, ok, content_header, got = get(raw)
        assert content_header.body_size == size
        assert got == bytes(i % 251 for i in range(size))


def test_requeued_messages_keep_their_original_order(ch):
    publish(ch, ch.queue, b"m1", b"m2", b"m3", b"m4", b"m5")
    tags = [get(ch, no_ack=False)[1].delivery_tag for _ in range(5)]
    for tag in (tags[3], tags[0], tags[2]):
        ch.send(1, commands.Basic.Reject(delivery_tag=tag, requeue=True))
    ch.send(1, commands.Basic.Ack(delivery_tag=tags[1]))
    ch.send(1, commands.Basic.Ack(delivery_tag=tags[4]))
    got = [(get(ch)[3], None) for _ in range(3)]
    assert [body for body, _ in got] == [b"m1", b"m3", b"m4"]


def test_requeued_message_is_redelivered_ahead_of_new_ones(ch):
    publish(ch, ch.queue, b"m1", b"m2", b"m3")
    _, ok, _, _ = get(ch, no_ack=False)
    ch.send(1, commands.Basic.Nack(delivery_tag=ok.delivery_tag, requeue=True))
    bodies = []
    for _ in range(3):
        _, ok, _, body = get(ch)
        bodies.append((body, ok.redelivered))
    assert bodies == [(b"m1", True), (b"m2", False), (b"m3", False)]


@pytest.mark.parametrize(
    "method, ids",
    [
        (commands.Basic.Ack(delivery_tag=99), (60, 80)),
        (commands.Basic.Ack(delivery_tag=0, multiple=False), (60, 80)),
        (commands.Basic.Nack(delivery_tag=99), (60, 120)),
        (commands.Basic.Reject(delivery_tag=99), (60, 90)),
    ],
)
def test_unknown_delivery_tag(ch, method, ids):
    ch.send(1, method)
    tag = method.delivery_tag
    assert channel_close_of(ch) == (406, f"PRECONDITION_FAILED - unknown delivery tag {tag}", *ids)


def test_double_ack_is_an_unknown_tag(ch):
    publish(ch, ch.queue, b"x")
    _, ok, _, _ = get(ch, no_ack=False)
    ch.send(1, commands.Basic.Ack(delivery_tag=ok.delivery_tag))
    ch.send(1, commands.Basic.Ack(delivery_tag=ok.delivery_tag))
    assert channel_close_of(ch)[:2] == (
        406,
        f"PRECONDITION_FAILED - unknown delivery tag {ok.delivery_tag}",
    )


def test_ack_multiple_with_tag_zero_acks_all_and_is_fine_when_empty(ch):
    ch.send(1, commands.Basic.Ack(delivery_tag=0, multiple=True))
    publish(ch, ch.queue, b"1", b"2")
    get(ch, no_ack=False)
    get(ch, no_ack=False)
    ch.send(1, commands.Basic.Ack(delivery_tag=0, multiple=True))
    ch.send(1, commands.Basic.Recover(requeue=True))
    ch.expect(commands.Basic.RecoverOk)
    _, empty, _, _ = get(ch)
    assert isinstance(empty, commands.Basic.GetEmpty)


def test_unacked_messages_return_when_the_channel_closes(ch):
    publish(ch, ch.queue, b"m1", b"m2", b"m3")
    get(ch, no_ack=False)
    get(ch, no_ack=False)
    ch.send(1, commands.Channel.Close(200, "bye", 0, 0))
    ch.expect(commands.Channel.CloseOk)
    ch.open_channel(2)
    bodies = []
    for _ in range(3):
        _, ok, _, body = get(ch, channel=2)
        bodies.append((body, ok.redelivered))
    assert bodies == [(b"m1", True), (b"m2", True), (b"m3", False)]


def test_competing_consumers_take_turns(ch):
    consume(ch, ch.queue, "a", no_ack=True)
    consume(ch, ch.queue, "b", no_ack=True)
    publish(ch, ch.queue, *[f"m{i}".encode() for i in range(6)])
    tags = [ch.read_message()[1].consumer_tag for _ in range(6)]
    assert tags == ["a", "b", "a", "b", "a", "b"]


def test_server_named_consumer_tag(ch):
    reply = ch.call(1, commands.Basic.Consume(queue=ch.queue))
    assert reply.consumer_tag.startswith("amq.ctag-") and len(reply.consumer_tag) == 31


def test_duplicate_consumer_tag_closes_the_connection(ch):
    consume(ch, ch.queue, "t1")
    ch.send(1, commands.Basic.Consume(queue=ch.queue, consumer_tag="t1"))
    assert ch.expect_connection_error(timeout=10) == (
        530,
        "NOT_ALLOWED - attempt to reuse consumer tag 't1'",
        60,
        20,
    )


def test_exclusive_consumer_conflicts(ch):
    consume(ch, ch.queue, "first")
    ch.send(1, commands.Basic.Consume(queue=ch.queue, consumer_tag="ex", exclusive=True))
    assert channel_close_of(ch) == (
        403,
        f"ACCESS_REFUSED - queue '{ch.queue}' in vhost '/' in exclusive use",
        60,
        20,
    )


def test_cancel_of_an_unknown_tag_is_ok(ch):
    reply = ch.call(1, commands.Basic.Cancel(consumer_tag="nosuchtag"))
    assert isinstance(reply, commands.Basic.CancelOk) and reply.consumer_tag == "nosuchtag"


def test_prefetch_per_consumer(ch):
    ch.call(1, commands.Basic.Qos(prefetch_count=2))
    consume(ch, ch.queue, "a")
    consume(ch, ch.queue, "b")
    publish(ch, ch.queue, *[b"m"] * 10)
    got = [ch.read_message()[1].consumer_tag for _ in range(4)]
    assert sorted(got) == ["a", "a", "b", "b"]
    with pytest.raises(TimeoutError):
        ch.read_frame(timeout=0.5)


def test_prefetch_global_is_shared_by_the_channel(ch):
    ch.call(1, commands.Basic.Qos(prefetch_count=2, global_=True))
    consume(ch, ch.queue, "a")
    consume(ch, ch.queue, "b")
    publish(ch, ch.queue, *[b"m"] * 10)
    delivered = [ch.read_message()[1] for _ in range(2)]
    with pytest.raises(TimeoutError):
        ch.read_frame(timeout=0.5)
    ch.send(1, commands.Basic.Ack(delivery_tag=delivered[0].delivery_tag))
    ch.read_message()


def test_prefetch_size_is_not_implemented(ch):
    ch.send(1, commands.Basic.Qos(prefetch_size=1))
    assert ch.expect_connection_error(timeout=10) == (
        540,
        "NOT_IMPLEMENTED - prefetch_size!=0 (1)",
        60,
        10,
    )


def test_recover_requeues_with_new_tags(ch):
    publish(ch, ch.queue, b"m1", b"m2")
    consume(ch, ch.queue, "a")
    first = [ch.read_message()[1] for _ in range(2)]
    ch.send(1, commands.Basic.Recover(requeue=True))
    ch.expect(commands.Basic.RecoverOk)
    again = [ch.read_message()[1] for _ in range(2)]
    assert [d.redelivered for d in again] == [True, True]
    assert {d.delivery_tag for d in again}.isdisjoint({d.delivery_tag for d in first})
    ch.send(1, commands.Basic.Ack(delivery_tag=first[0].delivery_tag))
    assert channel_close_of(ch)[:2] == (
        406,
        f"PRECONDITION_FAILED - unknown delivery tag {first[0].delivery_tag}",
    )


def test_recover_without_requeue_is_not_implemented(ch):
    ch.send(1, commands.Basic.Recover(requeue=False))
    assert ch.expect_connection_error(timeout=10) == (
        540,
        "NOT_IMPLEMENTED - requeue=false",
        60,
        110,
    )


def test_message_over_the_maximum_size_is_refused(ch):
    # RabbitMQ 3.10's default max_message_size is 128 MiB; a 1-byte-larger header
    # is enough, since the check is on the complete message.
    size = 134217729
    ch.send(1, commands.Basic.Publish(routing_key=ch.queue))
    ch.send(1, pheader.ContentHeader(0, size, commands.Basic.Properties()))
    chunk = b"\0" * 131064
    frame_bytes = pframe.marshal(ContentBody(chunk), 1)
    sent = 0
    while sent + len(chunk) <= size:
        ch.send_raw(frame_bytes)
        sent += len(chunk)
    ch.send_raw(pframe.marshal(ContentBody(b"\0" * (size - sent)), 1))
    assert channel_close_of(ch) == (
        406,
        "PRECONDITION_FAILED - message size 134217729 is larger than configured max size 134217728",
        60,
        40,
    )


def test_recover_async_requeues_without_a_reply(ch):
    ch.publish(1, b"again", routing_key=ch.queue)
    first = wait_for(lambda: ch.basic_get(1, ch.queue, no_ack=False), 5, "the message")
    assert first[0].redelivered is False
    ch.send(1, commands.Basic.RecoverAsync(requeue=True))
    # No recover-ok: the next frame is the get-ok of the message, now redelivered.
    method, _, body = ch.basic_get(1, ch.queue, no_ack=True)
    assert (method.redelivered, body) == (True, b"again")


def test_recover_async_without_requeue_is_not_implemented(ch):
    ch.send(1, commands.Basic.RecoverAsync(requeue=False))
    assert ch.expect_connection_error(timeout=10) == (
        540,
        "NOT_IMPLEMENTED - requeue=false",
        60,
        100,
    )
