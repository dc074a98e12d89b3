"""basic.* content properties, decoded and encoded without losing anything.

Short strings stay bytes and headers keep their wire types, so properties can be
edited (expiration dropped, BCC removed, x-death added) and encoded again with
every untouched field exactly as the publisher sent it.
"""

from __future__ import annotations

import struct

from amqpd.wire.fieldtable import Field, TableError, decode_table, encode_table

# In flag order: bit 15 is the first property.
FIELDS = (
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
_U16 = struct.Struct(">H")
_U64 = struct.Struct(">Q")


def decode(raw: bytes) -> dict[str, object]:
    """Properties present in ``raw`` (flags then values), by name.

    Short strings are bytes, ``headers`` a typed table (see fieldtable). Bytes
    that are not well-formed properties, or headers nested deeper than
    ``fieldtable.MAX_DEPTH``, are a TableError.
    """
    try:
        (flags,) = _U16.unpack_from(raw, 0)
        pos = 2
        if flags & 1:  # a continuation word: RabbitMQ decodes none (0-9-1 defines no more)
            raise TableError("property flags continue")
        props: dict[str, object] = {}
        for bit, (name, kind) in zip(range(15, 1, -1), FIELDS, strict=True):
            if not flags & (1 << bit):
                continue
            if kind == "s":
                size = raw[pos]
                value = bytes(raw[pos + 1 : pos + 1 + size])
                if len(value) != size:
                    raise TableError("truncated short string")
                props[name], pos = value, pos + 1 + size
            elif kind == "o":
                props[name], pos = raw[pos], pos + 1
            elif kind == "T":
                props[name], pos = _U64.unpack_from(raw, pos)[0], pos + 8
            else:
                props[name], pos = decode_table(raw, pos)
        if pos != len(raw):
            raise TableError("trailing property bytes")
        return props
    except (IndexError, struct.error) as err:
        raise TableError("truncated properties") from err


# Property bytes already found to decode: a publisher usually sends the same
# ones again and again, so checking them again costs a set lookup. Bounded.
_CHECKED: set[bytes] = set()
_CHECKED_MAX = 1024


def check(raw: bytes) -> None:
    """Raise TableError unless ``raw`` decodes, without keeping what it decodes to."""
    if raw in _CHECKED:
        return
    decode(raw)
    if len(_CHECKED) >= _CHECKED_MAX:
        _CHECKED.clear()
    _CHECKED.add(raw)


def encode(props: dict[str, object]) -> bytes:
    flags = 0
    parts: list[bytes] = []
    for bit, (name, kind) in zip(range(15, 1, -1), FIELDS, strict=True):
        if name not in props or props[name] is None:
            continue
        flags |= 1 << bit
        value = props[name]
        if kind == "s":
            raw = value if isinstance(value, bytes) else str(value).encode("utf-8")
            parts.append(bytes((len(raw),)) + raw)
        elif kind == "o":
            parts.append(bytes((value,)))
        elif kind == "T":
            parts.append(_U64.pack(value))
        else:
            parts.append(encode_table(value))
    return _U16.pack(flags) + b"".join(parts)


def text(props: dict[str, object], name: str) -> str | None:
    value = props.get(name)
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else None


def headers(props: dict[str, object]) -> dict[str, Field]:
    return props.get("headers") or {}  # type: ignore[return-value]


def is_persistent(raw: bytes) -> bool:
    """Whether delivery_mode is 2 (the hot path of every publish)."""
    return delivery_mode(raw) == 2


def delivery_mode(raw: bytes) -> int | None:
    """The delivery_mode octet read straight off the raw property bytes, or None
    when it is absent (skips the fields ahead of it, decodes nothing)."""
    if len(raw) < 3:
        return None
    flags = _U16.unpack_from(raw)[0]
    if not flags & 0x1000:
        return None
    try:
        pos = 2
        for bit in (0x8000, 0x4000):  # content_type, content_encoding: short strings
            if flags & bit:
                pos += 1 + raw[pos]
        if flags & 0x2000:  # headers: a table with a 32-bit length
            pos += 4 + int.from_bytes(raw[pos : pos + 4], "big")
        return raw[pos]
    except IndexError:
        return None
