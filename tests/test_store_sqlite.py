"""SQLiteStore on its own: records in, records out, and what a damaged folder does.

The broker's durability promises rest on this class, so these tests drive it
directly with ``Batch`` records, the way the store runner does: what a reopened
store gives back, what it drops at open (transient rows, orphans), purges of
paged queues, a write-ahead log torn by a crash, folders it must refuse rather
than start empty (garbage file, a file in place of the folder, a newer schema,
a second broker), and space given back once a deep queue drains.

A crash is simulated by copying the database and its write-ahead log while the
store is still open: that is exactly what ``kill -9`` leaves on disk (a
committed transaction is in the log, fsync'd, before ``apply`` returns).
"""

from __future__ import annotations

import logging
import os
import shutil
import sqlite3
import struct
from pathlib import Path

import pytest

from amqpd.store import (
    Batch,
    BindingRecord,
    DelayedRecord,
    ExchangeRecord,
    MessageRecord,
    Op,
    QueueRecord,
    SettingRecord,
    StoreError,
)
from amqpd.store.memory import MemoryStore
from amqpd.store.sqlite import FILE_NAME, SQLiteStore

EMPTY_TABLE = b"\0\0\0\0"
PERSISTENT_PROPS = b"\x10\x00\x02"  # flags: delivery-mode only; delivery-mode 2
TRANSIENT_PROPS = b"\x10\x00\x01"
WAL_HEADER = 32
WAL_FRAME_HEADER = 24


def queue_record(qid: int, name: str | None = None) -> QueueRecord:
    return QueueRecord(qid, "/", name or f"q{qid}", False, EMPTY_TABLE)


def message(qid: int, seq: int, *, persistent: bool = True, body: bytes | None = None,
            **fields) -> MessageRecord:  # fmt: skip
    values = dict(
        queue=qid, seq=seq, persistent=persistent, delivered=False, delivery_count=0,
        priority=0, expires=None, exchange="", routing_key=f"q{qid}",
        properties=PERSISTENT_PROPS if persistent else TRANSIENT_PROPS,
        body=body if body is not None else f"m{qid}.{seq}".encode(),
    )  # fmt: skip
    values.update(fields)
    return MessageRecord(**values)


def puts(*records: MessageRecord, durable: bool = True) -> Batch:
    return Batch(puts={(r.queue, r.seq): r for r in records}, durable=durable)


def declare_queues(store, *qids: int) -> None:
    store.apply(Batch(entities=[(Op.QUEUE_PUT, queue_record(q)) for q in qids], durable=True))


def seqs(store, qid: int, from_seq: int = 0, limit: int | None = None) -> list[int]:
    return [r.seq for r in store.read_messages(qid, from_seq, limit)]


