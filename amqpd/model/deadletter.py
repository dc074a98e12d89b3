"""Dead-lettering: the message RabbitMQ 3.10 republishes, header for header.

What changes (all else is kept, with its wire types):

* ``expiration`` is removed (its value goes into x-death as original-expiration);
* ``x-death`` gains an entry for (queue, reason) at the front, or that entry's
  count goes up and it moves to the front (the others end up reversed, as
  RabbitMQ's regrouping leaves them); a brand-new first entry keeps RabbitMQ's
  field order, later ones have their keys sorted;
* ``x-first-death-exchange/-queue/-reason`` are set with the first entry only;
* with x-dead-letter-routing-key, the CC header is dropped;
* the headers table is sorted by key.
"""

from __future__ import annotations

from amqpd.model.message import Message
from amqpd.wire.fieldtable import Field, longstr


def dead_letter(
    message: Message, queue: str, reason: str, wall_time: float, dlx: str, dlrk: str | None
) -> tuple[Message, list[str]]:
    """The message to publish to ``dlx`` and the routing keys to publish it with."""
    props = dict(message.props)
    original_expiration = props.pop("expiration", None)
    headers: dict[str, Field] = dict(props.get("headers") or {})
    if dlrk is not None:
        headers.pop("CC", None)
    keys_field = ("A", [longstr(k) for k in [message.routing_key, *message.cc]])
    fresh = {
        "count": ("l", 1),
        "reason": longstr(reason),
        "queue": longstr(queue),
        "time": ("T", int(wall_time)),
        "exchange": longstr(message.exchange),
        "routing-keys": keys_field,
    }
    if original_expiration is not None:
        fresh["original-expiration"] = ("S", original_expiration)
    existing = headers.get("x-death")
    if existing is None:
        headers["x-death"] = ("A", [("F", fresh)])
        headers["x-first-death-exchange"] = longstr(message.exchange)
        headers["x-first-death-queue"] = longstr(queue)
        headers["x-first-death-reason"] = longstr(reason)
    elif existing[0] != "A":
        headers["x-death"] = ("A", [("F", fresh)])
    else:
        headers["x-death"] = ("A", _record(existing[1], queue, reason, fresh))
    props["headers"] = dict(sorted(headers.items(), key=lambda item: item[0].encode()))
    copy = message.with_properties(props)
    copy.exchange = dlx
    copy.ttl = None
    if dlrk is not None:
        copy.routing_key = dlrk
        copy.cc, copy.bcc = [], []
        return copy, [dlrk]
    return copy, [message.routing_key, *message.cc, *message.bcc]


def _record(deaths: list[Field], queue: str, reason: str, fresh: dict) -> list[Field]:
    """The x-death array after one more death, built the way RabbitMQ 3.10 builds it.

    RabbitMQ first folds the existing entries into one per (queue, reason),
    prepending as it goes, so the other entries come out in reverse order; an
    entry without a count gets the number of entries it stood for. The entry for
    this death (counted up, or new) then goes in front, its keys sorted.
    """
    tables = [entry for kind, entry in deaths if kind == "F"]
    grouped: list[dict[str, Field]] = []
    seen: set[tuple] = set()
    for entry in tables:
        key = _event_key(entry)
        if key in seen:
            continue
        seen.add(key)
        if "count" not in entry:
            same = sum(1 for other in tables if _event_key(other) == key)
            entry = {**entry, "count": ("l", same)}
        grouped.insert(0, entry)
    match = next((e for e in grouped if _event_key(e) == (queue, reason)), None)
    others = [e for e in grouped if e is not match]
    if match is None:
        current = fresh
    else:
        kind, count = match["count"]
        counted = (kind, count + 1) if kind in ("l", "I") else ("l", 1)
        current = {**match, "count": counted}
    return [("F", _sorted(current)), *(("F", e) for e in others)]


def _event_key(entry: dict[str, Field]) -> tuple:
    return _text(entry.get("queue")), _text(entry.get("reason"))


def _sorted(table: dict[str, Field]) -> dict[str, Field]:
    return dict(sorted(table.items(), key=lambda item: item[0].encode()))


def _text(field: Field | None) -> str | None:
    if field is None or field[0] != "S":
        return None
    return field[1].decode("utf-8", "replace")


def is_cycle(target: str, reason: str, message: Message) -> bool:
    """Whether dead-lettering ``message`` into ``target`` closes a cycle with no
    rejection in it (RabbitMQ drops the message for that queue then).

    ``message`` is the dead-lettered copy, its new x-death entry included.
    """
    if reason == "rejected":
        return False
    deaths = message.typed_headers.get("x-death")
    if deaths is None or deaths[0] != "A":
        return False
    cycle = []
    for kind, entry in deaths[1]:
        cycle.append((kind, entry))
        if kind == "F" and _text(entry.get("queue")) == target:
            return all(k == "F" and _text(e.get("reason")) != "rejected" for k, e in cycle)
    return False
