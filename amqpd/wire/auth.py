"""SASL mechanisms RabbitMQ offers by default: PLAIN and AMQPLAIN."""

from __future__ import annotations

import struct

from amqpd.wire.fieldtable import TableError, decode_table, plain

MECHANISMS = ("PLAIN", "AMQPLAIN")


def parse_response(mechanism: str, response: bytes | str) -> tuple[str, str] | None:
    """Return (username, password) from a start-ok response, or None if unreadable."""
    if isinstance(response, str):  # pamqp decodes a longstr to str when it is UTF-8
        response = response.encode("utf-8")
    if mechanism == "PLAIN":
        # authzid NUL authcid NUL passwd (RFC 4616); authzid may be empty.
        parts = response.split(b"\x00")
        if len(parts) != 3:
            return None
        return _text(parts[1]), _text(parts[2])
    if mechanism == "AMQPLAIN":
        # A field table without its length prefix, holding LOGIN and PASSWORD;
        # our own decoder, so its nesting is bounded like every other table's.
        try:
            table, _end = decode_table(struct.pack(">I", len(response)) + response)
        except (TableError, IndexError, struct.error):
            return None
        login, password = table.get("LOGIN"), table.get("PASSWORD")
        if login is None or password is None:
            return None
        return _text(plain(login)), _text(plain(password))
    return None


def _text(value: object) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)
