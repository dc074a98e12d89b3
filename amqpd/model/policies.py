"""Policies and operator policies: records, validation, matching, effective settings.

As in RabbitMQ 3.10 (rabbit_policy, rabbit_policies, args_policy_lookup):

- A policy names a regular expression (matched anywhere in the name unless
  anchored), what it applies to (queues, exchanges or all), a priority and a
  definition. Of the policies that match an object, exactly one applies: the
  highest priority wins; RabbitMQ leaves ties to its table order, we take the
  first name in sort order.
- A policy applies to a queue only if the queue's type supports every key of
  its definition: one with delivery-limit never reaches a classic queue, one
  with queue-mode or ha-* never reaches a quorum queue.
- Operator policies accept only the limits (expires, message-ttl,
  max-length, max-length-bytes, max-in-memory-*, delivery-limit); where both
  kinds set a key, the lower value counts.
- Against the queue's own arguments: the lower value counts for TTLs and
  lengths; the argument wins for dead-lettering and overflow (on quorum
  queues the policy wins for overflow and expires); for an exchange the
  alternate-exchange argument wins over the policy.

ha-* and queue-master-locator keys are validated and kept, as real definition
files carry them; amqpd has no mirrors, so they change nothing.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

QUEUES, EXCHANGES, ALL = "queues", "exchanges", "all"
APPLY_TO = (QUEUES, EXCHANGES, ALL)

OPERATOR_KEYS = frozenset(
    {"expires", "message-ttl", "max-length", "max-length-bytes", "max-in-memory-length",
     "max-in-memory-bytes", "delivery-limit"}
)  # fmt: skip
MIRRORING_KEYS = ("ha-mode", "ha-params", "ha-sync-mode", "ha-sync-batch-size",
                  "ha-promote-on-shutdown", "ha-promote-on-failure")  # fmt: skip
# Keys each queue type refuses: a policy carrying one does not apply to it at all.
UNSUPPORTED = {
    "classic": frozenset({"max-age", "stream-max-segment-size-bytes", "queue-leader-locator",
                          "initial-cluster-size", "delivery-limit", "dead-letter-strategy"}),
    "quorum": frozenset({"max-priority", "queue-mode", "single-active-consumer",
                         *MIRRORING_KEYS, "queue-master-locator", "max-age",
                         "stream-max-segment-size-bytes", "initial-cluster-size"}),
    # Streams take max-age, max-length-bytes, the segment size, the locator, the size.
    "stream": frozenset({"message-ttl", "expires", "max-length", "overflow",
                         "dead-letter-exchange", "dead-letter-routing-key",
                         "dead-letter-strategy", "delivery-limit", "max-priority",
                         "max-in-memory-length", "max-in-memory-bytes", "queue-mode",
                         "queue-version", "single-active-consumer", *MIRRORING_KEYS,
                         "queue-master-locator"}),
}  # fmt: skip
MIN_MERGED = frozenset(OPERATOR_KEYS)  # keys where policy and operator policy merge by min


class PolicyError(ValueError):
    """A definition RabbitMQ refuses; ``reasons`` in its order, each one line."""

    def __init__(self, reasons: list[str]) -> None:
        super().__init__("; ".join(reasons))
        self.reasons = reasons

    @property
    def text(self) -> str:
        return "Validation failed\n\n" + "".join(r + "\n" for r in self.reasons)


# ---- Erlang's ~p, for the texts RabbitMQ writes ------------------------------------------
def erl(value: object) -> str:
    """A JSON value as RabbitMQ prints it in a reason (``~p`` of the decoded term)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _erl_float(value)
    if isinstance(value, str):
        return '<<"' + value.replace("\\", "\\\\").replace('"', '\\"') + '">>'
    if isinstance(value, list):
        return "[" + ",".join(erl(v) for v in value) + "]"
    if isinstance(value, dict):
        return "#{" + ",".join(f"{erl(k)} => {erl(v)}" for k, v in sorted(value.items())) + "}"
    return repr(value)


def _erl_float(value: float) -> str:
    if not math.isfinite(value):
        return repr(value)
    text = repr(value)
    mantissa, _, exponent = text.partition("e")
    if "." not in mantissa:
        mantissa += ".0"
    return f"{mantissa}e{int(exponent)}" if exponent else mantissa


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


# ---- validation of definitions ------------------------------------------------------------
def _non_negative(text: str):  # noqa: ANN202 - a validator
    return lambda v: None if _is_int(v) and v >= 0 else f"{erl(v)} is not a valid {text}"


