"""AMQP 0-8, as RabbitMQ 3.10 still speaks it to old clients.

Two protocol headers ask for it. The methods are 0-9-1's with a few
differences that matter to a broker: connection.close and close-ok are
methods 60 and 61 (0-9-1's blocked and unblocked), 10/50 is the server's
connection.redirect, channel.open-ok carries no field, and the methods
0-9-1 added (confirms, basic.nack, exchange-to-exchange bindings, blocked,
update-secret) do not exist: RabbitMQ's reader dies on them.
"""

from __future__ import annotations

import struct

from pamqp import commands
from pamqp.base import Frame as Method

from amqpd.errors import AMQPConnectionError, DropConnection, ReplyCode
from amqpd.wire.codec import encode_method, unchecked
from amqpd.wire.frames import FRAME_METHOD, frame

HEADERS = frozenset({b"AMQP\x01\x01\x08\x00", b"AMQP\x01\x01\x09\x01"})
# connection.start says 8-0 (the 0-8 spec's own numbering).
VERSION = (8, 0)

_IDS = struct.Struct(">HH")
_CLOSE, _CLOSE_OK, _REDIRECT = (10, 60), (10, 61), (10, 50)
_TO_091 = {_CLOSE: b"\x00\x0a\x00\x32", _CLOSE_OK: b"\x00\x0a\x00\x33"}
_UNKNOWN = frozenset({
    (10, 51), (10, 70), (10, 71),  # 0-9-1's close-ok number, update-secret(-ok)
    (40, 30), (40, 31), (40, 40), (40, 51),  # exchange.bind / unbind
    (60, 120),  # basic.nack
    (85, 10), (85, 11),  # confirm.select(-ok)
})  # fmt: skip


def inbound(payload: bytes, state: str) -> bytes:
    """A 0-8 method frame's payload with 0-9-1's method ids, for the codec."""
    ids = _IDS.unpack_from(payload) if len(payload) >= 4 else None
    if ids in _TO_091:
        return _TO_091[ids] + payload[4:]
    if ids in _UNKNOWN:
        raise DropConnection(f"unknown AMQP 0-8 method id {{{ids[0]},{ids[1]}}}")
    if ids == _REDIRECT:
        raise AMQPConnectionError(
            ReplyCode.CHANNEL_ERROR, f"unexpected method in connection state {state}", *ids
        )
    return payload


def check_channel_method(payload: bytes) -> None:
    """A method 0-8 does not have, on a channel: dropped as RabbitMQ's reader is."""
    if len(payload) >= 4 and _IDS.unpack_from(payload) in _UNKNOWN:
        raise DropConnection("unknown AMQP 0-8 method")


def encode(channel: int, method: Method) -> bytes | None:
    """The 0-8 frame of a method whose 0-8 form differs, else None."""
    if isinstance(method, commands.Channel.OpenOk):
        return frame(FRAME_METHOD, channel, b"\x00\x14\x00\x0b")
    if isinstance(method, commands.Connection.CloseOk):
        return frame(FRAME_METHOD, channel, _IDS.pack(*_CLOSE_OK))
    if isinstance(method, commands.Connection.Close):
        if (method.class_id, method.method_id) == (10, 51):  # close-ok out of turn
            method = unchecked(
                commands.Connection.Close,
                reply_code=method.reply_code,
                reply_text=method.reply_text,
                class_id=10,
                method_id=61,
            )
        return frame(FRAME_METHOD, channel, _IDS.pack(*_CLOSE) + _encode_091(method)[4:])
    return None


def _encode_091(method: Method) -> bytes:
    return encode_method(0, method)[7:-1]
