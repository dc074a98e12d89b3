"""A store in memory, with the semantics of the on-disk one (for tests).

A test "restarts" a broker by building a new one over the same MemoryStore.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from amqpd.store import (
    STREAM_TAIL,
    Batch,
    BindingRecord,
    DelayedRecord,
    ExchangeRecord,
    MessageKey,
    MessageRecord,
    Op,
    QueueRecord,
    QueueStats,
    SettingRecord,
    Snapshot,
    StreamRecord,
    StreamSegment,
    StreamState,
)


class MemoryStore:
    def __init__(self) -> None:
        self.exchanges: dict[tuple[str, str], ExchangeRecord] = {}
        self.queues: dict[int, QueueRecord] = {}
        self.bindings: dict[tuple[str, str, str], BindingRecord] = {}
        self.delayed: dict[int, DelayedRecord] = {}
        self.messages: dict[tuple[int, int], MessageRecord] = {}
        self.set_aside: dict[tuple, MessageRecord | DelayedRecord] = {}  # unreadable records
        self.settings: dict[tuple[str, str], SettingRecord] = {}
        self.streams: dict[int, dict[int, StreamRecord]] = {}  # queue id -> offset -> record
        self.durable_batches = 0

    def open(self) -> Snapshot:
        self.messages = {
            key: record
            for key, record in self.messages.items()
            if record.persistent and record.queue in self.queues
        }
        stats: dict[object, list[int]] = {}
        for (queue, seq), record in self.messages.items():
            for key in (queue, (queue, record.priority)):
                entry = stats.setdefault(key, [0, 0, 0])
                entry[0] += 1
                entry[1] += len(record.body)
                entry[2] = max(entry[2], seq + 1)
        return Snapshot(
            list(self.exchanges.values()),
            list(self.queues.values()),
            list(self.bindings.values()),
            list(self.delayed.values()),
            {key: QueueStats(*values) for key, values in stats.items() if isinstance(key, int)},
            list(self.settings.values()),
            {key: QueueStats(*v) for key, v in stats.items() if isinstance(key, tuple)},
            {queue: self._stream_state(queue) for queue, log in self.streams.items() if log},
        )

    def _stream_state(self, queue: int) -> StreamState:
        segments: dict[int, list] = {}
        for offset, record in sorted(self.streams[queue].items()):
            found = segments.setdefault(record.segment, [offset, offset, 0, record.timestamp])
            found[1], found[3] = offset, max(found[3], record.timestamp)
            found[2] += len(record.body)
        newest = max(self.streams[queue])
        tail = self.read_stream(queue, max(0, newest + 1 - STREAM_TAIL), STREAM_TAIL)
        return StreamState([StreamSegment(n, *v) for n, v in sorted(segments.items())], tail)

    def apply(self, batch: Batch) -> None:
        self.durable_batches += batch.durable
        for op, data in batch.entities:
            self._apply_entity(op, data)
        for key, record in batch.puts.items():
            self.messages[key] = dataclasses.replace(record)
        for key, (delivered, count) in batch.marks.items():
            record = self.messages.get(key)
            if record is not None:
                record.delivered, record.delivery_count = delivered, count
        for key in batch.removes:
            self.messages.pop(key, None)
        for record in batch.stream_puts:
            self.streams.setdefault(record.queue, {})[record.offset] = dataclasses.replace(record)

    def _apply_entity(self, op: Op, data: Any) -> None:  # noqa: ANN401 - data as Op says
        if op is Op.EXCHANGE_PUT:
            self.exchanges[(data.vhost, data.name)] = data
        elif op is Op.EXCHANGE_DELETE:
            self.exchanges.pop(data, None)
        elif op is Op.QUEUE_PUT:
            self.queues[data.id] = data
        elif op is Op.QUEUE_DELETE:
            self.queues.pop(data, None)
            self.streams.pop(data, None)
            self._drop(lambda key: key[0] == data)
        elif op in (Op.BINDING_PUT, Op.BINDING_DELETE):
            key = (data.vhost, data.source, data.ident)
            if op is Op.BINDING_PUT:
                self.bindings[key] = data
            else:
                self.bindings.pop(key, None)
        elif op is Op.DROP_RANGE:
            queue, first, last, priority = data
            self._drop(lambda key: key[0] == queue and first <= key[1] <= last
                       and priority in (None, self.messages[key].priority))  # fmt: skip
        elif op is Op.PURGE_FROM:
            queue, from_seq, *level = data
            priority = level[0] if level else None
            self._drop(lambda key: key[0] == queue and key[1] >= from_seq
                       and priority in (None, self.messages[key].priority))  # fmt: skip
        else:
            self._apply_delayed_or_aside(op, data)

    def _apply_delayed_or_aside(self, op: Op, data: Any) -> None:  # noqa: ANN401
        if op is Op.DELAYED_PUT:
            self.delayed[data.id] = data
        elif op is Op.DELAYED_DELETE:
            self.delayed.pop(data, None)
        elif op is Op.DELAYED_EXCHANGE_DELETE:
            for key in [k for k, r in self.delayed.items() if (r.vhost, r.exchange) == data]:
                del self.delayed[key]
        else:
            self._apply_aside_or_setting(op, data)

    def _apply_aside_or_setting(self, op: Op, data: Any) -> None:  # noqa: ANN401
        if op is Op.MESSAGE_SET_ASIDE:
            if data in self.messages:
                self.set_aside[data] = self.messages.pop(data)
        elif op is Op.DELAYED_SET_ASIDE:
            if data in self.delayed:
                self.set_aside[("delayed", data)] = self.delayed.pop(data)
        elif op is Op.SETTING_PUT:
            self.settings[(data.kind, data.key)] = data
        elif op is Op.SETTING_DELETE:
            self.settings.pop(data, None)
        elif op is Op.STREAM_TRUNCATE:
            queue, first = data
            log = self.streams.get(queue, {})
            for offset in [offset for offset in log if offset < first]:
                del log[offset]
        else:
            raise ValueError(f"unknown store operation {op!r}")

    def _drop(self, matches: Callable[[MessageKey], bool]) -> None:
        for key in [key for key in self.messages if matches(key)]:
            del self.messages[key]

    def read_messages(
        self, queue: int, from_seq: int, limit: int | None, priority: int | None = None
    ) -> list[MessageRecord]:
        found = sorted(
            (seq, record)
            for (q, seq), record in self.messages.items()
            if q == queue and seq >= from_seq and priority in (None, record.priority)
        )
        if limit is not None:
            found = found[:limit]
        return [dataclasses.replace(record) for _seq, record in found]

    def read_stream(self, queue: int, from_offset: int, limit: int) -> list[StreamRecord]:
        log = self.streams.get(queue, {})
        offsets = sorted(offset for offset in log if offset >= from_offset)[:limit]
        return [dataclasses.replace(log[offset]) for offset in offsets]

    def close(self) -> None:
        pass
