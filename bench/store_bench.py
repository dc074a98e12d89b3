"""Candidate embedded stores for durable amqpd messages, measured on this machine.

    python bench/store_bench.py [--messages 20000] [--batches 1,10,100,1000]
                                [--recovery-messages 200000] [--dir PATH] [--parts 1,2,3]

Standard library only. Everything is written in a temporary directory created
under --dir (default: the system temp dir; point it at the disk the broker will
use, not a tmpfs, where fsync costs nothing) and removed at the end.

1. SQLite in WAL mode, synchronous=FULL, table messages(queue text, seq integer,
   body blob, primary key (queue, seq)): publish N messages of 1 KiB committing
   every B messages (B = 1, 10, 100, 1000), then ack them (delete) in batches of
   B. Reports msg/s, syncs/s and bytes written per message, then the file size
   after the acks, after a checkpoint(TRUNCATE), after re-publishing N messages
   (freed pages are reused) and after VACUUM (space handed back).
2. Append-only segment files: each record is a struct header (length, crc32,
   queue id, seq) + body; one os.write and one os.fsync per batch; segments roll
   at --segment-mib; acks go to an ack log of checksummed (queue id, seq)
   records, one fsync per batch. Same batch sizes. Then recovery (read back and
   verify every record, replay the ack log), a torn tail (the last record cut in
   half: the reader detects it and keeps the intact prefix) and compaction
   (delete fully acked segments, rewrite the ack log).
3. Start-up with a store of --recovery-messages messages of 1 KiB: SQLite open +
   count(*), open + ordered key scan (rebuilding per-queue lists), open + ordered
   scan with bodies; the segment replay for comparison. Each cold (file pages
   dropped with posix_fadvise first; a VM host cache may still serve them) and
   warm, with the per-message time extrapolated to 1,000,000 messages.

SQLite syncs are counted as one per commit plus three per WAL checkpoint (the
checkpoint sequence number in the WAL header says how many ran); strace -c
agrees with this to within the few syncs of creating the database. SQLite
calls fdatasync on Linux, the segment store os.fsync. Figures depend on the
disk, the filesystem and the page cache: compare the rows with each other.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import sqlite3
import struct
import sys
import tempfile
import time
import zlib
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

MIB = 1024 * 1024
MILLION = 1_000_000


# ---- measuring -----------------------------------------------------------------------


def io_counters() -> dict[str, int]:
    """This process's I/O counters (Linux): wchar = bytes handed to write(), read_bytes =
    bytes fetched from the storage device."""
    try:
        with open("/proc/self/io") as f:
            return {key: int(value) for key, value in (line.split(":") for line in f)}
    except (OSError, ValueError):
        return {}


class Meter:
    """Wall time, bytes written and bytes read from disk over a with-block."""

    seconds: float
    written: int | None
    disk_read: int | None

    def __enter__(self) -> Meter:
        self._io = io_counters()
        self._t0 = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.perf_counter() - self._t0
        io = io_counters()
        both = bool(io and self._io)
        self.written = io["wchar"] - self._io["wchar"] if both else None
        self.disk_read = io["read_bytes"] - self._io["read_bytes"] if both else None


@dataclass
class Phase:
    messages: int
    seconds: float
    syncs: int
    written: int | None

    @property
    def rate(self) -> float:
        return self.messages / self.seconds

    @property
    def sync_rate(self) -> float:
        return self.syncs / self.seconds

    @property
    def kib_per_msg(self) -> str:
        return "n/a" if self.written is None else f"{self.written / self.messages / 1024:.2f}"


def drop_cache(paths: Sequence[str]) -> bool:
    """Evict the files' (clean) pages from the page cache; no root needed."""
    if not hasattr(os, "posix_fadvise"):
        return False
    for path in paths:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)
    return True


def filesystem_of(path: str) -> str:
    path, best, kind = os.path.realpath(path), "", "unknown"
    try:
        with open("/proc/mounts") as f:
            for line in f:
                fields = line.split()
                mount = fields[1]
                inside = path == mount or path.startswith(mount.rstrip("/") + "/")
                if inside and len(mount) >= len(best):
                    best, kind = mount, fields[2]
    except (OSError, IndexError):
        pass
    return kind


