"""Application patterns built from broker features, as aio-pika applications write them."""

import asyncio
import time
import uuid
from itertools import pairwise

import aio_pika
import aiormq.exceptions
import pytest

from interop.helpers import run, unique

DIRECT_REPLY_TO = "amq.rabbitmq.reply-to"
FIRST_DEATH = ("queue", "reason", "exchange")


async def collect(queue, n, *, timeout=10):
    """Consume (and ack) ``n`` messages from ``queue``; they come back in delivery order."""
    got, done = [], asyncio.Event()

    async def on_message(message):
        await message.ack()
        got.append(message)
        if len(got) == n:
            done.set()

    tag = await queue.consume(on_message)
    try:
        await asyncio.wait_for(done.wait(), timeout)
    finally:
        await queue.cancel(tag)
    return got


def test_retry_with_backoff_through_dead_letter_queues(broker):
    backoff_ms, max_attempts = {1: 100, 2: 200}, 3
    fails_until = {"pay-ok": 0, "pay-flaky": 1, "pay-bad": max_attempts}

    async def scenario():
        async with await aio_pika.connect(broker.url) as connection:
            channel = await connection.channel()
            work_x = await channel.declare_exchange(unique("work-x"), "direct", auto_delete=True)
            retry_x = await channel.declare_exchange(unique("retry-x"), "direct", auto_delete=True)
            try:
                args = {"x-dead-letter-exchange": retry_x.name}
                work = await channel.declare_queue(
                    unique("payments"), exclusive=True, arguments=args
                )
                for n in range(1, max_attempts + 1):
                    await work.bind(work_x, f"attempt-{n}")
                retries = {}
                for n, ttl in backoff_ms.items():
                    args = {"x-message-ttl": ttl, "x-dead-letter-exchange": work_x.name}
                    args["x-dead-letter-routing-key"] = f"attempt-{n + 1}"
                    retries[n] = await channel.declare_queue(
                        unique(f"retry-{n}"), exclusive=True, arguments=args
                    )
                    await retries[n].bind(retry_x, f"attempt-{n}")
                dlq = await channel.declare_queue(unique("payments-dlq"), exclusive=True)
                attempts, processed, settled = [], [], asyncio.Event()

                async def on_payment(message: aio_pika.abc.AbstractIncomingMessage):
                    payment = message.body.decode()
                    deaths = message.headers.get("x-death", [])
                    rejected = [d for d in deaths if d["queue"] == work.name]
                    attempt = 1 + sum(d["count"] for d in rejected if d["reason"] == "rejected")
                    attempts.append((payment, attempt, message.routing_key, time.monotonic()))
                    if attempt > fails_until[payment]:
                        processed.append(payment)
                        await message.ack()
                    elif attempt < max_attempts:
                        await message.reject(requeue=False)
                    else:  # out of attempts: park it, x-death history and all
                        parked = aio_pika.Message(message.body, headers=message.headers)
                        await channel.default_exchange.publish(parked, routing_key=dlq.name)
                        await message.ack()
                    if len(attempts) == 6:
                        settled.set()

                await work.consume(on_payment)
                for payment in fails_until:
                    await work_x.publish(aio_pika.Message(payment.encode()), "attempt-1")
                await asyncio.wait_for(settled.wait(), 10)

                expectations = {"pay-ok": [1], "pay-flaky": [1, 2], "pay-bad": [1, 2, 3]}
                for payment, expected in expectations.items():
                    mine = [a for a in attempts if a[0] == payment]
                    assert [a[1] for a in mine] == expected, payment
                    assert [a[2] for a in mine] == [f"attempt-{n}" for n in expected]
                    for (_, n, _, before), (_, _, _, after) in pairwise(mine):
                        assert after - before >= backoff_ms[n] / 1000 * 0.9, (payment, n)
                assert sorted(processed) == ["pay-flaky", "pay-ok"]

                (parked,) = await collect(dlq, 1)
                assert parked.body == b"pay-bad"
                deaths = parked.headers["x-death"]
                assert (deaths[0]["queue"], deaths[0]["reason"]) == (retries[2].name, "expired")
                assert {(d["queue"], d["reason"]): d["count"] for d in deaths} == {
                    (retries[2].name, "expired"): 1,
                    (retries[1].name, "expired"): 1,
                    (work.name, "rejected"): 2,
                }
                by_queue = {d["queue"]: d for d in deaths}
                for n, queue in retries.items():
                    assert by_queue[queue.name]["exchange"] == retry_x.name
                    assert by_queue[queue.name]["routing-keys"] == [f"attempt-{n}"]
                assert by_queue[work.name]["exchange"] == work_x.name
                first = [parked.headers[f"x-first-death-{k}"] for k in FIRST_DEATH]
                assert first == [work.name, "rejected", work_x.name]
                for queue in (work, *retries.values(), dlq):  # nothing left, nothing lost
                    declared = await channel.declare_queue(queue.name, passive=True)
                    assert declared.declaration_result.message_count == 0, queue.name
                # RabbitMQ 3.10.8 puts the newest death first and reverses the older
                # entries on every dead-lettering, so the full history reads:
                assert [(d["queue"], d["reason"], d["count"]) for d in deaths] == [
                    (retries[2].name, "expired", 1),
                    (retries[1].name, "expired", 1),
                    (work.name, "rejected", 2),
                ]
            finally:
                await work_x.delete()
                await retry_x.delete()

    run(scenario())


