"""The connection state machine, driven in memory on a virtual clock.

Expected texts and codes are the ones RabbitMQ 3.10.8 sent for the same input.
"""

import struct

import pytest
from pamqp import commands, frame, heartbeat
from pamqp.body import ContentBody

from amqpd.errors import ChannelError, ReplyCode
from amqpd.wire.codec import ContentHeader
from amqpd.wire.connection import PROTOCOL_HEADER, ConnectionSettings, State
from amqpd.wire.events import (
    ChannelClosed,
    ChannelOpened,
    CommandReceived,
    ConnectionClosed,
    ConnectionOpened,
)
from tests.wire_pair import ClientPair


@pytest.fixture
def pair():
    return ClientPair()


@pytest.fixture
def opened(pair):
    pair.handshake()
    pair.events()
    return pair


def assert_connection_close(pair, code, text, ids=(0, 0)):
    _, close = pair.one(commands.Connection.Close)
    assert (close.reply_code, close.reply_text) == (code, text)
    assert (close.class_id, close.method_id) == ids
    return close


def assert_silent_drop_after(pair, seconds):
    """No reply at all; the socket is dropped once ``seconds`` have passed."""
    assert pair.received() == []
    pair.advance(seconds - 0.01)
    assert not pair.server.transport_closed
    pair.advance(0.02)
    assert pair.server.transport_closed
    assert pair.received() == []


# ---- protocol header and handshake ------------------------------------------------


def test_full_handshake_emits_connection_opened(pair):
    pair.handshake()
    (event,) = pair.events()
    assert isinstance(event, ConnectionOpened)
    assert (event.user, event.vhost) == ("guest", "/")
    assert pair.server.state is State.OPEN


def test_start_offers_plain_and_amqplain_and_en_us():
    pair = ClientPair(ConnectionSettings(server_properties={"product": "amqpd"}))
    pair.send_raw(PROTOCOL_HEADER)
    _, start = pair.one(commands.Connection.Start)
    assert (start.version_major, start.version_minor) == (0, 9)
    assert start.mechanisms == "PLAIN AMQPLAIN" and start.locales == "en_US"
    assert start.server_properties == {"product": "amqpd"}


@pytest.mark.parametrize(
    "header",
    [b"AMQP\x00\x00\x09\x02", b"AMQP\x00\x00\x08\x00", b"HTTP/1.1", b"amqp\x00\x00\x09\x01"],
)
def test_wrong_protocol_header_gets_ours_and_a_close(pair, header):
    pair.send_raw(header)
    assert pair.server.data_to_send() == PROTOCOL_HEADER
    assert pair.server.transport_closed


def test_amqp_0_9_header_is_taken_as_0_9_1(pair):
    pair.send_raw(b"AMQP\x01\x01\x00\x09")
    pair.one(commands.Connection.Start)


def test_header_split_across_reads(pair):
    for byte in PROTOCOL_HEADER:
        pair.send_raw(bytes([byte]))
    pair.one(commands.Connection.Start)


def test_handshake_timeout_drops_without_a_frame(pair):
    pair.send_raw(PROTOCOL_HEADER)
    pair.received()
    pair.advance(9.99)
    assert not pair.server.transport_closed
    pair.advance(0.02)
    assert pair.server.transport_closed and pair.received() == []


def start_ok(pair, mechanism="PLAIN", response="\0guest\0guest", capabilities=None):
    pair.send_raw(PROTOCOL_HEADER)
    pair.received()
    caps = {"authentication_failure_close": True} if capabilities is None else capabilities
    pair.send(
        0,
        commands.Connection.StartOk(
            client_properties={"capabilities": caps},
            mechanism=mechanism,
            response=response,
            locale="en_US",
        ),
    )


def test_amqplain_login():
    pair = ClientPair()
    table = "\x05LOGINS\x00\x00\x00\x05guest\x08PASSWORDS\x00\x00\x00\x05guest"
    start_ok(pair, mechanism="AMQPLAIN", response=table)
    pair.one(commands.Connection.Tune)


