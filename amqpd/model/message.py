"""A published message, its properties kept raw until something reads them."""

from __future__ import annotations

from amqpd.errors import AMQPConnectionError, ReplyCode
from amqpd.wire import properties as props_codec
from amqpd.wire.codec import ContentHeader
from amqpd.wire.fieldtable import Field, TableError, plain


class Message:
    """One published message, shared by every queue it was routed to.

    ``ttl`` (ms) comes from a validated ``expiration`` property. ``cc`` and
    ``bcc`` hold the sender-selected extra routing keys; BCC is already gone
    from the properties the consumers will see.
    """

    __slots__ = (
        "exchange", "routing_key", "header", "body", "ttl", "priority", "cc", "bcc", "_props",
    )  # fmt: skip

    def __init__(
        self,
        exchange: str,
        routing_key: str,
        header: ContentHeader,
        body: bytes,
        ttl: int | None = None,
        priority: int = 0,
    ) -> None:
        self.exchange = exchange
        self.routing_key = routing_key
        self.header = header
        self.body = body
        self.ttl = ttl
        self.priority = priority
        self.cc: list[str] = []
        self.bcc: list[str] = []
        self._props: dict | None = None

    @property
    def props(self) -> dict:
        """The typed properties (see wire.properties), decoded on first use."""
        if self._props is None:
            self._props = decode_properties(self.header.raw_properties)
        return self._props

    @property
    def headers(self) -> dict[str, object]:
        """Header values without their wire types (for the headers exchange)."""
        return {k: plain(v) for k, v in props_codec.headers(self.props).items()}

    @property
    def typed_headers(self) -> dict[str, Field]:
        return props_codec.headers(self.props)

    @property
    def persistent(self) -> bool:
        return props_codec.is_persistent(self.header.raw_properties)

    @property
    def size(self) -> int:
        return len(self.body)

    def replace_properties(self, props: dict) -> None:
        """Carry other properties from now on (the publisher's were rewritten)."""
        self.header = self.with_properties(props).header
        self._props = props

    def with_properties(self, props: dict) -> Message:
        """A copy of this message carrying other properties."""
        raw = props_codec.encode(props)
        copy = Message(
            self.exchange,
            self.routing_key,
            ContentHeader(self.header.class_id, self.header.body_size, raw),
            self.body,
            self.ttl,
            self.priority,
        )
        copy.cc, copy.bcc = self.cc, self.bcc
        copy._props = props
        return copy


def decode_properties(raw: bytes) -> dict:
    try:
        return props_codec.decode(raw)
    except TableError:
        # RabbitMQ's channel fails on properties it cannot decode.
        raise AMQPConnectionError(ReplyCode.INTERNAL_ERROR, "") from None


def freeze(value: object) -> object:
    """A hashable stand-in for a field-table value (for binding identity)."""
    if isinstance(value, dict):
        return tuple(sorted((k, freeze(v)) for k, v in value.items()))
    if isinstance(value, list):
        return tuple(freeze(v) for v in value)
    if isinstance(value, bytearray):
        value = bytes(value)
    return (type(value).__name__, value)
