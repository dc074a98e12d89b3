"""docs/examples/, run end to end against amqpd and the reference RabbitMQ.

Every example is a set of programs that read ``AMQP_URL`` and put
``EXAMPLE_PREFIX`` in front of every queue and exchange they declare. Each test
runs them as separate processes, as a user would, with a fresh prefix, reads the
JSON lines they print, and deletes what they declared. Waiting is always for an
event (a line printed, a file written, a queue count reached) with a deadline.

The delayed-message tests run amqpd on a virtual clock, so that the example's
full hour passes in a moment; the cross-language test needs the Node.js and Go
toolchains of interop/clients.py and skips, naming the tool, without them.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from collections import Counter
from pathlib import Path

import pika
import pika.exceptions
import pytest
import trio.testing

from amqpd.config import BrokerConfig
from amqpd.testing import BrokerThread
from interop import clients

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "docs" / "examples"
DEADLINE = 30  # seconds any single step may take


# --- running example programs ---------------------------------------------------------


class Hub:
    """Where the programs of one test report: a condition to wait on with a deadline."""

    def __init__(self) -> None:
        self.cond = threading.Condition()
        self.programs: list[Program] = []

    def wait_for(self, predicate, what: str, seconds: float = DEADLINE, poll: float | None = None):
        """Wait until ``predicate()`` is true: re-checked on every line a program prints,
        and every ``poll`` seconds for state no program reports (files, say)."""
        deadline = time.monotonic() + seconds
        with self.cond:
            while True:
                value = predicate()
                if value:
                    return value
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    pytest.fail(f"timed out after {seconds}s waiting for {what}\n{self.logs()}")
                self.cond.wait(remaining if poll is None else min(poll, remaining))

    def logs(self) -> str:
        return "\n".join(p.describe() for p in self.programs)


class Program:
    """One example program in a subprocess; its stdout JSON lines are kept as they come."""

    def __init__(
        self, hub: Hub, name: str, args: list[str], *, cwd: Path, env: dict, on_line=None
    ) -> None:
        self.hub, self.name = hub, name
        self.lines: list[dict] = []
        self.stderr: list[str] = []
        self.on_line = on_line
        self.proc = subprocess.Popen(
            args,
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        hub.programs.append(self)
        self._readers = [
            threading.Thread(target=self._read_stdout, daemon=True),
            threading.Thread(target=self._read_stderr, daemon=True),
        ]
        for reader in self._readers:
            reader.start()

    def _read_stdout(self) -> None:
        for raw in self.proc.stdout:
            try:
                line = json.loads(raw)
            except json.JSONDecodeError:
                line = {"text": raw.rstrip("\n")}
            with self.hub.cond:
                self.lines.append(line)
                if self.on_line is not None:
                    self.on_line(self, line)
                self.hub.cond.notify_all()
        self.proc.wait()
        with self.hub.cond:
            self.hub.cond.notify_all()

    def _read_stderr(self) -> None:
        for raw in self.proc.stderr:
            self.stderr.append(raw.rstrip("\n"))
            del self.stderr[:-80]

    @property
    def exited(self) -> bool:
        return self.proc.poll() is not None

    def describe(self) -> str:
        out = "\n    ".join(json.dumps(line)[:300] for line in self.lines[-15:])
        err = "\n    ".join(self.stderr[-40:])
        return (
            f"--- {self.name} (exit {self.proc.returncode})\n  stdout:\n    {out}\n"
            f"  stderr:\n    {err}"
        )

    def wait_line(self, predicate, what: str, seconds: float = DEADLINE) -> dict:
        """The first line matching ``predicate``; fails if the program exits first."""

        def found():
            for line in self.lines:
                if predicate(line):
                    return line
            if self.exited and not self._readers[0].is_alive():
                pytest.fail(f"{self.name} exited before {what}\n{self.hub.logs()}")
            return None

        return self.hub.wait_for(found, f"{self.name}: {what}", seconds)

    def wait_exit(self, seconds: float = DEADLINE) -> int:
        try:
            self.proc.wait(timeout=seconds)
        except subprocess.TimeoutExpired:
            pytest.fail(f"{self.name} did not exit within {seconds}s\n{self.hub.logs()}")
        for reader in self._readers:
            reader.join(timeout=5)
        return self.proc.returncode

    def terminate(self) -> None:
        """SIGTERM: every example program stops cleanly on it."""
        if not self.exited:
            self.proc.send_signal(signal.SIGTERM)

    def stop(self, seconds: float = DEADLINE) -> int:
        """SIGTERM and wait for the exit."""
        self.terminate()
        return self.wait_exit(seconds)

    def kill(self) -> None:
        if not self.exited:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()


def stop_all(programs) -> list[int]:
    """Stop several programs at once; their exit codes."""
    programs = list(programs)
    for program in programs:
        program.terminate()
    return [program.wait_exit() for program in programs]


class Example:
    """The programs of one example directory, against one broker, under one prefix."""

    def __init__(self, url: str, directory: str, hub: Hub, **env: str) -> None:
        self.url = url
        self.dir = EXAMPLES / directory
        self.hub = hub
        self.prefix = f"example-{uuid.uuid4().hex[:8]}-"
        self.env = dict(os.environ)
        self.env.update(AMQP_URL=url, EXAMPLE_PREFIX=self.prefix, PYTHONUNBUFFERED="1", **env)
        self.queues: list[str] = []
        self.exchanges: list[str] = []

    def start(
        self,
        script: str,
        *args: str,
        name: str | None = None,
        on_line=None,
        command: list[str] | None = None,
        **env: str,
    ) -> Program:
        cmd = command if command is not None else [sys.executable, script, *args]
        return Program(
            self.hub, name or script, cmd, cwd=self.dir, env={**self.env, **env}, on_line=on_line
        )

    def run(self, script: str, *args: str, **env: str) -> list[dict]:
        """Run a program to completion; its output lines."""
        program = self.start(script, *args, **env)
        code = program.wait_exit()
        assert code == 0, f"{script} exited {code}\n{program.describe()}"
        return program.lines

    def declared(self, *, queues=(), exchanges=()) -> None:
        """Names (without the prefix) the example declares: deleted after the test."""
        self.queues += [self.prefix + q for q in queues]
        self.exchanges += [self.prefix + x for x in exchanges]

    def connect(self) -> pika.BlockingConnection:
        return pika.BlockingConnection(pika.URLParameters(self.url))

    def ready_count(self, queue: str) -> int:
        with contextlib.closing(self.connect()) as connection:
            channel = connection.channel()
            return channel.queue_declare(self.prefix + queue, passive=True).method.message_count

    def cleanup(self) -> None:
        with contextlib.closing(self.connect()) as connection:
            channel = connection.channel()
            for queue in self.queues:
                channel.queue_delete(queue)
            for exchange in self.exchanges:
                channel.exchange_delete(exchange)


@pytest.fixture
def hub():
    hub = Hub()
    yield hub
    for program in hub.programs:
        program.kill()


@pytest.fixture
def example(broker, hub):
    """Builds an ``Example`` on the broker under test; deletes what it declared."""
    made: list[Example] = []

    def make(directory: str, url: str | None = None, **env: str) -> Example:
        made.append(Example(url or broker.url, directory, hub, **env))
        return made[-1]

    yield make
    for program in hub.programs:
        program.kill()
    for ex in made:
        ex.cleanup()


# --- 1. background jobs: the welcome email ------------------------------------------


def signup(base_url: str, email: str) -> int:
    request = urllib.request.Request(
        f"{base_url}/signup", data=json.dumps({"email": email}).encode(), method="POST"
    )
    with urllib.request.urlopen(request, timeout=DEADLINE) as response:
        assert json.load(response) == {"status": "welcome email queued"}
        return response.status


@pytest.mark.parametrize("jobs", ["celery", "pika"])
def test_signup_answers_at_once_and_a_worker_sends_the_email(example, tmp_path, jobs):
    outbox = tmp_path / "outbox"
    ex = example("background_jobs", OUTBOX=str(outbox))
    if jobs == "celery":
        ex.declared(queues=["emails"], exchanges=["emails"])
        queue = "emails"
        worker_command = [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "celery_tasks",
            "worker",
            "--concurrency=2",
            "--without-mingle",
            "--without-gossip",
            "--without-heartbeat",
            "--loglevel=INFO",
        ]
    else:
        ex.declared(queues=["welcome-emails"])
        queue = "welcome-emails"
        worker_command = [sys.executable, "worker.py"]
    web = ex.start("web.py", jobs, name="web", PORT="0")
    base_url = web.wait_line(lambda line: "listening" in line, "listening")["listening"]

    def sent() -> Counter:
        # mailer.py names each email ADDRESS.RANDOM.eml
        return Counter(path.name.rsplit(".", 2)[0] for path in outbox.glob("*.eml"))

    # No worker is running: the request still succeeds, and the job waits on the broker.
    assert signup(base_url, "ada@example.com") == 202
    assert ex.ready_count(queue) == 1
    assert sent() == Counter()

    worker = ex.start("worker", command=worker_command, name=f"{jobs} worker")
    ex.hub.wait_for(lambda: sent() == {"ada@example.com": 1}, "the first email", poll=0.05)
    for email in ("grace@example.com", "linus@example.com"):
        assert signup(base_url, email) == 202
    everyone = {"ada@example.com": 1, "grace@example.com": 1, "linus@example.com": 1}
    ex.hub.wait_for(lambda: sent() == everyone, "every email", poll=0.05)
    assert stop_all([worker, web]) == [0, 0]
    assert ex.ready_count(queue) == 0
    assert sent() == everyone  # one email each


# --- 2. events: one order_placed, three independent services -----------------------

SERVICES = ("payment", "inventory", "analytics")


def handled(program: Program) -> list[tuple[str, int]]:
    return [(line["event"], line["order_id"]) for line in program.lines if "event" in line]


@pytest.mark.parametrize("exchange_type", ["fanout", "topic"])
def test_events_reach_every_service_and_a_stopped_one_catches_up(example, exchange_type):
    ex = example("events")
    ex.declared(
        queues=[f"{s}.orders.{exchange_type}" for s in SERVICES],
        exchanges=[f"orders.{exchange_type}"],
    )
    kind = ("--exchange-type", exchange_type)

    def service(name: str) -> Program:
        program = ex.start("service.py", name, *kind, name=name)
        program.wait_line(lambda line: line.get("ready"), "ready")
        return program

    services = {name: service(name) for name in SERVICES}
    # Inventory goes down; its durable queue stays, bound to the exchange.
    assert services["inventory"].stop() == 0

    ex.run("place_order.py", "1", "2", "3", "4", "5", *kind)
    ex.run("place_order.py", "3", "--event", "order.cancelled", *kind)
    ex.run("place_order.py", "6", *kind)
    placed = [("order.placed", n) for n in range(1, 6)]
    everything = [*placed, ("order.cancelled", 3), ("order.placed", 6)]
    # A topic binding lets payment skip cancellations; fanout gives everyone everything.
    expected = {
        "payment": everything if exchange_type == "fanout" else [*placed, ("order.placed", 6)],
        "inventory": everything,
        "analytics": everything,
    }
    for name in ("payment", "analytics"):
        program = services[name]
        ex.hub.wait_for(
            lambda p=program, n=name: len(handled(p)) >= len(expected[n]),
            f"{name} to handle every event",
        )
        assert handled(program) == expected[name], name
    # Nothing of this reached the stopped service, and nothing was lost for it.
    assert handled(services["inventory"]) == []
    assert ex.ready_count(f"inventory.orders.{exchange_type}") == len(expected["inventory"])

    services["inventory"] = back = service("inventory")
    ex.hub.wait_for(
        lambda: len(handled(back)) >= len(expected["inventory"]), "inventory to catch up"
    )
    assert handled(back) == expected["inventory"]
    assert stop_all(services.values()) == [0, 0, 0]
    for name, program in services.items():
        assert ex.ready_count(f"{name}.orders.{exchange_type}") == 0
        # Each service handled each event once.
        assert len(handled(program)) == len(expected[name])


# --- 3. load balancing: 100,000 orders over workers that come and go -----------------

ORDERS = 100_000


class Ledger:
    """What the workers report, checked against 'every order done exactly once'."""

    def __init__(self, count: int) -> None:
        self.acked = bytearray(count)  # times each order was finished and acknowledged
        self.fresh = bytearray(count)  # times it was worked on with redelivered=false
        self.done = 0  # orders acknowledged at least once
        self.held_by_leavers: set[int] = set()  # worked on, then handed back unacked
        self.redelivered: set[int] = set()
        self.leaves = 0

    def on_line(self, program, line: dict) -> None:
        if "acked" in line:
            self._worked(line["acked"], line["redelivered"])
            for order in line["acked"]:
                if self.acked[order] == 0:
                    self.done += 1
                self.acked[order] = min(self.acked[order] + 1, 255)
        elif line.get("left"):
            self.leaves += 1
            self._worked(line["unacked"], line["redelivered"])
            self.held_by_leavers.update(line["unacked"])

    def _worked(self, orders: list[int], redelivered: list[int]) -> None:
        again = set(redelivered)
        self.redelivered |= again
        for order in orders:
            if order not in again:
                self.fresh[order] = min(self.fresh[order] + 1, 255)


def test_load_balancing_spreads_orders_over_workers_that_join_and_leave(
    example, hub, broker, record_property
):
    ex = example("load_balancing")
    ex.declared(queues=["orders"])
    ledger = Ledger(ORDERS)

    def worker(name: str, *args: str) -> Program:
        program = ex.start("worker.py", name, *args, name=name, on_line=ledger.on_line)
        program.wait_line(lambda line: line.get("ready"), "ready")
        return program

    stayers = [worker("w1"), worker("w2")]
    leavers = [worker("w3", "--leave-after", "15000")]
    started = time.monotonic()
    producer = ex.start("producer.py", str(ORDERS))
    hub.wait_for(lambda: ledger.done >= 25_000, "25,000 orders done", 60)
    leavers.append(worker("w4", "--leave-after", "10000"))  # joins mid-run, leaves later
    hub.wait_for(lambda: ledger.done >= 50_000, "50,000 orders done", 60)
    stayers.append(worker("w5"))  # joins mid-run, stays
    hub.wait_for(lambda: ledger.done == ORDERS, "every order done", 60)
    elapsed = time.monotonic() - started

    assert producer.wait_exit() == 0
    published = producer.lines[-1]
    for program in leavers:
        assert program.wait_exit() == 0
        assert program.wait_line(lambda line: line.get("left"), "leaving")["unacked"]
    assert stop_all(stayers) == [0] * len(stayers)
    assert ex.ready_count("orders") == 0

    # Finished and acknowledged exactly once each; worked on with redelivered=false at
    # most once. Work done twice is exactly the orders a leaving worker held unacked,
    # and each came back flagged redelivered.
    assert ledger.done == ORDERS
    assert set(ledger.acked) == {1}
    assert max(ledger.fresh) == 1
    never_fresh = {order for order in range(ORDERS) if ledger.fresh[order] == 0}
    assert never_fresh <= ledger.redelivered
    assert ledger.leaves == 2
    assert ledger.held_by_leavers <= ledger.redelivered
    per_worker = {
        p.name: sum(len(line.get("acked", ())) for line in p.lines) for p in stayers + leavers
    }
    assert all(per_worker.values()), per_worker
    timing = {
        "broker": broker.name,
        "seconds": round(elapsed, 1),
        "publish_seconds": published["seconds"],
        "done_twice": len(ledger.held_by_leavers),
        "redelivered": len(ledger.redelivered),
        "per_worker": per_worker,
    }
    record_property("load_balancing", timing)
    print(f"\nload balancing, {ORDERS:,} orders: {json.dumps(timing)}")


# --- 4. reliability: retries with backoff, a parking queue, a crash ------------------

RETRY_DELAYS_MS = (100, 200, 400)
PAYMENT_QUEUES = ["payments", *(f"payments.retry.{n}" for n in (1, 2, 3)), "payments.parked"]


def attempts(program: Program, payment_id: str) -> list[dict]:
    return [line for line in program.lines if line.get("payment_id") == payment_id]


def test_failed_payments_back_off_through_ttl_queues_then_park(example):
    ex = example("retries", RETRY_DELAYS_MS=",".join(map(str, RETRY_DELAYS_MS)))
    ex.declared(queues=PAYMENT_QUEUES)
    worker = ex.start("payment_worker.py", name="worker")
    assert worker.wait_line(lambda line: line.get("ready"), "ready")["max_attempts"] == 4
    ex.run("pay.py", "p-ok:ok", "p-flaky:flaky-2", "p-declined:declined")

    def outcome(payment_id: str) -> list[tuple[int, str]]:
        return [(line["attempt"], line["outcome"]) for line in attempts(worker, payment_id)]

    worker.wait_line(lambda line: line.get("outcome") == "parked", "p-declined parked")
    worker.wait_line(
        lambda line: line.get("payment_id") == "p-flaky" and line.get("outcome") == "charged",
        "p-flaky charged",
    )
    assert outcome("p-ok") == [(1, "charged")]
    assert outcome("p-flaky") == [(1, "retry"), (2, "retry"), (3, "charged")]
    assert outcome("p-declined") == [(1, "retry"), (2, "retry"), (3, "retry"), (4, "parked")]
    # Each retry waited out its holding queue's TTL: 100, 200, 400 ms.
    for payment_id in ("p-flaky", "p-declined"):
        stamps = [line["at"] for line in attempts(worker, payment_id)]
        for delay_ms, before, after in zip(RETRY_DELAYS_MS, stamps, stamps[1:], strict=False):
            assert after - before >= delay_ms / 1000 - 0.005, (payment_id, stamps)
    assert worker.stop() == 0

    parked = ex.run("parked.py")
    assert [(p["payment"]["payment_id"], p["error"]) for p in parked] == [
        ("p-declined", "card declined")
    ]
    # One x-death entry per holding queue the payment expired from.
    retry = ex.prefix + "payments.retry."
    assert sorted(parked[0]["x_death"], key=lambda death: death["queue"]) == [
        {
            "queue": f"{retry}{n}",
            "reason": "expired",
            "count": 1,
            "exchange": "",
            "routing-keys": [f"{retry}{n}"],
        }
        for n in (1, 2, 3)
    ]
    assert ex.ready_count("payments.parked") == 1  # listing left it parked
    for queue in PAYMENT_QUEUES[:-1]:
        assert ex.ready_count(queue) == 0


def test_a_worker_crashing_mid_payment_loses_nothing(example):
    ex = example("retries")
    ex.declared(queues=PAYMENT_QUEUES)
    payments = [f"c-{n}" for n in range(1, 6)]
    ex.run("pay.py", *(f"{p}:ok" for p in payments))  # waiting before any worker runs
    crasher = ex.start("payment_worker.py", "--crash-on", "c-3", name="crasher")
    assert crasher.wait_exit() == 3
    assert [(line["outcome"], line["redelivered"]) for line in attempts(crasher, "c-3")] == [
        ("crash", False)
    ]

    successor = ex.start("payment_worker.py", name="successor")

    def charged() -> Counter:
        return Counter(
            line["payment_id"]
            for program in (crasher, successor)
            for line in program.lines
            if line.get("outcome") == "charged"
        )

    ex.hub.wait_for(lambda: set(charged()) == set(payments), "every payment charged")
    assert successor.stop() == 0
    # c-3 was held when the connection dropped: it comes back, flagged, and is
    # charged once. Anything charged twice (an ack the crash cut off) is flagged too.
    assert [(line["outcome"], line["redelivered"]) for line in attempts(successor, "c-3")] == [
        ("charged", True)
    ]
    for payment_id, times in charged().items():
        if times > 1:
            repeats = attempts(successor, payment_id)
            assert all(line["redelivered"] for line in repeats), repeats
    assert ex.ready_count("payments") == 0


# --- 5. delayed messages: "your cart expires in 1 hour" -----------------------------

HOUR_MS = 3_600_000


@pytest.fixture
def virtual_amqpd(tmp_path):
    """Starts, on demand, an amqpd whose clock jumps ahead whenever it is idle.

    Clients cannot follow the jumps, so everything that times a client out is off:
    heartbeats (the clients ask for none), the consumer timeout and the handshake
    timeout (a client a few milliseconds slow would otherwise find ten virtual
    seconds gone). Requested before ``example`` so that it stops last.
    """
    started: list[BrokerThread] = []

    def start() -> tuple[BrokerThread, trio.testing.MockClock]:
        clock = trio.testing.MockClock(autojump_threshold=0.05)
        config = BrokerConfig(
            data_dir=str(tmp_path / "virtual"),
            resource_check_interval=1e6,
            consumer_timeout=0,
            handshake_timeout=1e6,
        )
        started.append(BrokerThread(config, clock=clock).start())
        return started[-1], clock

    yield start
    for broker in started:
        broker.stop()


def has_delayed_exchange(url: str) -> str | None:
    """None if the broker takes an x-delayed-message exchange; else why not."""
    name = f"example-probe-{uuid.uuid4().hex[:8]}"
    connection = pika.BlockingConnection(pika.URLParameters(url))
    try:
        channel = connection.channel()
        channel.exchange_declare(name, "x-delayed-message", arguments={"x-delayed-type": "direct"})
        channel.exchange_delete(name)
    except pika.exceptions.AMQPError as error:
        return str(error)  # RabbitMQ: 503 COMMAND_INVALID, unknown exchange type
    finally:
        if connection.is_open:
            connection.close()
    return None


@pytest.mark.parametrize("via", ["ttl", "delayed-exchange"])
def test_cart_expiry_scheduled_ahead_arrives_when_due(virtual_amqpd, broker, example, via):
    clock = None
    if broker.name == "amqpd":
        # An hour on amqpd's virtual clock, which passes in a moment.
        virtual, clock = virtual_amqpd()
        ex = example("delayed", url=virtual.url + "?heartbeat=0", CART_TTL_MS=str(HOUR_MS))
        delay_s = HOUR_MS / 1000
    else:
        # A real clock: a second stands in for the hour.
        if via == "delayed-exchange" and (why := has_delayed_exchange(broker.url)):
            pytest.skip(
                "the rabbitmq_delayed_message_exchange plugin is absent on this "
                f"broker (declaring an x-delayed-message exchange: {why})"
            )
        ex = example("delayed", CART_TTL_MS="1000")
        delay_s = 1.0
    ex.declared(queues=["carts.expired", "carts.waiting"], exchanges=["carts.delayed"])
    arrived_at: dict[str, float] = {}

    def on_line(program, line):
        if "expired" in line:
            arrived_at[line["expired"]] = clock.current_time() if clock else time.monotonic()

    expirer = ex.start("expire_carts.py", "--via", via, name="expirer", on_line=on_line)
    expirer.wait_line(lambda line: line.get("ready"), "ready")
    scheduled_at = clock.current_time() if clock else time.monotonic()
    carts = ["cart-1", "cart-2", "cart-3"]
    assert ex.run("schedule_expiry.py", *carts, "--via", via)[-1]["scheduled"] == carts
    ex.hub.wait_for(lambda: len(arrived_at) == len(carts), "every cart to expire")
    assert [line["expired"] for line in expirer.lines if "expired" in line] == carts
    for cart in carts:
        assert arrived_at[cart] - scheduled_at >= delay_s, (cart, arrived_at, scheduled_at)
    if clock is None:
        assert all(line["waited_s"] >= delay_s for line in expirer.lines if "waited_s" in line)
    assert expirer.stop() == 0
    assert ex.ready_count("carts.expired") == 0


# --- 6. across languages: a Node.js API, a Go service, a Python RPC server -----------


@pytest.fixture(scope="module")
def fulfilment_binary(tmp_path_factory) -> str:
    """docs/examples/cross_language/fulfilment built once, the way interop/clients.py
    builds its Go client (GOPATH mode against Debian's amqp091-go); skips without Go."""
    go = clients.require_tool("go")
    if not Path(clients.GOPATH_DEBIAN, "src/github.com/rabbitmq/amqp091-go").is_dir():
        pytest.skip(
            f"Debian's golang-github-rabbitmq-amqp091-go-dev is not installed; {clients.HINT}"
        )
    out_dir = tmp_path_factory.mktemp("fulfilment")
    binary = out_dir / "fulfilment"
    proc = subprocess.run(
        [go, "build", "-o", str(binary), "."],
        cwd=EXAMPLES / "cross_language" / "fulfilment",
        env=clients.go_environment(out_dir / "gocache"),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, f"go build failed:\n{proc.stdout}{proc.stderr}"
    return str(binary)


def post_order(base_url: str, sku: str, quantity: int) -> str:
    request = urllib.request.Request(
        f"{base_url}/orders",
        method="POST",
        data=json.dumps({"sku": sku, "quantity": quantity}).encode(),
    )
    with urllib.request.urlopen(request, timeout=DEADLINE) as response:
        assert response.status == 202
        answer = json.load(response)
    assert answer["status"] == "accepted"
    return answer["order_id"]


def test_node_api_go_fulfilment_and_python_pricing_over_rpc(example, fulfilment_binary):
    node = clients.node_command()[0]  # skips without Node.js or amqplib
    ex = example("cross_language", NODE_PATH=str(clients.NODE_DIR / "node_modules"))
    ex.declared(queues=["fulfilment", "pricing"], exchanges=["shop"])
    pricing = ex.start("pricing.py", name="pricing (Python)")
    pricing.wait_line(lambda line: line.get("ready"), "ready")
    fulfilment = ex.start("fulfilment", command=[fulfilment_binary], name="fulfilment (Go)")
    fulfilment.wait_line(lambda line: line.get("ready"), "ready")
    api = ex.start("api.js", command=[node, "api.js"], name="api (Node.js)", PORT="0")
    base_url = api.wait_line(lambda line: "listening" in line, "listening")["listening"]

    orders = {
        post_order(base_url, sku, qty): (sku, qty, total)
        for sku, qty, total in [("book", 2, 2500), ("mug", 1, 800), ("poster", 3, 5997)]
    }

    def count(program: Program, key: str) -> int:
        return sum(key in line for line in program.lines)

    # Python prints its answer after sending it: it may come after Go's line.
    ex.hub.wait_for(
        lambda: count(fulfilment, "fulfilled") == count(pricing, "answered") == 3,
        "every order priced and fulfilled",
    )
    fulfilled = {line["fulfilled"]: line for line in fulfilment.lines if "fulfilled" in line}
    answered = {line["answered"]: line for line in pricing.lines if "answered" in line}
    assert set(fulfilled) == set(orders)
    for order_id, (sku, qty, total) in orders.items():
        line = fulfilled[order_id]
        assert (line["sku"], line["quantity"], line["total_cents"]) == (sku, qty, total)
        # The Go service got the very answer Python sent for its request.
        assert answered[line["correlation_id"]] == {
            "answered": line["correlation_id"],
            "order_id": order_id,
            "total_cents": total,
        }
    assert len(answered) == len(orders)
    assert stop_all([api, fulfilment, pricing]) == [0, 0, 0], ex.hub.logs()
    assert ex.ready_count("fulfilment") == 0
    assert ex.ready_count("pricing") == 0
