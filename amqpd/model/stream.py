"""A stream queue's log: append-only messages at offsets, read by many cursors.

A message published to a stream is appended at the next offset, stamped with
the time it arrived, and stays there for every reader: consuming, acking or
cancelling never removes it. Only retention does, and only whole segments: the
log is cut into segments of about ``x-stream-max-segment-size-bytes``, and when
one fills, the oldest closed segments go while the stream is over
``x-max-length-bytes`` or their newest message is older than ``x-max-age``
(RabbitMQ evaluates retention as a segment rolls over, too).

The store keeps the whole log; memory keeps the segments' bookkeeping and only
the newest ``TAIL`` messages. A reader (``Cursor``) further behind reads its
next messages back from the store a batch at a time (see model/stream_readers.py).

Each message carries its offset as the long header ``x-stream-offset``, added
once when it is appended, so every delivery of it shares one header.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from amqpd.errors import ChannelCrash, ChannelError, ReplyCode
from amqpd.model.arguments import type_name
from amqpd.model.message import Message
from amqpd.model.queue_args import age_seconds
from amqpd.store import STREAM_TAIL, StreamRecord
from amqpd.wire.codec import ContentHeader

TAIL = STREAM_TAIL  # newest messages a stored stream keeps in memory
DEFAULT_SEGMENT_BYTES = 500_000_000  # RabbitMQ's default x-stream-max-segment-size-bytes
_INTEGER_TYPES = "bBsuIiLl"  # field-table letters of integers
BASIC_CLASS = 60


@dataclass(eq=False, slots=True)
class StreamEntry:
    offset: int
    timestamp: float  # wall-clock seconds when it was appended
    message: Message  # its header carries x-stream-offset


@dataclass(slots=True)
class Segment:
    number: int
    first: int  # offsets of its first and last message
    last: int
    bytes: int
    last_timestamp: float


@dataclass(eq=False, slots=True)
class Cursor:
    """Where one consumer is in the log."""

    offset: int  # the next offset it gets
    not_before: float | None = None  # a timestamp start: older messages are skipped
    read: deque[StreamEntry] = field(default_factory=deque)  # read back from the store
    reading: bool = False  # a read from the store is on its way


class StreamLog:
    def __init__(self, arguments: dict) -> None:
        self.segment_bytes = DEFAULT_SEGMENT_BYTES
        self.max_age: int | None = None  # seconds
        self.configure(arguments, {})
        self.segments: deque[Segment] = deque()
        self.bytes = 0  # body bytes of every message in the log
        self.next_offset = 0
        self.tail: deque[StreamEntry] = deque()
        self.bounded = False  # the store keeps the log: memory keeps only the tail
        # Consumers get messages below this offset: those the store has written (all
        # of them when there is no store), as RabbitMQ delivers only committed ones.
        self.readable = 0
        self._open = False  # the newest segment takes more messages

    def configure(self, arguments: dict, policy: dict) -> None:
        """Segment size and x-max-age from the arguments and the effective policy
        definition: the smaller of the two where both set one, as in RabbitMQ."""
        ages = [age_seconds(v) for v in (arguments.get("x-max-age"), policy.get("max-age"))
                if isinstance(v, str)]  # fmt: skip
        ages = [age for age in ages if age is not None]
        self.max_age = min(ages) if ages else None
        sizes = [v for v in (arguments.get("x-stream-max-segment-size-bytes"),
                             policy.get("stream-max-segment-size-bytes"))
                 if isinstance(v, int) and not isinstance(v, bool)]  # fmt: skip
        self.segment_bytes = min(sizes) if sizes else DEFAULT_SEGMENT_BYTES

    @property
    def first_offset(self) -> int:
        return self.segments[0].first if self.segments else self.next_offset

    @property
    def count(self) -> int:
        return self.next_offset - self.first_offset

    def append(self, message: Message, wall: float) -> tuple[StreamEntry, int]:
        """Append a message; returns its entry and the number of its segment."""
        offset = self.next_offset
        last = self.segments[-1] if self.segments else None
        timestamp = max(wall, last.last_timestamp) if last is not None else wall
        entry = StreamEntry(offset, timestamp, with_offset(message, offset))
        if last is None or not self._open:
            number = last.number + 1 if last is not None else 0
            last = Segment(number, offset, offset, 0, timestamp)
            self.segments.append(last)
            self._open = True
        last.last, last.last_timestamp = offset, timestamp
        last.bytes += message.size
        self.bytes += message.size
        self.next_offset += 1
        if not self.bounded:
            self.readable = self.next_offset
        self.tail.append(entry)
        if self.bounded and len(self.tail) > TAIL:
            self.tail.popleft()
        if last.bytes >= self.segment_bytes:
            self._open = False  # the next message starts a new segment
        return entry, last.number

    def retain(self, wall: float, max_bytes: int | None) -> int | None:
        """Retention, once a segment is full: drop the oldest closed segments while
        the log is too big or they are too old; returns the new first offset, or None."""
        if self._open:
            return None
        dropped = False
        while len(self.segments) > 1 and self._expendable(self.segments[0], wall, max_bytes):
            segment = self.segments.popleft()
            self.bytes -= segment.bytes
            dropped = True
        if not dropped:
            return None
        first = self.first_offset
        while self.tail and self.tail[0].offset < first:
            self.tail.popleft()
        return first

    def _expendable(self, segment: Segment, wall: float, max_bytes: int | None) -> bool:
        if max_bytes is not None and self.bytes > max_bytes:
            return True
        return self.max_age is not None and segment.last_timestamp < wall - self.max_age

    def entry(self, offset: int) -> StreamEntry | None:
        """The message at ``offset`` if memory holds it."""
        if not self.tail or offset < self.tail[0].offset or offset >= self.next_offset:
            return None
        return self.tail[offset - self.tail[0].offset]

    def restore(self, segments: list[Segment], tail: list[StreamEntry], next_offset: int) -> None:
        """The log as the store kept it: its segments and its newest messages."""
        self.segments = deque(segments)
        self.bytes = sum(segment.bytes for segment in segments)
        self.next_offset = self.readable = next_offset
        self.tail = deque(tail[-TAIL:] if self.bounded else tail)
        self._open = bool(segments) and segments[-1].bytes < self.segment_bytes

    # ---- where a consumer starts ------------------------------------------------
    def cursor(self, spec: tuple[str, float], wall: float) -> Cursor:
        """A cursor for a parsed x-stream-offset (``parse_offset``)."""
        kind, value = spec
        if kind == "first":
            return Cursor(self.first_offset)
        if kind == "last":
            # The newest message (RabbitMQ starts at the newest chunk, which may hold more).
            return Cursor(max(self.first_offset, self.next_offset - 1))
        if kind == "offset":  # past the end, it waits until the log reaches it
            return Cursor(max(int(value), self.first_offset))
        if kind == "timestamp":
            return self._from_time(value)
        if kind == "age":
            return self._from_time(wall - value)
        return Cursor(self.next_offset)

    def _from_time(self, since: float) -> Cursor:
        if self.tail and self.tail[0].timestamp < since:  # it starts within memory
            for entry in self.tail:
                if entry.timestamp >= since:
                    return Cursor(entry.offset)
            return Cursor(self.next_offset)
        for segment in self.segments:
            if segment.last_timestamp >= since:
                return Cursor(segment.first, not_before=since)
        return Cursor(self.next_offset)


def entry_from_record(record: StreamRecord) -> StreamEntry:
    """A stored message of the log, as the log holds it (its properties stay raw)."""
    header = ContentHeader(BASIC_CLASS, len(record.body), record.properties)
    message = Message(record.exchange, record.routing_key, header, record.body)
    return StreamEntry(record.offset, record.timestamp, message)


def with_offset(message: Message, offset: int) -> Message:
    """The message as a stream keeps it: with its offset in the header x-stream-offset."""
    props = dict(message.props)
    headers = dict(props.get("headers") or {})
    headers["x-stream-offset"] = ("l", offset)
    props["headers"] = headers
    return message.with_properties(props)


def parse_offset(value: object, letter: str | None, where: str) -> tuple[str, float]:
    """x-stream-offset as (kind, value): first, last, next, an offset, a timestamp
    (seconds) or an age (seconds before now); RabbitMQ's errors for the rest."""
    if letter == "T" or hasattr(value, "timestamp"):
        return ("timestamp", _seconds(value))
    if isinstance(value, int) and not isinstance(value, bool) and letter in (None, *_INTEGER_TYPES):
        return ("offset", max(value, 0))
    if isinstance(value, str | bytes):
        text = value.decode("utf-8", "replace") if isinstance(value, bytes) else value
        if text in ("first", "last", "next"):
            return (text, 0)
        if text[:1].isdigit():
            age = age_seconds(text)
            if age is None:
                raise ChannelError(
                    ReplyCode.PRECONDITION_FAILED,
                    f"invalid arg 'x-stream-offset' {where}: "
                    f'{{invalid_stream_offset_arg,{{{type_name(value, letter)},<<"{text}">>}}}}',
                )
            return ("age", age)
    # RabbitMQ 3.10's channel crashes on any other value: the connection goes.
    raise ChannelCrash()


def _seconds(value: object) -> float:
    timestamp = getattr(value, "timestamp", None)
    return float(timestamp()) if callable(timestamp) else float(value)  # datetime or number
