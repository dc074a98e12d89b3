"""export_definitions and import_definitions, through /api/definitions."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from amqpd.ctl.client import ApiError
from amqpd.ctl.command import Command, Invocation, Result, Text, UsageError, register
from amqpd.ctl.errors import DATAERR, failed

IMPORTED = (
    "Successfully started definition import. This process is asynchronous and can take some time."
)


def export(inv: Invocation) -> Result:
    definitions = inv.client.get("/api/definitions")
    text = json.dumps(definitions, separators=(",", ":"), ensure_ascii=False)
    if inv.args[0] == "-":
        return Text([text], json={"message": text})
    try:
        Path(inv.args[0]).write_text(text)
    except OSError:
        raise failed(
            f"No permissions to write to file {inv.args[0]} or its parent directory", DATAERR
        ) from None
    return None


def read_file(inv: Invocation) -> str:
    if inv.args[0] == "-":
        return sys.stdin.read()
    path = Path(inv.args[0])
    if not path.is_file():
        raise UsageError(f"Bad argument: File {inv.args[0]} does not exist", inv.argv)
    return path.read_text()


def import_(inv: Invocation) -> Result:
    text = read_file(inv)
    try:
        body = json.loads(text)
    except ValueError as err:
        raise failed(
            f"Failed to deserialise input (format: JSON) (error: {err})", DATAERR
        ) from None
    try:
        inv.client.post("/api/definitions", body)
    except ApiError as err:
        raise failed(err.reason, DATAERR) from None
    return Text([IMPORTED])


def check_file(inv: Invocation) -> None:
    if inv.args[0] != "-" and not Path(inv.args[0]).is_file():
        raise UsageError(f"Bad argument: File {inv.args[0]} does not exist", inv.argv)


def export_banner(inv: Invocation) -> str | None:
    if inv.args[0] == "-":
        return None
    return f'Exporting definitions in JSON to a file at "{inv.args[0]}" ...'


def import_banner(inv: Invocation) -> str:
    where = "standard input" if inv.args[0] == "-" else f'a file at "{inv.args[0]}"'
    return f"Importing definitions in JSON from {where} ..."


register(
    "ctl",
    Command(
        name="export_definitions",
        usage='export_definitions <file_path | "-">',
        run=export,
        banner=export_banner,
        nargs=(1, 1),
        switches={"--format": True},
    ),
    Command(
        name="import_definitions",
        usage='import_definitions <file_path | "-">',
        run=import_,
        banner=import_banner,
        nargs=(1, 1),
        switches={"--format": True},
        validate=check_file,
    ),
)
