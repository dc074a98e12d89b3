"""Field tables that keep each value's wire type.

pamqp decodes a table to plain Python values and, encoding it again, picks
types of its own (1 becomes a byte, whatever was sent). A broker that rewrites
headers (dead-lettering, removing BCC) must hand back every other value exactly
as it came, so here a value is a ``(type letter, value)`` pair; tables ("F")
hold an ordered dict of such pairs and arrays ("A") a list of them.

Tables and arrays nest at most ``MAX_DEPTH`` levels, counted as they are
decoded: a client may not make the broker recurse deeper than that, and every
later walk of a table (encoding it again, ``plain``, dead-lettering, the store)
stays far from Python's recursion limit even on a deep Trio stack.
"""

from __future__ import annotations

import datetime
import decimal
import struct
from collections.abc import Callable

Field = tuple[str, object]

_FIXED = {
    "b": struct.Struct(">b"),
    "B": struct.Struct(">B"),
    "s": struct.Struct(">h"),
    "u": struct.Struct(">H"),
    "I": struct.Struct(">i"),
    "i": struct.Struct(">I"),
    "l": struct.Struct(">q"),
    "L": struct.Struct(">Q"),
    "f": struct.Struct(">f"),
    "d": struct.Struct(">d"),
    "T": struct.Struct(">Q"),
}
_U32 = struct.Struct(">I")
# The deepest nesting of tables and arrays accepted, the outermost table being
# level 1. RabbitMQ takes thousands of levels; no client needs more than a few.
MAX_DEPTH = 64
_DECIMAL = struct.Struct(">Bi")

# The names RabbitMQ prints for each type letter.
TYPE_NAMES = {
    "t": "bool", "b": "byte", "B": "unsignedbyte", "s": "short", "u": "unsignedshort",
    "I": "signedint", "i": "unsignedint", "l": "long", "L": "long", "f": "float",
    "d": "double", "D": "decimal", "S": "longstr", "x": "binary", "T": "timestamp",
    "F": "table", "A": "array", "V": "void",
}  # fmt: skip


class TableError(ValueError):
    """The bytes are not a well-formed field table."""


class TooDeep(TableError):
    """Tables or arrays nested deeper than MAX_DEPTH."""


class MalformedTable(TableError):
    """A table whose length fits the data but whose contents do not decode (an
    unknown type letter, a value cut short): RabbitMQ's reader crashes on it."""


def decode_table(data: bytes, pos: int = 0, depth: int = 1) -> tuple[dict[str, Field], int]:
    """A table with its 4-byte length at ``pos``; returns (table, end position).

    ``depth`` is the table's nesting level (1 for a method's or a header's own
    table); anything nested deeper than MAX_DEPTH is a TableError."""
    if depth > MAX_DEPTH:
        raise TooDeep(f"field tables nested deeper than {MAX_DEPTH} levels")
    if pos + 4 > len(data):
        raise TableError("truncated table length")
    (size,) = _U32.unpack_from(data, pos)
    pos += 4
    end = pos + size
    if end > len(data):
        raise TableError("truncated table")
    if depth > 1:
        return _decode_entries(data, pos, end, depth), end
    try:
        return _decode_entries(data, pos, end, depth), end
    except TooDeep:
        raise
    except (TableError, struct.error, IndexError) as err:
        raise MalformedTable(str(err)) from err


def _decode_entries(data: bytes, pos: int, end: int, depth: int) -> dict[str, Field]:
    table: dict[str, Field] = {}
    while pos < end:
        klen = data[pos]
        key = data[pos + 1 : pos + 1 + klen].decode("utf-8", "surrogateescape")
        pos += 1 + klen
        value, pos = decode_value(data, pos, end, depth)
        table.setdefault(key, value)  # the first of duplicate keys wins, as in RabbitMQ
    if pos != end:
        raise TableError("table overruns its length")
    return table


def decode_value(
    data: bytes, pos: int, limit: int | None = None, depth: int = 1
) -> tuple[Field, int]:
    """One typed value at ``pos``, inside a table or array at nesting level ``depth``."""
    limit = len(data) if limit is None else limit
    if pos >= limit:
        raise TableError("truncated value")
    kind = chr(data[pos])
    pos += 1
    fixed = _FIXED.get(kind)
    if fixed is not None:
        if pos + fixed.size > limit:
            raise TableError("truncated value")
        return (kind, fixed.unpack_from(data, pos)[0]), pos + fixed.size
    if kind == "t":
        return ("t", bool(data[pos])), pos + 1
    if kind == "V":
        return ("V", None), pos
    if kind == "D":
        scale, value = _DECIMAL.unpack_from(data, pos)
        return ("D", decimal.Decimal(value).scaleb(-scale)), pos + 5
    return _decode_sized(kind, data, pos, depth)


