"""Validation of queue arguments on declare, with RabbitMQ 3.10's verdicts and order.

``check_new_queue`` returns the ChannelError RabbitMQ would give for a new
queue, or None. The checks run in RabbitMQ's fixed order, whatever the order of
the table: the dead-letter exchange's type, the queue type, each argument the
queue type supports, arguments it does not support, then properties.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from amqpd.errors import ChannelCrash, ChannelError, ReplyCode
from amqpd.model.arguments import type_name

MAX_TTL = 315360000000  # ten years in ms, RabbitMQ's bound for TTLs and expiry
QUEUE_TYPES = ("classic", "quorum", "stream")
# x-max-age and the interval form of x-stream-offset: a positive count of one unit.
AGE_UNITS = {"Y": 365 * 86400, "M": 30 * 86400, "D": 86400, "h": 3600, "m": 60, "s": 1}
_AGE = re.compile(r"([0-9]+)([YMDhms])")

Check = Callable[[object, str | None, dict], str | None]


def _int_problem(value: object, letter: str | None) -> str | None:
    if isinstance(value, bool) or not isinstance(value, int):
        return f'"expected integer, got {type_name(value, letter)}"'
    return None


def _ranged(
    low_zero_ok: bool, high: int | None = None, high_term: str = "value_too_large"
) -> Check:
    def check(value: object, letter: str | None, args: dict) -> str | None:
        problem = _int_problem(value, letter)
        if problem:
            return problem
        if value < 0:
            return f"{{value_negative,{value}}}"
        if value == 0 and not low_zero_ok:
            return f"{{value_zero,{value}}}"
        if high is not None and value > high:
            return f"{{{high_term},{value}}}"
        return None

    return check


def _is_text(value: object) -> bool:
    # Only a longstr is text here: RabbitMQ refuses a byte array ("binary").
    return isinstance(value, str)


def _text(value: object) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _enum(allowed: tuple[str, ...], invalid: Callable[[str], str]) -> Check:
    def check(value: object, letter: str | None, args: dict) -> str | None:
        if not _is_text(value):
            return f"{{unacceptable_type,{type_name(value, letter)}}}"
        return None if _text(value) in allowed else invalid(_text(value))

    return check


def _dlrk(value: object, letter: str | None, args: dict) -> str | None:
    if not _is_text(value):
        return f"{{unacceptable_type,{type_name(value, letter)}}}"
    return None if "x-dead-letter-exchange" in args else "routing_key_but_no_dlx_defined"


def _boolean(value: object, letter: str | None, args: dict) -> str | None:
    return None if isinstance(value, bool) else f"{{unacceptable_type,{type_name(value, letter)}}}"


def _version(value: object, letter: str | None, args: dict) -> str | None:
    problem = _int_problem(value, letter)
    if problem:
        return problem
    return None if value in (1, 2) else f"\"unsupported queue version '{value}'\""


def _any(value: object, letter: str | None, args: dict) -> str | None:
    return None


def age_seconds(text: str) -> int | None:
    """Seconds of an age such as '7D' or '12h' (RabbitMQ's Y, M, D, h, m, s), or None."""
    match = _AGE.fullmatch(text)
    if match is None or int(match[1]) <= 0:
        return None
    return int(match[1]) * AGE_UNITS[match[2]]


def _max_age(value: object, letter: str | None, args: dict) -> str | None:
    if not _is_text(value):
        return f"{{unacceptable_type,{type_name(value, letter)}}}"
    text = _text(value)
    if not text[:1].isdigit():  # RabbitMQ 3.10's parser crashes on these ("", "-1s", "h")
        raise ChannelCrash()
    return None if age_seconds(text) is not None else "invalid_max_age"


# Every argument RabbitMQ knows, in the order it checks them.
CHECKS: list[tuple[str, Check]] = [
    ("x-expires", _ranged(False, MAX_TTL)),
    ("x-message-ttl", _ranged(True, MAX_TTL)),
    ("x-dead-letter-exchange", _any),  # its type is checked first, separately
    ("x-dead-letter-routing-key", _dlrk),
    ("x-dead-letter-strategy", _enum(("at-least-once", "at-most-once"),
                                     lambda v: "invalid_dlx_strategy")),
    ("x-max-length", _ranged(True)),
    ("x-max-length-bytes", _ranged(True)),
    ("x-max-in-memory-length", _ranged(True)),
    ("x-max-in-memory-bytes", _ranged(True)),
    ("x-max-priority", _ranged(True, 255, "max_value_exceeded")),
    ("x-overflow", _enum(("drop-head", "reject-publish", "reject-publish-dlx"),
                         lambda v: "invalid_overflow")),
    ("x-queue-mode", _enum(("default", "lazy"), lambda v: f"\"unsupported queue mode '{v}'\"")),
    ("x-queue-version", _version),
    ("x-single-active-consumer", _boolean),
    ("x-delivery-limit", _any),
    ("x-quorum-initial-group-size", _ranged(False)),
    # RabbitMQ 3.10 still takes the older names random and least-leaders.
    ("x-queue-leader-locator", _enum(("client-local", "balanced", "random", "least-leaders"),
                                     lambda v: "invalid_queue_locator_arg")),
    ("x-max-age", _max_age),
    ("x-stream-max-segment-size-bytes", _ranged(True)),
    ("x-initial-cluster-size", _ranged(False)),
]  # fmt: skip

# Arguments each queue type refuses outright, whatever their value.
UNSUPPORTED = {
    "classic": ("x-delivery-limit", "x-max-in-memory-length", "x-max-in-memory-bytes",
                "x-dead-letter-strategy", "x-max-age", "x-quorum-initial-group-size",
                "x-queue-leader-locator", "x-stream-max-segment-size-bytes",
                "x-initial-cluster-size"),
    "quorum": ("x-max-priority", "x-queue-mode", "x-queue-version", "x-max-age",
               "x-stream-max-segment-size-bytes", "x-initial-cluster-size"),
    "stream": ("x-expires", "x-message-ttl", "x-dead-letter-exchange",
               "x-dead-letter-routing-key", "x-dead-letter-strategy", "x-max-length",
               "x-max-in-memory-length", "x-max-in-memory-bytes", "x-max-priority",
               "x-overflow", "x-queue-mode", "x-queue-version", "x-single-active-consumer",
               "x-delivery-limit", "x-quorum-initial-group-size"),
}  # fmt: skip
MAX_SEGMENT_BYTES = 3_000_000_000  # RabbitMQ's bound for x-stream-max-segment-size-bytes
TYPE_MODULES = {
    "classic": "rabbit_classic_queue",
    "quorum": "rabbit_quorum_queue",
    "stream": "rabbit_stream_queue",
}


def queue_type(arguments: dict) -> str:
    value = arguments.get("x-queue-type")
    return _text(value) if _is_text(value) else "classic"


def check_new_queue(
    name: str,
    vhost: str,
    arguments: dict,
    *,
    server_named: bool,
    durable: bool,
    exclusive: bool,
    auto_delete: bool,
) -> ChannelError | None:
    where = f"for queue '{name}' in vhost '{vhost}'"
    types = getattr(arguments, "types", {})
    problem = _check_type_arguments(name, vhost, arguments, types)
    if problem is not None:
        return problem
    kind = queue_type(arguments)
    if kind != "classic" and server_named:
        return ChannelError(
            ReplyCode.PRECONDITION_FAILED,
            f"Cannot declare a server-named queue for type {TYPE_MODULES[kind]}",
        )
    unsupported = UNSUPPORTED[kind]
    for arg, check in CHECKS:
        if arg in arguments and arg not in unsupported:
            reason = check(arguments[arg], types.get(arg), arguments)
            if reason:
                return _invalid(arg, where, reason)
    for arg in arguments:
        if arg in unsupported:
            return ChannelError(
                ReplyCode.PRECONDITION_FAILED,
                f"invalid arg '{arg}' {where} of queue type {TYPE_MODULES[kind]}",
            )
    if kind == "stream" and _segment_too_big(arguments):
        return ChannelError(
            ReplyCode.PRECONDITION_FAILED,
            "Exceeded max value for x-stream-max-segment-size-bytes",
        )
    if kind != "classic":  # quorum queues and streams: durable, shared, kept
        return _check_quorum_properties(where, durable, exclusive, auto_delete)
    return None


def _segment_too_big(arguments: dict) -> bool:
    size = arguments.get("x-stream-max-segment-size-bytes")
    return isinstance(size, int) and size > MAX_SEGMENT_BYTES


def _invalid(arg: str, where: str, reason: str) -> ChannelError:
    return ChannelError(ReplyCode.PRECONDITION_FAILED, f"invalid arg '{arg}' {where}: {reason}")


def _check_type_arguments(
    name: str, vhost: str, arguments: dict, types: dict
) -> ChannelError | None:
    """The two arguments RabbitMQ checks first: the dead-letter exchange's type, the queue type."""
    dlx = arguments.get("x-dead-letter-exchange")
    if dlx is not None and not _is_text(dlx):
        return ChannelError(
            ReplyCode.PRECONDITION_FAILED,
            f"invalid type '{type_name(dlx, types.get('x-dead-letter-exchange'))}' for arg "
            f"'x-dead-letter-exchange' in queue '{name}' in vhost '{vhost}'",
        )
    if "x-queue-type" not in arguments:
        return None
    where = f"for queue '{name}' in vhost '{vhost}'"
    value = arguments["x-queue-type"]
    if not _is_text(value):
        reason = f"{{unacceptable_type,{type_name(value, types.get('x-queue-type'))}}}"
        return _invalid("x-queue-type", where, reason)
    if _text(value) not in QUEUE_TYPES:
        return _invalid("x-queue-type", where, f"\"unsupported queue type '{_text(value)}'\"")
    return None


def _check_quorum_properties(
    where: str, durable: bool, exclusive: bool, auto_delete: bool
) -> ChannelError | None:
    for bad, prop in (
        (auto_delete, "auto-delete"),
        (exclusive, "exclusive-owner"),
        (not durable, "non-durable"),
    ):
        if bad:
            return ChannelError(ReplyCode.PRECONDITION_FAILED, f"invalid property '{prop}' {where}")
    return None


def check_consumer(
    queue_name: str, vhost: str, queue_kind: str, arguments: dict
) -> ChannelError | None:
    """The ChannelError RabbitMQ gives for basic.consume arguments, or None."""
    types = getattr(arguments, "types", {})
    where = f"for queue '{queue_name}' in vhost '{vhost}'"
    if "x-priority" in arguments:
        problem = _int_problem(arguments["x-priority"], types.get("x-priority"))
        if problem:
            return ChannelError(
                ReplyCode.PRECONDITION_FAILED, f"invalid arg 'x-priority' {where}: {problem}"
            )
        if queue_kind == "stream":  # streams have no consumer priorities
            return ChannelError(
                ReplyCode.PRECONDITION_FAILED,
                f"invalid arg 'x-priority' {where} of queue type {TYPE_MODULES[queue_kind]}",
            )
    if "x-cancel-on-ha-failover" in arguments:
        reason = _boolean(
            arguments["x-cancel-on-ha-failover"], types.get("x-cancel-on-ha-failover"), arguments
        )
        if reason:
            return ChannelError(
                ReplyCode.PRECONDITION_FAILED,
                f"invalid arg 'x-cancel-on-ha-failover' {where}: {reason}",
            )
    if "x-stream-offset" in arguments and queue_kind != "stream":
        return ChannelError(
            ReplyCode.PRECONDITION_FAILED,
            f"invalid arg 'x-stream-offset' {where} of queue type {TYPE_MODULES[queue_kind]}",
        )
    return None