def test_bad_password_with_failure_close_capability_gets_403(pair):
    start_ok(pair, response="\0guest\0wrong")
    assert_connection_close(
        pair,
        403,
        "ACCESS_REFUSED - Login was refused using authentication mechanism PLAIN. "
        "For details see the broker logfile.",
    )
    pair.send(0, commands.Connection.CloseOk())
    assert pair.server.transport_closed


def test_bad_password_without_the_capability_closes_the_socket_silently(pair):
    start_ok(pair, response="\0guest\0wrong", capabilities={})
    assert_silent_drop_after(pair, 3.0)


@pytest.mark.parametrize(
    "mechanism, response",
    [("FOO", "\0guest\0guest"), ("plain", "\0guest\0guest"), ("PLAIN", "guestguest")],
)
def test_unusable_mechanism_or_response_drops_silently(pair, mechanism, response):
    start_ok(pair, mechanism=mechanism, response=response)
    assert_silent_drop_after(pair, 3.0)


def tune_ok(pair, channel_max=2047, frame_max=131072, heartbeat=0):
    start_ok(pair)
    pair.one(commands.Connection.Tune)
    pair.send(0, commands.Connection.TuneOk(channel_max, frame_max, heartbeat))


def test_tune_offers_rabbitmq_defaults(pair):
    start_ok(pair)
    _, tune = pair.one(commands.Connection.Tune)
    assert (tune.channel_max, tune.frame_max, tune.heartbeat) == (2047, 131072, 60)


@pytest.mark.parametrize(
    "channel_max, frame_max",
    [(2047, 1000), (2047, 4095), (2047, 131073), (2047, 0), (0, 131072), (2048, 131072)],
)
def test_tune_ok_out_of_bounds_drops_silently(pair, channel_max, frame_max):
    tune_ok(pair, channel_max, frame_max)
    assert_silent_drop_after(pair, 3.0)


def test_tune_ok_at_the_minimum_frame_size_is_accepted(pair):
    tune_ok(pair, frame_max=4096)
    pair.send(0, commands.Connection.Open(virtual_host="/"))
    pair.one(commands.Connection.OpenOk)
    assert pair.server.frame_max == 4096


@pytest.mark.parametrize(
    "method",
    [commands.Connection.Open(virtual_host="/"), commands.Connection.Close(200, "bye", 0, 0)],
)
def test_out_of_order_method_before_tune_ok_drops_silently(pair, method):
    start_ok(pair)
    pair.one(commands.Connection.Tune)
    pair.send(0, method)
    assert_silent_drop_after(pair, 3.0)


def test_channel_open_before_connection_open_is_unexpected_frame(pair):
    tune_ok(pair)
    pair.send_raw(b"\x01\x00\x01\x00\x00\x00\x05\x00\x14\x00\x0a\x00\xce")
    assert_connection_close(pair, 505, "UNEXPECTED_FRAME - type 1, all octets = <<0,20,0,10,0>>")


def test_unknown_vhost_is_530_naming_connection_open(pair):
    tune_ok(pair)
    pair.send(0, commands.Connection.Open(virtual_host="nope-xyz"))
    assert_connection_close(pair, 530, "NOT_ALLOWED - vhost nope-xyz not found", (10, 40))
    pair.send(0, commands.Connection.CloseOk())
    assert pair.server.transport_closed


def test_second_tune_ok_is_channel_error_in_opening_state(pair):
    tune_ok(pair)
    pair.send(0, commands.Connection.TuneOk(2047, 131072, 0))
    assert_connection_close(
        pair, 504, "CHANNEL_ERROR - unexpected method in connection state opening", (10, 31)
    )


def test_large_frame_before_tune_is_dropped_silently(pair):
    pair.send_raw(PROTOCOL_HEADER)
    pair.received()
    pair.send_raw(struct.pack(">BHI", 1, 0, 5000))
    assert_silent_drop_after(pair, 3.0)


