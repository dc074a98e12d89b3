"""Stream logs in both stores (SQLite and memory), which must agree: messages
kept by (queue, offset) with their time and segment, read back in offset order
a batch at a time, cut before an offset by retention, gone with their queue,
and given back at open as segments plus the newest messages."""

from __future__ import annotations

import pytest

from amqpd.store import STREAM_TAIL, Batch, Op, QueueRecord, StreamRecord, StreamSegment
from amqpd.store.memory import MemoryStore
from amqpd.store.sqlite import SQLiteStore


def entry(qid: int, offset: int, segment: int) -> StreamRecord:
    return StreamRecord(qid, offset, segment, 1000.0 + offset, "x", "k", b"\x00\x00",
                        b"m%d" % offset)  # fmt: skip


@pytest.fixture(params=["sqlite", "memory"])
def store_kind(request, tmp_path):
    stores = []

    def open_store(again: bool = False):
        if request.param == "memory":
            store = stores[-1] if again else MemoryStore()
        else:
            if again:
                stores[-1].close()
            store = SQLiteStore(tmp_path / "data")
        snapshot = store.open()
        stores.append(store)
        return store, snapshot

    yield open_store
    if request.param == "sqlite":
        stores[-1].close()


def test_a_stream_log_is_kept_read_cut_and_recovered(store_kind):
    store, _ = store_kind()
    queues = [(Op.QUEUE_PUT, QueueRecord(q, "/", f"s{q}", False, b"\0\0\0\0")) for q in (1, 2)]
    store.apply(Batch(entities=queues, durable=True))
    store.apply(Batch(stream_puts=[entry(1, o, o // 10) for o in range(30)], durable=True))
    store.apply(Batch(stream_puts=[entry(2, o, 0) for o in range(5)], durable=True))
    assert [r.offset for r in store.read_stream(1, 12, 5)] == [12, 13, 14, 15, 16]
    assert store.read_stream(1, 12, 1) == [entry(1, 12, 1)]
    store.apply(Batch(entities=[(Op.STREAM_TRUNCATE, (1, 10))]))
    assert [r.offset for r in store.read_stream(1, 0, 3)] == [10, 11, 12]

    store, snapshot = store_kind(again=True)
    state = snapshot.streams[1]
    assert state.segments == [StreamSegment(1, 10, 19, 10 * 3, 1019.0),
                              StreamSegment(2, 20, 29, 10 * 3, 1029.0)]  # fmt: skip
    assert [r.offset for r in state.tail] == list(range(10, 30))[-STREAM_TAIL:]
    store.apply(Batch(entities=[(Op.QUEUE_DELETE, 2)], durable=True))
    assert store.read_stream(2, 0, 10) == []
    _store, snapshot = store_kind(again=True)
    assert set(snapshot.streams) == {1}
