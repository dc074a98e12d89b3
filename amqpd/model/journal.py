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
memory bounded, any message of a deep queue past its in-memory window; see
Queue.enqueue), and delayed persistent messages of durable delayed exchanges.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from amqpd.model.message import Message
from amqpd.model.queue import Entry, Queue
from amqpd.store import (
    Batch,
    BindingRecord,
    DelayedRecord,
    ExchangeRecord,
    MessageRecord,
    QueueRecord,
)
from amqpd.wire.codec import ContentHeader
from amqpd.wire.fieldtable import encode_table, typed_table

BASIC_CLASS = 60


@dataclass
class Commit:
    """A batch on its way to disk and the promises that wait for it."""

    batch: Batch
    number: int = 0  # batches are numbered as they are taken, and written in that order
    confirms: list = field(default_factory=list)  # (channel, seq)
    replies: list = field(default_factory=list)  # (session, channel number, method)
    held: list = field(default_factory=list)  # sessions to resume
    pages: list = field(default_factory=list)  # (queue, generation, from seq, limit)


class Journal:
    def __init__(self, enabled: bool = False, wall_offset: Callable[[], float] = lambda: 0.0):
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
                    or commit.pages)  # fmt: skip

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

    def wait_for(self, entity) -> None:
        """A reply about ``entity`` (declared, perhaps by another session) must not
        go out before the entity is on disk."""
        if self.enabled and entity.store_batch > self.written:
            self._durable()

    def mark(self) -> int:
        return self.durable_ops

    def durable_since(self, mark: int) -> bool:
        return self.durable_ops != mark

    def after_commit_confirm(self, channel, seq: int) -> None:
        self._commit.confirms.append((channel, seq))

    def after_commit_reply(self, session, number: int, method) -> None:
        self._commit.replies.append((session, number, method))

    def hold_until_commit(self, session) -> None:
        self._commit.held.append(session)

    def request_page(self, queue: Queue, limit: int) -> None:
        """Read the next ``limit`` paged messages of ``queue`` after this batch."""
        queue.paging_in = True
        self._commit.pages.append((queue, queue.page_generation, queue.paged_from, limit))

    def _durable(self) -> Batch:
        self.durable_ops += 1
        batch = self._commit.batch
        batch.durable = True
        return batch

    # ---- entities ---------------------------------------------------------------
    def exchange_declared(self, vhost: str, exchange) -> None:
        if self.enabled and exchange.durable:
            self._durable().entities.append(("exchange+", exchange_record(vhost, exchange)))
            exchange.store_batch = self.taken + 1

    def exchange_deleted(self, vhost: str, exchange) -> None:
        if self.enabled and exchange.durable:
            entities = self._durable().entities
            entities.append(("exchange-", (vhost, exchange.name)))
            if exchange.delayed:  # the messages it holds die with it
                entities.append(("delayed-exchange", (vhost, exchange.name)))

    def queue_declared(self, queue: Queue) -> None:
        if not (self.enabled and queue.durable and queue.exclusive_owner is None):
            return
        queue.store_id = self.next_queue_id
        self.next_queue_id += 1
        queue.store_batch = self.taken + 1
        queue.pageable = queue.can_page
        record = QueueRecord(
            queue.store_id,
            queue.vhost,
            queue.name,
            queue.auto_delete,
            encode_table(typed_table(queue.arguments)),
        )
        self._durable().entities.append(("queue+", record))

    def queue_deleted(self, queue: Queue) -> None:
        qid = queue.store_id
        if qid is None:
            return
        batch = self._durable()
        self._drop_puts(qid, 0)
        for key in [key for key in batch.marks if key[0] == qid]:
            del batch.marks[key]
        batch.removes = {key for key in batch.removes if key[0] != qid}
        batch.entities.append(("queue-", qid))

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
        self._durable().entities.append(("binding+" if added else "binding-", record))

    # ---- messages ---------------------------------------------------------------
    def put(self, queue: Queue, entry: Entry) -> None:
        """A message entered a queue: store it if it must survive or is paged out."""
        qid = queue.store_id
        if qid is None:
            return
        message = entry.message
        persistent = message.persistent
        if not (persistent or entry.paged):
            return
        batch = self._durable() if persistent else self._commit.batch
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
        if queue.deleted:
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
        key = (queue.store_id, entry.seq)
        batch = self._commit.batch
        batch.marks.pop(key, None)
        if batch.puts.pop(key, None) is None:
            batch.removes.add(key)
        else:
            self.pending_bytes -= entry.message.size

    def purged(self, queue: Queue, entries: list[Entry], paged_from: int | None) -> None:
        qid = queue.store_id
        if qid is None:
            return
        for entry in entries:
            self.remove(queue, entry)
        if paged_from is not None:
            self._drop_puts(qid, paged_from)
            self._commit.batch.entities.append(("purge", (qid, [], paged_from)))

    def _drop_puts(self, qid: int, from_seq: int) -> None:
        """Forget the pending puts of a queue's messages from ``from_seq`` on."""
        puts = self._commit.batch.puts
        for key in [key for key in puts if key[0] == qid and key[1] >= from_seq]:
            self.pending_bytes -= len(puts.pop(key).body)

    # ---- delayed messages -------------------------------------------------------
    def delayed_put(self, vhost: str, exchange, message: Message, due: float) -> int | None:
        if not (self.enabled and exchange.durable and message.persistent):
            return None
        delayed_id = self.next_delayed_id
        self.next_delayed_id += 1
        record = DelayedRecord(
            delayed_id, vhost, exchange.name, due + self.wall_offset(),
            message.routing_key, message.header.raw_properties, message.body,
            tuple(message.bcc),
        )  # fmt: skip
        self._durable().entities.append(("delayed+", record))
        return delayed_id

    def delayed_remove(self, delayed_id: int | None) -> None:
        if delayed_id is not None:
            self._commit.batch.entities.append(("delayed-", delayed_id))


def exchange_record(vhost: str, exchange) -> ExchangeRecord:
    return ExchangeRecord(
        vhost,
        exchange.name,
        exchange.type,
        exchange.auto_delete,
        exchange.internal,
        encode_table(typed_table(exchange.arguments)),
    )


def message_from_record(record: MessageRecord | DelayedRecord) -> Message:
    """A stored message as the model holds it again."""
    from amqpd.model.publish import restore_properties  # avoids an import cycle

    header = ContentHeader(BASIC_CLASS, len(record.body), record.properties)
    message = Message(record.exchange, record.routing_key, header, record.body)
    restore_properties(message)
    message.bcc = list(record.bcc)
    return message


def entry_from_record(record: MessageRecord, wall_offset: float) -> Entry:
    message = message_from_record(record)
    expires = None if record.expires is None else record.expires - wall_offset
    entry = Entry(message, record.seq, expires, record.priority, record.delivered,
                  record.delivery_count)  # fmt: skip
    entry.stored = True
    return entry
