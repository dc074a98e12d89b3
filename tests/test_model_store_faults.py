"""The model and the store when something cannot be written or read back.

A durable change whose record cannot be made is refused before the model
changes, so the model is never ahead of the disk. At start-up, one stored
record that cannot be read is set aside in the store and logged, and the rest
of the broker is served.
"""

from __future__ import annotations

import logging

import pytest

from amqpd.model import journal as journal_module
from amqpd.model import recovery
from amqpd.model.broker import Broker
from amqpd.model.journal import Journal
from amqpd.store import Batch, BindingRecord, ExchangeRecord, MessageRecord, Op, QueueRecord
from amqpd.store.memory import MemoryStore
from amqpd.store.sqlite import SQLiteStore
from amqpd.wire.fieldtable import TableError

PERSISTENT = b"\x10\x00\x02"  # delivery_mode=2
# Headers flag set, but the table is cut short: properties no reader can decode.
UNREADABLE = b"\x20\x00\x00\x00\x00\x09F"
EMPTY_TABLE = b"\0\0\0\0"


def model() -> Broker:
    return Broker(clock=lambda: 100.0, wall_clock=lambda: 1e9, journal=Journal(enabled=True))


def refuse_encoding(monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(table: dict) -> bytes:
        raise TableError("cannot encode")

    monkeypatch.setattr(journal_module, "encode_table", fail)


def test_a_durable_queue_whose_record_fails_is_not_declared(monkeypatch):
    broker = model()
    vhost = broker.vhosts["/"]
    refuse_encoding(monkeypatch)
    with pytest.raises(TableError):
        vhost.declare_queue("q", owner=None, passive=False, durable=True, exclusive=False,
                            auto_delete=False, arguments={"x-max-length": 5})  # fmt: skip
    assert "q" not in vhost.queues
    assert broker.journal.take() is None  # nothing was promised or written


def test_a_durable_exchange_whose_record_fails_is_not_declared(monkeypatch):
    broker = model()
    vhost = broker.vhosts["/"]
    refuse_encoding(monkeypatch)
    with pytest.raises(TableError):
        vhost.declare_exchange("x", "direct", passive=False, durable=True, auto_delete=False,
                               internal=False, arguments={})  # fmt: skip
    assert "x" not in vhost.exchanges
    assert broker.journal.take() is None


def test_a_durable_binding_whose_record_fails_is_not_made(monkeypatch):
    broker = model()
    vhost = broker.vhosts["/"]
    queue = vhost.declare_queue("q", owner=None, passive=False, durable=True, exclusive=False,
                                auto_delete=False, arguments={})  # fmt: skip
    exchange = vhost.exchanges["amq.direct"]
    broker.journal.take()
    refuse_encoding(monkeypatch)
    with pytest.raises(TableError):
        vhost.bind_queue(queue, exchange, "k", {})
    assert exchange.bindings == {} and queue.bindings == set()
    assert list(exchange.router.route("k", None)) == []


def stored_queue(store, qid: int = 1, name: str = "q") -> None:
    store.apply(Batch(entities=[(Op.QUEUE_PUT, QueueRecord(qid, "/", name, False, EMPTY_TABLE))],
                      durable=True))  # fmt: skip


def record(seq: int, properties: bytes = PERSISTENT, queue: int = 1) -> MessageRecord:
    body = f"m{seq}".encode()
    return MessageRecord(queue, seq, True, False, 0, 0, None, "", "q", properties, body)


def reopen(store):
    """The same store after a restart of the broker process."""
    if isinstance(store, MemoryStore):
        return store
    store.close()
    return SQLiteStore(store.data_dir)


def restart(store) -> Broker:
    broker = model()
    recovery.restore(broker, store.open(), store.read_messages)
    commit = broker.journal.take()
    if commit is not None:
        store.apply(commit.batch)
    return broker


def bodies(broker: Broker, name: str = "q") -> list[bytes]:
    queue = broker.vhosts["/"].queues[name]
    out = []
    while (entry := queue.pop()) is not None:
        out.append(entry.message.body)
    broker.queue_changed(queue)  # a drained window asks for the next page
    broker.dispatch()
    return out


@pytest.fixture(params=["memory", "sqlite"])
def store(request, tmp_path):
    store = MemoryStore() if request.param == "memory" else SQLiteStore(tmp_path)
    store.open()
    return store


def test_an_unreadable_message_is_set_aside_and_the_rest_served(store, caplog):
    stored_queue(store)
    store.apply(Batch(puts={(1, s): record(s, UNREADABLE if s == 1 else PERSISTENT)
                            for s in range(3)}, durable=True))  # fmt: skip
    store = reopen(store)
    with caplog.at_level(logging.ERROR, "amqpd.store"):
        broker = restart(store)
    assert broker.vhosts["/"].queues["q"].message_count == 2
    assert bodies(broker) == [b"m0", b"m2"]
    assert "message 1 of queue 1 cannot be read" in caplog.text
    # Set aside: out of the queue for good, so a second start is clean.
    caplog.clear()
    store = reopen(store)
    with caplog.at_level(logging.ERROR, "amqpd.store"):
        again = restart(store)
    store.close()
    assert bodies(again) == [b"m0", b"m2"] and caplog.text == ""


def test_the_record_set_aside_is_kept_in_the_store(tmp_path):
    store = SQLiteStore(tmp_path)
    store.open()
    stored_queue(store)
    store.apply(Batch(puts={(1, 0): record(0, UNREADABLE)}, durable=True))
    store = reopen(store)
    restart(store)
    kept = store._db.execute("SELECT seq, properties FROM set_aside_messages").fetchall()
    store.close()
    assert kept == [(0, UNREADABLE)]


def test_an_unreadable_paged_message_is_set_aside_and_paging_goes_on():
    store = MemoryStore()
    store.open()
    stored_queue(store)
    total = 5000  # more than the in-memory window: the rest is read back in pages
    bad = 3000
    store.apply(Batch(puts={(1, s): record(s, UNREADABLE if s == bad else PERSISTENT)
                            for s in range(total)}, durable=True))  # fmt: skip
    broker = restart(store)
    queue = broker.vhosts["/"].queues["q"]
    got = bodies(broker)
    while len(got) < total - 1:
        commit = broker.journal.take()
        assert commit is not None, f"stuck after {len(got)} messages"
        store.apply(commit.batch)
        for page in commit.pages:
            records = store.read_messages(page.page_id, page.from_seq, page.limit, page.level)
            broker.page_read(page.queue, page.generation, records, page.level)
        broker.committed(commit)
        got.extend(bodies(broker))
    assert got == [f"m{s}".encode() for s in range(total) if s != bad]
    assert queue.message_count == 0
    assert (1, bad) in store.set_aside


def test_a_stored_binding_refused_since_is_left_out_and_the_rest_restored(store, caplog):
    # A headers binding with an x-match RabbitMQ refuses, stored before amqpd refused it.
    bad = b"\x00\x00\x00\x10\x07x-matchS\x00\x00\x00\x03foo"
    stored_queue(store)
    store.apply(Batch(entities=[
        (Op.EXCHANGE_PUT, ExchangeRecord("/", "h", "headers", False, False, EMPTY_TABLE)),
        (Op.BINDING_PUT, BindingRecord("/", "h", "queue", "q", "", bad, "b1")),
        (Op.BINDING_PUT, BindingRecord("/", "amq.direct", "queue", "q", "k", EMPTY_TABLE, "b2")),
    ], durable=True))  # fmt: skip
    store = reopen(store)
    with caplog.at_level(logging.ERROR, "amqpd.recovery"):
        broker = restart(store)
    vhost = broker.vhosts["/"]
    assert vhost.exchanges["h"].bindings == {}
    assert list(vhost.exchanges["amq.direct"].router.route("k", None)) != []
    assert "binding h -> q not restored" in caplog.text
