"""Method and content-header (de)coding on top of pamqp.

Methods are decoded into pamqp command objects. Content headers are split into
the few fixed fields the broker needs (class, body size) and the encoded
property bytes, which stay raw until a feature needs to read them.
"""

from __future__ import annotations

import functools
import inspect
import struct
from dataclasses import dataclass

from pamqp import commands, decode, encode, exceptions
from pamqp.base import Frame as Method

from amqpd.errors import AMQPConnectionError, DropConnection, ReplyCode
from amqpd.wire import access, fastpath, fieldtable
from amqpd.wire.erlang import binary_w, frame_error_text
from amqpd.wire.frames import FRAME_HEADER, FRAME_METHOD, frame

_METHOD_INDEX = struct.Struct(">HH")
_HEADER_FIXED = struct.Struct(">HHQ")
# pamqp's methods and the access class, which pamqp dropped.
_METHODS = {**commands.INDEX_MAPPING, **access.INDEX_MAPPING}


def method_ids(method: Method) -> tuple[int, int]:
    return method.index >> 16, method.index & 0xFFFF


def decode_method(payload: bytes) -> Method:
    """Decode a method frame's payload with RabbitMQ's verdicts on bad input.

    Too short to name a method: 501 unknown_frame. An unknown class or method id:
    RabbitMQ's reader dies and the socket drops without a word, so we drop too.
    Arguments that do not decode exactly (short, trailing bytes): 501 cannot decode.
    """
    if len(payload) < 4:
        raise AMQPConnectionError(
            ReplyCode.FRAME_ERROR, frame_error_text(FRAME_METHOD, payload, "unknown_frame")
        )
    class_id, method_id = _METHOD_INDEX.unpack_from(payload)
    cls = _METHODS.get((class_id << 16) | method_id)
    if cls is None:
        raise DropConnection(f"unknown method id {{{class_id},{method_id}}}")
    args = payload[4:]
    fast = _FAST_DECODERS.get(cls.index)
    try:
        if fast is not None:
            return fast(args)
        method = cls()
        _unmarshal_exact(method, args)
    except UnicodeDecodeError:
        raise AMQPConnectionError(ReplyCode.FRAME_ERROR, "Malformed UTF-8 in shortstr") from None
    except fieldtable.MalformedTable as err:
        # RabbitMQ's reader dies on a table that fits its length but not its contents.
        raise DropConnection(f"malformed field table in {cls.name}: {err}") from None
    except (
        struct.error,
        ValueError,
        IndexError,
        TypeError,  # and fieldtable.TableError, a ValueError (nested too deep, say)
        exceptions.PAMQPException,
    ):
        raise AMQPConnectionError(
            ReplyCode.FRAME_ERROR, f"cannot decode {binary_w(args)}", class_id, method_id
        ) from None
    return method


_FAST_DECODERS = {
    fastpath.PUBLISH_INDEX: fastpath.decode_publish,
    fastpath.ACK_INDEX: fastpath.decode_ack,
}


def _unmarshal_exact(method: Method, data: bytes) -> None:
    """pamqp's field walk, but every octet must be used: short or long input is an error.

    pamqp slices without checking lengths, so a truncated string decodes short
    instead of failing; tracking the position catches that and trailing bytes.
    """
    pos, bit_index, in_bits = 0, 0, False
    for name in method.__slots__:
        kind = method.amqp_type(name)
        if in_bits and (kind != "bit" or bit_index == 8):
            pos, bit_index, in_bits = pos + 1, 0, False
        if kind == "bit":
            if pos >= len(data):
                raise ValueError("truncated bit field")
            value = bool(data[pos] & (1 << bit_index))
            bit_index, in_bits = bit_index + 1, True
        elif kind == "table":
            # Our own table decoder keeps the wire types RabbitMQ's errors name.
            typed, pos = fieldtable.decode_table(data, pos)
            value = fieldtable.ArgTable.from_typed(typed)
        else:
            used, value = decode.by_type(data[pos:], kind)
            pos += used
            if pos > len(data):
                raise ValueError("truncated field")
        setattr(method, name, value)
    if in_bits:
        pos += 1
    if pos != len(data):
        raise ValueError("trailing octets")


def unchecked(cls: type[Method], **fields: object) -> Method:
    """A method built without pamqp's name checks (see _marshal); unset fields
    take the defaults of the method's constructor."""
    defaults = _constructor_defaults(cls)
    method = cls.__new__(cls)
    for name in cls.__slots__:
        setattr(method, name, fields.get(name, defaults.get(name)))
    return method


@functools.cache
def _constructor_defaults(cls: type[Method]) -> dict[str, object]:
    parameters = inspect.signature(cls.__init__).parameters.values()
    return {p.name: p.default for p in parameters if p.default is not inspect.Parameter.empty}


def encode_method(channel: int, method: Method) -> bytes:
    return frame(FRAME_METHOD, channel, _METHOD_INDEX.pack(*method_ids(method)) + _marshal(method))


def _marshal(method: Method) -> bytes:
    """pamqp's field walk without its name validation.

    pamqp refuses exchange and queue names RabbitMQ accepts ("a b", "*", "é"),
    and a broker must be able to echo back any name a client was allowed to use.
    """
    output: list[bytes] = []
    bits, bit_index = 0, -1
    for name in method.__slots__:
        kind = method.amqp_type(name)
        value = getattr(method, name, 0)
        if kind == "bit":
            if bit_index == -1 or bit_index == 8:
                if bit_index == 8:
                    output.append(bytes((bits,)))
                bits, bit_index = 0, 0
            if value:
                bits |= 1 << bit_index
            bit_index += 1
            continue
        if bit_index != -1:
            output.append(bytes((bits,)))
            bits, bit_index = 0, -1
        output.append(encode.by_type(value, kind))
    if bit_index != -1:
        output.append(bytes((bits,)))
    return b"".join(output)


@dataclass(frozen=True, slots=True)
class ContentHeader:
    """A content header with its properties kept as the publisher encoded them."""

    class_id: int
    body_size: int
    raw_properties: bytes
    weight: int = 0

    @classmethod
    def parse(cls, payload: bytes) -> ContentHeader:
        if len(payload) < _HEADER_FIXED.size:  # short properties fail when decoded
            raise AMQPConnectionError(
                ReplyCode.FRAME_ERROR, frame_error_text(FRAME_HEADER, payload, "unknown_frame")
            )
        class_id, weight, body_size = _HEADER_FIXED.unpack_from(payload)
        return cls(class_id, body_size, payload[_HEADER_FIXED.size :], weight)

    def encode(self, channel: int) -> bytes:
        """The header frame for a delivery, reusing the publisher's property bytes."""
        fixed = _HEADER_FIXED.pack(self.class_id, 0, self.body_size)
        return frame(FRAME_HEADER, channel, fixed + self.raw_properties)