def test_bounded_queues_shed_load(broker):
    async def publish_all(channel, queue, bodies):
        confirmed, nacked = [], []
        for body in bodies:
            try:
                await channel.default_exchange.publish(aio_pika.Message(body.encode()), queue)
                confirmed.append(body)
            except aio_pika.exceptions.DeliveryError as exc:
                assert isinstance(exc.frame, aiormq.spec.Basic.Nack)
                nacked.append(body)
        return confirmed, nacked

    async def drain(queue):
        bodies = []
        while (message := await queue.get(no_ack=True, fail=False)) is not None:
            bodies.append(message.body.decode())
        return bodies

    async def scenario():
        async with await aio_pika.connect(broker.url) as connection:
            channel = await connection.channel(publisher_confirms=True)
            args = {"x-max-length": 10, "x-overflow": "reject-publish"}
            bounded = await channel.declare_queue(unique("bounded"), exclusive=True, arguments=args)
            jobs = [f"job-{i}" for i in range(15)]
            assert await publish_all(channel, bounded.name, jobs) == (jobs[:10], jobs[10:])
            # A worker takes three; there is room for exactly three more.
            taken = [(await bounded.get(no_ack=True)).body.decode() for _ in range(3)]
            assert taken == jobs[:3]
            late = ["late-1", "late-2", "late-3", "late-4"]
            assert await publish_all(channel, bounded.name, late) == (late[:3], late[3:])
            assert await drain(bounded) == jobs[3:10] + late[:3]

            # drop-head (the default): all confirmed, only the newest 10 stay, and the
            # dropped oldest are dead-lettered with reason "maxlen".
            dropped = await channel.declare_queue(exclusive=True)
            args = {"x-max-length": 10, "x-dead-letter-exchange": ""}
            args["x-dead-letter-routing-key"] = dropped.name
            latest = await channel.declare_queue(unique("latest"), exclusive=True, arguments=args)
            readings = [f"reading-{i}" for i in range(15)]
            assert await publish_all(channel, latest.name, readings) == (readings, [])
            assert await drain(latest) == readings[5:]
            shed = await collect(dropped, 5)
            assert [(m.body.decode(), m.headers["x-death"][0]["reason"]) for m in shed] == [
                (r, "maxlen") for r in readings[:5]
            ]

    run(scenario())


def test_priority_work_queue(broker):
    priorities = [1, 5, None, 10, 5, 1, 10, 0, 5, 3, None, 10]

    async def scenario():
        async with await aio_pika.connect(broker.url) as connection:
            channel = await connection.channel()
            queue = await channel.declare_queue(
                unique("priority"), exclusive=True, arguments={"x-max-priority": 10}
            )
            for seq, priority in enumerate(priorities):
                message = aio_pika.Message(str(seq).encode(), priority=priority)
                await channel.default_exchange.publish(message, queue.name)
            await channel.set_qos(prefetch_count=1)
            worked = await collect(queue, len(priorities))
            got = [(m.priority or 0, int(m.body)) for m in worked]
            expected = sorted(((p or 0, s) for s, p in enumerate(priorities)), key=lambda t: -t[0])
            assert got == expected  # highest first; sorted() is stable, so FIFO within one

    run(scenario())