def _one_of(values: tuple, text: str):  # noqa: ANN202 - a validator
    return lambda v: None if v in values and not isinstance(v, bool) else f"{erl(v)} {text}"


def _binary(text: str):  # noqa: ANN202 - a validator
    return lambda v: None if isinstance(v, str) else f"{erl(v)} is not a valid {text}"


# rabbit_policies' keys, validated in the order of the definition's keys.
_VALIDATORS = {
    "alternate-exchange": _binary("alternate exchange name"),
    "dead-letter-exchange": _binary("dead letter exchange name"),
    "dead-letter-routing-key": _binary("dead letter routing key"),
    "dead-letter-strategy": _one_of(("at-most-once", "at-least-once"),
                                    "is not a valid dead letter strategy"),
    "message-ttl": _non_negative("message TTL"),
    "expires": lambda v: None if _is_int(v) and v >= 1 else f"{erl(v)} is not a valid queue expiry",
    "max-length": _non_negative("maximum length"),
    "max-length-bytes": _non_negative("maximum length in bytes"),
    "max-in-memory-length": _non_negative("maximum memory in bytes"),
    "max-in-memory-bytes": _non_negative("maximum memory in bytes"),
    "queue-mode": _one_of(("default", "lazy"), "is not a valid queue-mode value"),
    "queue-version": lambda v: None if _is_int(v) and v in (1, 2)
    else f"{erl(v)} is not a valid queue-version value",
    "overflow": _one_of(("drop-head", "reject-publish", "reject-publish-dlx"),
                        "is not a valid overflow value"),
    "delivery-limit": _non_negative("delivery limit"),
    "max-age": lambda v: None if isinstance(v, str) and re.fullmatch(r"\d+(Y|M|D|h|m|s)", v)
    else f"{erl(v)} is not a valid max age",
    "stream-max-segment-size-bytes": lambda v: None if _is_int(v) and 0 <= v <= 3_000_000_000
    else f"{erl(v)} is not a valid segment size",
    "queue-leader-locator": _one_of(("client-local", "balanced", "random", "least-leaders"),
                                    "is not a valid queue leader locator value"),
    "initial-cluster-size": _non_negative("cluster size"),
}  # fmt: skip
_LOCATORS = ("min-masters", "client-local", "random")


def _mirroring(definition: dict) -> str | None:
    """rabbit_mirror_queue_misc's check of the ha-* keys taken together."""
    mode = definition.get("ha-mode")
    if not any(key in definition for key in MIRRORING_KEYS):
        return None
    if mode is None:
        return ("ha-mode must be specified to specify ha-params, ha-sync-mode or "
                "ha-promote-on-shutdown")  # fmt: skip
    if mode not in ("all", "exactly", "nodes"):
        return f"{erl(mode)} is not a valid ha-mode value"
    return _ha_params(mode, definition) or _ha_sync_and_promotion(definition)


def _ha_params(mode: str, definition: dict) -> str | None:
    params = definition.get("ha-params")
    if mode == "all" and "ha-params" in definition:
        return 'ha-mode="all" does not take parameters'
    if mode == "exactly" and not (_is_int(params) and params > 0):
        return f'ha-mode="exactly" takes an integer, {erl(params)} given'
    if mode != "nodes":
        return None
    if not isinstance(params, list):
        return f'ha-mode="nodes" takes a list, {erl(params)} given'
    if not params:
        return 'ha-mode="nodes" list must be non-empty'
    bad = [p for p in params if not isinstance(p, str)]
    if bad:
        return f'ha-mode="nodes" takes a list of strings, {erl(bad)} was not a string'
    return None


def _ha_sync_and_promotion(definition: dict) -> str | None:
    sync = definition.get("ha-sync-mode")
    if sync is not None and sync not in ("automatic", "manual"):
        return f'ha-sync-mode must be "manual" or "automatic", got {erl(sync)}'
    batch = definition.get("ha-sync-batch-size")
    if batch is not None and not (_is_int(batch) and batch > 0):
        return f"ha-sync-batch-size takes an integer greater than 0, {erl(batch)} given"
    for key in ("ha-promote-on-shutdown", "ha-promote-on-failure"):
        value = definition.get(key)
        if value is not None and value not in ("always", "when-synced"):
            return f'{key} must be "always" or "when-synced", got {erl(value)}'
    return None


