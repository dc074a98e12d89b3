"""Ready messages of one priority: a lane, with its newest part paged to the store.

A FIFO queue has one lane; a priority queue has one per priority level, as
RabbitMQ's priority queue keeps one backing queue per priority. A lane holds,
in order: requeued messages (older than anything in the tail, since every
delivery left from the head), then the never-delivered tail. Past its window
the tail's newest messages are "paged": only the store holds them and the lane
counts them, and they are read back (``page_in``) as the window drains.

Drop-head over a length limit may find the head paged: the lane then owes
that head (``owe_head``) and drops it, dead-lettered if need be, as soon as it
is read back; it is no longer counted meanwhile.
"""

from __future__ import annotations

import heapq
from collections import deque
from dataclasses import dataclass

from amqpd.model.message import Message

# Ready messages a FIFO queue keeps in memory, before the rest is paged; a
# priority queue shares about as much among its lanes (at least LANE_MIN each).
PAGE_WINDOW = 2048
LANE_MIN = 256


def lane_window(levels: int) -> int:
    """The window of each lane of a queue with ``levels`` priority levels."""
    return max(PAGE_WINDOW // levels, min(PAGE_WINDOW, LANE_MIN))


@dataclass(eq=False, slots=True)
class Entry:
    message: Message
    seq: int
    expires_at: float | None = None
    priority: int = 0
    redelivered: bool = False
    delivery_count: int = 0  # returns to the queue (quorum queues report it)
    stored: bool = False  # the store holds it (see model/journal.py)
    paged: bool = False  # only the store holds it: not kept in memory

    def __lt__(self, other: Entry) -> bool:
        return self.seq < other.seq


class Lane:
    __slots__ = ("priority", "window", "_tail", "_requeued", "paged", "paged_bytes",
                 "paged_from", "paging_in", "owed")  # fmt: skip

    def __init__(self, priority: int, window: int) -> None:
        self.priority = priority
        self.window = window
        self._tail: deque[Entry] = deque()
        self._requeued: list[Entry] = []
        self.paged = 0  # messages only in the store, all newer than those in memory
        self.paged_bytes = 0
        self.paged_from: int | None = None  # seq of the oldest paged message
        self.paging_in = False
        self.owed = 0  # paged heads dropped (drop-head) but not read back yet

    def __len__(self) -> int:
        """Messages in memory."""
        return len(self._tail) + len(self._requeued)

    @property
    def count(self) -> int:
        """Ready messages, paged ones included, owed heads not."""
        return len(self._tail) + len(self._requeued) + self.paged - self.owed

    def push(self, entry: Entry, pageable: bool) -> bool:
        """A new message at the tail; True if it was paged (memory keeps its count)."""
        if pageable and (self.paged or len(self) >= self.window):
            entry.paged = True
            if not self.paged:
                self.paged_from = entry.seq
            self.paged += 1
            self.paged_bytes += entry.message.size
            return True
        self._tail.append(entry)
        return False

    def push_back(self, entry: Entry) -> None:
        """A requeued message: ahead of the tail, in its original place among the requeued."""
        heapq.heappush(self._requeued, entry)

    def peek(self) -> Entry | None:
        if self._requeued:
            return self._requeued[0]
        return self._tail[0] if self._tail else None

    def pop(self) -> Entry | None:
        if self._requeued:
            return heapq.heappop(self._requeued)
        return self._tail.popleft() if self._tail else None

    def owe_head(self) -> bool:
        """Drop the head although it is paged: it goes when read back."""
        if len(self) or self.paged <= self.owed:
            return False
        self.owed += 1
        return True

    def wants_page_in(self, window: int) -> bool:
        """Whether to read back more: messages are paged and fewer than three
        quarters of ``window`` (this lane's, or more for the lane being served) are here."""
        return bool(self.paged) and not self.paging_in and len(self) < window * 3 // 4

    def page_in(self, records: int, next_seq: int, entries: list[Entry]) -> list[Entry]:
        """``records`` paged messages read back, up to ``next_seq``, of which
        ``entries`` could be (the rest were set aside); returns the owed heads."""
        self.paging_in = False
        if not records:  # the store holds none of them: nothing left to wait for
            self.paged = self.paged_bytes = self.owed = 0
            self.paged_from = None
            return []
        owed = min(self.owed, len(entries))
        self.owed = max(0, self.owed - records)
        dropped, kept = entries[:owed], entries[owed:]
        for entry in entries:
            self.paged_bytes -= entry.message.size
        self._tail.extend(kept)
        self.paged = max(0, self.paged - records)
        self.paged_from = next_seq if self.paged else None
        if not self.paged:
            self.paged_bytes = self.owed = 0
        return dropped

    def restore(self, entries: list[Entry], paged: int, paged_bytes: int) -> None:
        """Recovered at start-up: the oldest ``entries``, and ``paged`` more in the store."""
        self._tail.extend(entries)
        self.paged, self.paged_bytes = paged, paged_bytes
        self.paged_from = entries[-1].seq + 1 if paged and entries else (0 if paged else None)

    def clear(self) -> list[Entry]:
        """Forget every ready message (a purge); returns those held in memory."""
        entries = sorted(self._requeued) + list(self._tail)
        self._tail.clear()
        self._requeued.clear()
        self.paged = self.paged_bytes = self.owed = 0
        self.paged_from = None
        self.paging_in = False
        return entries
