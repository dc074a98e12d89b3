"""The crash test: kill -9 amqpd under load, again and again, and lose nothing.

Publishers (confirm mode, persistent messages, each with a unique id) and
consumers (acking) run concurrently in threads against an ``amqpd`` subprocess,
which is killed with SIGKILL at a random moment of each round and started again
on the same data folder; the clients reconnect on their own. After the last
round a single consumer drains the queue. Then:

- every message whose publish was confirmed was delivered at least once, in a
  round or in the final drain: a confirm is a promise that survives kill -9;
- nothing delivered is unknown or damaged (each body is derived from its id);
- every start recovered a sensible number of messages: at least the confirmed
  messages no consumer had received yet, at most what was ever published, and
  the queue reports exactly what the start-up log says it restored;
- kills during start-up (while the store recovers) change nothing;
- the final drain sees each publisher's messages in publishing order, and a
  drained queue stays empty across one more restart.

The queue starts deep (past the 2,048 messages a queue keeps in memory) and
consumers pause in some rounds, so kills also land while the queue pages.
The run is driven by a fixed seed, printed in every failure message;
``AMQPD_CRASH_SEED`` and ``AMQPD_CRASH_ROUNDS`` change it.
"""

from __future__ import annotations

import hashlib
import os
import random
import threading
import time
from dataclasses import dataclass, field

import pika
import pytest

from tests.broker_process import ProcessBroker, connection_parameters

SEED = int(os.environ.get("AMQPD_CRASH_SEED", "914067"))
ROUNDS = int(os.environ.get("AMQPD_CRASH_ROUNDS", "6"))
KILL_WINDOW = (0.3, 2.0)  # seconds after the broker serves (and clients may connect)
CONSUMING_ROUNDS = {2, 3, 5}  # in the others the backlog grows
QUEUE = "crash"
DELAYED = "crash.delayed"  # the delayed variant publishes through this exchange
MAX_DELAY = 1500  # ms
PRELOAD = 3000
PUBLISHERS = 2
CONSUMERS = 2
STARTUP_KILLS = 3
CLIENT_ERRORS = (pika.exceptions.AMQPError, OSError)