def check_definition(definition: object, operator: bool) -> str | None:
    """RabbitMQ's reason for refusing a definition, or None."""
    if not isinstance(definition, dict):
        return f"definition must be a dictionary: {erl(definition)}"
    if not definition:
        return "no policy provided"
    items = sorted(definition.items())
    known = OPERATOR_KEYS if operator else set(_VALIDATORS)
    for key, value in items:
        if key in known:
            reason = _VALIDATORS[key](value)
            if reason:
                return reason
    left = [(k, v) for k, v in items if k not in known]
    if not operator:
        reason = _mirroring(definition)
        if reason:
            return reason
        locator = definition.get("queue-master-locator")
        if "queue-master-locator" in definition and locator not in _LOCATORS:
            return f"{erl(locator)} invalid queue-master-locator value"
        left = [(k, v) for k, v in left if k not in MIRRORING_KEYS and k != "queue-master-locator"]
    if left:
        listed = ",".join(f"{{{erl(k)},{erl(v)}}}" for k, v in left)
        return f"[{listed}] are not recognised policy settings"
    return None


# ---- records ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Policy:
    vhost: str
    name: str
    pattern: str
    apply_to: str
    definition: dict
    priority: int | float = 0
    regex: re.Pattern = field(compare=False, repr=False, default=None)  # type: ignore[assignment]

    def render(self) -> dict:
        """As the management API and definitions files show it."""
        return {
            "vhost": self.vhost,
            "name": self.name,
            "pattern": self.pattern,
            "apply-to": self.apply_to,
            "definition": dict(self.definition),
            "priority": self.priority,
        }

    def applies_to(self, kind: str, name: str, queue_type: str | None = None) -> bool:
        """``kind`` is "queue" or "exchange"; ``queue_type`` for queues."""
        if self.apply_to != ALL and self.apply_to != kind + "s":
            return False
        if queue_type is not None and UNSUPPORTED.get(queue_type, frozenset()) & set(
            self.definition
        ):
            return False
        return self.regex.search(name) is not None


# Python's texts for regular expression faults, as PCRE (RabbitMQ's re) words them,
# with where PCRE says the fault is.
_PCRE = {
    "unbalanced parenthesis": ("unmatched parentheses", lambda p, pos: pos),
    "nothing to repeat": ("nothing to repeat", lambda p, pos: pos),
    "unterminated character set": ("missing terminating ] for character class",
                                   lambda p, pos: len(p)),
    "missing ), unterminated subpattern": ("missing )", lambda p, pos: len(p)),
    "min repeat greater than max repeat": ("numbers out of order in {} quantifier",
                                           lambda p, pos: p.find("}", pos)),
}  # fmt: skip
_REGEX_PREFIX = "pattern should be regular expression but is invalid: "


def _compile(pattern: str) -> re.Pattern | str:
    """The compiled pattern, or RabbitMQ's reason for refusing it."""
    try:
        return re.compile(pattern)
    except re.error as err:
        text, where = _PCRE.get(err.msg, (err.msg, lambda p, pos: pos))
        offset = where(pattern, err.pos or 0)
    term = f'{{"{text}",{offset}}}'
    if len(_REGEX_PREFIX) + len(term) > 79:  # Erlang's ~p breaks the tuple at 80 columns
        term = f'{{"{text}",\n{" " * (len(_REGEX_PREFIX) + 1)}{offset}}}'
    return _REGEX_PREFIX + term


def parse(vhost: str, name: str, body: dict, operator: bool = False) -> Policy:
    """A policy from the API's JSON body (``pattern`` and ``definition`` present);
    PolicyError with RabbitMQ's reasons, in its order, otherwise."""
    pattern = body["pattern"]
    definition = body["definition"]
    priority = body.get("priority", 0)
    apply_to = body.get("apply-to", ALL)
    reasons = []
    reason = check_definition(definition, operator)
    if reason:
        reasons.append(reason)
    if apply_to not in APPLY_TO:
        text = apply_to if isinstance(apply_to, str) else erl(apply_to)
        reasons.append(f"apply-to '{text}' unrecognised; should be 'queues', 'exchanges' or 'all'")
    regex = None
    if not isinstance(pattern, str):
        reasons.append(f"pattern should be a binary but was {erl(pattern)}")
    else:
        compiled = _compile(pattern)
        if isinstance(compiled, str):
            reasons.append(compiled)
        else:
            regex = compiled
    if isinstance(priority, bool) or not isinstance(priority, int | float):
        reasons.append(f"priority should be a number, actually was {erl(priority)}")
    if reasons:
        raise PolicyError(reasons)
    return Policy(vhost, name, pattern, apply_to, dict(definition), priority, regex)


