"""Channel lifecycle rules, as a raw client sees them."""

import struct

import pytest
from pamqp import commands, frame

from conformance.rawclient import raw_frame


def test_open_and_close_many_channels(opened):
    for number in range(1, 201):
        opened.open_channel(number)
    for number in range(1, 201):
        opened.send(number, commands.Channel.Close(200, "bye", 0, 0))
        got, _ = opened.expect(commands.Channel.CloseOk)
        assert got == number
    opened.open_channel(1)  # numbers are free again
    opened.close_connection()


def test_second_channel_open(opened):
    opened.open_channel(1)
    opened.send(1, commands.Channel.Open())
    assert opened.expect_connection_error(timeout=10) == (
        504,
        "CHANNEL_ERROR - second 'channel.open' seen",
        20,
        10,
    )


@pytest.mark.parametrize(
    "method, ids",
    [(commands.Basic.Qos(), (60, 10)), (commands.Channel.Close(200, "", 0, 0), (20, 40))],
)
def test_method_on_a_channel_that_was_never_opened(opened, method, ids):
    opened.send(1, method)
    assert opened.expect_connection_error(timeout=10) == (
        504,
        "CHANNEL_ERROR - expected 'channel.open'",
        *ids,
    )


def test_channel_open_on_channel_zero(opened):
    opened.send(0, commands.Channel.Open())
    assert opened.expect_connection_error(timeout=10) == (
        504,
        "CHANNEL_ERROR - unexpected method in connection state running",
        20,
        10,
    )


def test_channel_max_counts_open_channels_not_numbers(raw, broker):
    raw.handshake(user=broker.user, password=broker.password, vhost=broker.vhost, channel_max=2)
    raw.open_channel(11)
    raw.open_channel(65535)
    raw.send(3, commands.Channel.Open())
    assert raw.expect_connection_error(timeout=10) == (
        530,
        "NOT_ALLOWED - number of channels opened (2) has reached the negotiated channel_max (2)",
        0,
        0,
    )


def test_channel_flow(opened):
    opened.open_channel(1)
    opened.send(1, commands.Channel.Flow(active=True))
    _, ok = opened.expect(commands.Channel.FlowOk)
    assert ok.active is True
    opened.send(1, commands.Channel.Flow(active=False))
    assert opened.expect_connection_error(timeout=10) == (
        540,
        "NOT_IMPLEMENTED - active=false",
        20,
        20,
    )


@pytest.mark.parametrize(
    "method, ids",
    [
        (commands.Channel.CloseOk(), (20, 41)),
        (commands.Basic.QosOk(), (60, 11)),
        (commands.Connection.TuneOk(2047, 131072, 0), (10, 31)),
    ],
)
def test_methods_only_a_server_sends(opened, method, ids):
    opened.open_channel(1)
    opened.send(1, method)
    assert opened.expect_connection_error(timeout=10) == (
        503,
        "COMMAND_INVALID - unimplemented method",
        *ids,
    )


def test_connection_close_ok_out_of_turn(opened):
    opened.send(0, commands.Connection.CloseOk())
    assert opened.expect_connection_error(timeout=10) == (
        504,
        "CHANNEL_ERROR - unexpected method in connection state running",
        10,
        51,
    )


def test_a_closed_channel_ignores_everything_until_close_ok(opened):
    opened.open_channel(1)
    # A passive declare of a queue that does not exist is a soft error: the
    # broker closes the channel, not the connection.
    opened.send(1, commands.Queue.Declare(queue="amqpd-conformance-missing", passive=True))
    _, close = opened.expect(commands.Channel.Close)
    assert (close.reply_code, close.class_id, close.method_id) == (404, 50, 10)
    assert close.reply_text == "NOT_FOUND - no queue 'amqpd-conformance-missing' in vhost '/'"
    opened.send(1, commands.Basic.Qos(prefetch_count=1))
    opened.send(1, commands.Channel.Flow(active=False))
    opened.send(1, commands.Channel.CloseOk())
    opened.open_channel(1)
    opened.send(1, commands.Basic.Qos(prefetch_count=1))
    opened.expect(commands.Basic.QosOk)


