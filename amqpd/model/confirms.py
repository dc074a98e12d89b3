"""Publisher-confirm bookkeeping for one channel.

Publishes get sequence numbers from 1. Each is resolved (confirmed or refused)
once the broker is done with it, possibly out of order; ``flush`` then says
what to send, coalescing with ``multiple`` up to the oldest message still open.
"""

from __future__ import annotations

from typing import NamedTuple


class ConfirmReply(NamedTuple):
    """A basic.ack (``ack``) or basic.nack to send the publisher."""

    ack: bool
    delivery_tag: int
    multiple: bool


class Confirms:
    def __init__(self) -> None:
        self.next_seq = 1
        self._outstanding: set[int] = set()
        self._acked: list[int] = []
        self._nacked: list[int] = []

    @property
    def unconfirmed(self) -> int:
        """Messages published in confirm mode and not yet confirmed."""
        return len(self._outstanding)

    def publish(self) -> int:
        seq = self.next_seq
        self.next_seq += 1
        self._outstanding.add(seq)
        return seq

    def resolve(self, seq: int, ok: bool = True) -> None:
        """The broker is done with publish ``seq``: confirmed (``ok``) or refused."""
        if seq in self._outstanding:
            self._outstanding.discard(seq)
            (self._acked if ok else self._nacked).append(seq)

    def flush(self) -> list[ConfirmReply]:
        """The acks and nacks to send for what was resolved since the last flush.

        Coalesced as RabbitMQ does: everything below the oldest open publish
        (and below the oldest of the other kind in this batch) goes in one frame
        with multiple=true; a lone ack goes alone with multiple=false.
        """
        acks, nacks = sorted(self._acked), sorted(self._nacked)
        self._acked.clear()
        self._nacked.clear()
        oldest = min(self._outstanding) if self._outstanding else None
        out: list[ConfirmReply] = []
        if len(acks) == 1:
            out.append(ConfirmReply(True, acks[0], False))
        elif acks:
            out += _coalesce(True, acks, nacks, oldest)
        if nacks:
            out += _coalesce(False, nacks, acks, oldest)
        return out


def _coalesce(
    ack: bool, seqs: list[int], others: list[int], oldest: int | None
) -> list[ConfirmReply]:
    cutoff = min([seqs[-1] + 1 if oldest is None else oldest, *others])
    below = [seq for seq in seqs if seq < cutoff]
    out = [ConfirmReply(ack, below[-1], True)] if below else []
    return out + [ConfirmReply(ack, seq, False) for seq in seqs if seq >= cutoff]