def fsync_dir(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_all(fd: int, data: bytes | bytearray) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def files_size(paths: Sequence[str]) -> int:
    return sum(os.path.getsize(p) for p in paths if os.path.exists(p))


def mib(n: float) -> str:
    return f"{n / MIB:.1f} MiB" if n >= MIB else f"{n / 1024:.0f} KiB"


def fsync_baseline(root: str, count: int = 1000) -> float:
    """Appends of 1 KiB, each followed by os.fsync: the ceiling for one sync per message."""
    path = os.path.join(root, "baseline")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    block = b"x" * 1024
    try:
        started = time.perf_counter()
        for _ in range(count):
            os.write(fd, block)
            os.fsync(fd)
        return count / (time.perf_counter() - started)
    finally:
        os.close(fd)
        os.remove(path)


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    cells = [list(headers)] + [[str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    for n, row in enumerate(cells):
        pairs = enumerate(zip(row, widths, strict=True))
        line = [c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in pairs]
        print("  " + "  ".join(line))
        if n == 0:
            print("  " + "  ".join("-" * w for w in widths))


def conclude(text: str) -> None:
    print(f"  => {text}")


# ---- 1. SQLite ------------------------------------------------------------------------

SCHEMA = (
    "CREATE TABLE IF NOT EXISTS messages (queue TEXT NOT NULL, seq INTEGER NOT NULL, "
    "body BLOB NOT NULL, PRIMARY KEY (queue, seq))"
)
INSERT = "INSERT INTO messages (queue, seq, body) VALUES (?, ?, ?)"
DELETE = "DELETE FROM messages WHERE queue = ? AND seq = ?"


def sqlite_open(path: str) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None)  # transactions are explicit
    mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
    if mode != "wal":
        raise RuntimeError(f"SQLite refused WAL mode (got {mode!r})")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute(SCHEMA)
    return conn


def sqlite_paths(path: str) -> list[str]:
    return [path, path + "-wal"]


def wal_checkpoints(path: str) -> int:
    """The WAL header's checkpoint sequence number: +1 each time a checkpointed WAL
    restarts, so the difference over a phase counts its automatic checkpoints."""
    try:
        with open(path + "-wal", "rb") as f:
            head = f.read(16)
    except FileNotFoundError:
        return 0
    return struct.unpack(">I", head[12:16])[0] if len(head) == 16 else 0


def sqlite_batches(conn: sqlite3.Connection, sql: str, rows: Sequence[tuple], batch: int) -> int:
    commits = 0
    for start in range(0, len(rows), batch):
        conn.execute("BEGIN")
        conn.executemany(sql, rows[start : start + batch])
        conn.execute("COMMIT")
        commits += 1
    return commits


def sqlite_phase(conn: sqlite3.Connection, path: str, sql: str, rows, batch: int) -> Phase:
    checkpoints = wal_checkpoints(path)
    with Meter() as m:
        commits = sqlite_batches(conn, sql, rows, batch)
    checkpoints = wal_checkpoints(path) - checkpoints
    return Phase(len(rows), m.seconds, commits + 3 * checkpoints, m.written)


def checkpoint(conn: sqlite3.Connection) -> None:
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()


@dataclass
class SqliteSpace:
    full: int
    after_acks: int
    free_pages: int
    page_size: int
    after_checkpoint: int
    checkpoint_seconds: float
    after_republish: int
    after_vacuum: int
    vacuum_seconds: float


def sqlite_space(conn, path, rows, keys, batch: int, full: int) -> SqliteSpace:
    files = sqlite_paths(path)
    after_acks = files_size(files)
    free_pages = conn.execute("PRAGMA freelist_count").fetchone()[0]
    page_size = conn.execute("PRAGMA page_size").fetchone()[0]
    with Meter() as ckpt:
        checkpoint(conn)
    after_checkpoint = files_size(files)
    sqlite_batches(conn, INSERT, rows, batch)  # the freed pages take the new rows
    checkpoint(conn)
    after_republish = files_size(files)
    sqlite_batches(conn, DELETE, keys, batch)
    checkpoint(conn)
    with Meter() as vacuum:
        conn.execute("VACUUM")
        checkpoint(conn)
    return SqliteSpace(
        full,
        after_acks,
        free_pages,
        page_size,
        after_checkpoint,
        ckpt.seconds,
        after_republish,
        files_size(files),
        vacuum.seconds,
    )


def bench_sqlite(root: str, rows: list[tuple], batches: list[int]):
    keys = [(queue, seq) for queue, seq, _ in rows]
    results: dict[int, tuple[Phase, Phase]] = {}
    space = None
    for batch in batches:
        path = os.path.join(root, f"sqlite-b{batch}.db")
        conn = sqlite_open(path)
        publish = sqlite_phase(conn, path, INSERT, rows, batch)
        full = files_size(sqlite_paths(path))
        ack = sqlite_phase(conn, path, DELETE, keys, batch)
        results[batch] = (publish, ack)
        if batch == batches[-1]:
            space = sqlite_space(conn, path, rows, keys, batch, full)
        conn.close()
        for p in sqlite_paths(path) + [path + "-shm"]:
            if os.path.exists(p):
                os.remove(p)
    return results, space


def report_sqlite(results: dict[int, tuple[Phase, Phase]], space: SqliteSpace, n: int) -> None:
    print(f"\n1. SQLite WAL, synchronous=FULL: {n:,} messages, commit every B, then ack (delete)")
    table(
        ["B", "publish msg/s", "syncs/s", "KiB written/msg", "ack msg/s", "syncs/s", "KiB/ack"],
        [
            [
                b,
                f"{p.rate:,.0f}",
                f"{p.sync_rate:,.0f}",
                p.kib_per_msg,
                f"{a.rate:,.0f}",
                f"{a.sync_rate:,.0f}",
                a.kib_per_msg,
            ]
            for b, (p, a) in results.items()
        ],
    )
    s = space
    print(
        f"  space (db + wal, last run): {mib(s.full)} after publish, {mib(s.after_acks)} after "
        f"the acks ({s.free_pages:,} free pages = {mib(s.free_pages * s.page_size)}),\n"
        f"  {mib(s.after_checkpoint)} after checkpoint(TRUNCATE) "
        f"({s.checkpoint_seconds * 1e3:.0f} ms), {mib(s.after_republish)} after re-publishing "
        f"{n:,}, {mib(s.after_vacuum)} after deleting those and VACUUM "
        f"({s.vacuum_seconds * 1e3:.0f} ms)"
    )
    (b1, (p1, a1)), (bn, (pn, an)) = list(results.items())[0], list(results.items())[-1]
    conclude(
        f"grouping {bn} messages per commit instead of {b1} lifts publish from {p1.rate:,.0f} to "
        f"{pn.rate:,.0f} msg/s ({pn.rate / p1.rate:.0f}x): the cost is per commit (sync), and "
        f"one message per commit writes {p1.kib_per_msg} KiB per 1 KiB message"
    )
    conclude(f"acks (deletes) group the same way: {a1.rate:,.0f} -> {an.rate:,.0f} msg/s")
    grew = s.after_republish - s.after_checkpoint
    conclude(
        f"acked rows leave free pages (file stays {mib(s.after_checkpoint)}); new messages "
        f"reuse them (+{mib(max(grew, 0))}); only VACUUM gives the space back "
        f"({mib(s.after_vacuum)}; it rewrites every live row and blocks writers, "
        f"{s.vacuum_seconds * 1e3:.0f} ms here with none left)"
    )


# ---- 2. segment files + ack log -------------------------------------------------------

RECORD = struct.Struct("<IIIQ")  # body length, crc32, queue id, seq
COVERED = struct.Struct("<IIQ")  # what the crc covers besides the body: length, queue id, seq
ACK = struct.Struct("<IIQ")  # crc32 of (queue id, seq), queue id, seq
ACK_LOG = "acks.log"
MAX_BODY = 512 * MIB


def record_crc(length: int, queue: int, seq: int, body) -> int:
    return zlib.crc32(body, zlib.crc32(COVERED.pack(length, queue, seq)))


def segment_path(directory: str, number: int) -> str:
    return os.path.join(directory, f"{number:010d}.seg")


def segment_numbers(directory: str) -> list[int]:
    return sorted(int(name[:-4]) for name in os.listdir(directory) if name.endswith(".seg"))


def store_files(directory: str) -> list[str]:
    return [os.path.join(directory, name) for name in sorted(os.listdir(directory))]


class SegmentStore:
    """Append-only segments plus an ack log; one write and one fsync per batch. Opening
    an existing directory starts a new segment after the last one."""

    def __init__(self, directory: str, segment_bytes: int) -> None:
        os.makedirs(directory, exist_ok=True)
        self.dir, self.segment_bytes, self.fsyncs = directory, segment_bytes, 0
        self.segment = max(segment_numbers(directory), default=-1)
        self.fd, self.size = -1, 0
        self.live: dict[int, int] = {}  # segment -> records not yet acked
        self.where: dict[tuple[int, int], int] = {}  # (queue id, seq) -> segment
        ack_path = os.path.join(directory, ACK_LOG)
        self.ack_fd = os.open(ack_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        self._roll()  # its directory fsync also makes the ack log's name durable

    def _roll(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)  # its last batch is already synced
        self.segment += 1
        flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND
        self.fd = os.open(segment_path(self.dir, self.segment), flags, 0o644)
        self.size, self.live[self.segment] = 0, 0
        fsync_dir(self.dir)
        self.fsyncs += 1

    def publish(self, records: Sequence[tuple[int, int, bytes]]) -> None:
        buf = bytearray()
        for queue, seq, body in records:
            length = len(body)
            buf += RECORD.pack(length, record_crc(length, queue, seq, body), queue, seq)
            buf += body
            self.where[(queue, seq)] = self.segment
        write_all(self.fd, buf)
        os.fsync(self.fd)  # the confirms of this batch may go out now
        self.fsyncs += 1
        self.live[self.segment] += len(records)
        self.size += len(buf)
        if self.size >= self.segment_bytes:
            self._roll()

    def ack(self, keys: Sequence[tuple[int, int]]) -> None:
        buf = bytearray()
        for queue, seq in keys:
            buf += ACK.pack(zlib.crc32(ACK.pack(0, queue, seq)[4:]), queue, seq)
            self.live[self.where.pop((queue, seq))] -= 1
        write_all(self.ack_fd, buf)
        os.fsync(self.ack_fd)
        self.fsyncs += 1

    def close(self) -> None:
        os.close(self.fd)
        os.close(self.ack_fd)


@dataclass
class Scan:
    records: int
    valid_bytes: int
    size: int
    problem: str | None  # why the scan stopped before the end of the file


def scan_segment(path: str, number: int, where: dict) -> Scan:
    """Read and verify every record; stop at the first one that is short or whose crc fails."""
    with open(path, "rb") as f:
        data = f.read()
    view, size, offset, count, problem = memoryview(data), len(data), 0, 0, None
    while offset < size:
        if size - offset < RECORD.size:
            problem = f"torn header ({size - offset} of {RECORD.size} bytes)"
            break
        length, crc, queue, seq = RECORD.unpack_from(data, offset)
        end = offset + RECORD.size + length
        if length > MAX_BODY:
            problem = f"implausible length {length}"
            break
        if end > size:
            problem = f"torn record ({size - offset} of {end - offset} bytes present)"
            break
        if record_crc(length, queue, seq, view[offset + RECORD.size : end]) != crc:
            problem = "crc mismatch"
            break
        where[(queue, seq)] = (number, offset)
        count += 1
        offset = end
    return Scan(count, offset, size, problem)


def read_acks(path: str) -> tuple[list[tuple[int, int]], str | None]:
    with open(path, "rb") as f:
        data = f.read()
    keys, view, problem = [], memoryview(data), None
    whole = len(data) - len(data) % ACK.size
    for offset in range(0, whole, ACK.size):
        crc, queue, seq = ACK.unpack_from(data, offset)
        if zlib.crc32(view[offset + 4 : offset + ACK.size]) != crc:
            problem = "ack crc mismatch"
            break
        keys.append((queue, seq))
    if problem is None and whole != len(data):
        problem = "torn ack record"
    return keys, problem


@dataclass
class Recovery:
    records: int
    acks: int
    live: int
    queues: dict[int, list[int]]
    where: dict[tuple[int, int], tuple[int, int]]
    problem: str | None
    discarded: int  # bytes dropped from the tail


def recover(directory: str, repair: bool = False) -> Recovery:
    """Replay every segment (verifying each record) and the ack log. A short or corrupt
    tail is only acceptable in the last segment; with repair it is cut off."""
    where: dict[tuple[int, int], tuple[int, int]] = {}
    numbers = segment_numbers(directory)
    records, problem, discarded = 0, None, 0
    for number in numbers:
        path = segment_path(directory, number)
        scan = scan_segment(path, number, where)
        records += scan.records
        if scan.problem:
            if number != numbers[-1]:
                raise RuntimeError(f"segment {number} is corrupt: {scan.problem}")
            problem, discarded = scan.problem, scan.size - scan.valid_bytes
            if repair:
                os.truncate(path, scan.valid_bytes)
                fsync_dir(directory)
    acks, ack_problem = read_acks(os.path.join(directory, ACK_LOG))
    for key in acks:
        where.pop(key, None)
    queues: dict[int, list[int]] = defaultdict(list)
    for queue, seq in where:  # log order: each queue's seqs come out ascending
        queues[queue].append(seq)
    return Recovery(
        records, len(acks), len(where), queues, where, problem or ack_problem, discarded
    )


def compact(directory: str) -> tuple[int, int, int, int]:
    """Delete closed segments whose records are all acked; keep only the acks that refer
    to the remaining segments. Returns (bytes before, bytes after, deleted, segments)."""
    before = files_size(store_files(directory))
    where: dict[tuple[int, int], tuple[int, int]] = {}
    numbers = segment_numbers(directory)
    for number in numbers:
        scan_segment(segment_path(directory, number), number, where)
    acks, _ = read_acks(os.path.join(directory, ACK_LOG))
    acked = set(acks)
    total: dict[int, int] = defaultdict(int)
    done: dict[int, int] = defaultdict(int)
    for key, (number, _) in where.items():
        total[number] += 1
        done[number] += key in acked
    dead = {n for n in numbers[:-1] if done[n] == total[n]}
    kept = [k for k in acks if k in where and where[k][0] not in dead]
    tmp = os.path.join(directory, ACK_LOG + ".tmp")
    with open(tmp, "wb") as f:
        f.write(b"".join(ACK.pack(zlib.crc32(ACK.pack(0, q, s)[4:]), q, s) for q, s in kept))
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, os.path.join(directory, ACK_LOG))
    for number in dead:
        os.remove(segment_path(directory, number))
    fsync_dir(directory)
    return before, files_size(store_files(directory)), len(dead), len(numbers)


@dataclass
class SegmentExtras:
    recovery_cold: Meter | None
    recovery_warm: Meter
    replay_with_acks: Meter
    compaction: Meter
    sizes: tuple[int, int, int, int]
    torn: dict[str, object]


def torn_tail_check(root: str, records, batch: int, segment_bytes: int) -> dict[str, object]:
    directory = os.path.join(root, "seg-torn")
    store = SegmentStore(directory, segment_bytes)
    for start in range(0, len(records), batch):
        store.publish(records[start : start + batch])
    store.close()
    last = segment_path(directory, store.segment)
    if os.path.getsize(last) == 0:  # the last batch rolled the segment: the tail is before
        os.remove(last)
        last = segment_path(directory, store.segment - 1)
    record_len = RECORD.size + len(records[-1][2])
    os.truncate(last, os.path.getsize(last) - record_len // 2)
    with Meter() as m:
        torn = recover(directory, repair=True)
    store = SegmentStore(directory, segment_bytes)  # append after the repair
    store.publish(records[-1:])
    store.close()
    healed = recover(directory)
    # a flipped byte inside the last record's body
    last = segment_path(directory, store.segment)
    with open(last, "r+b") as f:
        f.seek(os.path.getsize(last) - len(records[-1][2]) // 2)
        byte = f.read(1)
        f.seek(-1, os.SEEK_CUR)
        f.write(bytes([byte[0] ^ 0xFF]))
    flipped = recover(directory)
    shutil.rmtree(directory)
    return {
        "written": len(records),
        "torn_problem": torn.problem,
        "torn_kept": torn.records,
        "torn_discarded": torn.discarded,
        "torn_seconds": m.seconds,
        "healed": healed.records,
        "healed_problem": healed.problem,
        "flip_problem": flipped.problem,
        "flip_kept": flipped.records,
    }


def bench_segments(root: str, records, batches: list[int], segment_bytes: int):
    keys = [(queue, seq) for queue, seq, _ in records]
    results: dict[int, tuple[Phase, Phase]] = {}
    extras = None
    for batch in batches:
        directory = os.path.join(root, f"seg-b{batch}")
        store = SegmentStore(directory, segment_bytes)
        fsyncs = store.fsyncs
        with Meter() as m:
            for start in range(0, len(records), batch):
                store.publish(records[start : start + batch])
        publish = Phase(len(records), m.seconds, store.fsyncs - fsyncs, m.written)
        if batch == batches[-1]:
            cold = None
            if drop_cache(store_files(directory)):
                with Meter() as cold:
                    got = recover(directory)
                assert got.live == len(records) and got.problem is None, got.problem
            with Meter() as warm:
                got = recover(directory)
            assert got.live == len(records) and got.problem is None, got.problem
        fsyncs = store.fsyncs
        with Meter() as m:
            for start in range(0, len(keys), batch):
                store.ack(keys[start : start + batch])
        ack = Phase(len(keys), m.seconds, store.fsyncs - fsyncs, m.written)
        results[batch] = (publish, ack)
        store.close()
        if batch == batches[-1]:
            with Meter() as replay:
                got = recover(directory)
            assert got.live == 0 and got.acks == len(keys), (got.live, got.acks)
            with Meter() as compaction:
                sizes = compact(directory)
            torn = torn_tail_check(root, records, batch, segment_bytes)
            extras = SegmentExtras(cold, warm, replay, compaction, sizes, torn)
        shutil.rmtree(directory)
    return results, extras


def report_segments(results, extras: SegmentExtras, sqlite_results, n: int) -> None:
    print(f"\n2. Segment files (crc32 per record, os.fsync per batch) + ack log: {n:,} messages")
    table(
        ["B", "publish msg/s", "fsyncs/s", "KiB written/msg", "ack msg/s", "fsyncs/s", "KiB/ack"],
        [
            [
                b,
                f"{p.rate:,.0f}",
                f"{p.sync_rate:,.0f}",
                p.kib_per_msg,
                f"{a.rate:,.0f}",
                f"{a.sync_rate:,.0f}",
                a.kib_per_msg,
            ]
            for b, (p, a) in results.items()
        ],
    )
    e, t = extras, extras.torn
    per = e.recovery_warm.seconds / n
    cold = (
        f"cold {e.recovery_cold.seconds * 1e3:.0f} ms "
        f"({mib(e.recovery_cold.disk_read or 0)} from disk), "
        if e.recovery_cold
        else ""
    )
    print(
        f"  recovery (read + verify {n:,} records, rebuild the index): {cold}"
        f"warm {e.recovery_warm.seconds * 1e3:.0f} ms = {per * 1e6:.1f} us/msg; "
        f"with the ack log ({n:,} acks) {e.replay_with_acks.seconds * 1e3:.0f} ms"
    )
    print(
        f"  torn tail: last record cut in half -> reader reports '{t['torn_problem']}', keeps "
        f"{t['torn_kept']:,} of {t['written']:,} records, cuts {t['torn_discarded']} bytes "
        f"({t['torn_seconds'] * 1e3:.0f} ms); after appending again it reads {t['healed']:,} "
        f"records ({t['healed_problem'] or 'clean'}); one flipped body byte -> "
        f"'{t['flip_problem']}', {t['flip_kept']:,} records kept"
    )
    before, after, dead, segments = e.sizes
    print(
        f"  compaction after all acks: {mib(before)} -> {mib(after)} "
        f"({dead} of {segments} segments deleted, ack log rewritten) in "
        f"{e.compaction.seconds * 1e3:.0f} ms"
    )
    (b1, (p1, a1)), (bn, (pn, an)) = list(results.items())[0], list(results.items())[-1]
    versus = ""
    if sqlite_results and b1 in sqlite_results and bn in sqlite_results:
        s1, sn = sqlite_results[b1][0].rate, sqlite_results[bn][0].rate
        versus = f" = {p1.rate / s1:.1f}x / {pn.rate / sn:.1f}x SQLite at B={b1} / B={bn}"
    conclude(
        f"segments publish {p1.rate:,.0f} msg/s at B={b1} and {pn.rate:,.0f} at B={bn}"
        f"{versus}, writing {pn.kib_per_msg} KiB per message; acks {a1.rate:,.0f} -> "
        f"{an.rate:,.0f} msg/s"
    )
    torn_ok = t["torn_kept"] == t["written"] - 1 and t["healed"] == t["written"]
    conclude(
        f"replay costs {per * 1e6:.1f} us/msg (~{per * MILLION:.1f} s per 1,000,000, warm); "
        f"torn tail {'detected and the intact prefix recovered' if torn_ok else 'NOT handled'}; "
        f"reclaiming space is deleting whole segments ({mib(before)} -> {mib(after)})"
    )


# ---- 3. start-up with a big store -----------------------------------------------------


def chunks(count: int, size: int, queues: int, body: bytes, named: bool):
    for start in range(0, count, size):
        yield [
            (f"q{i % queues}" if named else i % queues, i // queues, body)
            for i in range(start, min(start + size, count))
        ]


def sqlite_count(path: str) -> int:
    conn = sqlite_open(path)
    n = conn.execute("SELECT count(*) FROM messages").fetchone()[0]
    conn.close()
    return n


def sqlite_keys(path: str) -> int:
    conn = sqlite_open(path)
    queues: dict[str, list[int]] = defaultdict(list)
    for queue, seq in conn.execute("SELECT queue, seq FROM messages ORDER BY queue, seq"):
        queues[queue].append(seq)
    conn.close()
    return sum(len(seqs) for seqs in queues.values())


def sqlite_rows(path: str) -> int:
    conn = sqlite_open(path)
    queues: dict[str, list[int]] = defaultdict(list)
    size = 0
    query = "SELECT queue, seq, body FROM messages ORDER BY queue, seq"
    for queue, seq, body in conn.execute(query):
        queues[queue].append(seq)
        size += len(body)
    conn.close()
    return sum(len(seqs) for seqs in queues.values())


def bench_recovery(root: str, count: int, body: bytes, queues: int, segment_bytes: int):
    path = os.path.join(root, "recovery.db")
    conn = sqlite_open(path)
    with Meter() as build_sqlite:
        for rows in chunks(count, 10_000, queues, body, named=True):
            conn.execute("BEGIN")
            conn.executemany(INSERT, rows)
            conn.execute("COMMIT")
        checkpoint(conn)
    conn.close()
    directory = os.path.join(root, "seg-recovery")
    store = SegmentStore(directory, segment_bytes)
    with Meter() as build_segments:
        for records in chunks(count, 1_000, queues, body, named=False):
            store.publish(records)
    store.close()

    def seg_replay(d: str) -> int:
        got = recover(d)
        assert got.problem is None, got.problem
        return got.live

    cases: list[tuple[str, Callable[[str], int], str, Callable[[], list[str]]]] = [
        ("SQLite open + count(*)", sqlite_count, path, lambda: [path]),
        ("SQLite open + ordered keys", sqlite_keys, path, lambda: [path]),
        ("SQLite open + ordered rows+bodies", sqlite_rows, path, lambda: [path]),
        ("segments replay + verify", seg_replay, directory, lambda: store_files(directory)),
    ]
    out = []
    for label, run, target, files in cases:
        cold = None
        if drop_cache([f for f in files() if os.path.exists(f)]):
            with Meter() as cold:
                got = run(target)
            assert got == count, (label, got)
        with Meter() as warm:
            got = run(target)
        assert got == count, (label, got)
        out.append((label, cold, warm))
    sizes = (files_size([path]), files_size(store_files(directory)))
    os.remove(path)
    shutil.rmtree(directory)
    return out, (build_sqlite, build_segments), sizes


def report_recovery(out, builds, sizes, count: int) -> None:
    print(
        f"\n3. Start-up with {count:,} messages of 1 KiB stored "
        f"(SQLite {mib(sizes[0])}, built in {builds[0].seconds:.1f} s; "
        f"segments {mib(sizes[1])}, built in {builds[1].seconds:.1f} s)"
    )
    rows = []
    for label, cold, warm in out:
        cold_s = f"{cold.seconds:.3f}" if cold else "n/a"
        disk = mib(cold.disk_read or 0) if cold else "n/a"
        base = cold or warm
        rows.append(
            [
                label,
                cold_s,
                disk,
                f"{warm.seconds:.3f}",
                f"{base.seconds / count * 1e6:.2f}",
                f"{base.seconds / count * MILLION:.1f}",
            ]
        )
    table(["operation", "cold s", "read from disk", "warm s", "us/msg", "s per 1M"], rows)
    per = {label: (cold or warm).seconds / count * MILLION for label, cold, warm in out}
    values = list(per.values())
    conclude(
        f"extrapolated to 1,000,000 messages (linear, cold where available): SQLite counts in "
        f"{values[0]:.1f} s, rebuilds the queue index from keys in {values[1]:.1f} s and reads "
        f"every body in {values[2]:.1f} s; segment replay (reads and checks every body) "
        f"{values[3]:.1f} s"
    )


# ---- main -----------------------------------------------------------------------------


def positive_ints(text: str) -> list[int]:
    values = [int(v) for v in text.split(",") if v.strip()]
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError("expected positive integers, comma separated")
    return values


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=20_000, help="for parts 1 and 2")
    parser.add_argument("--batches", type=positive_ints, default=[1, 10, 100, 1000])
    parser.add_argument("--recovery-messages", type=int, default=200_000, help="for part 3")
    parser.add_argument("--body-size", type=int, default=1024)
    parser.add_argument("--queues", type=int, default=4, help="messages round-robin over them")
    parser.add_argument("--segment-mib", type=int, default=8)
    parser.add_argument("--dir", default=None, help="where to make the temporary directory")
    parser.add_argument("--parts", type=positive_ints, default=[1, 2, 3])
    args = parser.parse_args()
    if args.messages < 2 or args.recovery_messages < 1 or args.queues < 1:
        parser.error("need --messages >= 2, --recovery-messages >= 1, --queues >= 1")
    batches = sorted(set(args.batches))
    segment_bytes = args.segment_mib * MIB
    body = os.urandom(args.body_size)

    root = tempfile.mkdtemp(prefix="amqpd-store-bench-", dir=args.dir)
    fs = filesystem_of(root)
    print(
        f"store_bench: Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}, "
        f"{platform.system()} {platform.release()}; directory {root} ({fs}); "
        f"body {args.body_size} B, {args.queues} queues, batches {batches}"
    )
    if fs in ("tmpfs", "ramfs"):
        print("  warning: tmpfs does not persist, fsync is free here; use --dir on a real disk")
    started = time.perf_counter()
    try:
        print(f"  device: 1 KiB append + os.fsync = {fsync_baseline(root):,.0f}/s")
        sqlite_results = None
        if 1 in args.parts:
            rows = [(f"q{i % args.queues}", i // args.queues, body) for i in range(args.messages)]
            sqlite_results, space = bench_sqlite(root, rows, batches)
            report_sqlite(sqlite_results, space, args.messages)
            sys.stdout.flush()
        if 2 in args.parts:
            records = [(i % args.queues, i // args.queues, body) for i in range(args.messages)]
            results, extras = bench_segments(root, records, batches, segment_bytes)
            report_segments(results, extras, sqlite_results, args.messages)
            sys.stdout.flush()
        if 3 in args.parts:
            out, builds, sizes = bench_recovery(
                root, args.recovery_messages, body, args.queues, segment_bytes
            )
            report_recovery(out, builds, sizes, args.recovery_messages)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print(f"\n(total {time.perf_counter() - started:.0f} s; {root} removed)")


if __name__ == "__main__":
    main()
