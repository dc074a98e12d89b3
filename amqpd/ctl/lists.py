"""The list_* commands' one shape: fetch a list from the API, pick the asked columns."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from amqpd.ctl.client import ApiError, quote
from amqpd.ctl.command import Command, Invocation, Listing, Result, Row, check_columns

Getter = Callable[[Row], object]


@dataclass(frozen=True)
class ListSpec:
    name: str
    path: str  # "{vhost}" is replaced by the quoted -p vhost
    known: tuple[str, ...]
    default: tuple[str, ...]
    banner: Callable[[Invocation], str]
    getters: dict[str, Getter] = field(default_factory=dict)
    usage_extra: str = ""
    timeout_banner: bool = False


def fetch(inv: Invocation, path: str) -> list[Row]:
    """A list from the API; an unknown vhost lists nothing, as rabbitmqctl does."""
    try:
        items = inv.client.get(path.format(vhost=quote(inv.opts.vhost)))
    except ApiError as err:
        if err.status == 404:
            return []
        raise
    return items if isinstance(items, list) else []


def list_command(spec: ListSpec) -> Command:
    def run(inv: Invocation) -> Result:
        columns = inv.args or list(spec.default)
        rows = [
            {col: spec.getters.get(col, lambda item, c=col: item.get(c))(item) for col in columns}
            for item in fetch(inv, spec.path)
        ]
        return Listing(columns, rows)

    return Command(
        name=spec.name,
        usage=f"{spec.name} {spec.usage_extra}[--no-table-headers] [<column>, ...]",
        run=run,
        banner=spec.banner,
        nargs=(0, len(spec.known)),
        validate=lambda inv: check_columns(inv, spec.known),
        columns=spec.known,
        timeout_banner=spec.timeout_banner,
    )


def nested(key: str, inner: str) -> Getter:
    def get(item: Row) -> object:
        value = item.get(key)
        return value.get(inner) if isinstance(value, dict) else None

    return get


def blank_if_none(key: str) -> Getter:
    return lambda item: "" if item.get(key) is None else item.get(key)
