"""How long does the broker's event loop stall while the API serves a long list, and why?

    python bench/management_stalls.py [--queues 10000] [--polls 20] [--target /api/queues]
                                      [--gc default|tuned]

One process: an amqpd broker in a thread (in-memory store, management on), ``--queues``
idle queues declared after start-up, a probe task in the broker's loop that sleeps
1 ms again and again and notes how late it wakes, and ``gc.callbacks`` timing every
collection. Then ``--polls`` GETs of ``--target``. It prints the poll time, the
probe's lateness (the longest stall any AMQP connection would have seen) and the
collections by generation. ``--gc`` is applied before the queues are declared, as
a broker applies it at start-up: ``default`` is Python's own collector, ``tuned`` is
what amqpd does at start-up (amqpd/server/collector.py).
"""

from __future__ import annotations

import argparse
import base64
import gc
import http.client
import statistics
import time

import trio

from amqpd.config import BrokerConfig
from amqpd.server import collector
from amqpd.testing import BrokerThread


class Pauses:
    """Every collection's length, by generation, from gc.callbacks."""

    def __init__(self) -> None:
        self.by_gen: dict[int, list[float]] = {0: [], 1: [], 2: []}
        self._began = 0.0
        gc.callbacks.append(self._note)

    def _note(self, phase: str, info: dict) -> None:
        if phase == "start":
            self._began = time.perf_counter()
        else:
            self.by_gen[info["generation"]].append(time.perf_counter() - self._began)

    def clear(self) -> None:
        for found in self.by_gen.values():
            found.clear()


async def probe(lateness: list[float]) -> None:
    while True:
        began = trio.current_time()
        await trio.sleep(0.001)
        lateness.append(trio.current_time() - began - 0.001)


def get(port: int, target: str) -> float:
    token = base64.b64encode(b"guest:guest").decode()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    began = time.perf_counter()
    connection.request("GET", target, headers={"Authorization": f"Basic {token}"})
    response = connection.getresponse()
    response.read()
    assert response.status == 200, response.status
    connection.close()
    return time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--queues", type=int, default=10_000)
    parser.add_argument("--polls", type=int, default=20)
    parser.add_argument("--target", default="/api/queues")
    parser.add_argument("--gc", choices=("default", "tuned"), default="tuned")
    args = parser.parse_args()
    broker = BrokerThread(BrokerConfig(store="memory")).start()
    if args.gc == "tuned":
        collector.freeze_start_up()  # as amqpd's command line does once the store is read
    server, token = broker._server, broker._token
    admin = server.management.admin

    def declare() -> None:
        for n in range(args.queues):
            admin.declare_queue("/", f"idle-{n:05d}", durable=False, auto_delete=False,
                                arguments={})  # fmt: skip

    trio.from_thread.run_sync(declare, trio_token=token)
    lateness: list[float] = []
    pauses = Pauses()
    trio.from_thread.run_sync(trio.lowlevel.spawn_system_task, probe, lateness, trio_token=token)
    time.sleep(0.5)
    lateness.clear()
    pauses.clear()
    polls = [get(server.management.http.port, args.target) for _ in range(args.polls)]
    late = sorted(lateness)
    print(f"{args.queues:,} queues, {args.polls} GETs of {args.target}, gc {args.gc}")
    print(f"  one poll: mean {statistics.mean(polls) * 1000:.1f} ms")
    print(
        f"  loop stalls (probe lateness): p50 {late[len(late) // 2] * 1000:.2f} ms, "
        f"p99 {late[int(len(late) * 0.99)] * 1000:.2f} ms, max {late[-1] * 1000:.1f} ms"
    )
    for generation, found in pauses.by_gen.items():
        if found:
            print(
                f"  gen {generation} collections: {len(found)}, "
                f"max {max(found) * 1000:.1f} ms, total {sum(found) * 1000:.0f} ms"
            )
    broker.stop()


if __name__ == "__main__":
    main()
