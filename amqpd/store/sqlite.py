"""The default store: one SQLite database in WAL mode in the data folder.

Why SQLite (docs/storage.md has the figures): it is crash-safe and proven, it
comes with Python, and group commits of a few hundred messages run several
times faster than the broker can route them. Every batch is one transaction;
a batch that holds a promise (a confirm, a declare-ok) is committed with
synchronous=FULL, so the write-ahead log is fsync'd before the promise is
kept; the rest (acks, delivery marks, paged transient messages) commit
without a sync of their own.

Space: acked messages are deleted; freed pages are reused, and an incremental
vacuum gives them back to the file system once many are free and little is
live (it moves live pages), so the file follows what is queued once drained.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import sqlite3
import struct
from pathlib import Path

from amqpd.store import (
    STREAM_TAIL,
    Batch,
    BindingRecord,
    DelayedRecord,
    ExchangeRecord,
    MessageRecord,
    Op,
    QueueRecord,
    QueueStats,
    SettingRecord,
    Snapshot,
    StoreError,
    StreamRecord,
    StreamSegment,
    StreamState,
    prepare_folder,
)

log = logging.getLogger("amqpd.store")

FILE_NAME = "amqpd.sqlite3"
SCHEMA_VERSION = 1
# Give freed pages back to the file system once this many are free (4 KiB each),
# looking after every so many removals.
VACUUM_FREE_PAGES = 4096
VACUUM_CHECK_EVERY = 4096  # messages removed
VACUUM_MOVE_PAGES = 4096  # ... and at most this many are live (they would be moved)
VACUUM_STEP_PAGES = 16384  # pages given back at one look

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS exchanges (
    vhost TEXT, name TEXT, type TEXT, auto_delete INTEGER, internal INTEGER,
    arguments BLOB, PRIMARY KEY (vhost, name)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS queues (
    id INTEGER PRIMARY KEY, vhost TEXT, name TEXT, auto_delete INTEGER, arguments BLOB);
CREATE TABLE IF NOT EXISTS bindings (
    vhost TEXT, source TEXT, ident TEXT, dest_kind TEXT, dest TEXT, key TEXT,
    arguments BLOB, PRIMARY KEY (vhost, source, ident)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS messages (
    queue INTEGER, seq INTEGER, size INTEGER, persistent INTEGER, delivered INTEGER,
    delivery_count INTEGER, priority INTEGER, expires REAL, exchange TEXT,
    routing_key TEXT, properties BLOB, body BLOB, bcc TEXT);
-- Covers start-up's per-queue counts, so a deep backlog is not read to count it.
CREATE INDEX IF NOT EXISTS messages_by_queue ON messages (queue, seq, size);
-- Pages of one priority of a priority queue, and start-up's counts per priority.
CREATE INDEX IF NOT EXISTS messages_by_level ON messages (queue, priority, seq, size);
-- Paged transient messages, dropped at start-up without scanning the rest.
CREATE INDEX IF NOT EXISTS transient_messages ON messages (queue) WHERE persistent = 0;
CREATE TABLE IF NOT EXISTS delayed (
    id INTEGER PRIMARY KEY, vhost TEXT, exchange TEXT, due REAL, routing_key TEXT,
    properties BLOB, body BLOB, bcc TEXT);
-- Users, vhosts, permissions, policies, parameters: one JSON value each.
CREATE TABLE IF NOT EXISTS settings (
    kind TEXT, key TEXT, value BLOB, PRIMARY KEY (kind, key)) WITHOUT ROWID;
-- Records start-up could not read, kept for an operator instead of refusing to start.
CREATE TABLE IF NOT EXISTS set_aside_messages (
    queue INTEGER, seq INTEGER, size INTEGER, persistent INTEGER, delivered INTEGER,
    delivery_count INTEGER, priority INTEGER, expires REAL, exchange TEXT,
    routing_key TEXT, properties BLOB, body BLOB, bcc TEXT);
-- Stream queues' logs: one row per message, kept until retention drops its segment.
CREATE TABLE IF NOT EXISTS stream_entries (
    queue INTEGER, stream_offset INTEGER, segment INTEGER, timestamp REAL, size INTEGER,
    exchange TEXT, routing_key TEXT, properties BLOB, body BLOB);
CREATE UNIQUE INDEX IF NOT EXISTS stream_by_offset ON stream_entries (queue, stream_offset);
-- Covers start-up's segment bookkeeping, so the log is not read to rebuild it.
CREATE INDEX IF NOT EXISTS stream_segments
    ON stream_entries (queue, segment, stream_offset, size, timestamp);
CREATE TABLE IF NOT EXISTS set_aside_delayed (
    id INTEGER, vhost TEXT, exchange TEXT, due REAL, routing_key TEXT,
    properties BLOB, body BLOB, bcc TEXT);
"""