# ---- heartbeats -------------------------------------------------------------------


def heartbeats_in(frames):
    return sum(isinstance(f, heartbeat.Heartbeat) for _, f in frames)


def test_idle_connection_gets_a_heartbeat_every_half_interval():
    pair = ClientPair()
    pair.handshake(heartbeat=2)
    pair.received()
    pair.send_raw(frame.marshal(heartbeat.Heartbeat(), 0))
    pair.advance(0.99)
    assert heartbeats_in(pair.received()) == 0
    pair.advance(0.02)
    assert heartbeats_in(pair.received()) == 1
    pair.advance(1.0)
    assert heartbeats_in(pair.received()) == 1


def test_silent_client_is_dropped_at_three_intervals_without_a_frame():
    pair = ClientPair()
    pair.handshake(heartbeat=1)
    pair.events()
    pair.advance(2.99)
    assert not pair.server.transport_closed
    pair.received()
    pair.advance(0.02)
    assert pair.server.transport_closed
    assert not any(isinstance(f, commands.Connection.Close) for _, f in pair.received())
    (event,) = pair.events()
    assert isinstance(event, ConnectionClosed) and "missed heartbeats" in event.reason


def test_client_heartbeats_keep_the_connection_alive():
    pair = ClientPair()
    pair.handshake(heartbeat=1)
    for _ in range(20):
        pair.advance(0.5)
        pair.send_raw(frame.marshal(heartbeat.Heartbeat(), 0))
    assert pair.server.state is State.OPEN


def test_heartbeat_frame_on_a_channel_is_unexpected(opened):
    opened.send_raw(b"\x08\x00\x01\x00\x00\x00\x00\xce")
    assert_connection_close(opened, 505, "UNEXPECTED_FRAME - type 8, all octets = <<>>")


def test_heartbeat_with_a_payload_is_a_frame_error(opened):
    opened.send_raw(b"\x08\x00\x00\x00\x00\x00\x02\x01\x02\xce")
    assert_connection_close(
        opened, 501, "FRAME_ERROR - type 8, all octets = <<1,2>>: unknown_frame"
    )


# ---- channels ---------------------------------------------------------------------


def test_channel_open_and_client_close(opened):
    opened.open_channel(1)
    opened.send(1, commands.Channel.Close(200, "bye", 0, 0))
    assert opened.one(commands.Channel.CloseOk)[0] == 1
    assert [type(e) for e in opened.events()] == [ChannelOpened, ChannelClosed]
    opened.open_channel(1)


def test_second_channel_open(opened):
    opened.open_channel(1)
    opened.send(1, commands.Channel.Open())
    assert_connection_close(opened, 504, "CHANNEL_ERROR - second 'channel.open' seen", (20, 10))


@pytest.mark.parametrize(
    "method, ids",
    [
        (commands.Basic.Qos(), (60, 10)),
        (commands.Channel.Close(200, "", 0, 0), (20, 40)),
        (commands.Channel.CloseOk(), (20, 41)),
    ],
)
def test_method_on_a_channel_that_is_not_open(opened, method, ids):
    opened.send(1, method)
    assert_connection_close(opened, 504, "CHANNEL_ERROR - expected 'channel.open'", ids)


def test_channel_open_on_channel_zero(opened):
    opened.send(0, commands.Channel.Open())
    assert_connection_close(
        opened, 504, "CHANNEL_ERROR - unexpected method in connection state running", (20, 10)
    )


def test_channel_max_limits_open_channels_not_numbers():
    pair = ClientPair()
    pair.handshake(channel_max=2)
    pair.open_channel(11)
    pair.open_channel(65535)
    pair.send(3, commands.Channel.Open())
    assert_connection_close(
        pair,
        530,
        "NOT_ALLOWED - number of channels opened (2) has reached the negotiated channel_max (2)",
    )