def _decode_sized(kind: str, data: bytes, pos: int, depth: int) -> tuple[Field, int]:
    """The kinds that carry their own length: strings, tables and arrays."""
    if kind in "Sx":
        (size,) = _U32.unpack_from(data, pos)
        raw = bytes(data[pos + 4 : pos + 4 + size])
        if len(raw) != size:
            raise TableError("truncated string")
        return (kind, raw), pos + 4 + size
    if kind == "F":
        table, end = decode_table(data, pos, depth + 1)
        return ("F", table), end
    if kind == "A":
        return _decode_array(data, pos, depth + 1)
    raise TableError(f"unknown field type {kind!r}")


def _decode_array(data: bytes, pos: int, depth: int) -> tuple[Field, int]:
    if depth > MAX_DEPTH:
        raise TooDeep(f"field tables nested deeper than {MAX_DEPTH} levels")
    (size,) = _U32.unpack_from(data, pos)
    pos += 4
    end = pos + size
    items: list[Field] = []
    while pos < end:
        item, pos = decode_value(data, pos, end, depth)
        items.append(item)
    if pos != end:
        raise TableError("array overruns its length")
    return ("A", items), end


def encode_table(table: dict[str, Field]) -> bytes:
    body = b"".join(_key(k) + encode_value(v) for k, v in table.items())
    return _U32.pack(len(body)) + body


def _key(key: str) -> bytes:
    raw = key.encode("utf-8", "surrogateescape")
    return bytes((len(raw),)) + raw


def encode_value(field: Field) -> bytes:
    kind, value = field
    fixed = _FIXED.get(kind)
    if fixed is not None:
        return kind.encode() + fixed.pack(value)
    if kind == "t":
        return b"t\x01" if value else b"t\x00"
    if kind == "V":
        return b"V"
    if kind in "Sx":
        raw = value.encode("utf-8") if isinstance(value, str) else bytes(value)
        return kind.encode() + _U32.pack(len(raw)) + raw
    if kind == "D":
        sign, digits, exponent = value.as_tuple()
        unscaled = int("".join(map(str, digits)) or "0") * (-1 if sign else 1)
        return b"D" + _DECIMAL.pack(max(0, -exponent), unscaled)
    if kind == "F":
        return b"F" + encode_table(value)
    if kind == "A":
        body = b"".join(encode_value(item) for item in value)
        return b"A" + _U32.pack(len(body)) + body
    raise TableError(f"unknown field type {kind!r}")


def plain(field: Field) -> object:
    """The value without its type: strings as str, tables as dicts, arrays as lists."""
    kind, value = field
    if kind == "S":
        return value.decode("utf-8", "replace")
    if kind == "F":
        return {k: plain(v) for k, v in value.items()}
    if kind == "A":
        return [plain(v) for v in value]
    if kind == "T":  # a timestamp is not an integer to RabbitMQ's argument checks
        return datetime.datetime.fromtimestamp(value, tz=datetime.UTC)
    return value


def longstr(text: str) -> Field:
    return ("S", text.encode("utf-8"))


class ArgTable(dict):
    """A method's arguments table as plain values, remembering each top-level
    value's wire type (RabbitMQ names the type in its argument errors)."""

    types: dict[str, str]
    typed: dict[str, Field]  # as received, so the store can keep it losslessly

    @classmethod
    def from_typed(cls, table: dict[str, Field]) -> ArgTable:
        plain_table = cls((key, plain(field)) for key, field in table.items())
        plain_table.types = {key: field[0] for key, field in table.items()}
        plain_table.typed = table
        return plain_table

    def type_of(self, key: str) -> str | None:
        return self.types.get(key)


def typed_table(arguments: dict) -> dict[str, Field]:
    """An arguments table with wire types: as received for an ArgTable, else
    inferred from the Python values (tables built in code, not off the wire)."""
    typed = getattr(arguments, "typed", None)
    if typed is not None:
        return typed
    return {key: _infer(value, 1) for key, value in arguments.items()}


# Python types as the wire types they are written with, most specific first
# (a bool is an int); strings become longstr, bytes a byte array.
_INFERRED: tuple[tuple[type | tuple[type, ...], Callable[[object], Field]], ...] = (
    (bool, lambda v: ("t", v)),
    (int, lambda v: ("l", v)),
    (float, lambda v: ("d", v)),
    (str, lambda v: ("S", v.encode("utf-8"))),
    ((bytes, bytearray), lambda v: ("x", bytes(v))),
    (decimal.Decimal, lambda v: ("D", v)),
    (datetime.datetime, lambda v: ("T", int(v.timestamp()))),
    (type(None), lambda v: ("V", None)),
)


def _infer(value: object, depth: int) -> Field:
    """A value of a table built in code (the management API's JSON), with the
    same nesting bound as tables read off the wire."""
    if isinstance(value, dict | list | tuple):
        if depth + 1 > MAX_DEPTH:
            raise TooDeep(f"field tables nested deeper than {MAX_DEPTH} levels")
        if isinstance(value, dict):
            return ("F", {key: _infer(item, depth + 1) for key, item in value.items()})
        return ("A", [_infer(item, depth + 1) for item in value])
    for kind, make in _INFERRED:
        if isinstance(value, kind):
            return make(value)
    raise TableError(f"no field type for {type(value).__name__}")
