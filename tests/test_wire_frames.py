import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pamqp import commands
from pamqp import frame as pframe
from pamqp.body import ContentBody

from amqpd.errors import FatalFrameError, ReplyCode
from amqpd.wire.frames import (
    FRAME_BODY,
    FRAME_METHOD,
    HEARTBEAT_FRAME,
    FrameReader,
    body_frames,
)


def method_bytes(channel=1):
    return pframe.marshal(commands.Basic.Qos(prefetch_count=10), channel)


def test_reads_a_frame_fed_one_byte_at_a_time():
    data = method_bytes() + HEARTBEAT_FRAME
    reader = FrameReader(131072)
    frames = []
    for i in range(len(data)):
        reader.feed(data[i : i + 1])
        while (f := reader.next_frame()) is not None:
            frames.append(f)
    assert [(f.type, f.channel) for f in frames] == [(FRAME_METHOD, 1), (8, 0)]
    assert frames[0].payload == data[7 : len(method_bytes()) - 1]
    assert reader.buffered == 0


def test_incomplete_frame_waits_for_more():
    reader = FrameReader(131072)
    reader.feed(method_bytes()[:-1])
    assert reader.next_frame() is None


def test_oversize_frame_is_refused_from_its_header_alone():
    reader = FrameReader(4096)
    reader.feed(struct.pack(">BHI", FRAME_BODY, 1, 4097))  # no payload yet
    with pytest.raises(FatalFrameError) as err:
        reader.next_frame()
    assert err.value.code == ReplyCode.FRAME_ERROR
    assert err.value.reply_text == (
        "FRAME_ERROR - type 3, all octets = <<>>: {frame_too_large,4097,4088}"
    )


def test_payload_of_exactly_frame_max_is_accepted_as_rabbitmq_does():
    reader = FrameReader(4096)
    reader.feed(struct.pack(">BHI", FRAME_BODY, 1, 4096) + b"x" * 4096 + b"\xce")
    assert len(reader.next_frame().payload) == 4096


def test_bad_frame_end_is_fatal_frame_error_quoting_the_payload():
    reader = FrameReader(131072)
    qos = pframe.marshal(commands.Basic.Qos(prefetch_count=1), 1)
    reader.feed(qos[:-1] + b"\xcd")
    with pytest.raises(FatalFrameError) as err:
        reader.next_frame()
    assert err.value.code == ReplyCode.FRAME_ERROR
    # Erlang's ~p wraps the term at 80 columns, and RabbitMQ's text keeps the
    # wrap: this is the text RabbitMQ 3.10 sent for the same frame.
    assert err.value.reply_text == (
        "FRAME_ERROR - type 1, all octets = <<0,60,0,10,0,0,0,0,0,1,0>>: "
        "{invalid_frame_end_marker,\n" + " " * 51 + "205}"
    )


@given(body=st.binary(max_size=20000), frame_max=st.integers(4096, 9000))
def test_body_frames_split_at_frame_max_and_reassemble(body, frame_max):
    frames = body_frames(3, body, frame_max)
    reader = FrameReader(frame_max)
    reader.feed(b"".join(frames))
    parts = []
    while (f := reader.next_frame()) is not None:
        assert f.type == FRAME_BODY and f.channel == 3
        assert len(f.payload) + 8 <= frame_max
        parts.append(f.payload)
    assert b"".join(parts) == body
    assert len(frames) == -(-len(body) // (frame_max - 8))
    size = frame_max - 8
    chunks = [body[i : i + size] for i in range(0, len(body), size)]
    assert frames == [pframe.marshal(ContentBody(chunk), 3) for chunk in chunks]  # pamqp's bytes