def body_for(msg_id: str) -> bytes:
    """The body a message id must arrive with: mostly small, now and then one
    that spans several frames."""
    digest = hashlib.sha256(msg_id.encode()).digest()
    size = 150_000 if digest[2] == 0 else 16 + int.from_bytes(digest[:2], "big") % 3000
    return msg_id.encode() + b":" + (digest * (size // len(digest) + 1))[:size]


def properties_for(msg_id: str, persistent: bool, delay: int | None = None):
    headers = {"id": msg_id} if delay is None else {"id": msg_id, "x-delay": delay}
    return pika.BasicProperties(
        delivery_mode=2 if persistent else 1, message_id=msg_id, headers=headers
    )


def declare(channel, delayed: bool) -> None:
    channel.queue_declare(QUEUE, durable=True)
    if delayed:
        channel.exchange_declare(DELAYED, "x-delayed-message", durable=True,
                                 arguments={"x-delayed-type": "direct"})  # fmt: skip
        channel.queue_bind(QUEUE, DELAYED, QUEUE)


@dataclass
class Ledger:
    """What the clients saw, shared between threads (under ``lock``)."""

    delayed: bool = False  # publish through an x-delayed-message exchange
    lock: threading.Lock = field(default_factory=threading.Lock)
    port: int | None = None  # None while the broker is down
    stop: threading.Event = field(default_factory=threading.Event)
    consuming: threading.Event = field(default_factory=threading.Event)
    attempted: set[str] = field(default_factory=set)  # persistent ones
    attempted_transient: set[str] = field(default_factory=set)
    confirmed: set[str] = field(default_factory=set)
    delivered: set[str] = field(default_factory=set)
    deliveries: int = 0
    nacked: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # damaged or unknown deliveries
    unexpected: list[str] = field(default_factory=list)  # client errors of other kinds

    def record_delivery(self, properties, body: bytes) -> str | None:
        msg_id = properties.message_id
        with self.lock:
            self.deliveries += 1
            if msg_id is None or (properties.headers or {}).get("id") != msg_id:
                self.problems.append(f"delivery without a matching id: {properties!r}")
                return None
            if msg_id not in self.attempted and msg_id not in self.attempted_transient:
                self.problems.append(f"{msg_id} was never published")
            elif body != body_for(msg_id):
                self.problems.append(f"{msg_id} arrived with a damaged body ({len(body)} bytes)")
            self.delivered.add(msg_id)
        return msg_id


def quietly_close(connection) -> None:
    if connection is not None:
        try:
            connection.close()
        except Exception:  # noqa: BLE001 - the broker may have been killed
            pass


def publisher(ledger: Ledger, number: int) -> None:
    rng = random.Random(f"{SEED}/publisher/{number}")
    seq = 0
    while not ledger.stop.is_set():
        port = ledger.port
        if port is None:
            time.sleep(0.02)
            continue
        connection = None
        try:
            connection = pika.BlockingConnection(connection_parameters(port))
            channel = connection.channel()
            channel.confirm_delivery()
            declare(channel, ledger.delayed)
            exchange = DELAYED if ledger.delayed else ""
            while not ledger.stop.is_set():
                msg_id = f"p{number}-{seq:07d}"
                seq += 1
                persistent = rng.random() < 0.9
                delay = rng.randrange(MAX_DELAY) if ledger.delayed else None
                with ledger.lock:
                    (ledger.attempted if persistent else ledger.attempted_transient).add(msg_id)
                try:
                    channel.basic_publish(exchange, QUEUE, body_for(msg_id),
                                          properties_for(msg_id, persistent, delay))  # fmt: skip
                except pika.exceptions.NackError:
                    with ledger.lock:
                        ledger.nacked.append(msg_id)
                    continue
                if persistent:
                    with ledger.lock:
                        ledger.confirmed.add(msg_id)
        except CLIENT_ERRORS:
            pass  # the broker was killed: reconnect once it is back
        except Exception as err:  # noqa: BLE001 - kept for the failure message
            ledger.unexpected.append(f"publisher {number}: {err!r}")
        finally:
            quietly_close(connection)
        time.sleep(0.02)


def consumer(ledger: Ledger, number: int) -> None:
    while not ledger.stop.is_set():
        port = ledger.port
        if port is None or not ledger.consuming.is_set():
            time.sleep(0.02)
            continue
        connection = None
        try:
            connection = pika.BlockingConnection(connection_parameters(port))
            channel = connection.channel()
            channel.basic_qos(prefetch_count=20)
            declare(channel, ledger.delayed)
            unacked = 0
            for method, properties, body in channel.consume(QUEUE, inactivity_timeout=0.1):
                if ledger.stop.is_set() or not ledger.consuming.is_set():
                    break
                if method is None:
                    continue
                ledger.record_delivery(properties, body)
                unacked += 1
                if unacked == 5:  # acks in small batches, as applications do
                    channel.basic_ack(method.delivery_tag, multiple=True)
                    unacked = 0
        except CLIENT_ERRORS:
            pass
        except Exception as err:  # noqa: BLE001
            ledger.unexpected.append(f"consumer {number}: {err!r}")
        finally:
            quietly_close(connection)
        time.sleep(0.02)


def queue_count(port: int) -> int:
    connection = pika.BlockingConnection(connection_parameters(port))
    try:
        return connection.channel().queue_declare(QUEUE, durable=True).method.message_count
    finally:
        connection.close()


def preload(ledger: Ledger, port: int) -> None:
    """A deep queue to start with; confirmed by a commit barrier (a durable
    declare-ok comes after everything before it is on disk)."""
    connection = pika.BlockingConnection(connection_parameters(port))
    try:
        channel = connection.channel()
        declare(channel, ledger.delayed)
        ids = [f"pre-{n:07d}" for n in range(PRELOAD)]
        with ledger.lock:
            ledger.attempted.update(ids)
        for msg_id in ids:
            channel.basic_publish("", QUEUE, body_for(msg_id), properties_for(msg_id, True))
        channel.queue_declare("crash.barrier", durable=True)
        channel.queue_delete("crash.barrier")
        with ledger.lock:
            ledger.confirmed.update(ids)
    finally:
        connection.close()


def drain(ledger: Ledger, port: int, expected: int) -> list[str]:
    """One consumer takes ``expected`` messages, checking each; returns their ids."""
    connection = pika.BlockingConnection(connection_parameters(port))
    ids: list[str] = []
    try:
        channel = connection.channel()
        channel.basic_qos(prefetch_count=500)
        deadline = time.monotonic() + 30
        for method, properties, body in channel.consume(QUEUE, inactivity_timeout=0.5):
            if method is None:
                assert time.monotonic() < deadline, f"drained {len(ids)} of {expected}"
                continue
            ids.append(ledger.record_delivery(properties, body))
            if len(ids) % 200 == 0 or len(ids) == expected:
                channel.basic_ack(method.delivery_tag, multiple=True)
            if len(ids) == expected:
                break
        channel.cancel()
        assert channel.queue_declare(QUEUE, passive=True).method.message_count == 0
    finally:
        connection.close()
    return ids


def held(restored: tuple[int, ...]) -> int:
    """Messages a start recovered: in the queue, and waiting in the delayed exchange."""
    return restored[3] + restored[4]


@pytest.mark.parametrize("route", ["queue", "delayed"])
def test_confirmed_messages_survive_repeated_kill_9(tmp_path, route):
    """``queue``: published straight to the queue. ``delayed``: through a durable
    x-delayed-message exchange with delays up to 1.5 s, so kills also land
    between a delayed message's confirm, its release and its delivery."""
    rng = random.Random(f"{SEED}/{route}")
    ledger = Ledger(delayed=route == "delayed")
    broker = ProcessBroker(tmp_path / "data", tmp_path / "logs")
    story: list[str] = []

    def context() -> str:
        return (f"seed {SEED} (AMQPD_CRASH_SEED={SEED} reproduces the schedule)\n"
                + "\n".join(story))  # fmt: skip

    threads = [threading.Thread(target=publisher, args=(ledger, n), daemon=True)
               for n in range(PUBLISHERS)]  # fmt: skip
    threads += [threading.Thread(target=consumer, args=(ledger, n), daemon=True)
                for n in range(CONSUMERS)]  # fmt: skip
    try:
        preload(ledger, broker.start())
        broker.kill()
        for thread in threads:
            thread.start()
        confirmed_before = len(ledger.confirmed)
        not_yet_delivered = set(ledger.confirmed)
        for round_ in range(ROUNDS):
            port = broker.start()
            restored = broker.restored()
            assert restored is not None, context() + "\n" + broker.log()
            messages = held(restored)
            in_queue = queue_count(port)  # before any client knows the new port
            story.append(f"round {round_}: restored {restored[3]} messages and "
                         f"{restored[4]} delayed (queue says {in_queue})")  # fmt: skip
            assert restored[:2] == (int(ledger.delayed), 1), context()  # nothing else
            # Delayed messages due while the broker was down may be released already.
            assert restored[3] <= in_queue <= messages, context()
            assert messages >= len(not_yet_delivered), (
                f"{context()}\n{len(not_yet_delivered)} confirmed messages had not reached "
                f"a consumer, but only {messages} were restored"
            )
            assert messages <= len(ledger.attempted), context()
            if round_ in CONSUMING_ROUNDS:
                ledger.consuming.set()
            else:
                ledger.consuming.clear()
            ledger.port = port
            delay = rng.uniform(*KILL_WINDOW)
            time.sleep(delay)  # the crash comes at a random moment of the load
            ledger.port = None
            broker.kill()
            with ledger.lock:
                confirmed, delivered = set(ledger.confirmed), set(ledger.delivered)
            not_yet_delivered = confirmed - delivered
            story.append(f"  killed after {delay:.2f} s: {len(confirmed) - confirmed_before} "
                         f"new confirms, {len(delivered)} ids delivered so far")  # fmt: skip
            confirmed_before = len(confirmed)
        ledger.stop.set()
        ledger.consuming.clear()
        for thread in threads:
            thread.join(timeout=15)
            assert not thread.is_alive(), f"{thread.name} did not stop\n{context()}"

        # Kills during start-up (while the store recovers) damage nothing either.
        broker.start()
        remaining = held(broker.restored())
        broker.kill()
        for _ in range(STARTUP_KILLS):
            broker.spawn()
            time.sleep(rng.uniform(0.0, 0.5))  # a random moment of the start-up
            broker.kill()
        port = broker.start()
        story.append(f"final start: restored {held(broker.restored())} messages, "
                     f"{remaining} before {STARTUP_KILLS} kills during start-up")  # fmt: skip
        assert held(broker.restored()) == remaining, context()
        drained = drain(ledger, port, remaining)
        assert broker.terminate() == 0, broker.log()
        broker.start()
        assert held(broker.restored()) == 0, context()  # the drain's acks were kept
    finally:
        ledger.stop.set()
        broker.kill()

    print(context())  # shown with -s: what each round did
    assert not ledger.unexpected, f"{context()}\n" + "\n".join(ledger.unexpected[:10])
    assert not ledger.problems, f"{context()}\n" + "\n".join(ledger.problems[:10])
    assert not ledger.nacked, f"{context()}\nnacked: {ledger.nacked[:10]}"
    lost = ledger.confirmed - ledger.delivered
    assert not lost, (
        f"{context()}\n{len(lost)} confirmed messages were never delivered, "
        f"e.g. {sorted(lost)[:10]}"
    )
    assert len(ledger.confirmed) >= PRELOAD + 10 * ROUNDS, context()  # the load was real
    if ledger.delayed:
        return  # delays reorder messages: no order to check
    for prefix in ["pre-", *(f"p{n}-" for n in range(PUBLISHERS))]:
        mine = [msg_id for msg_id in drained if msg_id.startswith(prefix)]
        assert mine == sorted(mine), f"{context()}\n{prefix}* drained out of order"


def test_the_crash_helpers_notice_a_lost_message():
    """The ledger's checks are not vacuous: a damaged or unknown delivery is caught."""
    ledger = Ledger()
    ledger.attempted.add("p0-0000001")
    good = properties_for("p0-0000001", True)
    assert ledger.record_delivery(good, body_for("p0-0000001")) == "p0-0000001"
    ledger.record_delivery(good, body_for("p0-0000001")[:-1] + b"!")
    ledger.record_delivery(properties_for("p9-9", True), body_for("p9-9"))
    assert len(ledger.problems) == 2
