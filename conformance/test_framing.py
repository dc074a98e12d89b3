"""Framing faults after the handshake: the exact close RabbitMQ sends, or none."""

import struct

import pytest
from pamqp import commands, frame, header
from pamqp.body import ContentBody

from conformance.rawclient import raw_frame

EXPECTED_METHOD = "UNEXPECTED_FRAME - expected method frame, got non method frame instead"
EXPECTED_HEADER = (
    "UNEXPECTED_FRAME - expected content header for class 60, got non content header frame instead"
)
EXPECTED_BODY = "UNEXPECTED_FRAME - expected content body, got non content body frame instead"


def test_oversize_frame_is_refused_from_its_header(opened):
    opened.send_raw(struct.pack(">BHI", 1, 1, 200000) + b"abc")
    assert opened.expect_connection_error(timeout=10) == (
        501,
        "FRAME_ERROR - type 1, all octets = <<>>: {frame_too_large,200000,131064}",
        0,
        0,
    )


def test_bad_frame_end_octet(opened):
    opened.open_channel(1)
    qos = frame.marshal(commands.Basic.Qos(prefetch_count=1), 1)
    opened.send_raw(qos[:-1] + b"\xcd")
    assert opened.expect_connection_error(timeout=10) == (
        501,
        "FRAME_ERROR - type 1, all octets = <<0,60,0,10,0,0,0,0,0,1,0>>: "
        "{invalid_frame_end_marker,\n" + " " * 51 + "205}",
        0,
        0,
    )


def test_unknown_frame_type(opened):
    opened.send_raw(raw_frame(9, 0, b"\x01\x02\x03"))
    assert opened.expect_connection_error(timeout=10) == (
        501,
        "FRAME_ERROR - type 9, all octets = <<1,2,3>>: unknown_frame",
        0,
        0,
    )


@pytest.mark.parametrize("class_id, method_id", [(99, 10), (60, 99), (10, 99), (30, 12)])
def test_unknown_method_drops_the_connection_without_a_frame(opened, class_id, method_id):
    opened.open_channel(1)
    channel = 0 if class_id == 10 else 1
    opened.send_raw(raw_frame(1, channel, struct.pack(">HH", class_id, method_id)))
    _, before_eof = opened.closed_within(10)
    assert before_eof == b""


def test_heartbeat_on_a_non_zero_channel(opened):
    opened.open_channel(1)
    opened.send_raw(raw_frame(8, 1, b""))
    assert opened.expect_connection_error(timeout=10) == (
        505,
        "UNEXPECTED_FRAME - type 8, all octets = <<>>",
        0,
        0,
    )


def test_heartbeat_with_a_payload(opened):
    opened.send_raw(raw_frame(8, 0, b"\x01\x02"))
    assert opened.expect_connection_error(timeout=10) == (
        501,
        "FRAME_ERROR - type 8, all octets = <<1,2>>: unknown_frame",
        0,
        0,
    )


def test_content_header_on_channel_zero(opened):
    opened.send(0, header.ContentHeader(0, 3, commands.Basic.Properties()))
    assert opened.expect_connection_error(timeout=10) == (
        505,
        "UNEXPECTED_FRAME - type 2, all octets = <<0,60,0,0,0,0,0,0,0,0,0,3,0,0>>",
        0,
        0,
    )


PUBLISH = commands.Basic.Publish(exchange="", routing_key="amqpd-conformance")


def props_header(size, class_id=60):
    data = frame.marshal(header.ContentHeader(0, size, commands.Basic.Properties()), 1)
    return data[:7] + struct.pack(">H", class_id) + data[9:]


@pytest.mark.parametrize(
    "frames, expected",
    [
        (lambda: [props_header(5)], (505, EXPECTED_METHOD, 0, 0)),
        (lambda: [frame.marshal(ContentBody(b"abc"), 1)], (505, EXPECTED_METHOD, 0, 0)),
        (
            lambda: [frame.marshal(PUBLISH, 1), frame.marshal(commands.Basic.Qos(), 1)],
            (505, EXPECTED_HEADER, 60, 40),
        ),
        (
            lambda: [frame.marshal(PUBLISH, 1), frame.marshal(ContentBody(b"abc"), 1)],
            (505, EXPECTED_HEADER, 60, 40),
        ),
        (
            lambda: [
                frame.marshal(PUBLISH, 1),
                props_header(10),
                frame.marshal(commands.Basic.Qos(), 1),
            ],
            (505, EXPECTED_BODY, 60, 40),
        ),
        (
            lambda: [
                frame.marshal(PUBLISH, 1),
                props_header(5),
                frame.marshal(ContentBody(b"0123456789"), 1),
                frame.marshal(commands.Basic.Qos(), 1),
            ],
            (505, EXPECTED_BODY, 60, 40),
        ),
        (
            lambda: [frame.marshal(PUBLISH, 1), props_header(10, class_id=50)],
            (
                505,
                "UNEXPECTED_FRAME - expected content header for class 60, "
                "got one for class 50 instead",
                60,
                40,
            ),
        ),
    ],
    ids=[
        "header-first",
        "body-first",
        "method-for-header",
        "body-for-header",
        "method-for-body",
        "overlong-body",
        "wrong-class",
    ],
)
def test_content_frames_out_of_order(opened, frames, expected):
    opened.open_channel(1)
    opened.send_raw(b"".join(frames()))
    assert opened.expect_connection_error(timeout=10) == expected


def test_truncated_method_arguments(opened):
    opened.open_channel(1)
    opened.send_raw(raw_frame(1, 1, b"\x00\x32\x00\x0a\x00\x00\x07\x74"))
    assert opened.expect_connection_error(timeout=10) == (
        501,
        "FRAME_ERROR - cannot decode <<0,0,7,116>>",
        50,
        10,
    )


def test_trailing_octets_after_method_arguments(opened):
    opened.open_channel(1)
    payload = frame.marshal(commands.Basic.Qos(prefetch_count=1), 1)[7:-1] + b"\x00"
    opened.send_raw(raw_frame(1, 1, payload))
    assert opened.expect_connection_error(timeout=10) == (
        501,
        "FRAME_ERROR - cannot decode <<0,0,0,0,0,1,0,0>>",
        60,
        10,
    )


def test_malformed_utf8_in_a_short_string(opened):
    opened.open_channel(1)
    args = b"\x00\x00" + b"\x02\xff\xfe" + b"\x00" + b"\x00\x00\x00\x00"
    opened.send_raw(raw_frame(1, 1, b"\x00\x32\x00\x0a" + args))
    assert opened.expect_connection_error(timeout=10) == (
        501,
        "FRAME_ERROR - Malformed UTF-8 in shortstr",
        0,
        0,
    )


def test_undecodable_method_on_channel_zero(opened):
    opened.send_raw(raw_frame(1, 0, b"\x00\x0a\x00\x32\x00\xc8"))
    assert opened.expect_connection_error(timeout=10) == (541, "INTERNAL_ERROR", 0, 0)