def test_delayed_reminder_exchange(broker):
    async def scenario():
        async with await aio_pika.connect(broker.url) as connection:
            channel = await connection.channel()
            try:
                exchange = await channel.declare_exchange(
                    unique("delayed"), "x-delayed-message", arguments={"x-delayed-type": "direct"}
                )
            except aiormq.exceptions.ConnectionCommandInvalid as exc:
                if "unknown exchange type" in str(exc):
                    return "skip"
                raise
            try:
                reminders = await channel.declare_queue(exclusive=True)
                await reminders.bind(exchange, "reminders")
                start = time.monotonic()
                later = {"x-delay": 300}
                await exchange.publish(aio_pika.Message(b"call mum", headers=later), "reminders")
                await exchange.publish(aio_pika.Message(b"right now"), "reminders")
                await exchange.publish(aio_pika.Message(b"lost", headers=later), "elsewhere")
                assert [m.body for m in await collect(reminders, 1)] == [b"right now"]
                await asyncio.sleep(0.1)
                assert await reminders.get(no_ack=True, fail=False) is None
                assert time.monotonic() - start < 0.3, "too slow to check it is not there yet"
                assert [m.body for m in await collect(reminders, 1)] == [b"call mum"]
                assert time.monotonic() - start >= 0.29
                await asyncio.sleep(0.1)
                assert await reminders.get(no_ack=True, fail=False) is None
            finally:
                await exchange.delete()

    if run(scenario()) == "skip":
        pytest.skip("broker has no delayed-message exchange (plugin absent)")


def test_remind_me_later_with_ttl_and_dead_lettering(broker):
    plan = [(b"stand up", "200"), (b"go home", "400")]

    async def scenario():
        async with await aio_pika.connect(broker.url) as connection:
            channel = await connection.channel()
            reminders = await channel.declare_queue(unique("reminders"), exclusive=True)
            args = {"x-dead-letter-exchange": "", "x-dead-letter-routing-key": reminders.name}
            holding = await channel.declare_queue(unique("holding"), exclusive=True, arguments=args)
            start = time.monotonic()
            for body, ms in plan:
                message = aio_pika.Message(body, expiration=int(ms) / 1000)
                await channel.default_exchange.publish(message, holding.name)
            assert await reminders.get(no_ack=True, fail=False) is None
            for body, ms in plan:
                (message,) = await collect(reminders, 1)
                assert message.body == body
                assert time.monotonic() - start >= int(ms) / 1000 - 0.01
                assert message.expiration is None
                death = message.headers["x-death"][0]
                fields = ("queue", "reason", "count", "original-expiration")
                assert [death[f] for f in fields] == [holding.name, "expired", 1, ms]
                assert message.headers["x-first-death-reason"] == "expired"
            declared = await channel.declare_queue(holding.name, passive=True)
            assert declared.declaration_result.message_count == 0

    run(scenario())


def test_rpc_over_direct_reply_to(broker):
    async def scenario():
        async with (
            await aio_pika.connect(broker.url) as server_conn,
            await aio_pika.connect(broker.url) as client_conn,
        ):
            server = await server_conn.channel()
            rpc = await server.declare_queue(unique("rpc"), auto_delete=True)
            pending, seen_reply_to = [], []

            async def on_request(message: aio_pika.abc.AbstractIncomingMessage):
                pending.append(message)
                seen_reply_to.append(message.reply_to)
                if len(pending) == 5:  # answer in reverse: the client must match by id
                    for request in reversed(pending):
                        reply = aio_pika.Message(
                            request.body[::-1], correlation_id=request.correlation_id
                        )
                        await server.default_exchange.publish(reply, request.reply_to)
                        await request.ack()

            await rpc.consume(on_request)
            client = await client_conn.channel()
            futures: dict[str, asyncio.Future] = {}

            async def on_reply(message: aio_pika.abc.AbstractIncomingMessage):
                futures[message.correlation_id].set_result(message.body)

            callback = await client.get_queue(DIRECT_REPLY_TO)
            await callback.consume(on_reply, no_ack=True)
            loop = asyncio.get_running_loop()
            requests = {str(uuid.uuid4()): f"request-{i}".encode() for i in range(5)}
            for cid, body in requests.items():
                futures[cid] = loop.create_future()
                request = aio_pika.Message(body, reply_to=DIRECT_REPLY_TO, correlation_id=cid)
                await client.default_exchange.publish(request, rpc.name)
            replies = await asyncio.wait_for(asyncio.gather(*futures.values()), 10)
            assert dict(zip(futures, replies, strict=True)) == {
                cid: body[::-1] for cid, body in requests.items()
            }
            assert all(r.startswith(DIRECT_REPLY_TO + ".") for r in seen_reply_to), seen_reply_to
            assert len(set(seen_reply_to)) == 1

    run(scenario())
