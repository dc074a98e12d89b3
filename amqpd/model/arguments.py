"""Field-table arguments as RabbitMQ reads and compares them.

pamqp decodes a field value to a Python value and drops its wire type; the
names below are the AMQP type names RabbitMQ prints, recovered from the value
(integers by the smallest width that holds them, as pamqp encodes them).
"""

from __future__ import annotations

import datetime
import decimal

from amqpd.wire.fieldtable import TYPE_NAMES

# Queue arguments RabbitMQ compares when a queue is declared again.
QUEUE_EQUIVALENCE_ARGS = (
    "x-expires",
    "x-message-ttl",
    "x-dead-letter-exchange",
    "x-dead-letter-routing-key",
    "x-max-length",
    "x-max-length-bytes",
    "x-max-in-memory-length",
    "x-max-in-memory-bytes",
    "x-max-priority",
    "x-overflow",
    "x-queue-mode",
    "x-single-active-consumer",
    "x-queue-type",
    "x-quorum-initial-group-size",
    "x-delivery-limit",
    "x-queue-master-locator",
)
# Compared as well when the queue is a stream.
STREAM_EQUIVALENCE_ARGS = (
    "x-max-age",
    "x-stream-max-segment-size-bytes",
    "x-initial-cluster-size",
    "x-queue-leader-locator",
)


# RabbitMQ's type names for Python values built in code rather than read off
# the wire, most specific class first (bool before int: bool is an int).
_PYTHON_TYPE_NAMES: tuple[tuple[type | tuple[type, ...], str], ...] = (
    (bool, "bool"),
    (float, "double"),
    (decimal.Decimal, "decimal"),
    (str, "longstr"),
    ((bytes, bytearray), "binary"),
    (datetime.datetime, "timestamp"),
    (dict, "table"),
    (list, "array"),
)


def type_name(value: object, letter: str | None = None) -> str:
    """RabbitMQ's name for a value's type: from its wire type letter when known."""
    if letter is not None and letter in TYPE_NAMES:
        return TYPE_NAMES[letter]
    if value is None:
        return "void"
    if isinstance(value, int) and not isinstance(value, bool):
        for name, bits in (("byte", 8), ("short", 16), ("signedint", 32)):
            if -(1 << (bits - 1)) <= value < (1 << (bits - 1)):
                return name
        return "long"
    for kind, name in _PYTHON_TYPE_NAMES:
        if isinstance(value, kind):
            return name
    return type(value).__name__


def erlang_term(value: object) -> str:
    """How RabbitMQ prints an argument value inside quotes."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, bytes | bytearray):
        return bytes(value).decode("utf-8", "replace")
    if isinstance(value, float):
        return _erlang_float(value)
    return str(value)


def _erlang_float(value: float) -> str:
    # Erlang prints the shortest round-tripping digits; large and small
    # magnitudes come out as d.ddde<exp> (1000.0 -> "1.0e3", 0.5 -> "0.5").
    plain = repr(value)
    if value == 0 or not value == value or value in (float("inf"), float("-inf")):
        return plain
    sign, digits, exponent = decimal.Decimal(plain).normalize().as_tuple()
    exp = exponent + len(digits) - 1  # of the first significant digit
    if -3 <= exp < 3 and "e" not in plain:
        return plain
    text = "".join(map(str, digits))
    mantissa = f"{text[0]}.{text[1:] or '0'}"
    return f"{'-' if sign else ''}{mantissa}e{exp}"


def comparable(value: object) -> object:
    """Values RabbitMQ takes as equal compare equal: integers by value, a byte
    string as the text it holds."""
    if isinstance(value, bytes | bytearray):
        return bytes(value).decode("utf-8", "replace")
    return value


def _typed(value: object, letter: str | None) -> str:
    return f"the value '{erlang_term(value)}' of type '{type_name(value, letter)}'"


def inequivalence(
    new: object, old: object, new_type: str | None = None, old_type: str | None = None
) -> str | None:
    """The reason two values of an argument differ, in RabbitMQ's words, or None."""
    if new is None and old is None:
        return None
    if new is None:
        return f"received none but current is {_typed(old, old_type)}"
    if old is None:
        return f"received {_typed(new, new_type)} but current is none"
    a, b = comparable(new), comparable(old)
    if type(a) is type(b) and a == b and not (isinstance(a, bool) ^ isinstance(b, bool)):
        return None
    return f"received '{erlang_term(new)}' but current is '{erlang_term(old)}'"
