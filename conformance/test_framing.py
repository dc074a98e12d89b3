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


def table(content: bytes) -> bytes:
    return struct.pack(">I", len(content)) + content


HEADERS_FLAG = struct.pack(">H", 0x2000)
MALFORMED_PROPERTIES = {
    "unknown type in headers": HEADERS_FLAG + table(b"\x01aZ\x00"),
    "type U in headers": HEADERS_FLAG + table(b"\x01aU\x00\x00"),
    "unknown type in a nested array": HEADERS_FLAG + table(b"\x01aA" + table(b"Z\x00")),
    "headers longer than the properties": HEADERS_FLAG + struct.pack(">I", 100) + b"\x01aI\0\0\0\1",
    "a continuation flag word": struct.pack(">HH", 0x0001, 0),
    "a continuation with flags": struct.pack(">HH", 0x0001, 0x8000),
    "a short string cut short": struct.pack(">H", 0x8000) + b"\x05ab",
    "bytes after the last property": struct.pack(">H", 0x8000) + b"\x02abzz",
    "a timestamp cut short": struct.pack(">H", 0x0040) + b"\x00\x00",
    "no property flags": b"",
    "half the property flags": b"\x80",
}


@pytest.mark.parametrize("properties", MALFORMED_PROPERTIES.values(), ids=MALFORMED_PROPERTIES)
def test_properties_that_do_not_decode_are_541_naming_no_method(opened, properties):
    """RabbitMQ's channel decodes every publish's properties and crashes on these."""
    opened.open_channel(1)
    content_header = raw_frame(2, 1, struct.pack(">HHQ", 60, 0, 1) + properties)
    opened.send_raw(frame.marshal(PUBLISH, 1) + content_header + raw_frame(3, 1, b"x"))
    assert opened.expect_connection_error(timeout=10) == (541, "INTERNAL_ERROR", 0, 0)


@pytest.mark.parametrize(
    "properties",
    [
        struct.pack(">H", 0x2000) + table(b"\x01aL" + bytes(8)),  # 'L' decodes as a long
        struct.pack(">H", 0x0002),  # a flag past the last property is ignored
        struct.pack(">H", 0x8000) + b"\x02\xff\xfe",  # short strings are not checked as UTF-8
    ],
    ids=["type L", "flag bit 1", "not UTF-8"],
)
def test_odd_properties_that_decode_are_delivered_as_sent(opened, properties):
    opened.open_channel(1)
    queue = opened.call_ok(
        1, commands.Queue.Declare(queue="", exclusive=True), commands.Queue.DeclareOk
    ).queue
    publish = commands.Basic.Publish(exchange="", routing_key=queue)
    content_header = struct.pack(">HHQ", 60, 0, 1) + properties
    opened.send_raw(
        frame.marshal(publish, 1) + raw_frame(2, 1, content_header) + raw_frame(3, 1, b"x")
    )
    opened.send(1, commands.Basic.Get(queue=queue, no_ack=True))
    opened.expect(commands.Basic.GetOk)
    assert opened.read_raw_frame() == (2, 1, content_header)


@pytest.mark.parametrize("size", [0, 11])
def test_a_content_header_too_short_for_its_fixed_fields(opened, size):
    opened.open_channel(1)
    payload = struct.pack(">HHQ", 60, 0, 1)[:size]
    opened.send_raw(frame.marshal(PUBLISH, 1) + raw_frame(2, 1, payload))
    octets = ",".join(str(b) for b in payload)
    text = f"FRAME_ERROR - type 2, all octets = <<{octets}>>: unknown_frame"
    assert opened.expect_connection_error(timeout=10) == (501, text, 0, 0)


ARGUMENTS_TABLES = {
    "unknown type": table(b"\x01aZ\x00"),
    "type U": table(b"\x01aU\x00\x00"),
    "unknown type nested": table(b"\x01aF" + table(b"\x01bZ")),
    "unknown type in an array": table(b"\x01aA" + struct.pack(">I", 1) + b"Z"),
    "a value cut short": table(b"\x01aI\x00\x00"),
    "a key longer than the table": table(b"\x09aI"),
}


@pytest.mark.parametrize("arguments", ARGUMENTS_TABLES.values(), ids=ARGUMENTS_TABLES)
def test_arguments_whose_contents_do_not_decode_drop_the_connection(opened, arguments):
    """The table's length fits, its contents do not: RabbitMQ's reader dies."""
    opened.open_channel(1)
    payload = b"\x00\x32\x00\x0a\x00\x00\x01q\x00" + arguments
    opened.send_raw(raw_frame(1, 1, payload))
    _, before_eof = opened.closed_within(10)
    assert before_eof == b""


def test_arguments_longer_than_the_method_are_501(opened):
    opened.open_channel(1)
    arguments = struct.pack(">I", 50) + b"\x01aI\x00\x00\x00\x01"
    opened.send_raw(raw_frame(1, 1, b"\x00\x32\x00\x0a\x00\x00\x01q\x00" + arguments))
    code, text, class_id, method_id = opened.expect_connection_error(timeout=10)
    assert (code, class_id, method_id) == (501, 50, 10)
    assert text.startswith("FRAME_ERROR - cannot decode <<0,0,1,113,0,0,0,0,50,")
