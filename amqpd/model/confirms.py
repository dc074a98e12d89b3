"""Publisher-confirm bookkeeping for one channel.

Publishes get sequence numbers from 1. Each is settled (ack or nack) once the
broker is done with it, possibly out of order; ``flush`` then says what to send,
coalescing acks with ``multiple`` up to the oldest message still unsettled.
"""

from __future__ import annotations


class Confirms:
    def __init__(self) -> None:
        self.next_seq = 1
        self._outstanding: set[int] = set()
        self._acked: list[int] = []
        self._nacked: list[int] = []

    def publish(self) -> int:
        seq = self.next_seq
        self.next_seq += 1
        self._outstanding.add(seq)
        return seq

    def settle(self, seq: int, ok: bool = True) -> None:
        if seq in self._outstanding:
            self._outstanding.discard(seq)
            (self._acked if ok else self._nacked).append(seq)

    @property
    def has_pending(self) -> bool:
        return bool(self._acked or self._nacked)

    def flush(self) -> list[tuple[str, int, bool]]:
        """[(kind, delivery tag, multiple)] to send, kind being 'ack' or 'nack'."""
        out: list[tuple[str, int, bool]] = [("nack", seq, False) for seq in sorted(self._nacked)]
        self._nacked.clear()
        acked = sorted(self._acked)
        self._acked.clear()
        if not acked:
            return out
        # Every sequence number below the oldest unsettled one is settled, so one
        # ack with multiple=true covers all of them.
        oldest = min(self._outstanding) if self._outstanding else acked[-1] + 1
        below = [seq for seq in acked if seq < oldest]
        if below:
            out.append(("ack", below[-1], len(below) > 1))
        out.extend(("ack", seq, False) for seq in acked if seq > oldest)
        return out
