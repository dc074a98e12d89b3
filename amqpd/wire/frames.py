"""Framing: split a byte stream into raw frames, and build frames to send.

The reader looks at the 7-byte header first, so an oversize frame is refused
before its payload arrives, and pamqp is never asked to parse a partial frame.
Payloads stay raw bytes; decoding methods is the codec's job.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from amqpd.errors import FatalFrameError, ReplyCode
from amqpd.wire.erlang import frame_error_text

FRAME_METHOD = 1
FRAME_HEADER = 2
FRAME_BODY = 3
FRAME_HEARTBEAT = 8
FRAME_END = 0xCE

HEADER_SIZE = 7
# Header plus frame-end octet: what a frame costs beyond its payload.
FRAME_OVERHEAD = HEADER_SIZE + 1
# The smallest frame_max a peer may negotiate (AMQP 0-9-1 4.2.3).
FRAME_MIN_SIZE = 4096

_HEADER = struct.Struct(">BHI")
HEARTBEAT_FRAME = bytes((FRAME_HEARTBEAT, 0, 0, 0, 0, 0, 0, FRAME_END))


@dataclass(frozen=True, slots=True)
class RawFrame:
    type: int
    channel: int
    payload: bytes


class FrameReader:
    """Accumulates bytes and yields complete frames.

    ``frame_max`` is the negotiated limit; 0 means no limit. Like RabbitMQ, a
    payload of up to ``frame_max`` octets is accepted (the header and end octet
    are not counted against it), and the error names ``frame_max - 8``.
    """

    def __init__(self, frame_max: int) -> None:
        self.frame_max = frame_max
        self._buffer = bytearray()

    def feed(self, data: bytes) -> None:
        self._buffer += data

    @property
    def buffered(self) -> int:
        return len(self._buffer)

    def next_frame(self) -> RawFrame | None:
        """Return the next complete frame, or None if more bytes are needed."""
        buf = self._buffer
        if len(buf) < HEADER_SIZE:
            return None
        frame_type, channel, size = _HEADER.unpack_from(buf)
        if self.frame_max and size > self.frame_max:
            raise FatalFrameError(
                ReplyCode.FRAME_ERROR,
                frame_error_text(
                    frame_type, b"", ("frame_too_large", size, self.frame_max - FRAME_OVERHEAD)
                ),
            )
        end = HEADER_SIZE + size
        if len(buf) <= end:
            return None
        payload = bytes(buf[HEADER_SIZE:end])
        if buf[end] != FRAME_END:
            raise FatalFrameError(
                ReplyCode.FRAME_ERROR,
                frame_error_text(frame_type, payload, ("invalid_frame_end_marker", buf[end])),
            )
        del buf[: end + 1]
        return RawFrame(frame_type, channel, payload)


def frame(frame_type: int, channel: int, payload: bytes) -> bytes:
    return b"".join((_HEADER.pack(frame_type, channel, len(payload)), payload, b"\xce"))


def body_frames(channel: int, body: bytes, frame_max: int) -> list[bytes]:
    """Split a message body into frames that each fit in ``frame_max``.

    pamqp would write one frame whatever its size; a peer that negotiated a
    smaller frame_max would reject it.
    """
    if not body:
        return []
    chunk = (frame_max - FRAME_OVERHEAD) if frame_max else len(body)
    view = memoryview(body)
    return [frame(FRAME_BODY, channel, view[i : i + chunk]) for i in range(0, len(body), chunk)]
