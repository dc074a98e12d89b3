"""Direct reply-to (amq.rabbitmq.reply-to), as RabbitMQ 3.10.8 does it.

The reply consumer and its errors, the rewritten reply_to name, how replies are
routed (default exchange only, mandatory returns, CC, transactions), stale
names, and what queue.* and basic.get say about the pseudo-queue.
"""

import base64
import re

import pytest
from pamqp import commands as C
from pamqp import frame

from conformance import typed
from conformance.helpers import consume, declare, no_queue, nothing_pending, wait_get

RT = "amq.rabbitmq.reply-to"
NO_CONSUMER = (406, "PRECONDITION_FAILED - fast reply consumer does not exist", 60, 40)
# The pid part is the base64 of an Erlang NEW_PID_EXT whose node is reply@<hash>.
NAME = re.compile(r"amq\.rabbitmq\.reply-to\.([A-Za-z0-9+/]{40})\.([A-Za-z0-9+/]{22}==)")


def call(client, cls, name, ch=1, **fields):
    """Send a queue method naming the queue ``name`` (full reply names have '/',
    '+' and '=', which pamqp refuses in a queue name). Returns the reply, or
    (code, text, class_id, method_id) when it closed the channel, reopened."""
    placeholder = "q" * len(name)
    data = frame.marshal(cls(queue=placeholder, **fields), ch)
    client.send_raw(data.replace(placeholder.encode(), name.encode()))
    _, reply = client.read_frame()
    if not isinstance(reply, C.Channel.Close):
        return reply
    client.send(ch, C.Channel.CloseOk())
    client.open_channel(ch)
    return reply.reply_code, reply.reply_text, reply.class_id, reply.method_id


def reply_consumer(client, ch=1, tag=""):
    return consume(client, RT, tag, channel=ch, no_ack=True).consumer_tag


@pytest.fixture
def rpc(lab):
    """A requester with a reply consumer on channel 1 and a server holding a
    request queue; rpc.request() returns the reply_to the server sees."""
    requester, server, queue = lab.connect(channels=(1, 2)), lab.connect(), lab.queue("srv")
    declare(server, queue)
    requester.tag = reply_consumer(requester, tag="rt")

    def request(ch=1, reply_to=RT):
        typed.publish(requester, ch, b"req", routing_key=queue, reply_to=reply_to)
        return wait_get(server, queue)[1]["reply_to"]

    requester.server, requester.queue, requester.request = server, queue, request
    return requester


def expect_reply(requester, name, body=b"reply", ch=1):
    _, deliver, props, got = typed.read_message(requester)
    assert isinstance(deliver, C.Basic.Deliver)
    assert (deliver.consumer_tag, deliver.delivery_tag, deliver.redelivered) == ("rt", 1, False)
    assert (deliver.exchange, deliver.routing_key, got) == ("", name, body)
    return props


def expect_return(client, exchange, name):
    _, ret, _, _ = typed.read_message(client)
    assert isinstance(ret, C.Basic.Return)
    assert (ret.reply_code, ret.reply_text, ret.exchange, ret.routing_key) == (
        312, "NO_ROUTE", exchange, name,
    )  # fmt: skip


@pytest.mark.parametrize("before", ["never", "cancelled"])
def test_reply_to_needs_a_reply_consumer(lab, before):
    client, queue = lab.connect(), lab.queue()
    declare(client, queue)
    if before == "cancelled":
        tag = reply_consumer(client)
        client.call_ok(1, C.Basic.Cancel(consumer_tag=tag), C.Basic.CancelOk)
    typed.publish(client, 1, routing_key=queue, reply_to=RT)
    assert client.expect_channel_error(1) == NO_CONSUMER


def test_reply_consumer_errors(lab):
    client = lab.connect()
    method = C.Basic.Consume(queue=RT, consumer_tag="acking", no_ack=False)
    text = "PRECONDITION_FAILED - reply consumer cannot acknowledge"
    assert client.call_error(1, method) == (406, text, 60, 20)
    reply_consumer(client, tag="first")
    text = "PRECONDITION_FAILED - reply consumer already set"
    assert client.call_error(1, C.Basic.Consume(queue=RT, no_ack=True)) == (406, text, 60, 20)


def test_reply_consumer_tags_and_nowait(lab):
    client = lab.connect(channels=(1, 2))
    assert re.fullmatch(r"amq\.ctag-[A-Za-z0-9_-]{22}", reply_consumer(client))
    client.send(2, C.Basic.Consume(queue=RT, consumer_tag="quiet", no_ack=True, nowait=True))
    nothing_pending(client, channel=2)
    typed.publish(client, 2, exchange="amq.direct", routing_key="nowhere", reply_to=RT)
    nothing_pending(client, channel=2)


def test_reply_to_is_rewritten(rpc):
    name = rpc.request()
    match = NAME.fullmatch(name)
    assert match and len(name) == 87, name
    pid = base64.b64decode(match[1])
    assert len(pid) == 30 and pid[:11] == b"\x83Xv\x00\x0dreply@", pid
    assert pid[11:18].isdigit()
    assert rpc.request() == name  # the same for every request of this channel
    reply_consumer(rpc, ch=2)
    other = NAME.fullmatch(rpc.request(ch=2))
    assert other[1] != match[1] and other[2] != match[2]
    assert rpc.request(reply_to=RT + ".foo") == RT + ".foo"  # only the exact name


