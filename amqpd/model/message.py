"""A published message, its properties kept raw until something reads them."""

from __future__ import annotations

from pamqp import commands

from amqpd.wire.codec import ContentHeader


class Message:
    __slots__ = ("exchange", "routing_key", "header", "body", "_properties")

    def __init__(self, exchange: str, routing_key: str, header: ContentHeader, body: bytes):
        self.exchange = exchange
        self.routing_key = routing_key
        self.header = header
        self.body = body
        self._properties: commands.Basic.Properties | None = None

    @property
    def properties(self) -> commands.Basic.Properties:
        """Decoded on first use: most messages are routed without it."""
        if self._properties is None:
            self._properties = self.header.properties()
        return self._properties

    @property
    def headers(self) -> dict:
        return self.properties.headers or {}

    @property
    def size(self) -> int:
        return len(self.body)


def freeze(value: object) -> object:
    """A hashable stand-in for a field-table value (for binding identity)."""
    if isinstance(value, dict):
        return tuple(sorted((k, freeze(v)) for k, v in value.items()))
    if isinstance(value, list):
        return tuple(freeze(v) for v in value)
    if isinstance(value, bytearray):
        value = bytes(value)
    return (type(value).__name__, value)
