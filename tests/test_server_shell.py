"""The Trio shell around the state machine, over in-memory streams."""

import pytest
import trio
import trio.testing
from pamqp import commands, frame

from amqpd.model.access import Access
from amqpd.model.broker import Broker
from amqpd.server.connection import RECEIVE_SIZE, ConnectionHandler
from amqpd.wire.connection import PROTOCOL_HEADER, ConnectionSettings


class StreamClient:
    """The client end of an in-memory stream, speaking just enough AMQP."""

    def __init__(self, stream):
        self.stream = stream
        self.buffer = b""

    async def send(self, channel, method):
        await self.stream.send_all(frame.marshal(method, channel))

    async def read_frame(self):
        while True:
            if len(self.buffer) >= 7:
                size = int.from_bytes(self.buffer[3:7], "big")
                if len(self.buffer) >= size + 8:
                    used, channel, value = frame.unmarshal(self.buffer)
                    self.buffer = self.buffer[used:]
                    return channel, value
            data = await self.stream.receive_some(65536)
            if not data:
                raise EOFError
            self.buffer += data

    async def handshake(self):
        await self.stream.send_all(PROTOCOL_HEADER)
        await self.read_frame()
        await self.send(
            0,
            commands.Connection.StartOk(
                client_properties={}, mechanism="PLAIN", response="\0guest\0guest", locale="en_US"
            ),
        )
        await self.read_frame()
        await self.send(0, commands.Connection.TuneOk(2047, 131072, 0))
        await self.send(0, commands.Connection.Open(virtual_host="/"))
        _, ok = await self.read_frame()
        assert isinstance(ok, commands.Connection.OpenOk)
        await self.send(1, commands.Channel.Open())
        await self.read_frame()


def make_handler(stream, max_output=64 * 1024):
    return ConnectionHandler(
        stream,
        "memory",
        ConnectionSettings(),
        Access({"guest": "guest"}, {"/"}),
        Broker(),
        max_output,
    )


@pytest.mark.trio
async def test_a_client_that_does_not_read_cannot_grow_the_output_buffer():
    client_end, server_end = trio.testing.lockstep_stream_pair()
    handler = make_handler(server_end, max_output=16 * 1024)
    client = StreamClient(client_end)
    flow = frame.marshal(commands.Channel.Flow(active=True), 1)
    requests = 20000  # each asks for a flow-ok: far more output than the bound
    async with trio.open_nursery() as nursery:
        nursery.start_soon(handler.run)
        await client.handshake()

        async def flood():
            for _ in range(requests // 1000):
                await client_end.send_all(flow * 1000)

        nursery.start_soon(flood)
        await trio.testing.wait_all_tasks_blocked()
        # The broker stopped reading: its unsent output is bounded, and so is the
        # flood, which is stuck waiting for the broker to read.
        assert handler.output_pending <= 16 * 1024 + RECEIVE_SIZE
        assert handler.output_pending > 0
        replies = 0
        while replies < requests:
            _, value = await client.read_frame()
            assert isinstance(value, commands.Channel.FlowOk)
            replies += 1
        nursery.cancel_scope.cancel()


@pytest.mark.trio
async def test_a_stalled_connection_does_not_stall_another():
    stalled_client, stalled_server = trio.testing.lockstep_stream_pair()
    live_client, live_server = trio.testing.memory_stream_pair()
    stalled = make_handler(stalled_server, max_output=1024)
    live = make_handler(live_server)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(stalled.run)
        nursery.start_soon(live.run)
        # The stalled client sends its header and then never reads a byte.
        await stalled_client.send_all(PROTOCOL_HEADER)
        client = StreamClient(live_client)
        with trio.fail_after(5):
            await client.handshake()
            for _ in range(100):
                await client.send(1, commands.Channel.Flow(active=True))
                _, value = await client.read_frame()
                assert isinstance(value, commands.Channel.FlowOk)
        nursery.cancel_scope.cancel()


@pytest.mark.trio
async def test_handler_closes_its_stream_when_the_client_closes():
    client_end, server_end = trio.testing.memory_stream_pair()
    handler = make_handler(server_end)
    client = StreamClient(client_end)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(handler.run)
        await client.handshake()
        await client.send(0, commands.Connection.Close(200, "bye", 0, 0))
        _, ok = await client.read_frame()
        assert isinstance(ok, commands.Connection.CloseOk)
        await client_end.aclose()
    assert handler.conn.transport_closed
    assert "client closed" in handler.conn.close_reason
