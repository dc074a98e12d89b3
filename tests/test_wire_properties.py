"""Typed properties and field tables, checked against pamqp's own codec.

Our encoder keeps each value's wire type; pamqp picks its own (the smallest
integer type that fits, a 32-bit float for every float). So each type letter
is compared with pamqp's encoder for that type; bytes pamqp wrote must decode
to pamqp's values and encode again to the same bytes; and a table typed by
us from plain values (longs and doubles) must read back in pamqp as the same
values, since there the bytes legitimately differ.
"""

import datetime
import decimal
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pamqp import commands
from pamqp import decode as pdecode
from pamqp import encode as pencode

from amqpd.wire import fieldtable, properties
from amqpd.wire.fieldtable import TableError

names = st.text(st.characters(min_codepoint=97, max_codepoint=122), min_size=1, max_size=8)
leaf = st.one_of(
    st.booleans(),
    st.integers(-(2**63), 2**63 - 1),
    st.floats(allow_nan=False, width=32),
    st.text(max_size=20),
    st.none(),
    st.decimals(places=2, min_value=-1000, max_value=1000, allow_nan=False, allow_infinity=False),
    st.datetimes(
        min_value=datetime.datetime(1971, 1, 1), max_value=datetime.datetime(2100, 1, 1)
    ).map(lambda d: d.replace(microsecond=0, tzinfo=datetime.UTC)),
)
values = st.recursive(
    leaf,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(names, inner, max_size=4)),
    max_leaves=12,
)
shortstr = st.text(max_size=30).filter(lambda s: len(s.encode()) < 256)


@given(
    headers=st.dictionaries(names, values, max_size=6),
    content_type=st.none() | shortstr,
    priority=st.none() | st.integers(0, 255),
    expiration=st.none() | shortstr,
    timestamp=st.none()
    | st.integers(0, 2**32).map(lambda s: datetime.datetime.fromtimestamp(s, tz=datetime.UTC)),
)
def test_properties_round_trip_exactly(headers, content_type, priority, expiration, timestamp):
    props = commands.Basic.Properties(
        content_type=content_type,
        headers=headers or None,
        priority=priority,
        expiration=expiration,
        timestamp=timestamp,
        delivery_mode=2,
        user_id="guest",
    )
    raw = props.marshal()
    decoded = properties.decode(raw)
    assert properties.encode(decoded) == raw
    if expiration:  # pamqp leaves empty strings out
        assert properties.text(decoded, "expiration") == expiration
    # Our decoder reads the values pamqp reads, and pamqp reads our bytes as its own.
    theirs = _pamqp_properties(raw)
    assert decoded["delivery_mode"] == theirs.delivery_mode == 2
    assert decoded.get("priority") == theirs.priority
    assert properties.text(decoded, "content_type") == theirs.content_type
    if timestamp is not None:  # (pamqp reads values of 2**32 and above as milliseconds)
        assert decoded["timestamp"] == int(timestamp.timestamp())
    if headers:
        assert fieldtable.plain(("F", decoded["headers"])) == theirs.headers
    assert _pamqp_properties(properties.encode(decoded)) == theirs


def _pamqp_properties(raw):
    """pamqp's reading of property bytes (flags, then values)."""
    props = commands.Basic.Properties()
    props.unmarshal(struct.unpack_from(">H", raw)[0], raw[2:])
    return props


UTC_2023 = datetime.datetime.fromtimestamp(1_700_000_000, tz=datetime.UTC)
# Each type letter with a value, and what pamqp's encoder for that type writes.
PAMQP_FIELDS = [
    (("t", True), b"t" + pencode.boolean(True)),
    (("b", -5), pencode.table_integer(-5)),  # pamqp's own pick is the same type here
    (("B", 250), b"B" + pencode.octet(250)),
    (("s", -300), pencode.table_integer(-300)),
    (("u", 65000), pencode.table_integer(65000)),
    (("I", -70000), pencode.table_integer(-70000)),
    (("i", 4_000_000_000), pencode.table_integer(4_000_000_000)),
    (("l", -(2**40)), pencode.table_integer(-(2**40))),
    (("f", 1.5), b"f" + pencode.floating_point(1.5)),
    (("d", -2.25), b"d" + pencode.double(-2.25)),
    (("D", decimal.Decimal("3.14")), b"D" + pencode.decimal(decimal.Decimal("3.14"))),
    (("S", "zürich".encode()), b"S" + pencode.long_string("zürich")),
    (("x", b"\x00\xff"), b"x" + pencode.byte_array(bytearray(b"\x00\xff"))),
    (("T", 1_700_000_000), b"T" + pencode.timestamp(UTC_2023)),
    (("V", None), b"V"),
    (("F", {"n": ("b", 1), "s": ("S", b"x")}), b"F" + pencode.field_table({"n": 1, "s": "x"})),
    (("A", [("S", b"a"), ("b", 2)]), b"A" + pencode.field_array(["a", 2])),
]