def test_reply_goes_to_the_requester(rpc):
    name = rpc.request()
    for correlation in ("c1", "c2"):
        headers = [("h", "S", "v")]
        typed.publish(
            rpc.server, 1, b"reply", "", name, correlation_id=correlation, headers=headers
        )
        props = expect_reply(rpc, name)  # delivery tag 1 every time
        assert props == {"headers": headers, "correlation_id": correlation}
    nothing_pending(rpc.server)


@pytest.mark.parametrize("confirm", [False, True])
def test_mandatory_reply_is_delivered_and_returned(rpc, confirm):
    name = rpc.request()
    if confirm:
        rpc.server.call_ok(1, C.Confirm.Select(), C.Confirm.SelectOk)
    typed.publish(rpc.server, 1, b"reply", "", name, mandatory=True)
    expect_reply(rpc, name)
    expect_return(rpc.server, "", name)
    if confirm:
        _, ack = rpc.server.expect(C.Basic.Ack)
        assert (ack.delivery_tag, ack.multiple) == (1, False)


def test_only_the_default_exchange_routes_replies(rpc):
    name = rpc.request()
    typed.publish(rpc.server, 1, b"reply", "amq.direct", name, mandatory=True)
    expect_return(rpc.server, "amq.direct", name)
    nothing_pending(rpc)


def test_cc_to_a_reply_name(rpc):
    name = rpc.request()
    typed.publish(rpc.server, 1, b"reply", "", rpc.queue, headers=[("CC", "A", [("S", name)])])
    props = expect_reply(rpc, rpc.queue)
    assert props == {"headers": [("CC", "A", [("S", name)])]}


def test_reply_in_a_transaction_is_delivered_before_commit(rpc):
    name = rpc.request()
    rpc.server.call_ok(1, C.Tx.Select(), C.Tx.SelectOk)
    typed.publish(rpc.server, 1, b"reply", "", name)
    expect_reply(rpc, name)
    rpc.server.call_ok(1, C.Tx.Commit(), C.Tx.CommitOk)
    nothing_pending(rpc)


def test_requester_can_reply_to_itself(rpc):
    name = rpc.request()
    typed.publish(rpc, 1, b"self", "", name)
    expect_reply(rpc, name, b"self")


FORGED = RT + ".g1h2AA5yZXBseUAyNzU5MjQ1MQAAAAkAAAAAZHF0bw=="


@pytest.mark.parametrize("stale", ["garbage", "forged", "bare", "cancelled", "channel-closed"])
@pytest.mark.parametrize("mandatory", [True, False])
def test_replies_to_stale_names_are_dropped(rpc, stale, mandatory):
    name = {"garbage": RT + ".garbage", "forged": FORGED, "bare": RT}.get(stale) or rpc.request()
    if stale == "cancelled":
        rpc.call_ok(1, C.Basic.Cancel(consumer_tag="rt"), C.Basic.CancelOk)
    elif stale == "channel-closed":
        rpc.call_ok(1, C.Channel.Close(200, "bye", 0, 0), C.Channel.CloseOk)
    typed.publish(rpc.server, 1, b"late", "", name, mandatory=mandatory)
    if mandatory:
        expect_return(rpc.server, "", name)
    nothing_pending(rpc.server)  # never a channel error
    nothing_pending(rpc, channel=2 if stale == "channel-closed" else 1)
    if stale != "bare":
        passive = call(rpc.server, C.Queue.Declare, name, passive=True)
        assert passive == (404, no_queue(name), 50, 10)


def test_declaring_the_reply_queue(rpc, lab):
    name = rpc.request()
    for client in (rpc.server, lab.connect()):
        for passive in (False, True):
            ok = client.call_ok(1, C.Queue.Declare(queue=RT, passive=passive), C.Queue.DeclareOk)
            assert (ok.queue, ok.message_count, ok.consumer_count) == (RT, 0, 1)
    ok = call(rpc.server, C.Queue.Declare, name, passive=True)
    assert (ok.queue, ok.message_count, ok.consumer_count) == (name, 0, 1)


@pytest.mark.parametrize("full", [False, True])
def test_the_reply_queue_is_not_a_queue(rpc, full):
    name = rpc.request() if full else RT
    client = rpc.server
    assert call(client, C.Basic.Get, name) == (404, no_queue(name), 60, 70)
    if full:
        return
    bind = C.Queue.Bind(queue=RT, exchange="amq.direct", routing_key="x")
    assert client.call_error(1, bind) == (404, no_queue(RT), 50, 20)
    assert client.call_error(1, C.Queue.Purge(queue=RT)) == (404, no_queue(RT), 50, 30)
    assert client.call_ok(1, C.Queue.Delete(queue=RT), C.Queue.DeleteOk).message_count == 0
