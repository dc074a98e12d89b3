"""Long lists are answered a chunk per event-loop turn, and say what the one-go answer said.

No timing: the broker's loop must run other tasks many times while one list is
served (counted by a task that notes each time it is scheduled).
"""

from __future__ import annotations

import json
import operator
import urllib.request

import pytest
import trio

from amqpd.config import BrokerConfig
from amqpd.management import chunked, listing
from amqpd.management.request import Request
from amqpd.testing import BrokerThread

ROWS = [
    {"name": f"q{i % 97:03d}-{i}", "vhost": "/" if i % 3 else "v", "messages": i % 7,
     "policy": None if i % 2 else "p", "nested": {"k": i % 5}}
    for i in range(1000)
]  # fmt: skip
FIELDS = {k: operator.itemgetter(k) for k in ("name", "vhost", "messages")}
QUERIES = [
    "", "sort=messages", "sort=messages&sort_reverse=true", "sort=policy", "sort=nested.k",
    "columns=name,nested.k", "page=3&page_size=50", "page=1&name=Q01&sort=vhost",
    "page=2&page_size=20&name=^q00[12]&use_regex=true&sort=messages&sort_reverse=true",
    "page=1&sort=nested.k&columns=name",
]  # fmt: skip


def request(query: str) -> Request:
    return Request("GET", ["api", "queues"], Request.parse_query(query.encode()), {})


async def _counting(work, counter: list[int]) -> object:  # noqa: ANN001 - a coroutine function
    """Run ``work()`` while another task counts how often it gets the loop."""
    done = trio.Event()

    async def count() -> None:
        while not done.is_set():
            counter[0] += 1
            await trio.lowlevel.checkpoint()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(count)
        await trio.lowlevel.checkpoint()  # let the counter start
        counter[0] = 0
        result = await work()
        done.set()
    return result


@pytest.mark.parametrize("query", QUERIES)
def test_the_chunked_answer_is_the_one_go_answer(query):
    expected = listing.render(request(query), [dict(r) for r in ROWS], ("vhost", "name"))

    async def main() -> bytes:
        rows = listing.Rows([dict(r) for r in ROWS], lambda row: row, FIELDS)
        body = await listing.answer(request(query), rows, ("vhost", "name"))
        return b"".join(await chunked.encode_json(body))

    encoded = trio.run(main)
    assert encoded == json.dumps(expected, separators=(",", ":"), ensure_ascii=False).encode()


def test_a_long_list_gives_the_loop_up_while_it_is_answered():
    items = [{"name": f"q{i}", "vhost": "/", "messages": i} for i in range(5000)]
    counter = [0]

    async def work() -> list[bytes]:
        rows = listing.Rows(items, lambda row: dict(row), FIELDS)
        return await chunked.encode_json(await listing.answer(request(""), rows))

    trio.run(_counting, work, counter)
    # A pass over 5,000 rows, then the join: a turn each chunk (of 100).
    assert counter[0] >= 50


def test_amqp_traffic_runs_while_the_api_lists_5000_queues():
    with BrokerThread(BrokerConfig(store="memory")) as broker:
        server, token = broker._server, broker._token
        admin = server.management.admin

        def declare() -> None:
            for n in range(5000):
                admin.declare_queue("/", f"big-{n:04d}", durable=False)

        trio.from_thread.run_sync(declare, trio_token=token)
        turns, stop = [0], [False]
        serving = server.management.http.app._limiter  # a request holds a token while it is served

        async def count() -> None:
            while not stop[0]:
                turns[0] += serving.borrowed_tokens > 0
                await trio.lowlevel.checkpoint()

        def start() -> None:
            trio.lowlevel.spawn_system_task(count)

        def listed() -> list:
            req = urllib.request.Request(f"http://127.0.0.1:{server.management.http.port}/api/queues")
            req.add_header("Authorization", "Basic Z3Vlc3Q6Z3Vlc3Q=")  # guest:guest
            with urllib.request.urlopen(req, timeout=60) as answer:
                return json.loads(answer.read())

        listed()  # warm: the first request imports and connects
        trio.from_thread.run_sync(start, trio_token=token)
        before = turns[0]
        found = listed()
        during = turns[0] - before
        stop[0] = True
        assert len(found) == 5000 and found[0]["name"] == "big-0000"
        # The loop ran other tasks while the request was served: a turn per chunk of
        # pictures and of encodings; built in one go, a handful (hypercorn's reads, writes).
        assert during >= 80, during
