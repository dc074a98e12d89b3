"""Deadlines of the broker model, keyed by what they are for.

A key is ``(Timer kind, target)``: at most one deadline per kind and target.
Scheduling a key again moves its deadline; the heap keeps stale entries and
skips them when they surface (and is rebuilt when they pile up).
"""

from __future__ import annotations

import enum
import heapq
import itertools
from collections.abc import Hashable


class Timer(enum.IntEnum):
    """What a deadline is for; the target is named with each.

    An IntEnum: keys are hashed on every publish and ack, and an int hashes in
    C where a plain Enum member hashes in Python.
    """

    HEAD_EXPIRY = 1  # a queue: its head message's TTL runs out
    QUEUE_UNUSED = 2  # a queue: x-expires, unused for its period
    ACK_TIMEOUT = 3  # a channel: its oldest unacked delivery times out
    DELAYED_RELEASE = 4  # a held delayed message is due


TimerKey = tuple[Timer, Hashable]


class Timers:
    def __init__(self) -> None:
        self._heap: list[tuple[float, int, TimerKey]] = []
        self._due: dict[TimerKey, float] = {}
        self._seq = itertools.count()

    def schedule(self, key: TimerKey, when: float | None) -> None:
        """Set (or move, or with None clear) the deadline of ``key``."""
        if when is None:
            self._due.pop(key, None)
            return
        if self._due.get(key) == when:
            return
        self._due[key] = when
        heapq.heappush(self._heap, (when, next(self._seq), key))
        if len(self._heap) > 64 and len(self._heap) > 4 * len(self._due):
            self._heap = [(w, next(self._seq), k) for k, w in self._due.items()]
            heapq.heapify(self._heap)

    def cancel(self, key: TimerKey) -> None:
        self._due.pop(key, None)

    def next_deadline(self) -> float | None:
        heap = self._heap
        while heap and self._due.get(heap[0][2]) != heap[0][0]:
            heapq.heappop(heap)
        return heap[0][0] if heap else None

    def pop_due(self, now: float) -> list[TimerKey]:
        """Keys whose deadline has come, earliest first; they are cleared."""
        due = []
        while (deadline := self.next_deadline()) is not None and deadline <= now:
            _when, _seq, key = heapq.heappop(self._heap)
            del self._due[key]
            due.append(key)
        return due

    def __len__(self) -> int:
        return len(self._due)
