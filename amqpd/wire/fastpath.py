"""Hand-written codecs for the methods on the hot path: publish, deliver, ack.

pamqp's generic (de)marshalling walks each field by name; these do the same
work with a few struct calls. tests/test_wire_fastpath.py holds them
byte-for-byte to pamqp.
"""

from __future__ import annotations

import struct

from pamqp import commands

from amqpd.wire.frames import FRAME_METHOD

_FRAME_HEAD = struct.Struct(">BHI")
_DELIVER_INDEX = struct.pack(">HH", 60, 60)
_U16 = struct.Struct(">H")
_U64 = struct.Struct(">Q")
_U64_BIT = struct.Struct(">QB")

PUBLISH_INDEX = (60 << 16) | 40
ACK_INDEX = (60 << 16) | 80


def _shortstr(data: bytes, pos: int) -> tuple[str, int]:
    length = data[pos]
    end = pos + 1 + length
    if end > len(data):
        raise ValueError("truncated shortstr")
    return data[pos + 1 : end].decode("utf-8"), end


def decode_publish(args: bytes) -> commands.Basic.Publish:
    """ticket, exchange, routing-key, then the mandatory and immediate bits."""
    if len(args) < 5:
        raise ValueError("truncated basic.publish")
    exchange, pos = _shortstr(args, 2)
    routing_key, pos = _shortstr(args, pos)
    if pos + 1 != len(args):
        raise ValueError("basic.publish length")
    bits = args[pos]
    method = commands.Basic.Publish.__new__(commands.Basic.Publish)
    method.ticket = _U16.unpack_from(args)[0]
    method.exchange = exchange
    method.routing_key = routing_key
    method.mandatory = bool(bits & 1)
    method.immediate = bool(bits & 2)
    return method


def decode_ack(args: bytes) -> commands.Basic.Ack:
    if len(args) != 9:
        raise ValueError("basic.ack length")
    tag, bits = _U64_BIT.unpack(args)
    method = commands.Basic.Ack.__new__(commands.Basic.Ack)
    method.delivery_tag = tag
    method.multiple = bool(bits & 1)
    return method


def deliver_frame(
    channel: int,
    consumer_tag: str,
    delivery_tag: int,
    redelivered: bool,
    exchange: str,
    routing_key: str,
) -> bytes:
    """A whole basic.deliver method frame."""
    ctag = consumer_tag.encode("utf-8")
    xname = exchange.encode("utf-8")
    rkey = routing_key.encode("utf-8")
    payload = b"".join(
        (
            _DELIVER_INDEX,
            bytes((len(ctag),)),
            ctag,
            _U64.pack(delivery_tag),
            b"\x01" if redelivered else b"\x00",
            bytes((len(xname),)),
            xname,
            bytes((len(rkey),)),
            rkey,
        )
    )
    return _FRAME_HEAD.pack(FRAME_METHOD, channel, len(payload)) + payload + b"\xce"
