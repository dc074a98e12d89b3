"""A published message, its properties kept raw until something reads them.

Most messages are routed without decoding their properties at all; only the
properties the broker acts on (expiration, priority, CC) are read, once, by
``read_routing_properties``, both at publish and when a stored message comes back.
"""

from __future__ import annotations

from amqpd.errors import ChannelCrash, ChannelError, ReplyCode
from amqpd.model.queue_args import MAX_TTL
from amqpd.wire import properties as props_codec
from amqpd.wire.codec import ContentHeader
from amqpd.wire.erlang import tuple_p
from amqpd.wire.fieldtable import Field, TableError, plain

# Property flags of headers, priority, reply-to, expiration and user-id: a
# message with none of them needs no property decoding (the common case).
_ACTED_ON_FLAGS = 0x2B10


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


def needs_properties(raw: bytes) -> bool:
    """Whether the broker has to decode these properties to act on them."""
    return len(raw) >= 2 and bool(int.from_bytes(raw[:2], "big") & _ACTED_ON_FLAGS)


def read_routing_properties(message: Message) -> None:
    """Set a message's TTL, priority and CC keys from its properties.

    Used for a message recovered from the store, which passed publish's checks
    when it was published: an expiration that no longer parses is ignored.
    """
    if not needs_properties(message.header.raw_properties):
        return
    props = message.props
    expiration = props_codec.text(props, "expiration")
    if expiration is not None:
        try:
            message.ttl = parse_expiration(expiration)
        except ChannelError:
            message.ttl = None
    message.priority = priority_of(props)
    message.cc = string_keys(props_codec.headers(props).get("CC", ("V", None)))


def priority_of(props: dict) -> int:
    priority = props.get("priority")
    return priority if isinstance(priority, int) else 0


def string_keys(field: Field) -> list[str]:
    """The routing keys of a CC or BCC header array (its non-strings are ignored)."""
    kind, value = field
    if kind != "A":
        return []
    return [item.decode("utf-8", "replace") for k, item in value if k == "S"]


def parse_expiration(text: str) -> int:
    """The per-message TTL in ms, parsed as RabbitMQ parses it (Erlang's
    string:to_integer: optional sign, digits, nothing after)."""
    digits_start = 1 if text[:1] in "+-" else 0
    end = digits_start
    while end < len(text) and text[end].isascii() and text[end].isdigit():
        end += 1
    prefix = "invalid expiration '" + text + "': "

    def refuse(term: str) -> ChannelError:
        return ChannelError(ReplyCode.PRECONDITION_FAILED, prefix + term)

    if end == digits_start:
        raise refuse("no_integer")
    if end != len(text):
        raise refuse('{leftover_string,"' + text[end:] + '"}')
    value = int(text[:end])
    column = len(prefix)
    if value < 0:
        raise refuse(tuple_p(column, "value_negative", value))
    if value > MAX_TTL:
        raise refuse(tuple_p(column, "value_too_large", value))
    return value


def decode_properties(raw: bytes) -> dict:
    try:
        return props_codec.decode(raw)
    except TableError:
        # RabbitMQ's channel crashes on properties it cannot decode.
        raise ChannelCrash() from None


def check_properties(raw: bytes) -> None:
    """Properties the broker need not read must still decode, as RabbitMQ
    decodes every publish's."""
    try:
        props_codec.check(raw)
    except TableError:
        raise ChannelCrash() from None


def freeze(value: object) -> object:
    """A hashable stand-in for a field-table value (for binding identity)."""
    if isinstance(value, dict):
        return tuple(sorted((k, freeze(v)) for k, v in value.items()))
    if isinstance(value, list):
        return tuple(freeze(v) for v in value)
    if isinstance(value, bytearray):
        value = bytes(value)
    return (type(value).__name__, value)
