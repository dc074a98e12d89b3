"""The store's side of the shell: batches written on a worker thread.

One task takes the journal's pending batch, writes it (and reads any pages
the model asked for) on a worker thread, so the event loop never waits for the
disk, then tells the broker the batch is on disk. Batches that fill while one
is being written go together in the next commit.

A failed write stops the broker: what was promised can no longer be kept. So
does a bug in keeping a written batch's promises (the confirms, replies and
held sessions that waited for it), after logging it.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable

import trio

from amqpd.model import recovery
from amqpd.model.broker import Broker
from amqpd.model.journal import Commit
from amqpd.store import Store

log = logging.getLogger("amqpd.store")

# Message bytes the next batch may gather while one is being written; past
# this, connections are not read from until the store catches up.
BACKLOG_LIMIT = 16 * 1024 * 1024
SWITCH_INTERVAL = 0.0005  # seconds a thread holds the GIL while another waits for it


class StoreRunner:
    def __init__(
        self,
        store: Store,
        broker: Broker,
        after_broker: Callable[[], None],
        on_failure: Callable[[BaseException], None],
    ) -> None:
        self.store = store
        self.broker = broker
        self._after_broker = after_broker
        self._on_failure = on_failure
        self._wake = trio.Event()
        self._took = trio.Event()
        self._committed = trio.Event()
        self.commits = 0
        self.failed = False

    def open(self, progress: recovery.Progress | None = None) -> recovery.Recovered:
        """Recover the broker's durable state (before any client connects)."""
        # The worker thread steps SQLite a row at a time and gives up the GIL at
        # each row; at the default 5 ms switch interval, taking it back from a
        # busy event loop starved deep queues' page reads (a drain ran at 35k
        # msg/s instead of 48k).
        sys.setswitchinterval(SWITCH_INTERVAL)
        snapshot = self.store.open()
        return recovery.restore(self.broker, snapshot, self.store.read_messages, progress)

    def poke(self) -> None:
        """The journal has something pending: write it soon."""
        self._wake.set()

    async def run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake = trio.Event()
            commit = self.broker.journal.take()
            self._took.set()
            self._took = trio.Event()
            if commit is None or self.failed:
                continue
            try:
                pages, reads = await trio.to_thread.run_sync(self._write, commit)
            except Exception as err:
                self.failed = True
                log.critical("message store write failed: %s; stopping", err)
                self._on_failure(err)
                return
            try:
                self._finish(commit, pages, reads)
            except Exception as err:
                # The batch is on disk but its promises (confirms, replies, held
                # sessions) may not have been kept: stop rather than pretend.
                self.failed = True
                log.critical("internal error after a store write; stopping", exc_info=True)
                self._on_failure(err)
                return

    async def room(self) -> None:
        """Wait while the batch being gathered is over the backlog limit."""
        while self.broker.journal.pending_bytes > BACKLOG_LIMIT and not self.failed:
            await self._took.wait()

    async def wait_written(self, number: int) -> None:
        """Wait until batch ``number`` (and every one before it) is on disk."""
        journal = self.broker.journal
        while journal.written < number and not self.failed:
            if journal.pending and journal.taken < number:
                self.poke()
            await self._committed.wait()

    def _write(self, commit: Commit) -> tuple[list, list]:
        """On the worker thread: the batch, then the pages and stream reads asked for
        after it."""
        if commit.batch:
            self.store.apply(commit.batch)
        pages = [
            self.store.read_messages(page.page_id, page.from_seq, page.limit, page.level)
            for page in commit.pages
        ]
        reads = [
            self.store.read_stream(read.queue.store_id, read.from_offset, read.limit)
            for read in commit.stream_reads
        ]
        return pages, reads

    def _finish(self, commit: Commit, pages: list, reads: list) -> None:
        self.commits += 1
        for page, records in zip(commit.pages, pages, strict=True):
            self.broker.page_read(page.queue, page.generation, records, page.level)
        for read, records in zip(commit.stream_reads, reads, strict=True):
            self.broker.stream_read(read, records)
        released = self.broker.committed(commit)
        self._committed.set()
        self._committed = trio.Event()
        self._after_broker()
        for session in released:
            session.resume()

    def flush_and_close(self) -> None:
        """At shutdown, with no connections left: write what is pending, close."""
        if not self.failed:
            commit = self.broker.journal.take()
            if commit is not None and commit.batch:
                self.store.apply(commit.batch)
        self.store.close()
