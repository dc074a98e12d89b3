"""Celery: a real worker process consuming tasks, with the rpc:// result backend.

One worker (prefork pool, two processes) runs per broker for the whole module;
the tests send tasks with delay()/apply_async() and wait on their results, and
talk to the worker through Celery's remote control (fanout exchange + reply
queues).
"""

from __future__ import annotations

import datetime
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import kombu
import pytest

from interop.celery_app import (
    BROKER_ENV,
    DEFAULT_QUEUE_ENV,
    QUEUE_ARGUMENTS,
    ROUTED_QUEUE_ENV,
    make_app,
    task_queue,
)
from interop.helpers import unique

ROOT = Path(__file__).resolve().parent.parent
RESULT_TIMEOUT = 30


class Worker:
    """A ``celery worker`` subprocess and an in-process app to talk to it."""

    def __init__(self, broker, log_dir: Path):
        self.broker = broker
        self.node = f"{unique('celery')}@localhost"
        self.default_queue = unique("celery-default")
        self.routed_queue = unique("celery-routed")
        self.extra_queues: list[str] = []
        self.app = make_app(broker.url, self.default_queue, self.routed_queue)
        self.log = log_dir / f"{self.node}.log"
        env = dict(os.environ)
        env.update(
            {
                BROKER_ENV: broker.url,
                DEFAULT_QUEUE_ENV: self.default_queue,
                ROUTED_QUEUE_ENV: self.routed_queue,
                "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")])),
            }
        )
        self.env = env
        with open(self.log, "wb") as out:
            self.proc = subprocess.Popen(
                [
                    sys.executable, "-m", "celery", "-A", "interop.celery_app", "worker",
                    "--pool=prefork", "--concurrency=2", f"--hostname={self.node}",
                    "--without-mingle", "--without-gossip", "--loglevel=INFO",
                    f"--queues={self.default_queue},{self.routed_queue}",
                ],
                cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, start_new_session=True,
            )  # fmt: skip
        self.failure: str | None = None

    def log_tail(self, lines: int = 60) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def wait_ready(self, seconds: float = 60) -> None:
        deadline = time.monotonic() + seconds
        while True:
            if self.proc.poll() is not None:
                self.failure = f"worker exited with {self.proc.returncode}:\n{self.log_tail()}"
                break
            if self.app.control.ping(destination=[self.node], timeout=0.5):
                return
            if time.monotonic() > deadline:
                self.failure = f"worker did not answer ping in {seconds}s:\n{self.log_tail()}"
                break
        pytest.fail(self.failure)

    def inspect(self, method: str):
        replies = getattr(self.app.control.inspect([self.node], timeout=2), method)()
        assert replies and self.node in replies, f"no {method} reply from {self.node}"
        return replies[self.node]

    def begin_stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)  # warm shutdown

    def stop(self) -> None:
        self.begin_stop()
        if self.proc.returncode is None:
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        try:
            with kombu.Connection(self.broker.url, transport="pyamqp") as conn:
                for name in [self.default_queue, self.routed_queue, *self.extra_queues]:
                    with conn.channel() as channel:
                        channel.queue_delete(name)
                    with conn.channel() as channel:
                        channel.exchange_delete(name)
        finally:
            # Close every connection the in-process app opened (producers, result
            # consumer), so that no broker waits on them at shutdown.
            consumer = getattr(self.app.backend, "result_consumer", None)
            if consumer is not None and getattr(consumer, "_connection", None) is not None:
                consumer.stop()
                consumer._connection.close()
            self.app.pool.force_close_all()
            self.app.close()


@pytest.fixture(scope="module")
def _workers(tmp_path_factory):
    workers: dict[str, Worker] = {}
    yield workers, tmp_path_factory.mktemp("celery-logs")
    for worker in workers.values():
        worker.begin_stop()
    for worker in workers.values():
        worker.stop()


@pytest.fixture
def worker(broker, _workers) -> Worker:
    """The module's worker for this broker, started on first use."""
    workers, log_dir = _workers
    existing = workers.get(broker.url)
    if existing is None:
        existing = workers[broker.url] = Worker(broker, log_dir)
        existing.wait_ready()
    if existing.failure:
        pytest.fail(f"the module's Celery worker failed: {existing.failure}")
    if existing.proc.poll() is not None:
        pytest.fail(f"the Celery worker died:\n{existing.log_tail()}")
    return existing


def wait_until(check, seconds: float = 20, message: str = "condition"):
    deadline = time.monotonic() + seconds
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {message}"


def ready_count(broker, queue: str) -> int:
    with kombu.Connection(broker.url, transport="pyamqp") as conn:
        with conn.channel() as channel:
            return channel.queue_declare(queue, passive=True).message_count


def test_delay_and_apply_async_return_results(worker):
    add = worker.app.tasks["interop.add"]
    assert add.delay(2, 3).get(timeout=RESULT_TIMEOUT) == 5
    results = [add.apply_async((i, i)) for i in range(20)]
    assert [r.get(timeout=RESULT_TIMEOUT) for r in results] == [2 * i for i in range(20)]
    assert results[0].status == "SUCCESS"


