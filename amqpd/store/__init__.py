"""Where durable state lives: the records the broker keeps and the store interface.

The broker's model never touches a disk. It describes each change as a record
operation in a ``Batch`` (see model/journal.py); the shell hands batches to a
``Store`` on a worker thread and tells the model when one is on disk. At
start-up the store gives back a ``Snapshot`` to rebuild the model from.

Two stores implement the interface: ``SQLiteStore`` (the default, one database
file in the data folder) and ``MemoryStore`` (for tests: the same semantics, no
files).
"""

from __future__ import annotations

import enum
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol


class StoreError(Exception):
    """The data folder cannot be used; worded for the person running the broker."""


def prepare_folder(path: str | os.PathLike) -> Path:
    """The data folder, created if need be; StoreError if it cannot be used."""
    data = Path(path)
    try:
        data.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise StoreError(f"cannot create data folder {data}: {err.strerror}") from None
    if not data.is_dir():
        raise StoreError(f"data folder {data} is not a directory")
    if not os.access(data, os.R_OK | os.W_OK | os.X_OK):
        raise StoreError(f"data folder {data} is not readable and writable")
    return data


@dataclass(frozen=True, slots=True)
class ExchangeRecord:
    vhost: str
    name: str
    type: str
    auto_delete: bool
    internal: bool
    arguments: bytes  # an encoded field table, types as received


@dataclass(frozen=True, slots=True)
class QueueRecord:
    id: int
    vhost: str
    name: str
    auto_delete: bool
    arguments: bytes


@dataclass(frozen=True, slots=True)
class BindingRecord:
    vhost: str
    source: str
    dest_kind: str  # "queue" or "exchange"
    dest: str
    key: str
    arguments: bytes
    ident: str  # identifies the binding among those of its source


@dataclass(slots=True)
class MessageRecord:
    """One message in one queue; (queue, seq) is its key."""

    queue: int
    seq: int
    persistent: bool
    delivered: bool
    delivery_count: int
    priority: int
    expires: float | None  # wall-clock seconds, so a deadline survives a restart
    exchange: str
    routing_key: str
    properties: bytes  # the raw property bytes of the content header
    body: bytes
    bcc: tuple[str, ...] = ()  # blind-copy routing keys (no longer in the properties)


STREAM_TAIL = 1024  # a stream's newest messages start-up reads back (the rest stay on disk)


@dataclass(slots=True)
class StreamRecord:
    """One message of a stream queue's log; (queue, offset) is its key."""

    queue: int
    offset: int
    segment: int  # retention removes whole segments
    timestamp: float  # wall-clock seconds when it was appended
    exchange: str
    routing_key: str
    properties: bytes  # raw property bytes, x-stream-offset included
    body: bytes
    bcc: tuple[str, ...] = ()  # always empty: a stream keeps what consumers see


@dataclass(frozen=True, slots=True)
class StreamSegment:
    number: int
    first: int
    last: int
    bytes: int
    last_timestamp: float


@dataclass
class StreamState:
    """What start-up needs of a stream: its segments and its newest messages."""

    segments: list[StreamSegment]
    tail: list[StreamRecord]


@dataclass(frozen=True, slots=True)
class DelayedRecord:
    """A message an x-delayed-message exchange holds until ``due`` (wall clock)."""

    id: int
    vhost: str
    exchange: str
    due: float
    routing_key: str
    properties: bytes
    body: bytes
    bcc: tuple[str, ...] = ()  # blind-copy routing keys, routed at release


@dataclass(frozen=True, slots=True)
class SettingRecord:
    """Something created at runtime that is not an exchange, queue or binding:
    a user, a vhost, a permission, a policy, a parameter. ``kind`` names the
    sort, ``key`` the object within it, ``value`` its JSON."""

    kind: str
    key: str
    value: bytes


@dataclass(frozen=True, slots=True)
class QueueStats:
    count: int
    bytes: int
    next_seq: int  # one past the highest sequence number stored


@dataclass
class Snapshot:
    exchanges: list[ExchangeRecord] = field(default_factory=list)
    queues: list[QueueRecord] = field(default_factory=list)
    bindings: list[BindingRecord] = field(default_factory=list)
    delayed: list[DelayedRecord] = field(default_factory=list)
    stats: dict[int, QueueStats] = field(default_factory=dict)
    settings: list[SettingRecord] = field(default_factory=list)
    # The same per (queue id, priority), for queues that page a lane per priority.
    levels: dict[tuple[int, int], QueueStats] = field(default_factory=dict)
    streams: dict[int, StreamState] = field(default_factory=dict)


MessageKey = tuple[int, int]  # (queue id, seq)


class Op(enum.Enum):
    """An entity operation of a batch, with the data it carries."""

    EXCHANGE_PUT = "exchange+"  # ExchangeRecord
    EXCHANGE_DELETE = "exchange-"  # (vhost, name)
    QUEUE_PUT = "queue+"  # QueueRecord
    QUEUE_DELETE = "queue-"  # queue id: the queue and its messages
    BINDING_PUT = "binding+"  # BindingRecord
    BINDING_DELETE = "binding-"  # BindingRecord
    # (queue id, seq[, priority]): the queue's messages from seq on (of that priority)
    PURGE_FROM = "purge"
    # (queue id, first seq, last seq, priority or None): those messages, read back
    # into memory by a queue that keeps nothing across a restart
    DROP_RANGE = "drop-range"
    DELAYED_PUT = "delayed+"  # DelayedRecord
    DELAYED_DELETE = "delayed-"  # id
    DELAYED_EXCHANGE_DELETE = "delayed-exchange"  # (vhost, exchange name): all it holds
    # A record start-up could not read: kept aside for an operator, out of every queue.
    MESSAGE_SET_ASIDE = "message-set-aside"  # MessageKey
    DELAYED_SET_ASIDE = "delayed-set-aside"  # id
    SETTING_PUT = "setting+"  # SettingRecord
    SETTING_DELETE = "setting-"  # (kind, key)
    STREAM_TRUNCATE = "stream-truncate"  # (queue id, offset): the log before the offset


@dataclass
class Batch:
    """Changes to write together, in one transaction.

    Entity operations (``Op``, data) apply first, in order. Then message puts,
    marks (delivered flag and delivery count) and removes. The journal keeps
    the three message sets disjoint where order would matter.
    """

    entities: list[tuple[Op, object]] = field(default_factory=list)
    puts: dict[MessageKey, MessageRecord] = field(default_factory=dict)
    marks: dict[MessageKey, tuple[bool, int]] = field(default_factory=dict)
    removes: set[MessageKey] = field(default_factory=set)
    stream_puts: list[StreamRecord] = field(default_factory=list)  # appended to stream logs
    durable: bool = False  # holds a promise (must be fsync'd before it is kept)

    def __bool__(self) -> bool:
        return bool(self.entities or self.puts or self.marks or self.removes
                    or self.stream_puts)  # fmt: skip


class Store(Protocol):
    def open(self) -> Snapshot:
        """Recover: drop what does not survive a restart, return what does."""

    def apply(self, batch: Batch) -> None:
        """Write a batch atomically; durable batches are on disk when this returns."""

    def read_messages(
        self, queue: int, from_seq: int, limit: int | None, priority: int | None = None
    ) -> list[MessageRecord]:
        """A queue's stored messages from ``from_seq`` on, in sequence order
        (only those of ``priority``, if given)."""

    def read_stream(self, queue: int, from_offset: int, limit: int) -> list[StreamRecord]:
        """A stream's messages from ``from_offset`` on, in offset order."""

    def close(self) -> None: ...
