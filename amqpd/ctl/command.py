"""What a command is: rabbitmqctl's defaults, validate, run, output, usage and banner."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property

from amqpd.ctl.client import Client
from amqpd.ctl.errors import UsageError

Row = dict[str, object]


@dataclass
class Options:
    vhost: str = "/"
    quiet: bool = False
    silent: bool = False
    formatter: str = "table"
    table_headers: bool = True
    timeout: float | None = None
    switches: dict[str, str | bool] = field(default_factory=dict)


@dataclass
class Invocation:
    """One run of a command: its positional arguments, its options and its broker."""

    args: list[str]
    opts: Options
    argv: list[str]
    client: Client

    @cached_property
    def node(self) -> str:
        overview = self.client.get("/api/overview")
        return str(overview.get("node", "")) if isinstance(overview, dict) else ""

    def switch(self, name: str, default: str | bool = False) -> str | bool:
        return self.opts.switches.get(name, default)


@dataclass(frozen=True)
class Listing:
    """A command's answer as a table: rows of values keyed by column."""

    columns: list[str]
    rows: list[Row]


@dataclass(frozen=True)
class Text:
    """A command's answer as lines, and what ``--formatter json`` prints instead."""

    lines: list[str]
    json: object = None
    silenceable: bool = False  # -s prints nothing (the health checks)


Result = Listing | Text | None


@dataclass(frozen=True)
class Command:
    name: str
    usage: str
    run: Callable[[Invocation], Result]
    banner: Callable[[Invocation], str | None] = lambda inv: None
    nargs: tuple[int, int] = (0, 0)
    switches: dict[str, bool] = field(default_factory=dict)  # flag -> takes a value
    validate: Callable[[Invocation], None] = lambda inv: None
    columns: tuple[str, ...] = ()  # list commands: the info items it knows
    timeout_banner: bool = False  # list_queues prints 'Timeout: 60.0 seconds ...'

    def check_args(self, args: list[str], argv: list[str]) -> None:
        low, high = self.nargs
        if len(args) < low:
            raise UsageError("not enough arguments.", argv, self.full_usage)
        if len(args) > high and not self.columns:
            raise UsageError("too many arguments.", argv, self.full_usage)

    @property
    def full_usage(self) -> str:
        return f"rabbitmqctl [--node <node>] [--longnames] [--quiet] {self.usage}"


def check_columns(inv: Invocation, known: tuple[str, ...]) -> None:
    unknown = [col for col in inv.args if col not in known]
    if unknown:
        raise UsageError(f"Info key(s) {','.join(unknown)} are not supported", inv.argv)


REGISTRY: dict[str, dict[str, Command]] = {"ctl": {}, "diagnostics": {}}


def register(tool: str, *commands: Command) -> None:
    for command in commands:
        REGISTRY[tool][command.name] = command
