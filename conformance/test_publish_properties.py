"""Properties and headers that basic.publish checks or acts on, as in RabbitMQ 3.10.8.

The per-message expiration (accepted forms and the exact refusals), the user-id
property, the delivery mode, and sender-selected distribution with the CC and BCC headers.
"""

import pytest
from pamqp import commands as C

from conformance import typed
from conformance.helpers import (
    acked,
    bind,
    count,
    declare,
    declare_exchange,
    nothing_pending,
    wait_for,
    wait_get,
)

# ---- expiration --------------------------------------------------------------------------


def expiration_refused(value, reason):
    return f"PRECONDITION_FAILED - invalid expiration '{value}': {reason}"


@pytest.mark.parametrize("value", ["0", "-0"])
def test_zero_expiration_expires_at_once(lab, value):
    client, queue = lab.connect(), lab.queue()
    declare(client, queue)
    typed.publish(client, 1, b"gone", routing_key=queue, expiration=value)
    typed.publish(client, 1, b"marker", routing_key=queue)
    method, _, body = wait_get(client, queue)
    assert (body, method.message_count) == (b"marker", 0)


@pytest.mark.parametrize("value", ["1000", "315360000000"])
def test_expiration_is_kept_on_delivery(lab, value):
    client, queue = lab.connect(), lab.queue()
    declare(client, queue)
    typed.publish(client, 1, b"e", routing_key=queue, expiration=value)
    _, props, _ = wait_get(client, queue)
    assert props == {"expiration": value}


def test_expiration_with_a_plus_sign(lab):
    client, queue = lab.connect(), lab.queue()
    declare(client, queue)
    client.call_ok(1, C.Confirm.Select(), C.Confirm.SelectOk)
    typed.publish(client, 1, b"short", routing_key=queue, expiration="+5")
    typed.publish(client, 1, b"marker", routing_key=queue)
    acked(client, 2)  # once both are confirmed, both reached the queue
    wait_for(lambda: count(client, queue) == 1, timeout=1)
    method, _, body = wait_get(client, queue)
    assert (body, method.message_count) == (b"marker", 0)


def user_refused(value, broker):
    return (
        f"PRECONDITION_FAILED - user_id property set to '{value}' but authenticated user "
        f"was '{broker.user}'"
    )


def test_user_id_of_the_connection_is_accepted(lab, broker):
    client, queue = lab.connect(), lab.queue()
    declare(client, queue)
    typed.publish(client, 1, b"u", routing_key=queue, user_id=broker.user)
    _, props, _ = wait_get(client, queue)
    assert props == {"user_id": broker.user}


@pytest.mark.parametrize("mode", [None, "confirm", "tx"])
@pytest.mark.parametrize("value", ["Guest", "other", "", "guest "])
def test_other_user_id_is_refused_at_publish(lab, broker, mode, value):
    client, queue = lab.connect(), lab.queue()
    declare(client, queue)
    if mode == "confirm":
        client.call_ok(1, C.Confirm.Select(), C.Confirm.SelectOk)
    elif mode == "tx":
        client.call_ok(1, C.Tx.Select(), C.Tx.SelectOk)
    typed.publish(client, 1, b"u", routing_key=queue, user_id=value)
    assert client.expect_channel_error(1) == (406, user_refused(value, broker), 60, 40)


def test_user_id_is_checked_after_the_exchange_and_before_expiration(lab, broker):
    client, missing = lab.connect(), lab.exchange("missing")
    typed.publish(client, 1, exchange=missing, routing_key="k", user_id="other")
    text = f"NOT_FOUND - no exchange '{missing}' in vhost '/'"
    assert client.expect_channel_error(1) == (404, text, 60, 40)
    client.open_channel(1)
    typed.publish(client, 1, routing_key="k", user_id="other", expiration="abc")
    assert client.expect_channel_error(1) == (406, user_refused("other", broker), 60, 40)


# ---- delivery mode -----------------------------------------------------------------------


