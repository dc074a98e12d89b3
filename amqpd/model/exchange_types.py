"""Exchange types: each binds, unbinds and routes, knowing nothing of queues.

A destination is any hashable (the vhost uses queue and exchange references).
A binding is (destination, routing key, arguments); the same destination may be
bound several times with different keys or arguments, and must then be
routed to once.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from typing import Protocol

from amqpd.errors import ChannelError, ReplyCode
from amqpd.model.topic import TopicTrie
from amqpd.wire.erlang import field_p
from amqpd.wire.fieldtable import TYPE_NAMES, Field, typed_table


class ExchangeType(Protocol):
    def bind(self, destination: Hashable, key: str, arguments: dict) -> None: ...

    def unbind(self, destination: Hashable, key: str, arguments: dict) -> None: ...

    def route(self, key: str, headers: dict | None) -> Iterable[Hashable]: ...


class Direct:
    def __init__(self) -> None:
        self._by_key: dict[str, dict[Hashable, int]] = {}

    def bind(self, destination: Hashable, key: str, arguments: dict) -> None:
        bound = self._by_key.setdefault(key, {})
        bound[destination] = bound.get(destination, 0) + 1

    def unbind(self, destination: Hashable, key: str, arguments: dict) -> None:
        bound = self._by_key.get(key)
        if bound is None or destination not in bound:
            return
        bound[destination] -= 1
        if not bound[destination]:
            del bound[destination]
            if not bound:
                del self._by_key[key]

    def route(self, key: str, headers: dict | None) -> Iterable[Hashable]:
        return self._by_key.get(key, ())


class Fanout:
    def __init__(self) -> None:
        self._bound: dict[Hashable, int] = {}

    def bind(self, destination: Hashable, key: str, arguments: dict) -> None:
        self._bound[destination] = self._bound.get(destination, 0) + 1

    def unbind(self, destination: Hashable, key: str, arguments: dict) -> None:
        if destination in self._bound:
            self._bound[destination] -= 1
            if not self._bound[destination]:
                del self._bound[destination]

    def route(self, key: str, headers: dict | None) -> Iterable[Hashable]:
        return self._bound


class Topic:
    def __init__(self) -> None:
        self._trie = TopicTrie()

    def bind(self, destination: Hashable, key: str, arguments: dict) -> None:
        self._trie.add(key, destination)

    def unbind(self, destination: Hashable, key: str, arguments: dict) -> None:
        self._trie.remove(key, destination)

    def route(self, key: str, headers: dict | None) -> Iterable[Hashable]:
        return self._trie.match(key)


class Headers:
    """Matches message headers against binding arguments (x-match all/any).

    A binding argument without a value (void) asks only that the header be
    present. Arguments starting with "x-" take no part in matching, unless
    x-match is all-with-x or any-with-x. Values compare as RabbitMQ's Erlang
    terms do (see ``term``). Headers and arguments are typed tables.
    """

    def __init__(self) -> None:
        self._bindings: list[tuple[Hashable, str, dict, _Matcher]] = []

    def bind(self, destination: Hashable, key: str, arguments: dict) -> None:
        arguments = arguments or {}
        matcher = _matcher(typed_table(arguments))
        self._bindings.append((destination, key, dict(arguments), matcher))

    def unbind(self, destination: Hashable, key: str, arguments: dict) -> None:
        wanted = (destination, key, dict(arguments or {}))
        for i, binding in enumerate(self._bindings):
            if binding[:3] == wanted:
                del self._bindings[i]
                return

    def route(self, key: str, headers: dict | None) -> Iterable[Hashable]:
        headers = headers or {}
        return {dest for dest, _key, _args, matcher in self._bindings if matcher(headers)}


_PRESENT = object()  # a void binding value: the header need only be there
_NUMBERS = frozenset("bBsuIilLfdT")
X_MATCH_MODES = ("all", "any", "all-with-x", "any-with-x")


def term(field: Field) -> object:
    """A typed value as RabbitMQ's headers exchange compares it (Erlang's ==).

    Integers of every width, floats and timestamps are numbers and compare by
    value; a decimal is a {scale, value} pair equal only to the same pair; a
    boolean is an atom, never 1; longstr and byte array are both binaries.
    Arrays and tables are lists of their elements with their types, so within
    them the types must agree too (and an empty table is an empty array).
    """
    kind, value = field
    if kind in _NUMBERS or kind in "Sx":
        return value
    if kind == "D":
        return ("D", value.as_tuple())  # type: ignore[union-attr]
    if kind == "A":
        return ("list", tuple((k, term((k, v))) for k, v in value))  # type: ignore[union-attr]
    if kind == "F":
        items = value.items()  # type: ignore[union-attr]
        return ("list", tuple((name, k, term((k, v))) for name, (k, v) in items))
    return (kind, value)


def _matcher(arguments: dict[str, Field]) -> _Matcher:
    mode_field = arguments.get("x-match")
    mode = mode_field[1].decode("utf-8", "replace") if mode_field else "all"
    with_x = mode in ("all-with-x", "any-with-x")
    wanted = [
        (name, _PRESENT if field[0] == "V" else term(field))
        for name, field in arguments.items()
        if name != "x-match" and (with_x or not name.startswith("x-"))
    ]
    return _Matcher(mode in ("all", "all-with-x"), wanted)


class _Matcher:
    """One binding's arguments, turned into terms once, matched against headers."""

    __slots__ = ("want_all", "wanted")

    def __init__(self, want_all: bool, wanted: list[tuple[str, object]]) -> None:
        self.want_all, self.wanted = want_all, wanted

    def __call__(self, headers: dict[str, Field]) -> bool:
        want_all = self.want_all
        for name, value in self.wanted:
            field = headers.get(name)
            matched = field is not None and (value is _PRESENT or value == term(field))
            if matched is not want_all:
                return matched
        return want_all


def headers_match(arguments: dict, headers: dict[str, Field]) -> bool:
    """Whether typed headers match a binding's arguments (plain or typed)."""
    return _matcher(typed_table(arguments))(headers)


def check_binding(exchange_type: str, arguments: dict) -> None:
    """A headers binding's x-match must be one of RabbitMQ's four longstr modes."""
    if exchange_type != "headers" or not arguments or "x-match" not in arguments:
        return
    kind, value = typed_table(arguments)["x-match"]
    if kind != "S":
        raise ChannelError(
            ReplyCode.PRECONDITION_FAILED,
            f"Invalid x-match field type {TYPE_NAMES.get(kind, kind)} "
            f"(value {field_p((kind, value))}); expected longstr",
        )
    if value.decode("utf-8", "replace") not in X_MATCH_MODES:  # type: ignore[union-attr]
        raise ChannelError(
            ReplyCode.PRECONDITION_FAILED,
            f"Invalid x-match field value {field_p((kind, value))}; "
            "expected all, any, all-with-x, or any-with-x",
        )


REGISTRY: dict[str, type] = {
    "direct": Direct,
    "fanout": Fanout,
    "topic": Topic,
    "headers": Headers,
}
