"""Parse rabbitmqctl's flags, find the command and the broker, print the answer."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field

from amqpd.ctl import load_commands
from amqpd.ctl.client import DEFAULT_TIMEOUT, Client, find_target
from amqpd.ctl.command import REGISTRY, Command, Invocation, Options
from amqpd.ctl.errors import USAGE, CtlError, UsageError
from amqpd.ctl.output import emit

PROGRAMS = {"ctl": "amqpd ctl", "diagnostics": "amqpd diagnostics"}
VALUE_FLAGS = {
    "-p": "vhost", "--vhost": "vhost", "-t": "timeout", "--timeout": "timeout",
    "--formatter": "formatter", "--url": "url", "--config": "config", "-n": "node",
    "--node": "node",
}  # fmt: skip
BOOL_FLAGS = {
    "-q": "quiet", "--quiet": "quiet", "-s": "silent", "--silent": "silent",
    "--no-table-headers": "no_table_headers", "-l": "longnames", "--longnames": "longnames",
}  # fmt: skip
FORMATTERS = ("table", "json")


@dataclass
class Parsed:
    values: dict[str, str] = field(default_factory=dict)
    flags: set[str] = field(default_factory=set)
    rest: list[str] = field(default_factory=list)


def hide_target(argv: list[str]) -> list[str]:
    """The arguments as echoed in errors: without --url and --config (a URL holds a password)."""
    shown: list[str] = []
    skip = False
    for token in argv:
        if not skip and token.partition("=")[0] not in ("--url", "--config"):
            shown.append(token)
            continue
        skip = not skip and "=" not in token
    return shown


def split_globals(argv: list[str], shown: list[str]) -> Parsed:
    parsed = Parsed()
    tokens = iter(argv)
    for token in tokens:
        flag, _, inline = token.partition("=") if token.startswith("--") else (token, "", "")
        if flag in VALUE_FLAGS:
            value = inline or next(tokens, None)
            if value is None:
                raise UsageError(f"Invalid options for this command:\n{flag} : ", shown)
            parsed.values[VALUE_FLAGS[flag]] = value
        elif token in BOOL_FLAGS:
            parsed.flags.add(BOOL_FLAGS[token])
        else:
            parsed.rest.append(token)
    return parsed


def split_switches(command: Command, rest: list[str], argv: list[str]) -> tuple[list, dict]:
    args: list[str] = []
    switches: dict[str, str | bool] = {}
    tokens = iter(rest)
    for token in tokens:
        if not token.startswith("-") or token == "-":
            args.append(token)
        elif command.switches.get(token) is None:
            raise UsageError(f"Invalid options for this command:\n{token} : ", argv)
        elif command.switches[token]:
            switches[token] = next(tokens, "")
        else:
            switches[token] = True
    return args, switches


def options(parsed: Parsed, switches: dict[str, str | bool], argv: list[str]) -> Options:
    formatter = parsed.values.get("formatter", "table")
    if formatter not in FORMATTERS:
        raise UsageError(f"Formatter {formatter} is not supported", argv)
    return Options(
        vhost=parsed.values.get("vhost", "/"),
        quiet="quiet" in parsed.flags,
        silent="silent" in parsed.flags,
        formatter=formatter,
        table_headers="no_table_headers" not in parsed.flags,
        timeout=_timeout(parsed.values.get("timeout"), argv),
        switches=switches,
    )


def _timeout(text: str | None, argv: list[str]) -> float | None:
    if text is None:
        return None
    try:
        return float(text)
    except ValueError:
        raise UsageError(f"Invalid options for this command:\n-t : {text}", argv) from None


def overview(tool: str) -> str:
    names = "\n".join(f"    {name}" for name in sorted(REGISTRY[tool]))
    return f"Usage\n\n{PROGRAMS[tool]} [--url <url>] [--config <file>] [--quiet] <command> [<command options>]\n\nAvailable commands:\n\n{names}"  # noqa: E501


def prepare(tool: str, argv: list[str]) -> tuple[Command, Invocation]:
    shown = hide_target(argv)
    parsed = split_globals(argv, shown)
    if not parsed.rest or parsed.rest[0] == "help":
        raise CtlError(overview(tool), USAGE if not parsed.rest else 0)
    command = REGISTRY[tool].get(parsed.rest[0])
    if command is None:
        raise CtlError(f"\nCommand '{parsed.rest[0]}' not found. \n\n{overview(tool)}", USAGE)
    args, switches = split_switches(command, parsed.rest[1:], shown)
    opts = options(parsed, switches, shown)
    command.check_args(args, shown)
    target = find_target(parsed.values.get("url"), parsed.values.get("config"))
    client = Client(target, opts.timeout or DEFAULT_TIMEOUT)
    inv = Invocation(args, opts, shown, client)
    command.validate(inv)
    return command, inv


def execute(command: Command, inv: Invocation) -> None:
    chatty = not (inv.opts.quiet or inv.opts.silent or inv.opts.formatter == "json")
    if chatty and command.timeout_banner:
        print(f"Timeout: {inv.opts.timeout or DEFAULT_TIMEOUT:.1f} seconds ...")
    banner = command.banner(inv) if chatty else None
    if banner:
        print(banner, flush=True)
    emit(command.run(inv), inv.opts)


def run(tool: str, argv: list[str]) -> int:
    load_commands()
    try:
        command, inv = prepare(tool, argv)
        execute(command, inv)
    except CtlError as err:
        sys.stdout.flush()
        print(err.text, file=sys.stderr if err.code else sys.stdout)
        return err.code
    return 0


def main(argv: list[str] | None = None, tool: str = "ctl") -> int:
    return run(tool, list(sys.argv[1:] if argv is None else argv))
