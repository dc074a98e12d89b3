"""aio-pika against amqpd and the reference."""

import asyncio

import aio_pika
import aiormq.exceptions
import pytest

from interop.helpers import run


def test_open_and_close_200_channels(broker):
    async def scenario():
        connection = await aio_pika.connect(broker.url)
        async with connection:
            channels = [await connection.channel() for _ in range(200)]
            assert len({ch.number for ch in channels}) == 200
            for ch in channels:
                await ch.close()
                assert ch.is_closed
        assert connection.is_closed

    run(scenario())


def test_connection_survives_idle_heartbeat_intervals(broker):
    async def scenario():
        connection = await aio_pika.connect(broker.url_with(query="heartbeat=1"))
        async with connection:
            assert connection.transport.connection.heartbeat_timeout == 1
            # Idle for three intervals: only heartbeats keep the connection up.
            await asyncio.sleep(3.5)
            assert not connection.is_closed
            channel = await connection.channel()
            assert not channel.is_closed

    run(scenario())


def test_bad_credentials(broker):
    async def scenario():
        with pytest.raises(aiormq.exceptions.ProbableAuthenticationError):
            await aio_pika.connect(broker.url_with(password="nope"))

    run(scenario())


def test_unknown_vhost(broker):
    async def scenario():
        # aiormq reports a connection.close in place of open-ok as an invalid frame.
        with pytest.raises(aiormq.exceptions.InvalidFrameError) as err:
            await aio_pika.connect(broker.url_with(vhost="no-such-vhost-amqpd"))
        assert "Connection.Close" in str(err.value)

    run(scenario())
