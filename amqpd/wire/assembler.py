"""Per-channel command assembly: method, then content header, then body frames.

A content-bearing method must be followed by exactly one content header and
then body frames adding up to the declared size. Anything else in between is
505 UNEXPECTED_FRAME, with RabbitMQ's texts; the error names the pending
content method (e.g. basic.publish, 60/40), or no method when none is pending.

A content header declaring a body larger than ``max_body_size`` is refused as
it arrives (406, RabbitMQ's text), and the body frames that follow are counted
and dropped, never buffered.
"""

from __future__ import annotations

from dataclasses import dataclass

from pamqp.base import Frame as Method

from amqpd.errors import AMQPConnectionError, ChannelError, ReplyCode
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
    def __init__(self, max_body_size: int | None = None) -> None:
        self.max_body_size = max_body_size
        self._method: Method | None = None
        self._header: ContentHeader | None = None
        self._chunks: list[bytes] = []
        self._remaining = 0
        self._discarding = False  # the body of a refused content: counted, not kept

    @property
    def idle(self) -> bool:
        return self._method is None

    @property
    def pending(self) -> Method | None:
        """The content method whose header or body is awaited."""
        return self._method

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
        limit = self.max_body_size
        if limit is not None and header.body_size > limit:
            self._discarding = True
            raise ChannelError(
                ReplyCode.PRECONDITION_FAILED,
                f"message size {header.body_size} is larger than configured max size {limit}",
                *method_ids(self._method),
            )
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
        if self._discarding:
            if not self._remaining:
                self._reset()
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
        self._reset()
        return Command(method, header, body)

    def _reset(self) -> None:
        self._method, self._header, self._chunks, self._remaining = None, None, [], 0
        self._discarding = False

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
