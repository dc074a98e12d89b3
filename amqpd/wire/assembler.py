"""Per-channel command assembly: method, then content header, then body frames.

A content-bearing method (basic.publish) must be followed by exactly one content
header and then body frames adding up to the declared size; anything else in
between is 505 UNEXPECTED_FRAME, as in RabbitMQ's command assembler.
"""

from __future__ import annotations

from dataclasses import dataclass

from pamqp.base import Frame as Method

from amqpd.errors import AMQPConnectionError, ReplyCode
from amqpd.wire.codec import ContentHeader, method_ids

# Methods a client sends that carry content.
_CONTENT_METHODS = frozenset({"Basic.Publish"})


@dataclass(frozen=True, slots=True)
class Command:
    """A complete command: a method and, for content methods, its message."""

    method: Method
    header: ContentHeader | None = None
    body: bytes = b""


class CommandAssembler:
    def __init__(self) -> None:
        self._method: Method | None = None
        self._header: ContentHeader | None = None
        self._chunks: list[bytes] = []
        self._remaining = 0

    @property
    def idle(self) -> bool:
        return self._method is None

    def _expected_class(self) -> int:
        assert self._method is not None
        return method_ids(self._method)[0]

    def method(self, method: Method) -> Command | None:
        if self._method is not None:
            if self._header is None:
                raise _unexpected(
                    f"expected content header for class {self._expected_class()}, "
                    "got non content header frame instead"
                )
            raise _unexpected("expected content body, got non content body frame instead")
        if method.name in _CONTENT_METHODS:
            self._method = method
            return None
        return Command(method)

    def header(self, header: ContentHeader) -> Command | None:
        if self._method is None:
            raise _unexpected("expected method frame, got non method frame instead")
        if self._header is not None:
            raise _unexpected("expected content body, got non content body frame instead")
        expected = self._expected_class()
        if header.class_id != expected:
            raise _unexpected(
                f"expected content header for class {expected}, "
                f"got one for class {header.class_id} instead"
            )
        if header.body_size == 0:
            return self._finish(header, b"")
        self._header = header
        self._remaining = header.body_size
        self._chunks = []
        return None

    def body(self, payload: bytes) -> Command | None:
        if self._method is None:
            raise _unexpected("expected method frame, got non method frame instead")
        if self._header is None:
            raise _unexpected(
                f"expected content header for class {self._expected_class()}, "
                "got non content header frame instead"
            )
        self._remaining -= len(payload)
        if self._remaining < 0:
            raise AMQPConnectionError(
                ReplyCode.FRAME_ERROR,
                "body frame exceeds the size the content header declared",
            )
        self._chunks.append(payload)
        if self._remaining:
            return None
        header = self._header
        body = self._chunks[0] if len(self._chunks) == 1 else b"".join(self._chunks)
        return self._finish(header, body)

    def _finish(self, header: ContentHeader, body: bytes) -> Command:
        method = self._method
        assert method is not None
        self._method, self._header, self._chunks, self._remaining = None, None, [], 0
        return Command(method, header, body)


def _unexpected(detail: str) -> AMQPConnectionError:
    return AMQPConnectionError(ReplyCode.UNEXPECTED_FRAME, detail)
