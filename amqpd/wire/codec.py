"""Method and content-header (de)coding on top of pamqp.

Methods are decoded into pamqp command objects. Content headers are split into
the few fixed fields the broker needs (class, body size) and the encoded
property bytes, which stay raw until a feature needs to read them.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from pamqp import commands, decode, encode, exceptions
from pamqp.base import Frame as Method

from amqpd.errors import AMQPConnectionError, ReplyCode
from amqpd.wire.frames import FRAME_HEADER, FRAME_METHOD, frame

_METHOD_INDEX = struct.Struct(">HH")
_HEADER_FIXED = struct.Struct(">HHQ")

# Classes AMQP 0-9-1 defines, by id; a class id outside this set is unknown.
KNOWN_CLASSES = frozenset({10, 20, 40, 50, 60, 85, 90})
# The only class that carries content in AMQP 0-9-1.
BASIC_CLASS = 60


def method_ids(method: Method) -> tuple[int, int]:
    return method.index >> 16, method.index & 0xFFFF


def decode_method(payload: bytes) -> Method:
    """Decode a method frame's payload; malformed input is a connection error."""
    if len(payload) < 4:
        raise AMQPConnectionError(ReplyCode.FRAME_ERROR, "method frame too short")
    class_id, method_id = _METHOD_INDEX.unpack_from(payload)
    cls = commands.INDEX_MAPPING.get((class_id << 16) | method_id)
    if cls is None:
        if class_id not in KNOWN_CLASSES:
            raise AMQPConnectionError(
                ReplyCode.NOT_IMPLEMENTED, f"unknown class id {class_id}", class_id, method_id
            )
        raise AMQPConnectionError(
            ReplyCode.COMMAND_INVALID, f"unknown method id {method_id}", class_id, method_id
        )
    method = cls()
    try:
        method.unmarshal(payload[4:])
    except (struct.error, ValueError, IndexError, exceptions.PAMQPException, UnicodeDecodeError):
        raise AMQPConnectionError(
            ReplyCode.FRAME_ERROR,
            f"cannot decode {cls.name}",
            class_id,
            method_id,
        ) from None
    return method


def encode_method(channel: int, method: Method) -> bytes:
    return frame(FRAME_METHOD, channel, _METHOD_INDEX.pack(*method_ids(method)) + method.marshal())


@dataclass(frozen=True, slots=True)
class ContentHeader:
    """A content header with its properties kept as the publisher encoded them."""

    class_id: int
    body_size: int
    raw_properties: bytes

    @classmethod
    def parse(cls, payload: bytes) -> ContentHeader:
        if len(payload) < _HEADER_FIXED.size + 2:
            raise AMQPConnectionError(ReplyCode.FRAME_ERROR, "content header frame too short")
        class_id, _weight, body_size = _HEADER_FIXED.unpack_from(payload)
        return cls(class_id, body_size, payload[_HEADER_FIXED.size :])

    def properties(self) -> commands.Basic.Properties:
        """Decode the properties: only for features that must read them."""
        offset, flags = 0, 0
        index = 0
        data = self.raw_properties
        while True:
            (partial,) = struct.unpack_from(">H", data, offset)
            offset += 2
            flags |= partial << (index * 16)
            if not partial & 1:
                break
            index += 1
        props = commands.Basic.Properties()
        props.unmarshal(flags, data[offset:])
        return props

    def with_body_size(self, body_size: int) -> ContentHeader:
        return ContentHeader(self.class_id, body_size, self.raw_properties)

    def encode(self, channel: int) -> bytes:
        """The header frame for a delivery, reusing the publisher's property bytes."""
        fixed = _HEADER_FIXED.pack(self.class_id, 0, self.body_size)
        return frame(FRAME_HEADER, channel, fixed + self.raw_properties)


def encode_table(table: dict) -> bytes:
    """Encode a field table, with its length prefix."""
    return encode.field_table(table)


def decode_table(data: bytes) -> dict:
    """Decode a field table that includes its 4-byte length prefix."""
    _consumed, table = decode.field_table(data)
    return table