@pytest.fixture
def data_dir(tmp_path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def opened(data_dir):
    """Open SQLiteStores on ``data_dir``; all are closed at teardown."""
    stores: list[SQLiteStore] = []

    def open_store(path: Path | None = None) -> tuple[SQLiteStore, object]:
        store = SQLiteStore(path or data_dir)
        snapshot = store.open()
        stores.append(store)
        return store, snapshot

    yield open_store
    for store in stores:
        store.close()


def reopen(store: SQLiteStore, opened):
    store.close()
    return opened(store.data_dir)


def crash_copy(store: SQLiteStore, to: Path) -> Path:
    """The files a kill -9 would leave now: the database and its write-ahead log
    (the shared-memory index is rebuilt from the log by the next opener)."""
    to.mkdir()
    for suffix in ("", "-wal"):
        source = Path(f"{store.path}{suffix}")
        if source.exists():
            shutil.copyfile(source, to / f"{FILE_NAME}{suffix}")
    return to


# ---- records in, records out ------------------------------------------------------


def test_a_new_folder_opens_empty_and_everything_applied_comes_back(opened, data_dir):
    store, snapshot = opened()
    assert (snapshot.exchanges, snapshot.queues, snapshot.bindings, snapshot.delayed) == (
        [],
        [],
        [],
        [],
    )
    assert snapshot.stats == {}
    assert (data_dir / FILE_NAME).is_file()
    exchange = ExchangeRecord("/", "orders", "topic", True, False, b"\0\0\0\x05\x01ab\x01")
    binding = BindingRecord("/", "orders", "queue", "q1", "eu.#", EMPTY_TABLE, "ident-1")
    delayed = DelayedRecord(7, "/", "later", 1.5e9, "rk", PERSISTENT_PROPS, b"delayed")
    store.apply(
        Batch(
            entities=[
                (Op.EXCHANGE_PUT, exchange),
                (Op.QUEUE_PUT, queue_record(1)),
                (Op.QUEUE_PUT, queue_record(2)),
                (Op.BINDING_PUT, binding),
                (Op.DELAYED_PUT, delayed),
            ],
            durable=True,
        )
    )
    binary = bytes(range(256)) * 5
    records = [
        message(1, 0, body=binary, priority=3, expires=1.7e9 + 0.25, exchange="orders",
                routing_key="eu.de", delivered=True, delivery_count=4),
        message(1, 1, body=b""),
        message(1, 5),
        message(2, 0),
    ]  # fmt: skip
    store.apply(puts(*records))

    store, snapshot = reopen(store, opened)
    assert snapshot.exchanges == [exchange]
    assert sorted(snapshot.queues, key=lambda q: q.id) == [queue_record(1), queue_record(2)]
    assert snapshot.bindings == [binding]
    assert snapshot.delayed == [delayed]
    assert snapshot.stats[1].count == 3
    assert snapshot.stats[1].bytes == len(binary) + 0 + len(b"m1.5")
    assert snapshot.stats[1].next_seq == 6
    assert snapshot.stats[2].count == 1 and snapshot.stats[2].next_seq == 1
    assert store.read_messages(1, 0, None) == records[:3]
    assert store.read_messages(2, 0, None) == records[3:]


def test_read_messages_pages_by_sequence(opened):
    store, _ = opened()
    declare_queues(store, 1)
    store.apply(puts(*(message(1, s) for s in (9, 3, 0, 7, 5))))
    assert seqs(store, 1) == [0, 3, 5, 7, 9]
    assert seqs(store, 1, 4) == [5, 7, 9]
    assert seqs(store, 1, 4, 2) == [5, 7]
    assert seqs(store, 1, 10) == []
    assert seqs(store, 2) == []


def test_marks_and_removes(opened):
    store, _ = opened()
    declare_queues(store, 1)
    store.apply(puts(*(message(1, s) for s in range(4))))
    store.apply(Batch(marks={(1, 1): (True, 0), (1, 2): (True, 3), (1, 99): (True, 1)},
                      removes={(1, 0), (1, 42)}))  # fmt: skip
    # In one batch: a put, a mark of it and of an older message, a remove.
    store.apply(Batch(puts={(1, 4): message(1, 4)}, marks={(1, 4): (True, 1), (1, 3): (True, 2)},
                      removes={(1, 1)}))  # fmt: skip
    store, snapshot = reopen(store, opened)
    got = store.read_messages(1, 0, None)
    assert [(r.seq, r.delivered, r.delivery_count, r.body) for r in got] == [
        (2, True, 3, b"m1.2"),
        (3, True, 2, b"m1.3"),
        (4, True, 1, b"m1.4"),
    ]
    assert snapshot.stats[1].count == 3 and snapshot.stats[1].next_seq == 5


def test_entity_deletes(opened):
    store, _ = opened()
    exchange = ExchangeRecord("/", "x", "direct", False, False, EMPTY_TABLE)
    binding = BindingRecord("/", "x", "queue", "q1", "k", EMPTY_TABLE, "b")
    other = BindingRecord("/", "x", "queue", "q2", "k", EMPTY_TABLE, "b2")
    delayed = DelayedRecord(1, "/", "x", 1e9, "k", PERSISTENT_PROPS, b"")
    entities = [
        (Op.EXCHANGE_PUT, exchange),
        (Op.QUEUE_PUT, queue_record(1)),
        (Op.QUEUE_PUT, queue_record(2)),
        (Op.BINDING_PUT, binding),
        (Op.BINDING_PUT, other),
        (Op.DELAYED_PUT, delayed),
    ]
    store.apply(Batch(entities=entities, durable=True))
    store.apply(puts(message(1, 0), message(2, 0)))
    store.apply(
        Batch(
            entities=[(Op.BINDING_DELETE, binding), (Op.QUEUE_DELETE, 1), (Op.DELAYED_DELETE, 1)],
            durable=True,
        )
    )
    store, snapshot = reopen(store, opened)
    assert snapshot.exchanges == [exchange]
    assert snapshot.queues == [queue_record(2)]
    assert snapshot.bindings == [other]
    assert snapshot.delayed == []
    assert seqs(store, 1) == [] and seqs(store, 2) == [0]
    assert set(snapshot.stats) == {2}
    store.apply(Batch(entities=[(Op.EXCHANGE_DELETE, ("/", "x"))], durable=True))
    store, snapshot = reopen(store, opened)
    assert snapshot.exchanges == []


def test_a_delayed_exchange_takes_its_delayed_messages_along(opened):
    def held(id_: int, exchange: str, vhost: str = "/") -> DelayedRecord:
        return DelayedRecord(id_, vhost, exchange, 1e9 + id_, "k", PERSISTENT_PROPS, b"")

    store, _ = opened()
    store.apply(
        Batch(
            entities=[
                (Op.DELAYED_PUT, held(1, "d")),
                (Op.DELAYED_PUT, held(2, "d")),
                (Op.DELAYED_PUT, held(3, "other")),
                (Op.DELAYED_PUT, held(4, "d", "v")),
            ],
            durable=True,
        )
    )
    # Deleted and declared again in one batch: what comes after the delete stays.
    store.apply(
        Batch(
            entities=[
                (Op.EXCHANGE_DELETE, ("/", "d")),
                (Op.DELAYED_EXCHANGE_DELETE, ("/", "d")),
                (Op.DELAYED_PUT, held(5, "d")),
            ],
            durable=True,
        )
    )
    store, snapshot = reopen(store, opened)
    assert sorted(r.id for r in snapshot.delayed) == [3, 4, 5]


def test_a_failed_batch_leaves_nothing_behind(opened):
    store, _ = opened()
    declare_queues(store, 1)
    bad = puts(message(1, 0))
    bad.entities = [(Op.QUEUE_PUT, queue_record(2)), ("no-such-operation", None)]
    with pytest.raises(Exception):  # noqa: B017 - whatever the store raises
        store.apply(bad)
    store.apply(puts(message(1, 1)))  # the store is still usable
    store, snapshot = reopen(store, opened)
    assert snapshot.queues == [queue_record(1)]
    assert seqs(store, 1) == [1]


def test_transient_messages_are_dropped_at_open(opened):
    store, _ = opened()
    declare_queues(store, 1, 2)
    store.apply(puts(
        message(1, 0), message(1, 1, persistent=False), message(1, 2),
        message(1, 3, persistent=False),  # the highest seq: next_seq must not count it
        message(2, 0, persistent=False),
    ))  # fmt: skip
    store, snapshot = reopen(store, opened)
    assert seqs(store, 1) == [0, 2]
    assert seqs(store, 2) == []
    assert set(snapshot.stats) == {1}
    assert (snapshot.stats[1].count, snapshot.stats[1].next_seq) == (2, 3)
    assert snapshot.stats[1].bytes == len(b"m1.0") + len(b"m1.2")


def test_purge_drops_the_removed_messages_and_everything_from_paged_from(opened):
    store, _ = opened()
    declare_queues(store, 1, 2)
    store.apply(puts(*(message(1, s) for s in range(10)), *(message(2, s) for s in range(10))))
    # Seqs 0-2 are in memory (removed one by one), 3-4 were delivered (unacked,
    # not purged), 5 on were paged out to the store.
    store.apply(
        Batch(entities=[(Op.PURGE_FROM, (1, 5))], removes={(1, 0), (1, 1), (1, 2)}, durable=True)
    )
    assert seqs(store, 1) == [3, 4]
    assert seqs(store, 2) == list(range(10))
    store.apply(Batch(removes={(2, 4)}))
    assert seqs(store, 2) == [0, 1, 2, 3, 5, 6, 7, 8, 9]
    store, snapshot = reopen(store, opened)
    assert seqs(store, 1) == [3, 4]
    assert snapshot.stats[1].count == 2


def test_memory_store_agrees_with_sqlite(opened):
    """MemoryStore stands in for SQLiteStore in the model tests: same batches,
    same snapshot and reads after a reopen."""
    batches = [
        Batch(
            entities=[
                (Op.QUEUE_PUT, queue_record(1)),
                (Op.QUEUE_PUT, queue_record(2)),
                (Op.EXCHANGE_PUT, ExchangeRecord("/", "x", "fanout", False, False, EMPTY_TABLE)),
            ],
            durable=True,
        ),
        puts(
            *(message(1, s, persistent=s % 3 != 0) for s in range(12)),
            *(message(2, s) for s in range(5)),
        ),
        Batch(marks={(1, 1): (True, 2)}, removes={(1, 2), (2, 4)}),
        Batch(entities=[(Op.PURGE_FROM, (1, 8))], removes={(1, 4)}, durable=True),
        Batch(
            entities=[
                (Op.QUEUE_DELETE, 2),
                (Op.DELAYED_PUT, DelayedRecord(3, "/", "x", 5.0, "", b"", b"d")),
                (Op.DELAYED_PUT, DelayedRecord(4, "/", "y", 6.0, "", b"", b"e")),
            ],
            durable=True,
        ),
        Batch(entities=[(Op.DELAYED_EXCHANGE_DELETE, ("/", "y"))], durable=True),
    ]
    sqlite_store, _ = opened()
    memory = MemoryStore()
    memory.open()
    for batch in batches:
        sqlite_store.apply(batch)
        memory.apply(batch)
    sqlite_store, from_disk = reopen(sqlite_store, opened)
    from_memory = memory.open()
    assert from_disk.stats == from_memory.stats
    assert sorted(from_disk.queues, key=lambda q: q.id) == sorted(
        from_memory.queues, key=lambda q: q.id
    )
    assert from_disk.exchanges == from_memory.exchanges
    assert from_disk.delayed == from_memory.delayed
    for qid in (1, 2, 3):
        assert sqlite_store.read_messages(qid, 0, None) == memory.read_messages(qid, 0, None)
        assert sqlite_store.read_messages(qid, 5, 2) == memory.read_messages(qid, 5, 2)


# ---- crashes ----------------------------------------------------------------------


def wal_frame_size(wal: Path) -> int:
    page_size = struct.unpack(">I", wal.read_bytes()[8:12])[0]
    return WAL_FRAME_HEADER + page_size


def test_after_a_crash_every_committed_batch_is_recovered(opened, tmp_path, caplog):
    store, _ = opened()
    declare_queues(store, 1)
    for seq in range(5):
        store.apply(puts(message(1, seq)))
    store.apply(Batch(removes={(1, 0)}))
    crashed = crash_copy(store, tmp_path / "crashed")
    assert (crashed / f"{FILE_NAME}-wal").stat().st_size > WAL_HEADER
    with caplog.at_level(logging.INFO, logger="amqpd.store"):
        recovered, snapshot = opened(crashed)
    assert seqs(recovered, 1) == [1, 2, 3, 4]
    assert snapshot.stats[1].count == 4
    assert not [r for r in caplog.records if "torn" in r.getMessage()]
    assert [r for r in caplog.records if "unclean" in r.getMessage()], caplog.text


def test_a_torn_write_ahead_log_recovers_what_was_committed_before_the_tear(
    opened, tmp_path, caplog
):
    store, _ = opened()
    declare_queues(store, 1)
    store.apply(puts(message(1, 0), message(1, 1)))
    store.apply(Batch(marks={(1, 0): (True, 1)}))
    wal = Path(f"{store.path}-wal")
    before_last = wal.stat().st_size
    store.apply(puts(message(1, 2, body=b"torn away")))  # the last commit: torn below
    crashed = crash_copy(store, tmp_path / "crashed")
    crashed_wal = crashed / f"{FILE_NAME}-wal"
    size = crashed_wal.stat().st_size
    frame = wal_frame_size(crashed_wal)
    assert size > before_last and (size - WAL_HEADER) % frame == 0
    # Cut inside the last frame: it holds the last transaction's commit record.
    cut = size - frame // 2
    with open(crashed_wal, "r+b") as fh:
        fh.truncate(cut)
    with caplog.at_level(logging.INFO, logger="amqpd.store"):
        recovered, snapshot = opened(crashed)
    torn = [r for r in caplog.records if "torn" in r.getMessage()]
    assert torn and torn[0].levelno == logging.WARNING, caplog.text
    assert str(frame - frame // 2) in torn[0].getMessage()  # names the torn bytes
    got = recovered.read_messages(1, 0, None)
    assert [(r.seq, r.delivered, r.delivery_count) for r in got] == [(0, True, 1), (1, False, 0)]
    assert snapshot.stats[1].count == 2
    # The recovered store works on: new writes land and survive a clean reopen.
    recovered.apply(puts(message(1, 2, body=b"again")))
    recovered, _ = reopen(recovered, opened)
    assert [r.body for r in recovered.read_messages(1, 0, None)] == [b"m1.0", b"m1.1", b"again"]


def test_a_log_torn_inside_its_header_is_reported_and_ignored(opened, tmp_path, caplog):
    store, _ = opened()
    declare_queues(store, 1)
    store.close()  # everything checkpointed into the database
    wal = store.path.with_name(f"{FILE_NAME}-wal")
    wal.write_bytes(b"\x37\x7f\x06\x82\0\0")  # a crash while writing the log's header
    with caplog.at_level(logging.WARNING, logger="amqpd.store"):
        _, snapshot = opened()
    assert "torn" in caplog.text
    assert snapshot.queues == [queue_record(1)]


# ---- folders it must refuse -------------------------------------------------------


def test_a_garbage_database_file_is_a_store_error(data_dir):
    data_dir.mkdir()
    (data_dir / FILE_NAME).write_bytes(b"this is not a database, just some text\n" * 200)
    with pytest.raises(StoreError) as caught:
        SQLiteStore(data_dir).open()
    text = str(caught.value)
    assert "not a database" in text
    assert str(data_dir / FILE_NAME) in text
    assert "\n" not in text


@pytest.mark.parametrize("keep", [0.9, 0.5, 0.05])
def test_a_truncated_database_is_a_store_error(opened, data_dir, keep):
    store, _ = opened()
    declare_queues(store, 1)
    store.apply(puts(*(message(1, s, body=os.urandom(500)) for s in range(3000))))
    store.close()
    database = data_dir / FILE_NAME
    with open(database, "r+b") as fh:
        fh.truncate(int(database.stat().st_size * keep))
    with pytest.raises(StoreError, match="malformed"):
        SQLiteStore(data_dir).open()


def test_a_file_in_place_of_the_folder_is_a_store_error(tmp_path):
    in_the_way = tmp_path / "data"
    in_the_way.write_text("not a folder")
    with pytest.raises(StoreError, match="data"):
        SQLiteStore(in_the_way).open()
    with pytest.raises(StoreError):
        SQLiteStore(in_the_way / "below").open()


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads and writes any folder")
def test_a_folder_without_permissions_is_a_store_error(data_dir):
    data_dir.mkdir()
    data_dir.chmod(0o500)
    try:
        with pytest.raises(StoreError, match="not readable and writable"):
            SQLiteStore(data_dir).open()
    finally:
        data_dir.chmod(0o700)


def test_a_newer_schema_is_a_store_error(opened, data_dir):
    store, _ = opened()
    store.close()
    with sqlite3.connect(data_dir / FILE_NAME) as db:
        db.execute("UPDATE meta SET value = 99 WHERE key = 'schema'")
    db.close()
    with pytest.raises(StoreError, match="schema version 99"):
        SQLiteStore(data_dir).open()


def test_a_second_store_on_the_same_folder_is_refused_until_the_first_closes(opened, data_dir):
    first, _ = opened()
    with pytest.raises(StoreError, match="in use by another amqpd"):
        SQLiteStore(data_dir).open()
    first.close()
    second, _ = opened()
    declare_queues(second, 1)


def test_a_failed_open_does_not_keep_the_folder_locked(opened, data_dir):
    data_dir.mkdir()
    garbage = data_dir / FILE_NAME
    garbage.write_bytes(b"garbage" * 1000)
    with pytest.raises(StoreError, match="not a database"):
        SQLiteStore(data_dir).open()
    garbage.unlink()  # the operator fixes the folder; an embedding process retries
    store, snapshot = opened()
    assert snapshot.queues == []


# ---- space ------------------------------------------------------------------------


def test_space_is_given_back_as_a_deep_queue_drains(opened, data_dir):
    """30k x 1 KiB fill the file; once drained (acks in many small batches, as
    consumers make them) the database shrinks back while the store stays open,
    and the write-ahead log is bounded too."""
    store, _ = opened()
    declare_queues(store, 1)
    body = os.urandom(1024)
    total, per_batch = 30_000, 1000
    for start in range(0, total, per_batch):
        store.apply(puts(*(message(1, s, body=body) for s in range(start, start + per_batch))))
    database = data_dir / FILE_NAME
    full_db, full_total = database.stat().st_size, store.size()
    assert full_db > total * 1024
    for start in range(0, total, 250):
        store.apply(Batch(removes={(1, s) for s in range(start, start + 250)}))
    assert seqs(store, 1) == []
    drained_db, drained_total = database.stat().st_size, store.size()
    assert drained_db < full_db / 3, (full_db, drained_db)
    assert drained_total < full_total, (full_total, drained_total)
    store.close()  # checkpoints: nothing is left in the log, the database stays small
    assert database.stat().st_size < full_db / 3
    assert not Path(f"{database}-wal").exists() or Path(f"{database}-wal").stat().st_size == 0


def test_a_draining_backlog_is_not_moved_to_give_space_back(opened, data_dir):
    """While much is still live, freed pages are kept for reuse: an incremental
    vacuum would copy the live backlog at the end of the file into them."""
    store, _ = opened()
    declare_queues(store, 1)
    body = os.urandom(1024)
    for start in range(0, 40_000, 1000):
        store.apply(puts(*(message(1, s, body=body) for s in range(start, start + 1000))))
    database = data_dir / FILE_NAME
    full_db = database.stat().st_size
    for start in range(0, 20_000, 250):
        store.apply(Batch(removes={(1, s) for s in range(start, start + 250)}))
    assert database.stat().st_size >= full_db  # not one page given back
    assert seqs(store, 1, 19_999, 2) == [20_000, 20_001]


def test_messages_of_a_queue_that_is_gone_are_dropped_at_open(opened, caplog):
    store, _ = opened()
    declare_queues(store, 1)
    store.apply(puts(message(1, 0), message(7, 0), message(7, 1)))  # queue 7 was never declared
    with caplog.at_level(logging.WARNING, logger="amqpd.store"):
        store, snapshot = reopen(store, opened)
    assert set(snapshot.stats) == {1}
    assert seqs(store, 7) == []
    assert "dropping 2 messages" in caplog.text


def test_a_broker_thread_reports_the_store_error_itself(data_dir):
    from amqpd.config import BrokerConfig
    from amqpd.testing import BrokerThread

    holder = SQLiteStore(data_dir)
    holder.open()
    try:
        with pytest.raises(RuntimeError) as failed:
            BrokerThread(BrokerConfig(data_dir=str(data_dir))).start()
        assert isinstance(failed.value.__cause__, StoreError)
        assert "in use by another amqpd" in str(failed.value.__cause__)
    finally:
        holder.close()


def test_settings_are_kept_replaced_and_dropped(opened):
    store, _ = opened()
    store.apply(Batch(entities=[
        (Op.SETTING_PUT, SettingRecord("user", "ann", b'{"tags": []}')),
        (Op.SETTING_PUT, SettingRecord("vhost", "v1", b"{}")),
    ], durable=True))  # fmt: skip
    store.apply(Batch(entities=[
        (Op.SETTING_PUT, SettingRecord("user", "ann", b'{"tags": ["management"]}')),
        (Op.SETTING_DELETE, ("vhost", "v1")),
    ], durable=True))  # fmt: skip
    store, snapshot = reopen(store, opened)
    assert snapshot.settings == [SettingRecord("user", "ann", b'{"tags": ["management"]}')]
    memory = MemoryStore()
    memory.open()
    memory.apply(Batch(entities=[(Op.SETTING_PUT, SettingRecord("user", "ann", b"{}")),
                                 (Op.SETTING_DELETE, ("user", "ann"))]))  # fmt: skip
    assert memory.open().settings == []


# ---- priority lanes -----------------------------------------------------------------


def test_a_priority_lane_is_read_counted_and_purged_on_its_own(opened):
    """A priority queue pages one lane per priority: both stores read, count and
    purge one priority's messages by sequence, leaving the other priorities'."""
    sqlite_store, _ = opened()
    memory = MemoryStore()
    memory.open()
    records = [message(1, seq, priority=seq % 3) for seq in range(30)]
    batches = [
        Batch(entities=[(Op.QUEUE_PUT, queue_record(1))], durable=True),
        puts(*records),
        Batch(entities=[(Op.PURGE_FROM, (1, 20, 2))], durable=True),
    ]
    for batch in batches:
        sqlite_store.apply(batch)
        memory.apply(batch)
    for store in (sqlite_store, memory):
        assert [r.seq for r in store.read_messages(1, 4, 3, 1)] == [4, 7, 10]
        assert [r.seq for r in store.read_messages(1, 0, None, 2)] == [2, 5, 8, 11, 14, 17]
        assert len(store.read_messages(1, 0, None)) == 30 - 4
    sqlite_store, from_disk = reopen(sqlite_store, opened)
    from_memory = memory.open()
    assert from_disk.levels == from_memory.levels
    assert from_disk.levels[(1, 2)].count == 6 and from_disk.levels[(1, 0)].count == 10
    assert from_disk.stats == from_memory.stats
    assert from_disk.stats[1].count == 26
