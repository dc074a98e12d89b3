"""Typed properties and field tables round-trip byte for byte."""

import datetime
import decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pamqp import commands

from amqpd.wire import fieldtable, properties

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