def mode_refused(mode):
    return 406, f"PRECONDITION_FAILED - invalid message: {{delivery_mode_unknown,{mode}}}", 60, 40


@pytest.mark.parametrize("mode", [0, 3, 255])
@pytest.mark.parametrize("routed", [True, False])
def test_delivery_mode_other_than_1_or_2_is_refused(lab, mode, routed):
    client, queue = lab.connect(), lab.queue()
    declare(client, queue)
    key = queue if routed else f"{queue}-nowhere"
    typed.publish(client, 1, b"m", routing_key=key, delivery_mode=mode)
    assert client.expect_channel_error(1) == mode_refused(mode)
    client.open_channel(1)
    assert typed.get(client, 1, queue) is None


@pytest.mark.parametrize("mode", [None, 1, 2])
def test_delivery_modes_1_and_2_and_none_are_kept(lab, mode):
    client, queue = lab.connect(), lab.queue()
    declare(client, queue)
    props = {} if mode is None else {"delivery_mode": mode}
    typed.publish(client, 1, b"m", routing_key=queue, content_type="t", **props)
    _, got, body = wait_get(client, queue)
    assert (got, body) == ({"content_type": "t", **props}, b"m")


def test_delivery_mode_is_checked_after_the_exchange_the_expiration_and_cc(lab):
    client, missing = lab.connect(), lab.exchange("missing")
    typed.publish(client, 1, exchange=missing, routing_key="k", delivery_mode=3)
    text = f"NOT_FOUND - no exchange '{missing}' in vhost '/'"
    assert client.expect_channel_error(1) == (404, text, 60, 40)
    client.open_channel(1)
    typed.publish(client, 1, routing_key="k", delivery_mode=3, expiration="abc")
    assert client.expect_channel_error(1) == (406, expiration_refused("abc", "no_integer"), 60, 40)
    client.open_channel(1)
    typed.publish(client, 1, routing_key="k", delivery_mode=3, headers=[("CC", "S", "k")])
    text = 'PRECONDITION_FAILED - invalid message: {unacceptable_type_in_header,"CC",longstr}'
    assert client.expect_channel_error(1) == (406, text, 60, 40)


def test_commands_behind_a_refused_publish_are_not_run(lab):
    client, queue = lab.connect(), lab.queue()
    typed.publish(client, 1, routing_key="k", delivery_mode=0)
    client.send(1, C.Queue.Declare(queue=queue))  # in the same packet as the publish
    assert client.expect_channel_error(1) == mode_refused(0)
    client.open_channel(1)
    client.send(1, C.Queue.Declare(queue=queue, passive=True))
    assert client.expect_channel_error(1)[:2] == (
        404,
        f"NOT_FOUND - no queue '{queue}' in vhost '/'",
    )


# ---- CC and BCC --------------------------------------------------------------------------


def strings(*values):
    return "A", [("S", value) for value in values]


def cc(*values):
    return ("CC", *strings(*values))


def bcc(*values):
    return ("BCC", *strings(*values))


@pytest.fixture
def direct(lab):
    """A direct exchange with queues bound by the keys main, cc1, cc2 and bcc1."""
    client, name = lab.connect(), lab.exchange()
    declare_exchange(client, name, "direct")
    client.exchange, client.queues = name, {}
    for key in ("main", "cc1", "cc2", "bcc1"):
        client.queues[key] = lab.queue(key)
        declare(client, client.queues[key])
        bind(client, client.queues[key], name, key)
    return client


def copies(client, *keys):
    """Take one message from each bound queue named; every other queue must be empty."""
    found = [wait_get(client, client.queues[key]) for key in keys]
    for key, queue in client.queues.items():
        if key not in keys:
            assert typed.get(client, 1, queue) is None, key
    assert [typed.get(client, 1, client.queues[key]) for key in keys] == [None] * len(keys)
    return found


