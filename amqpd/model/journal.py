"""What the broker asks the store to write, and what waits for the write.

The model calls the journal as entities and messages change; the journal
turns each change into a record operation in the pending ``Batch``. The shell
takes the batch (``take``), writes it on a worker thread, and gives it back
(``Broker.committed``): only then are the promises that waited on it kept:
publisher confirms of persistent messages, replies to durable declarations,
and the sessions held so their later replies stay in order.

While one batch is being written the next one fills, so many messages share a
commit (group commit). A message stored and then removed before its batch was
taken is never written at all (a consumer that keeps up costs no disk).

What is stored: durable exchanges, durable non-exclusive queues, bindings
between durable ends, persistent messages in stored queues (and, to keep
memory bounded, any message of a deep queue past its in-memory window, in
transient queues too, under an id with no queue record, dropped at start-up;
see Queue.enqueue), and delayed persistent messages of durable delayed exchanges.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from pamqp.base import Frame as Method

from amqpd.errors import AMQPError
from amqpd.model.exchange import Exchange
from amqpd.model.message import Message, read_routing_properties
from amqpd.model.queue import Entry, Lane, Queue
from amqpd.model.session import Session
from amqpd.model.stream import Cursor, StreamEntry
from amqpd.store import (
    Batch,
    BindingRecord,
    DelayedRecord,
    ExchangeRecord,
    MessageKey,
    MessageRecord,
    Op,
    QueueRecord,
    SettingRecord,
    StreamRecord,
)
from amqpd.wire.codec import ContentHeader
from amqpd.wire.fieldtable import TableError, encode_table, typed_table

log = logging.getLogger("amqpd.store")

BASIC_CLASS = 60


@dataclass(frozen=True, slots=True)
class PageRequest:
    """Read ``limit`` of ``queue``'s paged messages of one priority lane from
    ``from_seq`` on (``level`` None: a FIFO queue's only lane, every message);
    the answer is stale if the queue's page generation moved (a purge) meanwhile."""

    queue: Queue
    generation: int
    from_seq: int
    limit: int
    level: int | None = None

    @property
    def page_id(self) -> int:
        """The queue's key in the store."""
        return self.queue.page_id


@dataclass(frozen=True, slots=True)
class StreamRead:
    """Read ``limit`` messages of ``queue``'s log from ``from_offset`` on, for ``cursor``."""

    queue: Queue
    cursor: Cursor
    from_offset: int
    limit: int


@dataclass
class Commit:
    """A batch on its way to disk and the promises that wait for it."""

    batch: Batch
    number: int = 0  # batches are numbered as they are taken, and written in that order
    confirms: list[tuple[object, int]] = field(default_factory=list)  # (ChannelModel, seq)
    # (session, channel number, reply method)
    replies: list[tuple[Session, int, Method]] = field(default_factory=list)
    held: list[Session] = field(default_factory=list)  # sessions to resume
    pages: list[PageRequest] = field(default_factory=list)
    stream_reads: list[StreamRead] = field(default_factory=list)
    # A stream's messages below this offset are in the batch: consumers may have them.
    stream_written: dict[Queue, int] = field(default_factory=dict)


class Journal:
    def __init__(
        self, enabled: bool = False, wall_offset: Callable[[], float] = lambda: 0.0
    ) -> None:
        self.enabled = enabled
        self.wall_offset = wall_offset  # wall clock minus the model's clock
        self._commit = Commit(Batch())
        self.durable_ops = 0  # how many promise-bearing operations so far
        self.pending_bytes = 0  # message bytes waiting in the pending batch
        self.next_queue_id = 1
        self.next_delayed_id = 1
        self.taken = 0  # batches taken for writing
        self.written = 0  # of those, the number known to be on disk

    # ---- taking batches ---------------------------------------------------------
    @property
    def pending(self) -> bool:
        commit = self._commit
        return bool(commit.batch or commit.confirms or commit.replies or commit.held
                    or commit.pages or commit.stream_reads)  # fmt: skip

    def take(self) -> Commit | None:
        if not self.pending:
            return None
        commit, self._commit = self._commit, Commit(Batch())
        self.taken += 1
        commit.number = self.taken
        self.pending_bytes = 0
        return commit

    def written_up_to(self, number: int) -> None:
        self.written = max(self.written, number)

    def wait_for(self, entity: Exchange | Queue) -> None:
        """A reply about ``entity`` (declared, perhaps by another session) must not
        go out before the entity is on disk."""
        if self.enabled and entity.store_batch > self.written:
            self._durable()

    def mark(self) -> int:
        return self.durable_ops

    def durable_since(self, mark: int) -> bool:
        return self.durable_ops != mark

    def after_commit_confirm(self, channel: object, seq: int) -> None:
        """Confirm publish ``seq`` of ``channel`` (a ChannelModel) once this batch is written."""
        self._commit.confirms.append((channel, seq))

    def after_commit_reply(self, session: Session, number: int, method: Method) -> None:
        self._commit.replies.append((session, number, method))

    def hold_until_commit(self, session: Session) -> None:
        self._commit.held.append(session)

    def request_page(self, queue: Queue, lane: Lane, limit: int) -> None:
        """Read the next ``limit`` paged messages of ``queue``'s ``lane`` after this batch."""
        lane.paging_in = True
        level = lane.priority if queue.max_priority else None
        self._commit.pages.append(
            PageRequest(queue, queue.page_generation, lane.paged_from, limit, level)
        )

    def request_stream_read(self, queue: Queue, cursor: Cursor, limit: int) -> None:
        """Read the next ``limit`` messages of a stream for ``cursor`` after this batch
        (so every message appended before the request is on disk when it is read)."""
        cursor.reading = True
        self._commit.stream_reads.append(StreamRead(queue, cursor, cursor.offset, limit))

    def _durable(self) -> Batch:
        self.durable_ops += 1
        batch = self._commit.batch
        batch.durable = True
        return batch

    # ---- entities ---------------------------------------------------------------
    # Each records its operation before touching anything, so an entity whose
    # record cannot be made is refused before the model or the batch change.
    def exchange_declared(self, vhost: str, exchange: Exchange) -> None:
        if self.enabled and exchange.durable:
            record = exchange_record(vhost, exchange)
            self._durable().entities.append((Op.EXCHANGE_PUT, record))
            exchange.store_batch = self.taken + 1

    def exchange_deleted(self, vhost: str, exchange: Exchange) -> None:
        if self.enabled and exchange.durable:
            entities = self._durable().entities
            entities.append((Op.EXCHANGE_DELETE, (vhost, exchange.name)))
            if exchange.delayed:  # the messages it holds die with it
                entities.append((Op.DELAYED_EXCHANGE_DELETE, (vhost, exchange.name)))

    def queue_declared(self, queue: Queue) -> None:
        if not self.enabled:
            return
        if not queue.durable or queue.exclusive_owner is not None:
            # Not kept, but its deep part pages to the store all the same.
            queue.page_id = self.next_queue_id
            self.next_queue_id += 1
            queue.pageable = True
            return
        arguments = encode_table(typed_table(queue.arguments))
        record = QueueRecord(
            self.next_queue_id, queue.vhost, queue.name, queue.auto_delete, arguments
        )
        self.next_queue_id += 1
        queue.store_id = queue.page_id = record.id
        queue.store_batch = self.taken + 1
        queue.pageable = True
        if queue.stream is not None:
            queue.stream.bounded = True  # the store keeps the log
        self._durable().entities.append((Op.QUEUE_PUT, record))

    def queue_deleted(self, queue: Queue) -> None:
        qid = queue.page_id
        if qid is None:
            return
        if queue.store_id is not None:
            batch = self._durable()
        elif queue.page_used:  # a transient queue's paged messages go with it
            batch = self._commit.batch
        else:
            return
        self._drop_puts(qid, 0)
        for key in [key for key in batch.marks if key[0] == qid]:
            del batch.marks[key]
        batch.removes = {key for key in batch.removes if key[0] != qid}
        batch.stream_puts = [record for record in batch.stream_puts if record.queue != qid]
        batch.entities.append((Op.QUEUE_DELETE, qid))

    def binding_changed(self, added: bool, vhost: str, source: str, dest: tuple[str, str],
                        key: str, frozen: tuple, arguments: dict) -> None:  # fmt: skip
        """A binding between two stored ends was added or removed."""
        if not self.enabled:
            return
        kind, name = dest
        record = BindingRecord(
            vhost, source, kind, name, key, encode_table(typed_table(arguments)),
            repr((kind, name, key, frozen)),
        )  # fmt: skip
        self._durable().entities.append((Op.BINDING_PUT if added else Op.BINDING_DELETE, record))

    # ---- messages ---------------------------------------------------------------
    def put(self, queue: Queue, entry: Entry) -> None:
        """A message entered a queue: store it if it must survive or is paged out."""
        qid = queue.page_id
        if qid is None:
            return
        message = entry.message
        # Only a stored queue keeps persistent messages across a restart.
        persistent = message.persistent and queue.store_id is not None
        if not (persistent or entry.paged):
            return
        if persistent:
            batch = self._durable()
        else:
            batch = self._commit.batch
            queue.page_used = True
        batch.puts[(qid, entry.seq)] = self.record(qid, entry, persistent)
        self.pending_bytes += message.size
        entry.stored = True

    def record(self, qid: int, entry: Entry, persistent: bool) -> MessageRecord:
        message = entry.message
        expires = None if entry.expires_at is None else entry.expires_at + self.wall_offset()
        return MessageRecord(
            qid, entry.seq, persistent, entry.redelivered, entry.delivery_count,
            entry.priority, expires, message.exchange, message.routing_key,
            message.header.raw_properties, message.body, tuple(message.bcc),
        )  # fmt: skip

    def delivered(self, queue: Queue, entry: Entry, no_ack: bool) -> None:
        """A stored message went out: gone if no ack is due, else marked delivered
        (it comes back redelivered after a restart)."""
        if not entry.stored:
            return
        if no_ack:
            self.remove(queue, entry)
        elif queue.is_quorum:
            # A quorum queue counts a delivery its consumer never settled (the broker
            # went down) as a return: stored as if it had come back already.
            self._mark(queue, entry, entry.delivery_count + 1)
        elif not entry.redelivered:
            self._mark(queue, entry, entry.delivery_count)

    def requeued(self, queue: Queue, entry: Entry) -> None:
        if entry.stored and queue.is_quorum:  # quorum queues report the count
            self._mark(queue, entry, entry.delivery_count)

    def _mark(self, queue: Queue, entry: Entry, delivery_count: int) -> None:
        if queue.deleted or queue.store_id is None:  # a transient queue's marks die with it
            return
        key = (queue.store_id, entry.seq)
        batch = self._commit.batch
        pending = batch.puts.get(key)
        if pending is not None:
            pending.delivered, pending.delivery_count = True, delivery_count
        else:
            batch.marks[key] = (True, delivery_count)

    def remove(self, queue: Queue, entry: Entry) -> None:
        """A stored message left its queue for good (acked, dead-lettered, dropped)."""
        if not entry.stored or queue.deleted:
            return
        entry.stored = False
        key = (queue.page_id, entry.seq)
        batch = self._commit.batch
        batch.marks.pop(key, None)
        if batch.puts.pop(key, None) is None:
            batch.removes.add(key)
        else:
            self.pending_bytes -= entry.message.size

    def stream_put(self, queue: Queue, entry: StreamEntry, segment: int) -> None:
        """A message was appended to a stream: every one is kept, and confirmed once on disk."""
        qid = queue.store_id
        if qid is None:
            return
        message = entry.message
        self._commit.stream_written[queue] = entry.offset + 1
        self._durable().stream_puts.append(
            StreamRecord(qid, entry.offset, segment, entry.timestamp,
                         message.exchange, message.routing_key, message.header.raw_properties,
                         message.body)
        )  # fmt: skip
        self.pending_bytes += message.size

    def stream_truncated(self, queue: Queue, first: int) -> None:
        """Retention dropped a stream's messages before offset ``first``."""
        qid = queue.store_id
        if qid is None:
            return
        batch = self._commit.batch
        kept = [r for r in batch.stream_puts if r.queue != qid or r.offset >= first]
        self.pending_bytes -= sum(len(r.body) for r in batch.stream_puts) - sum(
            len(r.body) for r in kept
        )
        batch.stream_puts = kept
        batch.entities.append((Op.STREAM_TRUNCATE, (qid, first)))

    def purged(self, queue: Queue, entries: list[Entry], paged: list[tuple[int, int]]) -> None:
        """A queue was purged: ``entries`` were in memory, and in each lane
        (priority, from_seq) of ``paged`` every message from that seq on was paged."""
        qid = queue.page_id
        if qid is None:
            return
        for entry in entries:
            self.remove(queue, entry)
        for priority, paged_from in paged:
            level = priority if queue.max_priority else None
            self._drop_puts(qid, paged_from, level)
            self._commit.batch.entities.append((Op.PURGE_FROM, (qid, paged_from, level)))

    def paged_in(self, queue: Queue, level: int | None, entries: list[Entry]) -> None:
        """Paged messages of a transient queue are in memory again: the store
        forgets them now, in one range, rather than one by one as they are acked."""
        if queue.store_id is not None or not entries or queue.deleted:
            return
        for entry in entries:
            entry.stored = False
        key = (queue.page_id, entries[0].seq, entries[-1].seq, level)
        self._commit.batch.entities.append((Op.DROP_RANGE, key))

    def setting_changed(self, kind: str, key: str, value: bytes | None) -> None:
        """A user, vhost, permission, policy or parameter was set (``value``, its
        JSON) or cleared (None): durable, like a declaration."""
        if not self.enabled:
            return
        if value is None:
            self._durable().entities.append((Op.SETTING_DELETE, (kind, key)))
        else:
            self._durable().entities.append((Op.SETTING_PUT, SettingRecord(kind, key, value)))

    def set_aside(self, key: MessageKey) -> None:
        """A stored message could not be read back: keep it aside in the store."""
        self._commit.batch.entities.append((Op.MESSAGE_SET_ASIDE, key))

    def set_aside_delayed(self, delayed_id: int) -> None:
        self._commit.batch.entities.append((Op.DELAYED_SET_ASIDE, delayed_id))

    def _drop_puts(self, qid: int, from_seq: int, level: int | None = None) -> None:
        """Forget the pending puts of a queue's messages from ``from_seq`` on
        (of priority ``level`` only, if given)."""
        puts = self._commit.batch.puts
        for key in [key for key, r in puts.items() if key[0] == qid and key[1] >= from_seq
                    and (level is None or r.priority == level)]:  # fmt: skip
            self.pending_bytes -= len(puts.pop(key).body)

    # ---- delayed messages -------------------------------------------------------
    def delayed_put(
        self, vhost: str, exchange: Exchange, message: Message, due: float
    ) -> int | None:
        if not (self.enabled and exchange.durable and message.persistent):
            return None
        delayed_id = self.next_delayed_id
        self.next_delayed_id += 1
        record = DelayedRecord(
            delayed_id, vhost, exchange.name, due + self.wall_offset(),
            message.routing_key, message.header.raw_properties, message.body,
            tuple(message.bcc),
        )  # fmt: skip
        self._durable().entities.append((Op.DELAYED_PUT, record))
        return delayed_id

    def delayed_remove(self, delayed_id: int | None) -> None:
        if delayed_id is not None:
            self._commit.batch.entities.append((Op.DELAYED_DELETE, delayed_id))


def exchange_record(vhost: str, exchange: Exchange) -> ExchangeRecord:
    return ExchangeRecord(
        vhost,
        exchange.name,
        exchange.type,
        exchange.auto_delete,
        exchange.internal,
        encode_table(typed_table(exchange.arguments)),
    )


def message_from_record(record: MessageRecord | DelayedRecord) -> Message:
    """A stored message as the model holds it again (AMQPError or TableError
    if its properties cannot be read)."""
    header = ContentHeader(BASIC_CLASS, len(record.body), record.properties)
    message = Message(record.exchange, record.routing_key, header, record.body)
    read_routing_properties(message)
    message.bcc = list(record.bcc)
    return message


def entries_from_records(
    records: list[MessageRecord], wall_offset: float, journal: Journal
) -> list[Entry]:
    """Stored messages as queue entries; one that cannot be read is logged and
    set aside in the store, and the rest are served."""
    entries = []
    for record in records:
        try:
            entries.append(entry_from_record(record, wall_offset))
        except (AMQPError, TableError, ValueError) as err:
            log.error(
                "store: message %d of queue %d cannot be read (%s); set aside",
                record.seq, record.queue, err,
            )  # fmt: skip
            journal.set_aside((record.queue, record.seq))
    return entries


def entry_from_record(record: MessageRecord, wall_offset: float) -> Entry:
    message = message_from_record(record)
    expires = None if record.expires is None else record.expires - wall_offset
    entry = Entry(message, record.seq, expires, record.priority, record.delivered,
                  record.delivery_count)  # fmt: skip
    entry.stored = True
    return entry
