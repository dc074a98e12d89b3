"""Exchange types: each binds, unbinds and routes, knowing nothing of queues.

A destination is any hashable (the vhost uses queue and exchange references).
A binding is (destination, routing key, arguments); the same destination may be
bound several times with different keys or arguments, and must then be
routed to once.
"""

from __future__ import annotations

import decimal
from collections.abc import Hashable, Iterable
from typing import Protocol

from amqpd.model.topic import TopicTrie


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
    x-match is all-with-x or any-with-x. A value matches only one of the same
    type class (numbers, binaries, booleans...), as in RabbitMQ.
    """

    def __init__(self) -> None:
        self._bindings: list[tuple[Hashable, str, dict]] = []

    def bind(self, destination: Hashable, key: str, arguments: dict) -> None:
        self._bindings.append((destination, key, dict(arguments or {})))

    def unbind(self, destination: Hashable, key: str, arguments: dict) -> None:
        wanted = (destination, key, dict(arguments or {}))
        for i, binding in enumerate(self._bindings):
            if binding == wanted:
                del self._bindings[i]
                return

    def route(self, key: str, headers: dict | None) -> Iterable[Hashable]:
        headers = headers or {}
        return {dest for dest, _key, args in self._bindings if headers_match(args, headers)}


def headers_match(arguments: dict, headers: dict) -> bool:
    mode = arguments.get("x-match", "all")
    if isinstance(mode, bytes):
        mode = mode.decode("utf-8", "replace")
    with_x = mode in ("all-with-x", "any-with-x")
    want_all = mode in ("all", "all-with-x")
    considered = [
        (name, value)
        for name, value in arguments.items()
        if name != "x-match" and (with_x or not name.startswith("x-"))
    ]
    if not considered:
        return want_all
    for name, value in considered:
        matched = name in headers and (value is None or same_value(value, headers[name]))
        if want_all and not matched:
            return False
        if not want_all and matched:
            return True
    return want_all


def same_value(a: object, b: object) -> bool:
    """Equal as RabbitMQ compares header values: within a type class, by value.

    Numbers of any width or kind compare by value (7 matches 7.0), text and
    byte arrays are both binaries; a boolean is not a number, "1" is not 1.
    """
    class_a, class_b = _type_class(a), _type_class(b)
    if class_a != class_b:
        return False
    if class_a == "binary":
        return _as_bytes(a) == _as_bytes(b)
    return a == b


def _type_class(value: object) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float | decimal.Decimal):
        return "number"
    if isinstance(value, str | bytes | bytearray):
        return "binary"
    return type(value).__name__


def _as_bytes(value: object) -> bytes:
    return value.encode("utf-8") if isinstance(value, str) else bytes(value)


REGISTRY: dict[str, type] = {
    "direct": Direct,
    "fanout": Fanout,
    "topic": Topic,
    "headers": Headers,
}
