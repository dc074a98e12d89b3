"""AMQP values as the management API shows them in JSON, and back.

Field tables (headers, arguments) become JSON objects; binary values are
shown as text where they are UTF-8, timestamps as integers; JSON values sent
to the API become typed field-table values the way RabbitMQ types them.
"""

from __future__ import annotations

import datetime
import decimal

from amqpd.management.errors import bad_request
from amqpd.wire.fieldtable import MAX_DEPTH, Field


def json_safe(value: object) -> object:
    """A plain value (as the model keeps arguments) that json.dumps accepts."""
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    if isinstance(value, bytes | bytearray):
        return bytes(value).decode("utf-8", "replace")
    if isinstance(value, datetime.datetime):
        return int(value.timestamp())
    if isinstance(value, decimal.Decimal):
        return float(value)
    return value


def typed_json(field: Field) -> object:
    """A typed field-table value (kind, value) as JSON."""
    kind, value = field
    if kind == "F":
        return {k: typed_json(v) for k, v in sorted(value.items())}
    if kind == "A":
        return [typed_json(v) for v in value]
    if kind in ("S", "x"):
        return bytes(value).decode("utf-8", "replace")
    if kind == "D":
        return float(value)
    return value


def to_field(value: object) -> Field:
    """A JSON value as a field-table value, typed as RabbitMQ types them; a
    value nested deeper than the wire allows is refused (400), as it would be
    if it came from a client."""
    return _to_field(value, 1)


def _to_field(value: object, depth: int) -> Field:
    if isinstance(value, dict | list):
        if depth + 1 > MAX_DEPTH:
            raise bad_request(f"field tables nested deeper than {MAX_DEPTH} levels")
        if isinstance(value, dict):
            return ("F", {str(k): _to_field(v, depth + 1) for k, v in value.items()})
        return ("A", [_to_field(v, depth + 1) for v in value])
    if isinstance(value, bool):
        return ("t", value)
    if isinstance(value, int):
        return ("l", value)
    if isinstance(value, float):
        return ("d", value)
    if isinstance(value, str):
        return ("S", value.encode("utf-8"))
    return ("V", None)


def check_depth(table: dict) -> dict:
    """An arguments table from JSON, refused (400) past the wire's nesting limit."""
    for value in table.values():
        _to_field(value, 1)
    return table
