"""AMQP faults that carry their reply code.

Code deep inside the broker raises ``ChannelError`` (a soft error: the channel is
closed) or ``AMQPConnectionError`` (a hard error: the whole connection is closed)
where it finds the fault. The connection state machine turns them into a
``channel.close`` or ``connection.close`` in exactly one place.
"""

from __future__ import annotations

from enum import IntEnum


class ReplyCode(IntEnum):
    """Reply codes of AMQP 0-9-1, with the names RabbitMQ puts in reply texts."""

    REPLY_SUCCESS = 200
    CONTENT_TOO_LARGE = 311
    NO_ROUTE = 312
    NO_CONSUMERS = 313
    CONNECTION_FORCED = 320
    INVALID_PATH = 402
    ACCESS_REFUSED = 403
    NOT_FOUND = 404
    RESOURCE_LOCKED = 405
    PRECONDITION_FAILED = 406
    FRAME_ERROR = 501
    SYNTAX_ERROR = 502
    COMMAND_INVALID = 503
    CHANNEL_ERROR = 504
    UNEXPECTED_FRAME = 505
    RESOURCE_ERROR = 506
    NOT_ALLOWED = 530
    NOT_IMPLEMENTED = 540
    INTERNAL_ERROR = 541


# Codes that AMQP 0-9-1 marks as connection ("hard") errors.
HARD_CODES = frozenset(
    {
        ReplyCode.CONNECTION_FORCED,
        ReplyCode.INVALID_PATH,
        ReplyCode.FRAME_ERROR,
        ReplyCode.SYNTAX_ERROR,
        ReplyCode.COMMAND_INVALID,
        ReplyCode.CHANNEL_ERROR,
        ReplyCode.UNEXPECTED_FRAME,
        ReplyCode.RESOURCE_ERROR,
        ReplyCode.NOT_ALLOWED,
        ReplyCode.NOT_IMPLEMENTED,
        ReplyCode.INTERNAL_ERROR,
    }
)


class AMQPError(Exception):
    """A fault with its AMQP reply code and the method that caused it.

    ``detail`` is the human part; ``reply_text`` prefixes it with the code name,
    the way RabbitMQ writes it ("NOT_FOUND - no queue 'q' in vhost '/'").
    """

    def __init__(
        self, code: int, detail: str, class_id: int = 0, method_id: int = 0
    ) -> None:
        super().__init__(code, detail, class_id, method_id)
        self.code = ReplyCode(code)
        self.detail = detail
        self.class_id = class_id
        self.method_id = method_id

    @property
    def reply_text(self) -> str:
        text = f"{self.code.name} - {self.detail}" if self.detail else self.code.name
        # A shortstr holds 255 bytes; RabbitMQ keeps 252 and marks the cut with "...".
        encoded = text.encode("utf-8")
        if len(encoded) > 255:
            return encoded[:252].decode("utf-8", "ignore") + "..."
        return text

    def with_method(self, class_id: int, method_id: int) -> AMQPError:
        """Name the method at fault, unless the raiser already did."""
        if not self.class_id and not self.method_id:
            self.class_id, self.method_id = class_id, method_id
        return self

    def __str__(self) -> str:
        return f"{int(self.code)} {self.reply_text} ({self.class_id}, {self.method_id})"


class ChannelError(AMQPError):
    """A soft error: only the channel it happened on is closed."""


class AMQPConnectionError(AMQPError):
    """A hard error: the connection is closed."""


class ChannelCrash(AMQPConnectionError):
    """541 INTERNAL_ERROR naming no method: what a client sees when RabbitMQ's
    channel process crashes (on content properties that do not decode, say)."""

    def __init__(self) -> None:
        super().__init__(ReplyCode.INTERNAL_ERROR, "")

    def with_method(self, class_id: int, method_id: int) -> AMQPError:
        return self


class FatalFrameError(AMQPConnectionError):
    """The byte stream can no longer be framed (oversize frame, bad frame end).

    As RabbitMQ does, the broker sends connection.close, reads nothing more and
    drops the socket after a short pause, whatever the client answers.
    """


class DropConnection(Exception):
    """Drop the socket at once without a word, as RabbitMQ does for this fault."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