def test_task_routes_and_queue_option_pick_the_queue(worker):
    where = worker.app.tasks["interop.where"]
    routed = worker.app.tasks["interop.where_routed"]
    # Celery publishes to a direct queue through the default exchange, keyed by name.
    by_default = where.delay().get(timeout=RESULT_TIMEOUT)
    assert (by_default["routing_key"], by_default["hostname"]) == (
        worker.default_queue,
        worker.node,
    )
    by_route = routed.delay().get(timeout=RESULT_TIMEOUT)
    assert by_route["routing_key"] == worker.routed_queue
    by_option = where.apply_async(queue=worker.routed_queue).get(timeout=RESULT_TIMEOUT)
    assert by_option["routing_key"] == worker.routed_queue


def test_inspect_ping_from_the_command_line(worker):
    proc = subprocess.run(
        [
            sys.executable, "-m", "celery", "-A", "interop.celery_app", "inspect", "ping",
            f"--destination={worker.node}", "--timeout=10", "--json",
        ],
        cwd=ROOT, env=worker.env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr + proc.stdout
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == {worker.node: {"ok": "pong"}}


def test_worker_prefetch_multiplier_bounds_reserved_tasks(worker, tmp_path):
    # worker_prefetch_multiplier=1 with two pool processes: basic.qos prefetch_count=2.
    stats = worker.inspect("stats")
    assert stats["prefetch_count"] == 2
    assert stats["pool"]["max-concurrency"] == 2
    block = worker.app.tasks["interop.block"]
    add = worker.app.tasks["interop.add"]
    release = tmp_path / "release"
    blockers = [block.delay(str(release)) for _ in range(2)]
    wait_until(lambda: len(worker.inspect("active")) == 2, message="two running tasks")
    adds = [add.delay(i, 1) for i in range(3)]
    try:
        # Both processes are busy (their tasks already acked); the broker may hand the
        # worker two more messages and must keep the third.
        wait_until(
            lambda: (
                len(worker.inspect("reserved")) == 2
                and ready_count(worker.broker, worker.default_queue) == 1
            ),
            message="two reserved tasks and one ready message",
        )
        assert len(worker.inspect("reserved")) == 2
        assert ready_count(worker.broker, worker.default_queue) == 1
    finally:
        release.write_text("go")
    assert [b.get(timeout=RESULT_TIMEOUT) for b in blockers] == ["released"] * 2
    assert [a.get(timeout=RESULT_TIMEOUT) for a in adds] == [1, 2, 3]


def test_retry_with_countdown(worker):
    flaky = worker.app.tasks["interop.flaky"]
    sent = time.time()
    outcome = flaky.delay(2, 0.5).get(timeout=RESULT_TIMEOUT)
    assert outcome["retries"] == 2
    assert outcome["finished"] - sent >= 2 * 0.5 - 0.05


def test_eta_tasks_wait_while_later_work_goes_ahead(worker):
    stamp = worker.app.tasks["interop.stamp"]
    add = worker.app.tasks["interop.add"]
    eta = datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=2)
    delayed = [stamp.apply_async(eta=eta) for _ in range(2)]
    counted_down = stamp.apply_async(countdown=1)
    # Three held ETA messages exceed prefetch_count=2: the worker raises its basic.qos
    # so that the task sent after them still runs at once.
    assert add.delay(20, 22).get(timeout=RESULT_TIMEOUT) == 42
    assert time.time() < eta.timestamp()
    for result in delayed:
        assert result.get(timeout=RESULT_TIMEOUT) >= eta.timestamp() - 0.01
    assert counted_down.get(timeout=RESULT_TIMEOUT) >= eta.timestamp() - 1 - 0.01


def test_rate_limit_spaces_out_executions(worker):
    limited = worker.app.tasks["interop.rate_limited"]
    results = [limited.delay() for _ in range(5)]
    times = sorted(r.get(timeout=RESULT_TIMEOUT) for r in results)
    # 4/s: after the first, one task every 0.25 s.
    assert times[-1] - times[0] >= 4 * 0.25 - 0.15


def test_acks_late_task_survives_a_crashed_worker_process(worker, tmp_path):
    crash_once = worker.app.tasks["interop.crash_once"]
    marker = tmp_path / "crashed"
    assert crash_once.delay(str(marker)).get(timeout=RESULT_TIMEOUT) == {"redelivered": True}
    assert marker.read_text() == "crashed"


def test_add_consumer_through_remote_control(worker):
    queue = unique("celery-added")
    worker.extra_queues.append(queue)
    replies = worker.app.control.add_consumer(
        queue,
        destination=[worker.node],
        reply=True,
        options={
            "queue_durable": False,
            "exchange_durable": False,
            "queue_arguments": QUEUE_ARGUMENTS,
        },
    )
    assert replies == [{worker.node: {"ok": f"add consumer {queue}"}}]
    where = worker.app.tasks["interop.where"]
    sent = where.apply_async(queue=task_queue(queue))
    assert sent.get(timeout=RESULT_TIMEOUT)["routing_key"] == queue
    replies = worker.app.control.cancel_consumer(queue, destination=[worker.node], reply=True)
    assert replies == [{worker.node: {"ok": f"no longer consuming from {queue}"}}]