def from_record(value: dict) -> Policy:
    """A policy as stored (its rendering), trusted: it was validated when set."""
    return Policy(value["vhost"], value["name"], value["pattern"], value["apply-to"],
                  value["definition"], value["priority"], re.compile(value["pattern"]))  # fmt: skip


class PolicySet:
    """A vhost's policies and operator policies, and which one applies to what."""

    def __init__(self) -> None:
        self.user: dict[str, Policy] = {}
        self.operator: dict[str, Policy] = {}

    def table(self, operator: bool) -> dict[str, Policy]:
        return self.operator if operator else self.user

    def match(
        self, kind: str, name: str, queue_type: str | None = None
    ) -> tuple[Policy | None, Policy | None]:
        """The policy and the operator policy that apply to the object."""
        return (
            _best(self.user, kind, name, queue_type),
            _best(self.operator, kind, name, queue_type),
        )


def _best(table: dict[str, Policy], kind: str, name: str, queue_type: str | None) -> Policy | None:
    best = None
    for policy_name in sorted(table):
        policy = table[policy_name]
        if policy.applies_to(kind, name, queue_type) and (
            best is None or policy.priority > best.priority
        ):
            best = policy
    return best


# ---- effective settings -------------------------------------------------------------------
@dataclass(frozen=True)
class QueueSettings:
    """What a queue obeys, from its arguments and the policies that apply to it."""

    message_ttl: int | None = None
    expires: int | None = None
    max_length: int | None = None
    max_length_bytes: int | None = None
    overflow: str = "drop-head"
    dead_letter_exchange: str | None = None
    dead_letter_routing_key: str | None = None
    delivery_limit: int | None = None
    queue_mode: str = "default"


def effective_definition(policy: Policy | None, operator: Policy | None) -> dict:
    """The merged definition the management API shows as effective_policy_definition."""
    merged = dict(policy.definition) if policy else {}
    for key, value in (operator.definition if operator else {}).items():
        merged[key] = min(merged[key], value) if key in merged and key in MIN_MERGED else value
    return dict(sorted(merged.items()))


def _arg(arguments: dict, name: str) -> object:
    value = arguments.get(name)
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


def _int(value: object) -> int | None:
    return value if _is_int(value) else None


def _str(value: object) -> str | None:
    return value if isinstance(value, str) else None


def queue_settings(
    arguments: dict, policy: Policy | None = None, operator: Policy | None = None
) -> QueueSettings:
    """The one place a queue's settings are decided (rabbit_queue_type_util:args_policy_lookup)."""
    quorum = _arg(arguments, "x-queue-type") == "quorum"
    definition = effective_definition(policy, operator)

    def lookup(key: str, resolve: str, valid) -> object:  # noqa: ANN001 - _int or _str
        arg, pol = valid(_arg(arguments, "x-" + key)), valid(definition.get(key))
        if arg is None or pol is None:
            return pol if arg is None else arg
        return min(arg, pol) if resolve == "min" else (arg if resolve == "arg" else pol)

    # Classic queues keep the argument for overflow and expires' minimum; quorum
    # queues let the policy decide both (rabbit_quorum_queue:ra_machine_config).
    return QueueSettings(
        message_ttl=lookup("message-ttl", "min", _int),
        expires=lookup("expires", "policy" if quorum else "min", _int),
        max_length=lookup("max-length", "min", _int),
        max_length_bytes=lookup("max-length-bytes", "min", _int),
        overflow=lookup("overflow", "policy" if quorum else "arg", _str) or "drop-head",
        dead_letter_exchange=lookup("dead-letter-exchange", "arg", _str),
        dead_letter_routing_key=lookup("dead-letter-routing-key", "arg", _str),
        delivery_limit=lookup("delivery-limit", "min", _int),
        queue_mode=lookup("queue-mode", "arg", _str) or "default",
    )


def alternate_exchange(
    arguments: dict, policy: Policy | None = None, operator: Policy | None = None
) -> str | None:
    """An exchange's alternate: its argument, else its policy's (rabbit_policy:get_arg)."""
    value = _str(_arg(arguments, "alternate-exchange"))
    if value is None:
        value = _str(effective_definition(policy, operator).get("alternate-exchange"))
    return value