def test_cc_and_bcc_route_copies_and_bcc_is_removed(direct):
    headers = [cc("cc1", "cc2"), bcc("bcc1"), ("x", "S", "y")]
    typed.publish(direct, 1, b"m", direct.exchange, "main", headers=headers)
    for method, props, _ in copies(direct, "main", "cc1", "cc2", "bcc1"):
        assert method.routing_key == "main"
        assert props == {"headers": [cc("cc1", "cc2"), ("x", "S", "y")]}


def test_cc_routes_a_message_its_key_does_not(direct):
    typed.publish(direct, 1, b"m", direct.exchange, "nomatch", mandatory=True, headers=[cc("cc1")])
    nothing_pending(direct)  # nothing was returned
    [(method, props, _)] = copies(direct, "cc1")
    assert (method.routing_key, props) == ("nomatch", {"headers": [cc("cc1")]})


def test_unroutable_bcc_message_returns_with_empty_headers(direct):
    headers = [bcc("nomatch2")]
    typed.publish(direct, 1, b"m", direct.exchange, "nomatch", mandatory=True, headers=headers)
    _, ret, props, _ = typed.read_message(direct)
    assert isinstance(ret, C.Basic.Return)
    assert (ret.reply_code, ret.reply_text, ret.exchange, ret.routing_key) == (
        312, "NO_ROUTE", direct.exchange, "nomatch",
    )  # fmt: skip
    assert props == {"headers": []}


def test_repeated_keys_deliver_one_copy(direct):
    typed.publish(direct, 1, b"m", direct.exchange, "main", headers=[cc("main", "main")])
    copies(direct, "main")


@pytest.mark.parametrize(
    "header, error",
    [
        (("CC", "S", "cc1"), '"CC",longstr'),
        (("BCC", "S", "bcc1"), '"BCC",longstr'),
        (("CC", "F", []), '"CC",table'),
        (("CC", "V", None), '"CC",void'),
        (("CC", "I", 5), '"CC",signedint'),
    ],
)
def test_cc_and_bcc_must_be_arrays(direct, header, error):
    typed.publish(direct, 1, b"m", direct.exchange, "main", headers=[header])
    text = f"PRECONDITION_FAILED - invalid message: {{unacceptable_type_in_header,{error}}}"
    assert direct.expect_channel_error(1) == (406, text, 60, 40)


@pytest.mark.parametrize(
    "header, reached",
    [
        (("CC", "A", [("I", 1)]), ["main"]),  # elements other than longstr are ignored
        (("CC", "A", [("x", b"cc1")]), ["main"]),
        (("CC", "A", [("S", "cc1"), ("I", 1)]), ["main", "cc1"]),
        (("CC", "A", []), ["main"]),
        (("cc", "A", [("S", "cc1")]), ["main"]),  # just another header
    ],
)
def test_odd_cc_arrays_are_accepted_and_kept(direct, header, reached):
    typed.publish(direct, 1, b"m", direct.exchange, "main", headers=[header])
    for _, props, _ in copies(direct, *reached):
        assert props == {"headers": [header]}


@pytest.mark.parametrize("kind, bound", [("topic", "a.*"), ("fanout", "")])
def test_cc_goes_through_the_exchange_routing(lab, kind, bound):
    client, queue, name = lab.connect(), lab.queue(), lab.exchange(kind)
    declare(client, queue)
    declare_exchange(client, name, kind)
    bind(client, queue, name, bound)
    typed.publish(client, 1, b"m", name, "zzz", headers=[cc("a.b"), bcc("q")])
    method, props, _ = wait_get(client, queue)
    assert (method.routing_key, props) == ("zzz", {"headers": [cc("a.b")]})
    assert typed.get(client, 1, queue) is None


def test_cc_and_bcc_name_queues_on_the_default_exchange(lab):
    client, queues = lab.connect(), [lab.queue(f"q{i}") for i in range(3)]
    for queue in queues:
        declare(client, queue)
    typed.publish(client, 1, b"m", "", queues[0], headers=[cc(queues[1]), bcc(queues[2])])
    for queue in queues:
        method, props, _ = wait_get(client, queue)
        assert (method.routing_key, props) == (queues[0], {"headers": [cc(queues[1])]})
