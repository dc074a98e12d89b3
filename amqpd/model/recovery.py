"""Rebuilding the broker's durable state from the store at start-up.

Exchanges, queues and bindings come back as they were declared; each queue
gets its stored messages back in order, those that had been delivered marked
redelivered, deadlines kept (they are stored on the wall clock). A deep queue
reads only its in-memory window; the rest stays paged in the store. Queue
leases (x-expires) start again, as RabbitMQ's do after a restart.

One record that cannot be read never stops the broker from starting: it is
logged and set aside in the store (out of every queue, kept for an operator),
and the rest is served.

``restore`` answers what came back (a Recovered) and, if given a ``progress``
callback, calls it after each queue's messages are read, so the shell can
report a long recovery as it goes; the model itself never logs progress.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from amqpd.errors import AMQPError
from amqpd.model import parameters
from amqpd.model.broker import Broker
from amqpd.model.exchange import Exchange
from amqpd.model.journal import entries_from_records, message_from_record
from amqpd.model.queue import Queue
from amqpd.model.stream import Segment, entry_from_record
from amqpd.model.vhost import VirtualHost
from amqpd.store import (
    BindingRecord,
    DelayedRecord,
    ExchangeRecord,
    MessageRecord,
    QueueRecord,
    QueueStats,
    Snapshot,
    StreamState,
)
from amqpd.wire.fieldtable import ArgTable, TableError, decode_table

log = logging.getLogger("amqpd.recovery")

ReadMessages = Callable[[int, int, int | None, int | None], list[MessageRecord]]


@dataclass(frozen=True)
class Recovered:
    """What a start-up brought back from the store."""

    exchanges: int = 0
    queues: int = 0
    bindings: int = 0
    messages: int = 0
    delayed: int = 0


# progress(queues done, queues in all, messages so far), after each queue's messages.
Progress = Callable[[int, int, int], None]


def restore(
    broker: Broker,
    snapshot: Snapshot,
    read_messages: ReadMessages,
    progress: Progress | None = None,
) -> Recovered:
    journal = broker.journal
    enabled, journal.enabled = journal.enabled, False  # nothing recovered is written again
    try:
        broker.tick()
        # Users, vhosts and permissions first: exchanges and queues need their vhosts.
        first_start = not broker.restore_access(
            [(s.kind, s.key, s.value) for s in snapshot.settings]
        )
        for record in snapshot.exchanges:
            _restore_exchange(broker, record)
        queues = [queue for record in snapshot.queues if (queue := _restore_queue(broker, record))]
        for binding in snapshot.bindings:
            _restore_binding(broker, binding)
        parameters.restore(broker, snapshot.settings)  # policies reach every queue and exchange
        _restore_all_messages(broker, queues, snapshot, read_messages, progress)
        for delayed in snapshot.delayed:
            _restore_delayed(broker, delayed)
    finally:
        journal.enabled = enabled
    if first_start:  # the configured users and vhosts are kept from now on
        broker.access.record_all()
    broker.dispatch()
    recovered = Recovered(
        len(snapshot.exchanges),
        len(queues),
        len(snapshot.bindings),
        sum(s.count for s in snapshot.stats.values()),
        len(snapshot.delayed),
    )
    if snapshot.exchanges or snapshot.queues or snapshot.delayed:
        log.info(
            "store: restored %d exchanges, %d queues, %d bindings, %d messages, %d delayed",
            recovered.exchanges,
            recovered.queues,
            recovered.bindings,
            recovered.messages,
            recovered.delayed,
        )
    return recovered


def _restore_all_messages(
    broker: Broker,
    queues: list[Queue],
    snapshot: Snapshot,
    read_messages: ReadMessages,
    progress: Progress | None,
) -> None:
    messages = 0
    for done, queue in enumerate(queues, 1):
        _restore_messages(broker, queue, snapshot, read_messages)
        stats = snapshot.stats.get(queue.store_id)
        messages += stats.count if stats is not None else 0
        if progress is not None:
            progress(done, len(queues), messages)


def _restore_exchange(broker: Broker, record: ExchangeRecord) -> None:
    vhost = broker.vhosts.get(record.vhost)
    if vhost is None:
        log.warning("store: exchange '%s' of unknown vhost '%s' left in the store",
                    record.name, record.vhost)  # fmt: skip
        return
    try:
        exchange = Exchange(record.name, record.type, True, record.auto_delete,
                            record.internal, _arguments(record.arguments))  # fmt: skip
    except KeyError:
        log.warning("store: exchange '%s' has unknown type '%s'; not restored",
                    record.name, record.type)  # fmt: skip
        return
    vhost.exchanges[record.name] = exchange


def _restore_queue(broker: Broker, record: QueueRecord) -> Queue | None:
    journal = broker.journal
    journal.next_queue_id = max(journal.next_queue_id, record.id + 1)
    vhost = broker.vhosts.get(record.vhost)
    if vhost is None:
        log.warning("store: queue '%s' of unknown vhost '%s' left in the store",
                    record.name, record.vhost)  # fmt: skip
        return None
    queue = Queue(record.name, record.vhost, True, None, record.auto_delete,
                  _arguments(record.arguments))  # fmt: skip
    queue.store_id = queue.page_id = record.id
    queue.pageable = True
    vhost.queues[record.name] = queue
    return queue


def _restore_binding(broker: Broker, record: BindingRecord) -> None:
    vhost = broker.vhosts.get(record.vhost)
    source = vhost and vhost.exchanges.get(record.source)
    if source is None:
        return
    arguments = _arguments(record.arguments)
    try:
        _bind(vhost, source, record, arguments)
    except AMQPError as err:  # stored before amqpd refused it (an unknown x-match, say)
        log.error("store: binding %s -> %s not restored: %s", record.source, record.dest, err)


def _bind(vhost: VirtualHost, source: Exchange, record: BindingRecord, arguments: dict) -> None:
    if record.dest_kind == "queue":
        queue = vhost.queues.get(record.dest)
        if queue is not None:
            vhost.bind_queue(queue, source, record.key, arguments)
    else:
        destination = vhost.exchanges.get(record.dest)
        if destination is not None:
            vhost.bind_exchange(destination, source, record.key, arguments)


def _restore_messages(
    broker: Broker, queue: Queue, snapshot: Snapshot, read_messages: ReadMessages
) -> None:
    if queue.stream is not None:
        _restore_stream(broker, queue, snapshot.streams.get(queue.store_id))
        return
    stats = snapshot.stats.get(queue.store_id)
    if stats is not None:
        if queue.max_priority:  # a lane per priority, highest first
            levels = [(p, snapshot.levels.get((queue.store_id, p))) for p in
                      range(queue.max_priority, -1, -1)]  # fmt: skip
        else:
            levels = [(None, stats)]
        for level, level_stats in levels:
            if level_stats is not None:
                _restore_lane(broker, queue, level, level_stats, read_messages)
        queue.resume_seq(stats.next_seq)
    broker.dispatcher.touch(queue)
    broker.queue_changed(queue)


def _restore_lane(
    broker: Broker, queue: Queue, level: int | None, stats: QueueStats,
    read_messages: ReadMessages,
) -> None:  # fmt: skip
    """The oldest window of one lane; the rest stays paged."""
    records = read_messages(queue.store_id, 0, queue.window, level)
    entries = entries_from_records(records, broker.journal.wall_offset(), broker.journal)
    # What was not read stays paged; what could not be read was set aside.
    paged = stats.count - len(records)
    paged_bytes = stats.bytes - sum(len(r.body) for r in records)
    queue.restore(level or 0, entries, paged, paged_bytes)


def _restore_stream(broker: Broker, queue: Queue, state: StreamState | None) -> None:
    """A stream's segments and newest messages; the rest of its log stays on disk."""
    log = queue.stream
    log.bounded = True
    if state is not None and state.segments:
        segments = [Segment(s.number, s.first, s.last, s.bytes, s.last_timestamp)
                    for s in state.segments]  # fmt: skip
        tail = [entry_from_record(record) for record in state.tail]
        log.restore(segments, tail, segments[-1].last + 1)
    broker.dispatcher.touch(queue)


def _restore_delayed(broker: Broker, record: DelayedRecord) -> None:
    journal = broker.journal
    journal.next_delayed_id = max(journal.next_delayed_id, record.id + 1)
    vhost = broker.vhosts.get(record.vhost)
    exchange = vhost and vhost.exchanges.get(record.exchange)
    if exchange is None or not exchange.delayed:
        journal.delayed_remove(record.id)
        return
    try:
        message = message_from_record(record)
    except (AMQPError, TableError, ValueError) as err:
        log.error("store: delayed message %d cannot be read (%s); set aside", record.id, err)
        journal.set_aside_delayed(record.id)
        return
    due = record.due - journal.wall_offset()
    broker.delayed.restore(vhost, exchange, message, record.id, due)


def _arguments(blob: bytes) -> ArgTable:
    try:
        typed, _end = decode_table(blob)
    except TableError:
        typed = {}
    return ArgTable.from_typed(typed)