@pytest.mark.parametrize("durable", [False, True], ids=["transient", "durable"])
def test_pipelined_replies_keep_command_order(lab, durable):
    """Commands sent in one write are answered in order, the channel's own
    close-ok included (a durable declare's reply waits for the disk). (A
    channel.open right behind the close is left out: RabbitMQ races on it.)"""
    client = lab.connect(channels=(1,))
    queue = lab.queue()
    pipelined = b"".join(
        frame.marshal(method, 1)
        for method in (
            commands.Queue.Declare(queue=queue, durable=durable),
            commands.Queue.Declare(queue=queue, durable=durable, passive=True),
            commands.Channel.Close(reply_code=200, reply_text="bye", class_id=0, method_id=0),
        )
    )
    client.send_raw(pipelined)
    replies = [type(client.read_frame()[1]) for _ in range(3)]
    assert replies == [commands.Queue.DeclareOk, commands.Queue.DeclareOk, commands.Channel.CloseOk]


@pytest.mark.parametrize("durable", [False, True], ids=["transient", "durable"])
def test_connection_close_pipelined_behind_a_declare_comes_after_its_reply(lab, durable):
    client = lab.connect(channels=(1,))
    queue = lab.queue()
    client.send_raw(
        frame.marshal(commands.Queue.Declare(queue=queue, durable=durable), 1)
        + frame.marshal(
            commands.Connection.Close(reply_code=200, reply_text="bye", class_id=0, method_id=0), 0
        )
    )
    replies = [type(client.read_frame()[1]) for _ in range(2)]
    assert replies == [commands.Queue.DeclareOk, commands.Connection.CloseOk]


def test_open_ok_carries_an_empty_reserved_field(opened):
    opened.send(1, commands.Channel.Open())
    assert opened.read_raw_frame() == (1, 1, b"\x00\x14\x00\x0b\x00\x00\x00\x00")


def access_request(realm: bytes = b"/data", flags: int = 0b11110) -> bytes:
    """access.request (class 30, deprecated in 0-9-1 and unknown to pamqp), as a payload."""
    return struct.pack(">HHB", 30, 10, len(realm)) + realm + bytes((flags,))


@pytest.mark.parametrize(
    "realm, flags", [(b"/data", 0b11110), (b"/", 0b11111), (b"no-such-realm", 0)]
)
def test_access_request_is_granted_ticket_1(opened, realm, flags):
    opened.open_channel(1)
    opened.send_raw(raw_frame(1, 1, access_request(realm, flags)))
    assert opened.read_raw_frame() == (1, 1, b"\x00\x1e\x00\x0b\x00\x01")
    opened.call_ok(1, commands.Basic.Qos(prefetch_count=1), commands.Basic.QosOk)


@pytest.mark.parametrize(
    "channel, payload, error",
    [
        (
            0,
            access_request(),
            (504, "CHANNEL_ERROR - unexpected method in connection state running"),
        ),
        (1, b"\x00\x1e\x00\x0b\x00\x01", (503, "COMMAND_INVALID - unimplemented method")),
        (1, b"\x00\x1e\x00\x0a\x01/", (501, "FRAME_ERROR - cannot decode <<1,47>>")),
        (1, access_request(b"/") + b"\x00", (501, "FRAME_ERROR - cannot decode <<1,47,30,0>>")),
    ],
    ids=["on channel 0", "request-ok from the client", "truncated", "trailing octet"],
)
def test_access_methods_the_broker_refuses(opened, channel, payload, error):
    opened.open_channel(1)
    opened.send_raw(raw_frame(1, channel, payload))
    assert opened.expect_connection_error(timeout=10) == (*error, 30, payload[3])


def test_access_request_on_a_channel_never_opened(opened):
    opened.send_raw(raw_frame(1, 1, access_request()))
    assert opened.expect_connection_error(timeout=10) == (
        504,
        "CHANNEL_ERROR - expected 'channel.open'",
        30,
        10,
    )


def test_commands_behind_a_connection_error_are_not_run(lab):
    client, queue = lab.connect(), lab.queue()
    exchange = lab.exchange()
    bad = commands.Exchange.Declare(exchange=exchange, exchange_type="amqpd-no-such-type")
    client.send_raw(frame.marshal(bad, 1) + frame.marshal(commands.Queue.Declare(queue=queue), 1))
    code, _, class_id, method_id = client.expect_connection_error(timeout=10)
    assert (code, class_id, method_id) == (503, 40, 10)
    other = lab.connect()
    other.send(1, commands.Queue.Declare(queue=queue, passive=True))
    assert other.expect_channel_error(1)[:2] == (
        404,
        f"NOT_FOUND - no queue '{queue}' in vhost '/'",
    )


def test_channel_open_with_an_out_of_band_value(opened):
    # The reserved out-of-band field is ignored, whatever it holds.
    opened.send_raw(raw_frame(1, 2, b"\x00\x14\x00\x0a\x03abc"))
    assert opened.read_raw_frame() == (1, 2, b"\x00\x14\x00\x0b\x00\x00\x00\x00")
