"""The hand-written hot-path codecs agree with pamqp byte for byte.

Every expected frame here is pamqp's encoding (``frame.marshal``), and what
our decoders read is bytes pamqp wrote.
"""

import struct
from unittest import mock

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pamqp import commands, frame, header

from amqpd.errors import AMQPConnectionError
from amqpd.wire import fastpath
from amqpd.wire.codec import ContentHeader, decode_method, encode_method

shortstr = st.text(max_size=40).filter(lambda s: len(s.encode()) < 256)


@given(
    channel=st.integers(1, 65535),
    ctag=shortstr,
    tag=st.integers(0, 2**63 - 1),
    redelivered=st.booleans(),
    exchange=shortstr,
    key=shortstr,
)
def test_deliver_frame_matches_pamqp(channel, ctag, tag, redelivered, exchange, key):
    method = _deliver(ctag, tag, redelivered, exchange, key)
    expected = pamqp_frame(method, channel)
    assert fastpath.deliver_frame(channel, ctag, tag, redelivered, exchange, key) == expected
    assert encode_method(channel, method) == expected


def pamqp_frame(method, channel):
    """pamqp's encoding of the method frame, without pamqp's name validation,
    which refuses exchange names RabbitMQ accepts ("*", "a b")."""
    with mock.patch.object(type(method), "validate", lambda self: None):
        return frame.marshal(method, channel)


def _deliver(ctag, tag, redelivered, exchange, key):
    # Built without pamqp's name validation, which refuses names RabbitMQ accepts.
    method = commands.Basic.Deliver.__new__(commands.Basic.Deliver)
    method.consumer_tag, method.delivery_tag, method.redelivered = ctag, tag, redelivered
    method.exchange, method.routing_key = exchange, key
    return method


@given(exchange=shortstr, key=shortstr, mandatory=st.booleans(), immediate=st.booleans())
def test_publish_decodes_like_pamqp(exchange, key, mandatory, immediate):
    sent = commands.Basic.Publish.__new__(commands.Basic.Publish)
    sent.ticket, sent.exchange, sent.routing_key = 0, exchange, key
    sent.mandatory, sent.immediate = mandatory, immediate
    data = pamqp_frame(sent, 1)
    assert encode_method(1, sent) == data
    got = decode_method(data[7:-1])
    assert isinstance(got, commands.Basic.Publish)
    assert (got.exchange, got.routing_key, got.mandatory, got.immediate) == (
        exchange,
        key,
        mandatory,
        immediate,
    )


@given(tag=st.integers(0, 2**63 - 1), multiple=st.booleans())
def test_ack_decodes_like_pamqp(tag, multiple):
    payload = frame.marshal(commands.Basic.Ack(tag, multiple), 1)[7:-1]
    got = decode_method(payload)
    assert (got.delivery_tag, got.multiple) == (tag, multiple)


@pytest.mark.parametrize(
    "args",
    [b"", b"\x00\x00\x05ab", b"\x00\x00\x00\x00", b"\x00\x00\x00\x00\x00\x00"],
)
def test_malformed_publish_is_cannot_decode(args):
    with pytest.raises(AMQPConnectionError) as err:
        decode_method(struct.pack(">HH", 60, 40) + args)
    assert err.value.detail.startswith("cannot decode") and err.value.code == 501


def test_bad_utf8_in_publish_is_the_shortstr_error():
    with pytest.raises(AMQPConnectionError) as err:
        decode_method(struct.pack(">HH", 60, 40) + b"\x00\x00\x02\xff\xfe\x00\x00")
    assert err.value.detail == "Malformed UTF-8 in shortstr"


@given(
    method=st.sampled_from(
        [
            commands.Basic.Deliver("ctag", 7, True, "ex", "rk"),
            commands.Basic.GetOk(3, False, "ex", "rk", 9),
            commands.Basic.Return(312, "NO_ROUTE", "ex", "rk"),
            commands.Queue.DeclareOk("q", 1, 2),
            commands.Basic.Nack(5, True, False),
            commands.Basic.Qos(0, 10, True),
            commands.Connection.Close(320, "bye", 0, 0),
            commands.Exchange.Declare(0, "x", "topic", False, True, False, True, False, {"a": 1}),
        ]
    )
)
def test_method_encoding_matches_pamqp(method):
    assert encode_method(3, method) == frame.marshal(method, 3)


@given(
    channel=st.integers(1, 65535),
    body_size=st.integers(0, 2**63 - 1),
    props=st.builds(
        commands.Basic.Properties,
        content_type=st.none() | shortstr,
        delivery_mode=st.none() | st.sampled_from([1, 2]),
        priority=st.none() | st.integers(0, 255),
        headers=st.none() | st.dictionaries(shortstr, st.integers(-(2**31), 2**31 - 1) | shortstr),
        message_id=st.none() | shortstr,
    ),
)
def test_content_header_frame_matches_pamqp(channel, body_size, props):
    # A delivery re-sends the publisher's property bytes as they came: given
    # pamqp's, the frame must be pamqp's.
    expected = frame.marshal(header.ContentHeader(0, body_size, props), channel)
    raw = ContentHeader.parse(expected[7:-1])
    assert (raw.class_id, raw.body_size, raw.raw_properties) == (60, body_size, props.marshal())
    assert raw.encode(channel) == expected


def test_names_pamqp_would_refuse_are_echoed():
    method = commands.Basic.Return.__new__(commands.Basic.Return)
    method.reply_code, method.reply_text = 312, "NO_ROUTE"
    method.exchange, method.routing_key = "a b*é", "k"
    assert b"a b*\xc3\xa9" in encode_method(1, method)
