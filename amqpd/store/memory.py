"""A store in memory, with the semantics of the on-disk one (for tests).

A test "restarts" a broker by building a new one over the same MemoryStore.
"""

from __future__ import annotations

import dataclasses

from amqpd.store import (
    Batch,
    BindingRecord,
    DelayedRecord,
    ExchangeRecord,
    MessageRecord,
    QueueRecord,
    QueueStats,
    Snapshot,
)


class MemoryStore:
    def __init__(self) -> None:
        self.exchanges: dict[tuple[str, str], ExchangeRecord] = {}
        self.queues: dict[int, QueueRecord] = {}
        self.bindings: dict[tuple[str, str, str], BindingRecord] = {}
        self.delayed: dict[int, DelayedRecord] = {}
        self.messages: dict[tuple[int, int], MessageRecord] = {}
        self.batches = 0
        self.durable_batches = 0

    def open(self) -> Snapshot:
        self.messages = {
            key: record
            for key, record in self.messages.items()
            if record.persistent and record.queue in self.queues
        }
        stats: dict[int, list[int]] = {}
        for (queue, seq), record in self.messages.items():
            entry = stats.setdefault(queue, [0, 0, 0])
            entry[0] += 1
            entry[1] += len(record.body)
            entry[2] = max(entry[2], seq + 1)
        return Snapshot(
            list(self.exchanges.values()),
            list(self.queues.values()),
            list(self.bindings.values()),
            list(self.delayed.values()),
            {queue: QueueStats(*values) for queue, values in stats.items()},
        )

    def apply(self, batch: Batch) -> None:
        self.batches += 1
        self.durable_batches += batch.durable
        for kind, data in batch.entities:
            if kind == "exchange+":
                self.exchanges[(data.vhost, data.name)] = data
            elif kind == "exchange-":
                self.exchanges.pop(data, None)
            elif kind == "queue+":
                self.queues[data.id] = data
            elif kind == "queue-":
                self.queues.pop(data, None)
                self._drop(lambda key, q=data: key[0] == q)
            elif kind == "binding+":
                self.bindings[(data.vhost, data.source, data.ident)] = data
            elif kind == "binding-":
                self.bindings.pop((data.vhost, data.source, data.ident), None)
            elif kind == "purge":
                queue, seqs, paged_from = data
                for seq in seqs:
                    self.messages.pop((queue, seq), None)
                if paged_from is not None:
                    self._drop(lambda key, q=queue, s=paged_from: key[0] == q and key[1] >= s)
            elif kind == "delayed+":
                self.delayed[data.id] = data
            elif kind == "delayed-":
                self.delayed.pop(data, None)
            elif kind == "delayed-exchange":
                for key in [k for k, r in self.delayed.items() if (r.vhost, r.exchange) == data]:
                    del self.delayed[key]
            else:
                raise ValueError(f"unknown store operation {kind!r}")
        for key, record in batch.puts.items():
            self.messages[key] = dataclasses.replace(record)
        for key, (delivered, count) in batch.marks.items():
            record = self.messages.get(key)
            if record is not None:
                record.delivered, record.delivery_count = delivered, count
        for key in batch.removes:
            self.messages.pop(key, None)

    def _drop(self, matches) -> None:
        for key in [key for key in self.messages if matches(key)]:
            del self.messages[key]

    def read_messages(self, queue: int, from_seq: int, limit: int | None) -> list[MessageRecord]:
        found = sorted(
            (seq, record)
            for (q, seq), record in self.messages.items()
            if q == queue and seq >= from_seq
        )
        if limit is not None:
            found = found[:limit]
        return [dataclasses.replace(record) for _seq, record in found]

    def close(self) -> None:
        pass
