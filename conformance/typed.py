"""Typed field tables and content properties, for tests that check wire types.

pamqp turns a field table into a dict, so a long (``l``) and a signedint (``I``)
both come back as int, and it leaves out string properties that are empty. Here
a table is a list of ``(name, type_code, value)`` and an array a list of
``(type_code, value)``; an array's value is such a list, a table's value such a
table. ``S`` values are str, ``x`` values bytes, ``T`` values whole seconds.

Besides the codec, messages published and read with such properties
(``publish``, ``read_message``, ``get``); use them qualified (``typed.publish``)
next to the steps of ``conformance.helpers``.
"""

from __future__ import annotations

import struct

from pamqp import commands, frame
from pamqp.body import ContentBody

from conformance.rawclient import raw_frame

_FIXED = {"b": ">b", "B": ">B", "s": ">h", "u": ">H", "I": ">i", "i": ">I", "l": ">q"}
_FIXED |= {"L": ">q", "f": ">f", "d": ">d", "T": ">Q"}

PROPERTIES = (
    ("content_type", "s"),
    ("content_encoding", "s"),
    ("headers", "F"),
    ("delivery_mode", "o"),
    ("priority", "o"),
    ("correlation_id", "s"),
    ("reply_to", "s"),
    ("expiration", "s"),
    ("message_id", "s"),
    ("timestamp", "T"),
    ("type", "s"),
    ("user_id", "s"),
    ("app_id", "s"),
    ("cluster_id", "s"),
)


def encode_value(code: str, value) -> bytes:
    out = code.encode()
    if code in _FIXED:
        return out + struct.pack(_FIXED[code], value)
    if code == "t":
        return out + (b"\x01" if value else b"\x00")
    if code == "D":
        return out + struct.pack(">Bi", *value)
    if code == "V":
        return out
    if code in ("S", "x"):
        data = value.encode() if isinstance(value, str) else bytes(value)
    elif code == "A":
        data = b"".join(encode_value(c, v) for c, v in value)
    elif code == "F":
        data = encode_table(value)[4:]
    else:
        raise ValueError(f"unsupported field type {code!r}")
    return out + struct.pack(">I", len(data)) + data


def encode_table(items) -> bytes:
    """An encoded field table (with its length) from (name, type_code, value)."""
    data = b""
    for name, code, value in items:
        key = name.encode()
        data += struct.pack(">B", len(key)) + key + encode_value(code, value)
    return struct.pack(">I", len(data)) + data


def _decode_value(data: bytes, at: int):
    code = chr(data[at])
    at += 1
    if code in _FIXED:
        (value,) = struct.unpack_from(_FIXED[code], data, at)
        return code, value, at + struct.calcsize(_FIXED[code])
    if code == "t":
        return code, data[at] != 0, at + 1
    if code == "D":
        return code, struct.unpack_from(">Bi", data, at), at + 5
    if code == "V":
        return code, None, at
    (size,) = struct.unpack_from(">I", data, at)
    raw, end = data[at + 4 : at + 4 + size], at + 4 + size
    if code == "S":
        return code, raw.decode(), end
    if code == "x":
        return code, raw, end
    if code == "F":
        return code, decode_table(raw), end
    if code == "A":
        items, pos = [], 0
        while pos < len(raw):
            item_code, value, pos = _decode_value(raw, pos)
            items.append((item_code, value))
        return code, items, end
    raise ValueError(f"unknown field type {code!r}")


def decode_table(data: bytes) -> list:
    """A table's content (without its length prefix) as (name, type_code, value)."""
    items, at = [], 0
    while at < len(data):
        size = data[at]
        name = data[at + 1 : at + 1 + size].decode()
        code, value, at = _decode_value(data, at + 1 + size)
        items.append((name, code, value))
    return items


def encode_properties(props: dict) -> bytes:
    """Property flags and values; headers as a typed table. Empty strings are
    sent; None means absent."""
    flags, data = 0, b""
    for bit, (name, kind) in enumerate(PROPERTIES):
        if props.get(name) is None:
            continue
        flags |= 1 << (15 - bit)
        value = props[name]
        if kind == "s":
            raw = value.encode()
            data += struct.pack(">B", len(raw)) + raw
        elif kind == "o":
            data += struct.pack(">B", value)
        elif kind == "T":
            data += struct.pack(">Q", value)
        else:
            data += encode_table(value)
    return struct.pack(">H", flags) + data


def decode_properties(data: bytes) -> dict:
    """The properties that are present, in wire order; headers as a typed table."""
    (flags,) = struct.unpack_from(">H", data)
    props, at = {}, 2
    for bit, (name, kind) in enumerate(PROPERTIES):
        if not flags & (1 << (15 - bit)):
            continue
        if kind == "s":
            props[name] = data[at + 1 : at + 1 + data[at]].decode()
            at += 1 + data[at]
        elif kind == "o":
            props[name], at = data[at], at + 1
        elif kind == "T":
            (props[name],) = struct.unpack_from(">Q", data, at)
            at += 8
        else:
            (size,) = struct.unpack_from(">I", data, at)
            props[name] = decode_table(data[at + 4 : at + 4 + size])
            at += 4 + size
    return props


def publish(client, channel, body=b"x", exchange="", routing_key="", mandatory=False, **props):
    """basic.publish with properties given as in decode_properties (headers typed)."""
    method = commands.Basic.Publish(exchange=exchange, routing_key=routing_key, mandatory=mandatory)
    payload = struct.pack(">HHQ", 60, 0, len(body)) + encode_properties(props)
    data = frame.marshal(method, channel) + raw_frame(2, channel, payload)
    if body:
        data += frame.marshal(ContentBody(body), channel)
    client.send_raw(data)


def read_message(client, timeout: float | None = None):
    """Like RawClient.read_message, with properties as decode_properties gives
    them: (channel, method, properties, body); (channel, get-empty, None, None)."""
    channel, method = client.read_frame(timeout)
    if isinstance(method, commands.Basic.GetEmpty):
        return channel, method, None, None
    assert isinstance(method, commands.Basic.Deliver | commands.Basic.GetOk | commands.Basic.Return)
    kind, _, payload = client.read_raw_frame(timeout)
    assert kind == 2, (kind, payload)
    (body_size,) = struct.unpack_from(">Q", payload, 4)
    body = b""
    while len(body) < body_size:
        _, part = client.read_frame(timeout)
        assert isinstance(part, ContentBody), part
        body += part.value
    return channel, method, decode_properties(payload[12:]), body


def get(client, channel: int, queue: str, no_ack: bool = True):
    """basic.get: (get-ok, properties, body), or None for get-empty."""
    client.send(channel, commands.Basic.Get(queue=queue, no_ack=no_ack))
    _, method, props, body = read_message(client)
    return None if props is None else (method, props, body)