@pytest.mark.parametrize(
    "method, ids",
    [
        (commands.Channel.FlowOk(active=True), (20, 21)),
        (commands.Channel.CloseOk(), (20, 41)),
        (commands.Basic.QosOk(), (60, 11)),
        (commands.Connection.TuneOk(2047, 131072, 0), (10, 31)),
    ],
)
def test_methods_a_client_may_not_send_on_an_open_channel(opened, method, ids):
    opened.open_channel(1)
    opened.send(1, method)
    assert_connection_close(opened, 503, "COMMAND_INVALID - unimplemented method", ids)


def test_channel_flow(opened):
    opened.open_channel(1)
    opened.send(1, commands.Channel.Flow(active=True))
    _, ok = opened.one(commands.Channel.FlowOk)
    assert ok.active is True
    opened.send(1, commands.Channel.Flow(active=False))
    assert_connection_close(opened, 540, "NOT_IMPLEMENTED - active=false", (20, 20))


def test_soft_error_closes_the_channel_and_ignores_it_until_close_ok(opened):
    opened.open_channel(1)
    opened.events()
    opened.server.fail(1, ChannelError(404, "no queue 'q' in vhost '/'", 50, 10))
    channel, close = opened.one(commands.Channel.Close)
    assert channel == 1
    assert (close.reply_code, close.reply_text) == (404, "NOT_FOUND - no queue 'q' in vhost '/'")
    assert (close.class_id, close.method_id) == (50, 10)
    assert opened.events() == [ChannelClosed(1)]
    opened.send(1, commands.Basic.Qos(prefetch_count=1))
    opened.publish(1, b"ignored")
    assert opened.methods() == [] and opened.events() == []
    opened.send(1, commands.Channel.Close(200, "", 0, 0))  # crossing closes
    opened.one(commands.Channel.CloseOk)
    opened.send(1, commands.Channel.CloseOk())
    opened.open_channel(1)


def test_commands_reach_the_broker_whole(opened):
    opened.open_channel(1)
    opened.events()
    opened.send(1, commands.Basic.Qos(prefetch_count=5))
    opened.publish(1, b"hello", routing_key="k")
    qos, publish = opened.events()
    assert isinstance(qos, CommandReceived) and qos.command.method.prefetch_count == 5
    assert publish.command.body == b"hello" and publish.command.header.body_size == 5


# ---- framing faults ---------------------------------------------------------------


def test_oversize_frame_is_501_then_nothing_is_read(opened):
    opened.send_raw(struct.pack(">BHI", 1, 1, 200000) + b"abc")
    assert_connection_close(
        opened, 501, "FRAME_ERROR - type 1, all octets = <<>>: {frame_too_large,200000,131064}"
    )
    opened.send(0, commands.Connection.CloseOk())
    assert not opened.server.transport_closed  # RabbitMQ drops after its pause regardless
    opened.advance(3.01)
    assert opened.server.transport_closed


def test_unknown_frame_type(opened):
    opened.send_raw(b"\x09\x00\x00\x00\x00\x00\x03\x01\x02\x03\xce")
    assert_connection_close(
        opened, 501, "FRAME_ERROR - type 9, all octets = <<1,2,3>>: unknown_frame"
    )


def test_content_frames_on_channel_zero(opened):
    opened.send(0, ContentBody(b"abc"))
    assert_connection_close(opened, 505, 'UNEXPECTED_FRAME - type 3, all octets = <<"abc">>')


@pytest.mark.parametrize("class_id, method_id", [(99, 10), (60, 99), (10, 99)])
def test_unknown_method_drops_the_connection_at_once(opened, class_id, method_id):
    opened.open_channel(1)
    opened.send_raw(struct.pack(">BHIHH", 1, 1, 4, class_id, method_id) + b"\xce")
    assert opened.server.transport_closed and opened.received() == []


