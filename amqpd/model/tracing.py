"""The firehose tracer: copies of what is published and delivered, to amq.rabbitmq.trace.

While a vhost traces (``rabbitmqctl trace_on``), RabbitMQ publishes to its
``amq.rabbitmq.trace`` exchange a copy of every message published in it, with
the routing key ``publish.<exchange>``, and of every delivery (basic.deliver and
basic.get-ok), with ``deliver.<queue>``. A copy carries the original body and,
as its only property, headers saying where the message went and who sent or
took it. Messages whose exchange is the trace exchange are not traced, so
consuming the trace makes no more of it. Which vhosts trace is not kept across
restarts: RabbitMQ starts with tracing off.
"""

from __future__ import annotations

import struct

from amqpd.model.exchange import TRACE_EXCHANGE
from amqpd.model.message import Message
from amqpd.wire import properties as props_codec
from amqpd.wire.codec import ContentHeader
from amqpd.wire.fieldtable import Field, encode_table

BASIC_CLASS = 60
_U32 = struct.Struct(">I")
_I32 = struct.Struct(">i")
_HEADERS_ONLY = (1 << 13).to_bytes(2, "big")  # property flags: headers, nothing else


def _wrap(value: int) -> int:
    """RabbitMQ writes integer properties as signedint, keeping the low 32 bits
    (a timestamp past 2**31 wraps, as it does there)."""
    return (value + 2**31) % 2**32 - 2**31


def signedint(value: int) -> Field:
    return ("I", _wrap(value))


def _key(name: str) -> bytes:
    raw = name.encode()
    return bytes((len(raw),)) + raw


# The copies' headers are written straight to bytes, field by field, in
# RabbitMQ's order: a copy per publish and per delivery is the tracer's cost.
_EXCHANGE_NAME, _ROUTING_KEYS, _PROPERTIES, _NODE = (
    _key(name) for name in ("exchange_name", "routing_keys", "properties", "node")
)
_VHOST, _CONNECTION, _CHANNEL, _USER = (
    _key(name) for name in ("vhost", "connection", "channel", "user")
)
_ROUTED_QUEUES, _REDELIVERED = _key("routed_queues"), _key("redelivered")
_PROPERTY_KEYS = {name: _key(name) for name, _kind in props_codec.FIELDS}


def _longstr(value: bytes) -> bytes:
    return b"S" + _U32.pack(len(value)) + value


def _str_field(key: bytes, text: str) -> bytes:
    return key + _longstr(text.encode())


def _int_field(key: bytes, value: int) -> bytes:
    return key + b"I" + _I32.pack(_wrap(value))


def _strings(key: bytes, values: list[str]) -> bytes:
    items = b"".join([_longstr(value.encode()) for value in values])
    return key + b"A" + _U32.pack(len(items)) + items


def properties_table(props: dict) -> bytes:
    """The message's properties as the ``properties`` header's table (its length
    first): last property first, as RabbitMQ builds it; short strings are
    longstr, numbers signedint, headers the table as published."""
    parts = []
    for name, kind in reversed(props_codec.FIELDS):
        value = props.get(name)
        if value is None:
            continue
        key = _PROPERTY_KEYS[name]
        if kind == "s":
            parts.append(key + _longstr(value))  # type: ignore[arg-type]
        elif kind == "F":
            parts.append(key + b"F" + encode_table(value))  # type: ignore[arg-type]
        else:
            parts.append(_int_field(key, value))  # type: ignore[arg-type]
    body = b"".join(parts)
    return _U32.pack(len(body)) + body


class Tracer:
    """Makes the trace copies; the node name is the one the copies carry."""

    def __init__(self, node: str = "rabbit@localhost") -> None:
        self.node = node

    def published(
        self,
        message: Message,
        vhost: str,
        connection: str,
        channel: int,
        user: str,
        routed: list[str],
    ) -> Message | None:
        """The copy of a publish; ``routed`` names the queues it was routed to."""
        return self._copy(message, "publish", message.exchange, b"".join((
            _str_field(_VHOST, vhost),
            _str_field(_CONNECTION, connection),
            _int_field(_CHANNEL, channel),
            _str_field(_USER, user),
            _strings(_ROUTED_QUEUES, sorted(routed, key=str.encode)),
        )))  # fmt: skip

    def delivered(
        self,
        message: Message,
        queue: str,
        redelivered: bool,
        vhost: str,
        connection: str,
        channel: int,
        user: str,
    ) -> Message | None:
        """The copy of a basic.deliver or basic.get-ok from ``queue``."""
        return self._copy(message, "deliver", queue, b"".join((
            _int_field(_REDELIVERED, int(redelivered)),
            _str_field(_VHOST, vhost),
            _str_field(_CONNECTION, connection),
            _int_field(_CHANNEL, channel),
            _str_field(_USER, user),
        )))  # fmt: skip

    def _copy(self, message: Message, what: str, name: str, extra: bytes) -> Message | None:
        if message.exchange == TRACE_EXCHANGE:
            return None  # the trace itself is never traced
        table = b"".join((
            _str_field(_EXCHANGE_NAME, message.exchange),
            _strings(_ROUTING_KEYS, [message.routing_key, *message.cc, *message.bcc]),
            _PROPERTIES, b"F", properties_table(message.props),
            _str_field(_NODE, self.node),
            extra,
        ))  # fmt: skip
        raw = _HEADERS_ONLY + _U32.pack(len(table)) + table
        header = ContentHeader(BASIC_CLASS, len(message.body), raw)
        return Message(TRACE_EXCHANGE, f"{what}.{name}", header, message.body)
