"""aiormq (the low-level client under aio-pika), used directly."""

import asyncio
import datetime

import aiormq
import aiormq.exceptions
import pytest
from aiormq import spec

from interop.helpers import run, unique


def test_confirmed_publish_consume_and_properties(broker):
    async def scenario():
        connection = await aiormq.connect(broker.url)
        try:
            channel = await connection.channel()
            queue = unique("aiormq")
            await channel.queue_declare(queue, auto_delete=True)
            properties = spec.Basic.Properties(
                content_type="application/json",
                headers={"kind": "greeting", "n": 3, "nested": {"ok": True}, "list": [1, "a"]},
                delivery_mode=2,
                priority=5,
                correlation_id="cid",
                reply_to="back",
                expiration="30000",
                message_id="mid-1",
                timestamp=datetime.datetime(2024, 1, 2, 3, 4, 5, tzinfo=datetime.UTC),
                message_type="greet",
                user_id=broker.user,
                app_id="interop",
            )
            confirmations = await asyncio.gather(
                *(
                    channel.basic_publish(
                        f"hello-{i}".encode(), routing_key=queue, properties=properties
                    )
                    for i in range(20)
                )
            )
            assert all(isinstance(c, spec.Basic.Ack) for c in confirmations)

            got: list[aiormq.abc.DeliveredMessage] = []
            done = asyncio.Event()

            async def on_message(message):
                got.append(message)
                await message.channel.basic_ack(message.delivery.delivery_tag)
                if len(got) == 20:
                    done.set()

            await channel.basic_qos(prefetch_count=5)
            consume_ok = await channel.basic_consume(queue, on_message)
            await done.wait()
            await channel.basic_cancel(consume_ok.consumer_tag)
            assert [m.body for m in got] == [f"hello-{i}".encode() for i in range(20)]
            p = got[0].header.properties
            assert p.content_type == "application/json"
            assert p.headers == {
                "kind": "greeting",
                "n": 3,
                "nested": {"ok": True},
                "list": [1, "a"],
            }
            assert (p.delivery_mode, p.priority) == (2, 5)
            assert (p.correlation_id, p.reply_to, p.expiration) == ("cid", "back", "30000")
            assert (p.message_id, p.message_type, p.app_id) == ("mid-1", "greet", "interop")
            assert p.user_id == broker.user
            assert p.timestamp.replace(tzinfo=datetime.UTC) == datetime.datetime(
                2024, 1, 2, 3, 4, 5, tzinfo=datetime.UTC
            )
            assert got[0].delivery.consumer_tag == consume_ok.consumer_tag
        finally:
            await connection.close()

    run(scenario())


def test_mandatory_unroutable_publish_raises(broker):
    async def scenario():
        connection = await aiormq.connect(broker.url)
        try:
            channel = await connection.channel()
            with pytest.raises(aiormq.exceptions.PublishError) as info:
                await channel.basic_publish(
                    b"nobody home", routing_key=unique("nowhere"), mandatory=True
                )
            returned = info.value.message
            assert isinstance(returned.delivery, spec.Basic.Return)
            assert returned.delivery.reply_code == 312
            assert returned.delivery.reply_text == "NO_ROUTE"
            assert returned.body == b"nobody home"
            # The channel goes on working after a return.
            ok = await channel.basic_publish(b"x", routing_key=unique("nowhere"))
            assert isinstance(ok, spec.Basic.Ack)
        finally:
            await connection.close()

    run(scenario())


def test_get_nack_requeue_and_empty(broker):
    async def scenario():
        connection = await aiormq.connect(broker.url)
        try:
            channel = await connection.channel()
            queue = unique("get")
            await channel.queue_declare(queue, auto_delete=True)
            await channel.basic_publish(b"once", routing_key=queue)
            first = await channel.basic_get(queue)
            assert isinstance(first.delivery, spec.Basic.GetOk)
            assert first.delivery.redelivered is False
            assert first.delivery.message_count == 0
            await channel.basic_nack(first.delivery.delivery_tag, requeue=True)
            second = await channel.basic_get(queue, no_ack=True)
            assert second.body == b"once"
            assert second.delivery.redelivered is True
            empty = await channel.basic_get(queue)
            assert isinstance(empty.delivery, spec.Basic.GetEmpty)
        finally:
            await connection.close()

    run(scenario())


def test_channel_error_closes_only_that_channel(broker):
    async def scenario():
        connection = await aiormq.connect(broker.url)
        try:
            doomed = await connection.channel()
            missing = unique("missing")
            with pytest.raises(aiormq.exceptions.ChannelNotFoundEntity) as info:
                await doomed.queue_declare(missing, passive=True)
            assert info.value.args == (f"NOT_FOUND - no queue '{missing}' in vhost '/'",)
            assert doomed.is_closed
            fresh = await connection.channel()
            declared = await fresh.queue_declare("", exclusive=True)
            assert declared.queue.startswith("amq.gen-")
            name = unique("typed")
            await fresh.exchange_declare(name, exchange_type="direct", auto_delete=True)
            with pytest.raises(aiormq.exceptions.ChannelPreconditionFailed) as info:
                await fresh.exchange_declare(name, exchange_type="fanout", auto_delete=True)
            assert info.value.args[0].startswith("PRECONDITION_FAILED - inequivalent arg 'type'")
        finally:
            await connection.close()

    run(scenario())


def test_transactions_without_confirms(broker):
    async def scenario():
        connection = await aiormq.connect(broker.url)
        try:
            channel = await connection.channel(publisher_confirms=False)
            queue = unique("tx")
            await channel.queue_declare(queue, auto_delete=True)
            await channel.tx_select()
            await channel.basic_publish(b"rolled back", routing_key=queue)
            await channel.tx_rollback()
            await channel.basic_publish(b"committed", routing_key=queue)
            await channel.tx_commit()
            got = await channel.basic_get(queue, no_ack=True)
            assert got.body == b"committed"
            empty = await channel.basic_get(queue, no_ack=True)
            assert isinstance(empty.delivery, spec.Basic.GetEmpty)
        finally:
            await connection.close()

    run(scenario())


def test_update_secret(broker):
    async def scenario():
        connection = await aiormq.connect(broker.url)
        try:
            channel = await connection.channel()
            reply = await connection.update_secret(broker.password, reason="rotation")
            assert isinstance(reply, spec.Connection.UpdateSecretOk)
            declared = await channel.queue_declare("", exclusive=True)
            assert declared.queue.startswith("amq.gen-")
        finally:
            await connection.close()

    run(scenario())