@pytest.mark.parametrize(
    ("field", "pamqp_bytes"), PAMQP_FIELDS, ids=[f[0] for f, _ in PAMQP_FIELDS]
)
def test_each_field_type_is_written_as_pamqp_writes_it(field, pamqp_bytes):
    assert fieldtable.encode_value(field) == pamqp_bytes
    assert fieldtable.decode_value(pamqp_bytes, 0) == (field, len(pamqp_bytes))
    assert fieldtable.plain(field) == pdecode.embedded_value(pamqp_bytes)[1]  # pamqp's reading


@given(table=st.dictionaries(names, values, max_size=6))
def test_tables_pamqp_writes_decode_to_its_values_and_encode_back_exactly(table):
    raw = pencode.field_table(table)
    typed, end = fieldtable.decode_table(raw)
    assert end == len(raw)
    assert fieldtable.plain(("F", typed)) == pdecode.field_table(raw)[1]
    assert fieldtable.encode_table(typed) == raw


plain_values = st.recursive(
    st.one_of(
        st.booleans(),
        st.integers(-(2**63), 2**63 - 1),
        st.floats(allow_nan=False),
        st.text(max_size=20),
        st.none(),
    ),
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(names, inner, max_size=4)),
    max_leaves=12,
)


@given(table=st.dictionaries(names, plain_values, max_size=6))
def test_tables_we_type_ourselves_read_back_in_pamqp_as_the_same_values(table):
    # Integers become longs and floats doubles here (pamqp would pick the
    # smallest integer type and a 32-bit float): the bytes differ, the values may not.
    raw = fieldtable.encode_table(fieldtable.typed_table(table))
    assert pdecode.field_table(raw) == (len(raw), table)


def test_integer_types_survive():
    table = {"b": ("b", -1), "I": ("I", 1), "l": ("l", 1), "s": ("s", 1000), "T": ("T", 5)}
    raw = fieldtable.encode_table(table)
    assert fieldtable.decode_table(raw) == (table, len(raw))


def test_decimal_and_byte_arrays():
    table = {"d": ("D", decimal.Decimal("3.14")), "x": ("x", b"\x00\xff"), "v": ("V", None)}
    raw = fieldtable.encode_table(table)
    assert fieldtable.decode_table(raw)[0] == table
    assert fieldtable.plain(("A", [("S", b"a"), ("I", 2)])) == ["a", 2]


def test_headers_nested_beyond_the_stack_are_a_table_error():
    table = fieldtable.encode_table({})
    for _ in range(5000):  # tables in tables, deeper than Python's recursion limit
        entry = b"\x01kF" + table
        table = len(entry).to_bytes(4, "big") + entry
    raw = b"\x20\x00" + table  # flags: only headers
    with pytest.raises(fieldtable.TableError):
        properties.decode(raw)


def test_check_refuses_what_does_not_decode_and_remembers_what_does(monkeypatch):
    monkeypatch.setattr(properties, "_CHECKED", set())
    monkeypatch.setattr(properties, "_CHECKED_MAX", 2)
    for bad in (b"", b"\x80", b"\x00\x01\x00\x00", b"\x80\x00\x05ab", b"\x80\x00\x01azz"):
        with pytest.raises(TableError):
            properties.check(bad)
    assert properties._CHECKED == set()
    properties.check(b"\x80\x00\x01a")
    properties.check(b"\x10\x00\x02")
    assert properties._CHECKED == {b"\x80\x00\x01a", b"\x10\x00\x02"}
    properties.check(b"\x10\x00\x01")  # full: forgets the rest, stays bounded
    assert properties._CHECKED == {b"\x10\x00\x01"}
