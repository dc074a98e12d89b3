"""How results are printed: rabbitmqctl's tab-separated table and its JSON formatter."""

from __future__ import annotations

import json
import sys
from typing import TextIO

from amqpd.ctl.command import Listing, Options, Result, Text

# Arguments in --formatter json are [key, AMQP type, value], as rabbitmqctl prints them.
_JSON_TYPES = ((bool, "bool"), (int, "long"), (float, "double"), (str, "longstr"))


def emit(result: Result, opts: Options, out: TextIO = sys.stdout) -> None:
    if isinstance(result, Listing):
        _listing(result, opts, out)
    elif isinstance(result, Text):
        _text(result, opts, out)


def _text(result: Text, opts: Options, out: TextIO) -> None:
    if opts.formatter == "json" and result.json is not None:
        out.write(_dumps(result.json) + "\n")
    elif not (opts.silent and result.silenceable):
        for line in result.lines:
            out.write(line + "\n")


def _listing(result: Listing, opts: Options, out: TextIO) -> None:
    if opts.formatter == "json":
        out.write(json_rows(result))
        return
    if not result.rows:
        return
    if opts.table_headers and not opts.silent:
        out.write("\t".join(result.columns) + "\n")
    for row in result.rows:
        out.write("\t".join(table_value(row.get(col)) for col in result.columns) + "\n")


def json_rows(result: Listing) -> str:
    """One object a line, commas leading, as rabbitmqctl streams them."""
    rows = [
        _dumps({col: json_value(col, row.get(col)) for col in result.columns})
        for row in result.rows
    ]
    return "[\n" + "".join(("," if i else "") + r + "\n" for i, r in enumerate(rows)) + "]\n"


def _dumps(value: object) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def json_value(column: str, value: object) -> object:
    if column == "arguments" and isinstance(value, dict):
        return [[key, amqp_type(val), val] for key, val in value.items()]
    return "" if value is None else value


def amqp_type(value: object) -> str:
    for kind, name in _JSON_TYPES:
        if isinstance(value, kind):
            return name
    return "table" if isinstance(value, dict) else "array"


def table_value(value: object) -> str:
    """A value as rabbitmqctl's table prints Erlang terms: [{"k",v}], [a, b], true."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "[" + ",".join(f'{{"{k}",{_term(v)}}}' for k, v in value.items()) + "]"
    if isinstance(value, list):
        return "[" + ", ".join(str(v) for v in value) + "]"
    return str(value)


def _term(value: object) -> str:
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, list):
        return "[" + ",".join(_term(v) for v in value) + "]"
    return table_value(value)
