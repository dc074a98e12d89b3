"""Printing: progress lines while a bench runs, and the amqpd-vs-RabbitMQ ratio table."""

from __future__ import annotations

import sys
from collections.abc import Sequence

MIB = 1024 * 1024


def log(text: str) -> None:
    """A progress note, on stderr so that stdout keeps only the figures."""
    print(f"  .. {text}", file=sys.stderr, flush=True)


def progress(scenario: str, broker: str, text: str) -> None:
    """One scenario's figures on one broker, printed as soon as they are known."""
    print(f"  {scenario:30} {broker:9} {text}", flush=True)


def fmt(value, kind: str) -> str:
    """A figure as the table shows it: ``rate`` msg/s, ``ms``, ``mib`` (bytes in),
    ``s``, ``count``, ``tenths`` (a list of msg/s), anything else as str()."""
    if value is None:
        return "n/a"
    if kind == "rate":
        return f"{value:,.0f}"
    if kind == "ms":
        return f"{value:.1f}" if value >= 10 else f"{value:.2f}"
    if kind == "mib":
        return f"{value / MIB:,.0f}"
    if kind == "s":
        return f"{value:.2f}"
    if kind == "count":
        return f"{value:,}"
    if kind == "tenths":
        return " ".join(f"{v / 1000:.0f}k" for v in value) or "n/a"
    return str(value)


def ratio(a, b) -> str:
    if a is None or b is None or not b:
        return ""
    return f"{a / b:.2f}x"


class Table:
    """A Markdown table of metrics measured on amqpd and on RabbitMQ in the same run,
    with their ratio (amqpd / RabbitMQ)."""

    def __init__(self, brokers: Sequence[str] = ("amqpd", "RabbitMQ")) -> None:
        self.brokers = tuple(brokers)
        self.rows: list[tuple[str, str, str, str]] = []

    def add(self, metric: str, a, b, kind: str, with_ratio: bool = True) -> None:
        """Two figures of one kind (see ``fmt``); None shows as n/a."""
        self.rows.append((metric, fmt(a, kind), fmt(b, kind), ratio(a, b) if with_ratio else ""))

    def text(self, metric: str, a: str, b: str = "", note: str = "") -> None:
        """A row of preformatted cells."""
        self.rows.append((metric, a, b, note))

    def render(self) -> str:
        a, b = self.brokers
        lines = [f"| metric | {a} | {b} | {a} / {b} |", "|---|---:|---:|---:|"]
        lines += [f"| {metric} | {x} | {y} | {r} |" for metric, x, y, r in self.rows]
        return "\n".join(lines)

    def print(self) -> None:
        print(self.render(), flush=True)
