"""Render values the way RabbitMQ's reply texts show them (Erlang's ~w and ~p).

Clients and tests compare reply texts verbatim, so framing errors quote the
offending octets and error terms in the same notation RabbitMQ uses.
"""

from __future__ import annotations

from amqpd.wire.fieldtable import TYPE_NAMES

# Erlang's ~p prints a binary as a string when every byte is printable (latin-1).
_ESCAPES = {
    8: "\\b",
    9: "\\t",
    10: "\\n",
    11: "\\v",
    12: "\\f",
    13: "\\r",
    27: "\\e",
    34: '\\"',
    92: "\\\\",
}
# ~p wraps terms that would run past this column.
LINE_LENGTH = 80


def binary_w(data: bytes) -> str:
    """~w: always a list of decimal bytes, e.g. <<0,0,7,116>>."""
    return "<<" + ",".join(str(b) for b in data) + ">>"


def binary_p(data: bytes) -> str:
    """~p: <<"text">> when printable, else decimal bytes."""
    if data and all(32 <= b <= 126 or 160 <= b <= 255 or b in _ESCAPES for b in data):
        return '<<"' + "".join(_ESCAPES.get(b, chr(b)) for b in data) + '">>'
    return binary_w(data)


def octets_snippet(payload: bytes) -> str:
    """RabbitMQ's payload snippet: the whole payload up to 16 octets, else the first 16."""
    if len(payload) <= 16:
        return f"all octets = {binary_p(payload)}"
    return f"first 16 octets = {binary_p(payload[:16])}"


def tuple_p(column: int, *elements: object) -> str:
    """~p of a flat tuple printed at ``column``; wrapped one element a line if too long."""
    parts = [str(e) for e in elements]
    flat = "{" + ",".join(parts) + "}"
    if column + len(flat) < LINE_LENGTH:
        return flat
    indent = "\n" + " " * (column + 1)
    return "{" + ("," + indent).join(parts) + "}"


def frame_error_text(frame_type: int, payload: bytes, term: tuple | str) -> str:
    """The explanation RabbitMQ gives for a framing error (after 'FRAME_ERROR - ')."""
    head = f"type {frame_type}, {octets_snippet(payload)}: "
    if isinstance(term, str):
        return head + term
    return head + tuple_p(len(head), *term)


def field_p(field: tuple[str, object]) -> str:
    """~p of a typed field table value as RabbitMQ holds it (flat, unwrapped):
    binaries as <<"text">>, void as undefined, arrays and tables as lists of
    typed tuples."""
    kind, value = field
    if kind in "Sx":
        return binary_p(value)  # type: ignore[arg-type]
    if kind == "t":
        return "true" if value else "false"
    if kind == "V":
        return "undefined"
    if kind == "D":
        exponent = value.as_tuple().exponent  # type: ignore[union-attr]
        return f"{{{-exponent},{int(value.scaleb(-exponent))}}}"  # type: ignore[union-attr]
    if kind == "A":
        items = value  # type: ignore[assignment]
        return "[" + ",".join(f"{{{TYPE_NAMES[k]},{field_p((k, v))}}}" for k, v in items) + "]"
    if kind == "F":
        return (
            "["
            + ",".join(
                f"{{{binary_p(name.encode())},{TYPE_NAMES[k]},{field_p((k, v))}}}"
                for name, (k, v) in value.items()  # type: ignore[union-attr]
            )
            + "]"
        )
    return repr(value)