def test_truncated_method_is_cannot_decode(opened):
    opened.open_channel(1)
    opened.send_raw(b"\x01\x00\x01\x00\x00\x00\x08\x00\x32\x00\x0a\x00\x00\x07\x74\xce")
    assert_connection_close(opened, 501, "FRAME_ERROR - cannot decode <<0,0,7,116>>", (50, 10))


def test_trailing_octets_are_cannot_decode(opened):
    opened.open_channel(1)
    payload = frame.marshal(commands.Basic.Qos(prefetch_count=1), 1)[7:-1] + b"\x00"
    opened.send_raw(struct.pack(">BHI", 1, 1, len(payload)) + payload + b"\xce")
    assert_connection_close(
        opened, 501, "FRAME_ERROR - cannot decode <<0,0,0,0,0,1,0,0>>", (60, 10)
    )


def test_malformed_utf8_shortstr(opened):
    opened.open_channel(1)
    args = b"\x00\x00" + b"\x02\xff\xfe" + b"\x00" + b"\x00\x00\x00\x00"
    payload = b"\x00\x32\x00\x0a" + args
    opened.send_raw(struct.pack(">BHI", 1, 1, len(payload)) + payload + b"\xce")
    assert_connection_close(opened, 501, "FRAME_ERROR - Malformed UTF-8 in shortstr")


def test_undecodable_method_on_channel_zero_is_internal_error(opened):
    opened.send_raw(b"\x01\x00\x00\x00\x00\x00\x06\x00\x0a\x00\x32\x00\xc8\xce")
    assert_connection_close(opened, 541, "INTERNAL_ERROR")


# ---- closing ----------------------------------------------------------------------


def test_client_close_gets_close_ok_and_waits_for_the_client(opened):
    opened.send(0, commands.Connection.Close(200, "bye", 0, 0))
    opened.one(commands.Connection.CloseOk)
    assert isinstance(opened.events()[0], ConnectionClosed)
    opened.send(1, commands.Channel.Open())  # ignored while closing
    assert opened.received() == []
    opened.advance(30.01)
    assert opened.server.transport_closed


def test_broker_close_waits_for_close_ok_up_to_the_heartbeat():
    pair = ClientPair()
    pair.handshake(heartbeat=5)
    pair.server.close(
        ReplyCode.CONNECTION_FORCED, "broker forced connection closure with reason 'shutdown'"
    )
    assert_connection_close(
        pair, 320, "CONNECTION_FORCED - broker forced connection closure with reason 'shutdown'"
    )
    pair.advance(4.99)
    assert not pair.server.transport_closed
    pair.advance(0.02)
    assert pair.server.transport_closed


def test_close_ok_finishes_the_broker_close(opened):
    opened.server.close(ReplyCode.CONNECTION_FORCED, "shutdown")
    opened.received()
    opened.send(0, commands.Connection.Close(200, "crossing", 0, 0))
    opened.one(commands.Connection.CloseOk)
    opened.send(0, commands.Connection.CloseOk())
    assert opened.server.transport_closed


# ---- sending ----------------------------------------------------------------------


def test_send_content_splits_bodies_at_the_negotiated_frame_max():
    pair = ClientPair()
    pair.handshake(frame_max=4096)
    props = commands.Basic.Properties(content_type="text/plain", headers={"x": 1})
    header = ContentHeader(60, 10000, props.marshal())
    pair.server.send_content(
        1, commands.Basic.Deliver("ctag", 1, False, "", "k"), header, b"x" * 10000
    )
    data = pair.server.data_to_send()
    frames = []
    while data:
        used, channel, value = frame.unmarshal(data)
        assert used <= 4096
        frames.append(value)
        data = data[used:]
    assert isinstance(frames[0], commands.Basic.Deliver)
    assert frames[1].properties == props and frames[1].body_size == 10000
    assert b"".join(f.value for f in frames[2:]) == b"x" * 10000
    assert len(frames) == 2 + 3
