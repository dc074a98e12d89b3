"""Prometheus's text exposition format (version 0.0.4), as prometheus.erl writes it."""

from __future__ import annotations

from dataclasses import dataclass

from amqpd.metrics.families import describe

CONTENT_TYPE = "text/plain; version=0.0.4"

Labels = dict[str, str]
Sample = tuple[Labels, float]


@dataclass(frozen=True)
class Metric:
    """One family and its samples; its TYPE and HELP come from families.py."""

    name: str
    samples: list[Sample]


def render(metrics: list[Metric]) -> bytes:
    out: list[str] = []
    for metric in metrics:
        kind, help_text = describe(metric.name)
        out.append(f"# TYPE {metric.name} {kind}\n# HELP {metric.name} {_escape_help(help_text)}\n")
        for labels, value in metric.samples:
            out.append(f"{metric.name}{_labels(labels)} {_number(value)}\n")
    return "".join(out).encode()


def _labels(labels: Labels) -> str:
    if not labels:
        return ""
    inner = ",".join(f'{key}="{_escape_value(value)}"' for key, value in labels.items())
    return "{" + inner + "}"


def _escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def _escape_value(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _number(value: float) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int) or float(value).is_integer():
        return str(int(value))
    return repr(float(value))
