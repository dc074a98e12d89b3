"""Rebuilding the broker's durable state from the store at start-up.

Exchanges, queues and bindings come back as they were declared; each queue
gets its stored messages back in order, those that had been delivered marked
redelivered, deadlines kept (they are stored on the wall clock). A deep queue
reads only its in-memory window; the rest stays paged in the store. Queue
leases (x-expires) start again, as RabbitMQ's do after a restart.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from amqpd.model.journal import entry_from_record, message_from_record
from amqpd.model.queue import PAGE_WINDOW, Queue
from amqpd.model.vhost import Exchange
from amqpd.store import MessageRecord, Snapshot
from amqpd.wire.fieldtable import ArgTable, TableError, decode_table

if TYPE_CHECKING:
    from amqpd.model.broker import Broker

log = logging.getLogger("amqpd.recovery")

ReadMessages = Callable[[int, int, int | None], list[MessageRecord]]


def restore(broker: Broker, snapshot: Snapshot, read_messages: ReadMessages) -> None:
    journal = broker.journal
    enabled, journal.enabled = journal.enabled, False  # nothing recovered is written again
    try:
        _restore(broker, snapshot, read_messages)
    finally:
        journal.enabled = enabled
    broker.run_dispatch()


def _restore(broker: Broker, snapshot: Snapshot, read_messages: ReadMessages) -> None:
    vhosts = broker.vhosts
    journal = broker.journal
    broker._tick()
    for record in snapshot.exchanges:
        vhost = vhosts.get(record.vhost)
        if vhost is None:
            log.warning("store: exchange '%s' of unknown vhost '%s' left in the store",
                        record.name, record.vhost)  # fmt: skip
            continue
        try:
            exchange = Exchange(record.name, record.type, True, record.auto_delete,
                                record.internal, _arguments(record.arguments))  # fmt: skip
        except KeyError:
            log.warning("store: exchange '%s' has unknown type '%s'; not restored",
                        record.name, record.type)  # fmt: skip
            continue
        vhost.exchanges[record.name] = exchange
    queues: list[Queue] = []
    for record in snapshot.queues:
        journal.next_queue_id = max(journal.next_queue_id, record.id + 1)
        vhost = vhosts.get(record.vhost)
        if vhost is None:
            log.warning("store: queue '%s' of unknown vhost '%s' left in the store",
                        record.name, record.vhost)  # fmt: skip
            continue
        queue = Queue(record.name, record.vhost, True, None, record.auto_delete,
                      _arguments(record.arguments))  # fmt: skip
        queue.store_id = record.id
        queue.pageable = queue.can_page
        vhost.queues[record.name] = queue
        queues.append(queue)
    for record in snapshot.bindings:
        vhost = vhosts.get(record.vhost)
        source = vhost and vhost.exchanges.get(record.source)
        if source is None:
            continue
        arguments = _arguments(record.arguments)
        if record.dest_kind == "queue":
            queue = vhost.queues.get(record.dest)
            if queue is not None:
                vhost.bind_queue(queue, source, record.key, arguments)
        else:
            destination = vhost.exchanges.get(record.dest)
            if destination is not None:
                vhost.bind_exchange(destination, source, record.key, arguments)
    offset = journal.wall_offset()
    for queue in queues:
        stats = snapshot.stats.get(queue.store_id)
        if stats is not None:
            limit = PAGE_WINDOW if queue.pageable else None
            records = read_messages(queue.store_id, 0, limit)
            entries = [entry_from_record(r, offset) for r in records]
            size = sum(e.message.size for e in entries)
            queue.restore(entries, stats.count - len(entries), stats.bytes - size, stats.next_seq)
        broker.delivery.touch(queue)
        broker.dispatch(queue)
    for record in snapshot.delayed:
        journal.next_delayed_id = max(journal.next_delayed_id, record.id + 1)
        vhost = vhosts.get(record.vhost)
        exchange = vhost and vhost.exchanges.get(record.exchange)
        if exchange is None or not exchange.delayed:
            journal.delayed_remove(record.id)
            continue
        message = message_from_record(record)
        due = record.due - offset
        broker.timers.schedule(("delayed", (exchange, message, vhost, record.id)), due)
    if not (snapshot.exchanges or snapshot.queues or snapshot.delayed):
        return
    log.info(
        "store: restored %d exchanges, %d queues, %d bindings, %d messages, %d delayed",
        len(snapshot.exchanges),
        len(queues),
        len(snapshot.bindings),
        sum(s.count for s in snapshot.stats.values()),
        len(snapshot.delayed),
    )


def _arguments(blob: bytes) -> ArgTable:
    try:
        typed, _end = decode_table(blob)
    except TableError:
        typed = {}
    return ArgTable.from_typed(typed)
