"""Per-channel command assembly: method, then content header, then body frames.

A content-bearing method must be followed by exactly one content header and
then body frames adding up to the declared size. Anything else in between is
505 UNEXPECTED_FRAME, with RabbitMQ's texts; the error names the pending
content method (e.g. basic.publish, 60/40), or no method when none is pending.
"""

from __future__ import annotations

from dataclasses import dataclass

from pamqp.base import Frame as Method

from amqpd.errors import AMQPConnectionError, ReplyCode
from amqpd.wire.codec import ContentHeader, method_ids

# The methods AMQP 0-9-1 gives content. Only basic.publish is legal from a
# client, but the others are assembled too before the channel refuses them.
CONTENT_METHODS = frozenset({"Basic.Publish", "Basic.Return", "Basic.Deliver", "Basic.GetOk"})


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

    def method(self, method: Method) -> Command | None:
        if self._method is not None:
            raise self._unexpected_in_content()
        if method.name in CONTENT_METHODS:
            self._method = method
            return None
        return Command(method)

    def header(self, header: ContentHeader) -> Command | None:
        if self._method is None:
            raise _expected_method()
        if self._header is not None:
            raise self._unexpected_in_content()
        expected = method_ids(self._method)[0]
        if header.weight != 0:
            raise self._error(
                f"expected content header for class {expected}, "
                "got non content header frame instead"
            )
        if header.class_id != expected:
            raise self._error(
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
            raise _expected_method()
        if self._header is None:
            raise self._unexpected_in_content()
        # Like RabbitMQ, a body running past the declared size is not an error
        # here: the count goes below zero, the message never completes, and the
        # next method frame is refused as "expected content body".
        self._remaining -= len(payload)
        if self._remaining < 0:
            self._chunks.clear()
            return None
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

    def _unexpected_in_content(self) -> AMQPConnectionError:
        assert self._method is not None
        if self._header is None:
            return self._error(
                f"expected content header for class {method_ids(self._method)[0]}, "
                "got non content header frame instead"
            )
        return self._error("expected content body, got non content body frame instead")

    def _error(self, detail: str) -> AMQPConnectionError:
        assert self._method is not None
        return AMQPConnectionError(ReplyCode.UNEXPECTED_FRAME, detail, *method_ids(self._method))


def _expected_method() -> AMQPConnectionError:
    return AMQPConnectionError(
        ReplyCode.UNEXPECTED_FRAME, "expected method frame, got non method frame instead"
    )
