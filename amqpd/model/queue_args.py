"""Validation of queue arguments on declare, with RabbitMQ's verdicts.

Each validator returns None when the value is acceptable, else the reason as
RabbitMQ prints it after "invalid arg 'x-…' for queue '…' in vhost '…': ".
Arguments not listed here are accepted and ignored, as in RabbitMQ.
"""

from __future__ import annotations

from collections.abc import Callable

from amqpd.model.arguments import type_name

QUEUE_TYPES = ("classic", "quorum", "stream")


def _integer(value: object) -> str | None:
    if isinstance(value, bool) or not isinstance(value, int):
        return f'"expected integer, got {type_name(value)}"'
    return None


def _non_negative(value: object) -> str | None:
    return _integer(value) or (f"{{value_negative,{value}}}" if value < 0 else None)


def _queue_type(value: object) -> str | None:
    text = value.decode("utf-8", "replace") if isinstance(value, bytes) else value
    if text not in QUEUE_TYPES:
        return f"\"unsupported queue type '{text}'\""
    return None


VALIDATORS: dict[str, Callable[[object], str | None]] = {
    "x-message-ttl": _non_negative,
    "x-max-length": _non_negative,
    "x-max-length-bytes": _non_negative,
    "x-queue-type": _queue_type,
}


def invalid_argument(arguments: dict) -> tuple[str, str] | None:
    """The first (argument, reason) RabbitMQ would refuse, or None."""
    for name, check in VALIDATORS.items():
        if name in arguments:
            reason = check(arguments[name])
            if reason:
                return name, reason
    return None
