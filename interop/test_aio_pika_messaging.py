"""Messaging patterns as applications write them with aio-pika."""

import asyncio
import datetime
import decimal
import uuid

import aio_pika
import pytest

from interop.helpers import run, unique


def test_competing_workers_each_message_exactly_once(broker):
    async def scenario():
        async with await aio_pika.connect(broker.url) as connection:
            publisher = await connection.channel()
            queue_name = unique("work")
            await publisher.declare_queue(queue_name, auto_delete=True)
            seen: dict[str, list[str]] = {}
            done = asyncio.Event()

            async def worker(name):
                channel = await connection.channel()
                await channel.set_qos(prefetch_count=5)
                queue = await channel.declare_queue(queue_name, passive=True)

                async def on_message(message: aio_pika.abc.AbstractIncomingMessage):
                    async with message.process():
                        seen.setdefault(message.body.decode(), []).append(name)
                        if len(seen) == 500:
                            done.set()

                await queue.consume(on_message)

            await worker("a")
            await worker("b")
            await worker("c")
            for i in range(500):
                await publisher.default_exchange.publish(
                    aio_pika.Message(f"job-{i}".encode()), routing_key=queue_name
                )
            await done.wait()
            assert all(len(v) == 1 for v in seen.values())
            names = [n for v in seen.values() for n in v]
            assert {names.count(n) > 0 for n in "abc"} == {True}

    run(scenario())


def test_pub_sub_fanout(broker):
    async def scenario():
        async with await aio_pika.connect(broker.url) as connection:
            channel = await connection.channel()
            exchange = await channel.declare_exchange(
                unique("events"), aio_pika.ExchangeType.FANOUT, auto_delete=True
            )
            queues = []
            for _ in range(3):
                q = await channel.declare_queue(exclusive=True)
                await q.bind(exchange)
                queues.append(q)
            await exchange.publish(aio_pika.Message(b"hello"), routing_key="")
            for q in queues:
                message = await q.get(no_ack=True, timeout=5)
                assert message.body == b"hello"

    run(scenario())


def test_rpc_round_trip(broker):
    async def scenario():
        async with await aio_pika.connect(broker.url) as connection:
            channel = await connection.channel()
            rpc = await channel.declare_queue(unique("rpc"), auto_delete=True)

            async def serve(message: aio_pika.abc.AbstractIncomingMessage):
                async with message.process():
                    await channel.default_exchange.publish(
                        aio_pika.Message(
                            str(int(message.body) * 2).encode(),
                            correlation_id=message.correlation_id,
                        ),
                        routing_key=message.reply_to,
                    )

            await rpc.consume(serve)
            callback = await channel.declare_queue(exclusive=True)
            futures: dict[str, asyncio.Future] = {}

            async def on_reply(message: aio_pika.abc.AbstractIncomingMessage):
                futures.pop(message.correlation_id).set_result(message.body)

            await callback.consume(on_reply, no_ack=True)
            loop = asyncio.get_running_loop()
            results = []
            for n in (1, 2, 21):
                cid = str(uuid.uuid4())
                futures[cid] = loop.create_future()
                await channel.default_exchange.publish(
                    aio_pika.Message(str(n).encode(), reply_to=callback.name, correlation_id=cid),
                    routing_key=rpc.name,
                )
                results.append(await futures[cid])
            assert results == [b"2", b"4", b"42"]

    run(scenario())


def test_confirmed_publishing_and_returns(broker):
    async def scenario():
        async with await aio_pika.connect(broker.url) as connection:
            channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
            queue = await channel.declare_queue(exclusive=True)
            results = await asyncio.gather(
                *(
                    channel.default_exchange.publish(aio_pika.Message(b"m"), routing_key=queue.name)
                    for _ in range(200)
                )
            )
            assert len(results) == 200
            declared = await channel.declare_queue(queue.name, passive=True)
            assert declared.declaration_result.message_count == 200
            with pytest.raises(aio_pika.exceptions.DeliveryError):
                await channel.default_exchange.publish(
                    aio_pika.Message(b"x"), routing_key=unique("nowhere"), mandatory=True
                )

    run(scenario())


def test_every_header_type_round_trips(broker):
    headers = {
        "str": "text",
        "int8": 7,
        "int32": 70000,
        "int64": 2**40,
        "neg": -5,
        "float": 1.5,
        "bool": False,
        "none": None,
        "decimal": decimal.Decimal("12.345"),
        "ts": datetime.datetime(2024, 1, 2, 3, 4, 5, tzinfo=datetime.UTC),
        "list": [1, "two", [3.0, {"four": 4}]],
        "table": {"nested": {"deep": True}},
    }

    async def scenario():
        async with await aio_pika.connect(broker.url) as connection:
            channel = await connection.channel()
            queue = await channel.declare_queue(exclusive=True)
            message = aio_pika.Message(
                b"\x00" * 300000,
                headers=headers,
                content_type="application/octet-stream",
                priority=9,
                delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                correlation_id="c",
                message_id="m",
                app_id="a",
                type="t",
            )
            await channel.default_exchange.publish(message, routing_key=queue.name)
            got = await queue.get(no_ack=True, timeout=5)
            assert got.body == message.body
            assert got.headers == headers
            assert (got.priority, got.delivery_mode, got.content_type) == (
                9,
                aio_pika.DeliveryMode.PERSISTENT,
                "application/octet-stream",
            )

    run(scenario())