_STREAM_COLUMNS = (
    "queue, stream_offset, segment, timestamp, exchange, routing_key, properties, body"
)
_MESSAGE_COLUMNS = (
    "queue, seq, size, persistent, delivered, delivery_count, priority, expires, exchange, "
    "routing_key, properties, body, bcc"
)


class SQLiteStore:
    def __init__(self, data_dir: str | os.PathLike) -> None:
        self.data_dir = Path(data_dir)
        self.path = self.data_dir / FILE_NAME
        self._db: sqlite3.Connection | None = None
        self._synchronous = ""
        self._removed = 0  # since the last look at the free pages
        self._lock: int | None = None

    # ---- start-up ---------------------------------------------------------------
    def open(self) -> Snapshot:
        try:
            return self._open()
        except BaseException:
            self._release()  # an operator who fixes the folder can try again
            raise

    def _open(self) -> Snapshot:
        self._prepare_folder()
        self._take_lock()
        try:
            _report_unclean_shutdown(self.path)
            db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            self._db = db
            # auto_vacuum must be chosen before the first table exists.
            db.execute("PRAGMA auto_vacuum=INCREMENTAL")
            mode = db.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            if mode != "wal":
                raise StoreError(f"{self.path}: cannot use write-ahead logging (got {mode!r})")
            db.execute("PRAGMA journal_size_limit=67108864")
            db.executescript(_SCHEMA)
            self._check_version()
            return self._recover()
        except sqlite3.DatabaseError as err:
            raise StoreError(f"cannot open the message store {self.path}: {err}") from None
        except OSError as err:
            raise StoreError(f"cannot read the message store {self.path}: {err}") from None

    def _prepare_folder(self) -> None:
        prepare_folder(self.data_dir)
        if self.path.exists() and not os.access(self.path, os.R_OK | os.W_OK):
            raise StoreError(f"message store {self.path} is not readable and writable")

    def _take_lock(self) -> None:
        """One broker per data folder (the lock goes with the process, kill -9 too)."""
        lock = self.data_dir / "amqpd.lock"
        try:
            fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as err:
            raise StoreError(f"cannot open the lock file {lock}: {err.strerror}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise StoreError(
                f"data folder {self.data_dir} is in use by another amqpd; "
                "give each broker its own --data-dir"
            ) from None
        self._lock = fd

    def _check_version(self) -> None:
        db = self._db
        row = db.execute("SELECT value FROM meta WHERE key='schema'").fetchone()
        if row is None:
            db.execute("INSERT INTO meta VALUES ('schema', ?)", (SCHEMA_VERSION,))
        elif row[0] != SCHEMA_VERSION:
            raise StoreError(
                f"message store {self.path} has schema version {row[0]}; "
                f"this amqpd reads version {SCHEMA_VERSION}"
            )

    def _recover(self) -> Snapshot:
        db = self._db
        db.execute("BEGIN")
        # Transient messages (paged out to save memory) do not survive a restart,
        # and neither do messages of queues that are gone.
        # (A deleted queue's messages went in the same transaction as the queue.)
        db.execute("DELETE FROM messages WHERE persistent = 0")
        db.execute("COMMIT")
        snapshot = Snapshot(
            [ExchangeRecord(v, n, t, bool(a), bool(i), args) for v, n, t, a, i, args in
             db.execute("SELECT vhost, name, type, auto_delete, internal, arguments "
                        "FROM exchanges")],
            [QueueRecord(i, v, n, bool(a), args) for i, v, n, a, args in
             db.execute("SELECT id, vhost, name, auto_delete, arguments FROM queues ORDER BY id")],
            [BindingRecord(v, s, dk, d, k, args, ident) for v, s, ident, dk, d, k, args in
             db.execute("SELECT vhost, source, ident, dest_kind, dest, key, arguments "
                        "FROM bindings")],
            [DelayedRecord(*row[:-1], _keys(row[-1])) for row in
             db.execute("SELECT id, vhost, exchange, due, routing_key, properties, body, bcc "
                        "FROM delayed ORDER BY due, id")],
            settings=[SettingRecord(k, key, bytes(v)) for k, key, v in
                      db.execute("SELECT kind, key, value FROM settings ORDER BY kind, key")],
        )  # fmt: skip
        queues = {record.id for record in snapshot.queues}
        snapshot.streams = self._streams(queues)
        gone: dict[int, int] = {}
        for queue, priority, count, size, last in db.execute(
            "SELECT queue, priority, COUNT(*), SUM(size), MAX(seq) FROM messages "
            "GROUP BY queue, priority"
        ).fetchall():
            if queue in queues:
                level = snapshot.levels[(queue, priority)] = QueueStats(count, size or 0, last + 1)
                snapshot.stats[queue] = _add(snapshot.stats.get(queue), level)
            else:  # cannot happen (a queue's messages go with it), but never inherit them
                gone[queue] = gone.get(queue, 0) + count
        for queue, count in gone.items():
            log.warning("message store: dropping %d messages of a queue that is gone", count)
            db.execute("DELETE FROM messages WHERE queue = ?", (queue,))
        return snapshot

    def _streams(self, queues: set[int]) -> dict[int, StreamState]:
        streams: dict[int, StreamState] = {}
        for queue, number, first, last, size, stamp in self._db.execute(
            "SELECT queue, segment, MIN(stream_offset), MAX(stream_offset), SUM(size), "
            "MAX(timestamp) FROM stream_entries GROUP BY queue, segment ORDER BY queue, segment"
        ).fetchall():
            if queue not in queues:  # cannot happen (a log goes with its queue)
                self._db.execute("DELETE FROM stream_entries WHERE queue = ?", (queue,))
                continue
            state = streams.setdefault(queue, StreamState([], []))
            state.segments.append(StreamSegment(number, first, last, size or 0, stamp))
        for queue, state in streams.items():
            newest = state.segments[-1].last
            state.tail = self.read_stream(queue, max(0, newest + 1 - STREAM_TAIL), STREAM_TAIL)
        return streams

    # ---- running ----------------------------------------------------------------
    def apply(self, batch: Batch) -> None:
        db = self._db
        synchronous = "FULL" if batch.durable else "NORMAL"
        if synchronous != self._synchronous:
            db.execute(f"PRAGMA synchronous={synchronous}")
            self._synchronous = synchronous
        db.execute("BEGIN")
        try:
            for kind, data in batch.entities:
                _ENTITY_OPS[kind](db, data)
            if batch.puts:
                db.executemany(
                    f"INSERT INTO messages ({_MESSAGE_COLUMNS}) "
                    "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                    [
                        (r.queue, r.seq, len(r.body), r.persistent, r.delivered,
                         r.delivery_count, r.priority, r.expires, r.exchange, r.routing_key,
                         r.properties, r.body, _text(r.bcc))
                        for r in batch.puts.values()
                    ],
                )  # fmt: skip
            if batch.marks:
                db.executemany(
                    "UPDATE messages SET delivered = ?, delivery_count = ? "
                    "WHERE queue = ? AND seq = ?",
                    [(d, c, q, s) for (q, s), (d, c) in batch.marks.items()],
                )
            if batch.removes:
                db.executemany("DELETE FROM messages WHERE queue = ? AND seq = ?", batch.removes)
            if batch.stream_puts:
                db.executemany(
                    "INSERT OR REPLACE INTO stream_entries VALUES (?,?,?,?,?,?,?,?,?)",
                    [(r.queue, r.offset, r.segment, r.timestamp, len(r.body), r.exchange,
                      r.routing_key, r.properties, r.body) for r in batch.stream_puts],
                )  # fmt: skip
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise
        bulk = sum(op in (Op.PURGE_FROM, Op.QUEUE_DELETE, Op.STREAM_TRUNCATE)
                   for op, _data in batch.entities)  # fmt: skip
        bulk += sum(op is Op.DROP_RANGE for op, _data in batch.entities) / 4
        self._removed += len(batch.removes) + bulk * VACUUM_CHECK_EVERY
        if self._removed >= VACUUM_CHECK_EVERY:
            self._removed = 0
            self._give_back_space()

    def _give_back_space(self) -> None:
        free = self._db.execute("PRAGMA freelist_count").fetchone()[0]
        if free < VACUUM_FREE_PAGES:
            return
        # An incremental vacuum moves the live pages at the end of the file into
        # the free ones: while a deep queue drains that is its whole backlog,
        # copied in one stall (45 s for 250,000 x 1 KiB). Wait until little is live.
        live = self._db.execute("PRAGMA page_count").fetchone()[0] - free
        if live <= VACUUM_MOVE_PAGES:
            # executescript steps the pragma to the end (execute frees one page);
            # a bounded step, so a page read waiting behind it is not held long.
            count = min(free, VACUUM_STEP_PAGES)
            self._db.executescript(f"PRAGMA incremental_vacuum({count});")

    def read_messages(
        self, queue: int, from_seq: int, limit: int | None, priority: int | None = None
    ) -> list[MessageRecord]:
        limit = -1 if limit is None else limit
        if priority is None:
            rows = self._db.execute(
                f"SELECT {_MESSAGE_COLUMNS} FROM messages WHERE queue = ? AND seq >= ? "
                "ORDER BY seq LIMIT ?",
                (queue, from_seq, limit),
            )
        else:
            rows = self._db.execute(
                f"SELECT {_MESSAGE_COLUMNS} FROM messages WHERE queue = ? AND priority = ? "
                "AND seq >= ? ORDER BY seq LIMIT ?",
                (queue, priority, from_seq, limit),
            )
        return [
            MessageRecord(q, s, bool(p), bool(d), c, pr, e, x, k, props, body, _keys(bcc))
            for q, s, _size, p, d, c, pr, e, x, k, props, body, bcc in rows
        ]

    def read_stream(self, queue: int, from_offset: int, limit: int) -> list[StreamRecord]:
        rows = self._db.execute(
            f"SELECT {_STREAM_COLUMNS} FROM stream_entries WHERE queue = ? "
            "AND stream_offset >= ? ORDER BY stream_offset LIMIT ?",
            (queue, from_offset, limit),
        )
        return [StreamRecord(*row) for row in rows]

    def size(self) -> int:
        """Bytes the store takes on disk (database and write-ahead log)."""
        total = 0
        for path in (self.path, Path(f"{self.path}-wal")):
            try:
                total += path.stat().st_size
            except FileNotFoundError:
                pass
        return total

    def close(self) -> None:
        if self._db is not None:
            self._give_back_space()
            self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        self._release()

    def _release(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None
        if self._lock is not None:
            os.close(self._lock)
            self._lock = None


def _add(total: QueueStats | None, level: QueueStats) -> QueueStats:
    if total is None:
        return level
    return QueueStats(total.count + level.count, total.bytes + level.bytes,
                      max(total.next_seq, level.next_seq))  # fmt: skip


def _text(keys: tuple[str, ...]) -> str | None:
    return json.dumps(list(keys)) if keys else None


def _keys(text: str | None) -> tuple[str, ...]:
    return tuple(json.loads(text)) if text else ()


def _exchange_put(db: sqlite3.Connection, r: ExchangeRecord) -> None:
    db.execute(
        "INSERT OR REPLACE INTO exchanges VALUES (?,?,?,?,?,?)",
        (r.vhost, r.name, r.type, r.auto_delete, r.internal, r.arguments),
    )


def _exchange_drop(db: sqlite3.Connection, key: tuple[str, str]) -> None:
    db.execute("DELETE FROM exchanges WHERE vhost = ? AND name = ?", key)


def _queue_put(db: sqlite3.Connection, r: QueueRecord) -> None:
    db.execute(
        "INSERT OR REPLACE INTO queues VALUES (?,?,?,?,?)",
        (r.id, r.vhost, r.name, r.auto_delete, r.arguments),
    )


def _queue_drop(db: sqlite3.Connection, queue: int) -> None:
    db.execute("DELETE FROM queues WHERE id = ?", (queue,))
    db.execute("DELETE FROM messages WHERE queue = ?", (queue,))
    db.execute("DELETE FROM stream_entries WHERE queue = ?", (queue,))


def _stream_truncate(db: sqlite3.Connection, key: tuple[int, int]) -> None:
    db.execute("DELETE FROM stream_entries WHERE queue = ? AND stream_offset < ?", key)


def _binding_put(db: sqlite3.Connection, r: BindingRecord) -> None:
    db.execute(
        "INSERT OR REPLACE INTO bindings VALUES (?,?,?,?,?,?,?)",
        (r.vhost, r.source, r.ident, r.dest_kind, r.dest, r.key, r.arguments),
    )


def _binding_drop(db: sqlite3.Connection, r: BindingRecord) -> None:
    db.execute(
        "DELETE FROM bindings WHERE vhost = ? AND source = ? AND ident = ?",
        (r.vhost, r.source, r.ident),
    )


def _purge_from(db: sqlite3.Connection, key: tuple) -> None:
    queue, from_seq, *level = key
    if level and level[0] is not None:
        db.execute("DELETE FROM messages WHERE queue = ? AND priority = ? AND seq >= ?",
                   (queue, level[0], from_seq))  # fmt: skip
    else:
        db.execute("DELETE FROM messages WHERE queue = ? AND seq >= ?", (queue, from_seq))


def _drop_range(db: sqlite3.Connection, key: tuple) -> None:
    queue, first, last, priority = key
    if priority is None:
        db.execute("DELETE FROM messages WHERE queue = ? AND seq BETWEEN ? AND ?",
                   (queue, first, last))  # fmt: skip
    else:
        db.execute("DELETE FROM messages WHERE queue = ? AND priority = ? AND seq BETWEEN ? AND ?",
                   (queue, priority, first, last))  # fmt: skip


def _delayed_put(db: sqlite3.Connection, r: DelayedRecord) -> None:
    db.execute(
        "INSERT OR REPLACE INTO delayed VALUES (?,?,?,?,?,?,?,?)",
        (r.id, r.vhost, r.exchange, r.due, r.routing_key, r.properties, r.body, _text(r.bcc)),
    )


def _delayed_drop(db: sqlite3.Connection, id_: int) -> None:
    db.execute("DELETE FROM delayed WHERE id = ?", (id_,))


def _delayed_drop_all(db: sqlite3.Connection, key: tuple[str, str]) -> None:
    db.execute("DELETE FROM delayed WHERE vhost = ? AND exchange = ?", key)


def _message_set_aside(db: sqlite3.Connection, key: tuple[int, int]) -> None:
    db.execute(
        f"INSERT INTO set_aside_messages SELECT {_MESSAGE_COLUMNS} FROM messages "
        "WHERE queue = ? AND seq = ?",
        key,
    )
    db.execute("DELETE FROM messages WHERE queue = ? AND seq = ?", key)


def _delayed_set_aside(db: sqlite3.Connection, id_: int) -> None:
    db.execute("INSERT INTO set_aside_delayed SELECT * FROM delayed WHERE id = ?", (id_,))
    db.execute("DELETE FROM delayed WHERE id = ?", (id_,))


def _setting_put(db: sqlite3.Connection, r: SettingRecord) -> None:
    db.execute("INSERT OR REPLACE INTO settings VALUES (?,?,?)", (r.kind, r.key, r.value))


def _setting_drop(db: sqlite3.Connection, key: tuple[str, str]) -> None:
    db.execute("DELETE FROM settings WHERE kind = ? AND key = ?", key)


_ENTITY_OPS = {
    Op.EXCHANGE_PUT: _exchange_put,
    Op.EXCHANGE_DELETE: _exchange_drop,
    Op.QUEUE_PUT: _queue_put,
    Op.QUEUE_DELETE: _queue_drop,
    Op.BINDING_PUT: _binding_put,
    Op.BINDING_DELETE: _binding_drop,
    Op.PURGE_FROM: _purge_from,
    Op.DROP_RANGE: _drop_range,
    Op.DELAYED_PUT: _delayed_put,
    Op.DELAYED_DELETE: _delayed_drop,
    Op.DELAYED_EXCHANGE_DELETE: _delayed_drop_all,
    Op.MESSAGE_SET_ASIDE: _message_set_aside,
    Op.DELAYED_SET_ASIDE: _delayed_set_aside,
    Op.SETTING_PUT: _setting_put,
    Op.SETTING_DELETE: _setting_drop,
    Op.STREAM_TRUNCATE: _stream_truncate,
}


_WAL_HEADER = struct.Struct(">IIII")  # magic, format version, page size, checkpoint seq
_WAL_FRAME_HEADER = 24


def _report_unclean_shutdown(path: Path) -> None:
    """Log what SQLite is about to recover: a write-ahead log left behind means
    the broker did not stop cleanly; a log ending in a partial frame means the
    last write was torn. SQLite replays the committed transactions before the
    tear and discards the rest (each frame carries a checksum)."""
    wal = Path(f"{path}-wal")
    try:
        size = wal.stat().st_size
    except FileNotFoundError:
        return
    if size == 0:
        return
    with open(wal, "rb") as fh:
        header = fh.read(_WAL_HEADER.size)
    if len(header) < _WAL_HEADER.size:
        log.warning("message store: write-ahead log %s is torn inside its header; "
                    "nothing in it was committed", wal.name)  # fmt: skip
        return
    page_size = _WAL_HEADER.unpack(header)[2]
    frame = _WAL_FRAME_HEADER + page_size
    frames, torn = divmod(size - 32, frame) if page_size else (0, size - 32)
    if torn:
        log.warning(
            "message store: the write-ahead log ends in a torn write (%d bytes after frame %d); "
            "recovering the transactions committed before it",
            torn,
            frames,
        )
    else:
        log.info("message store: recovering %d frames of write-ahead log after an unclean stop",
                 frames)  # fmt: skip
