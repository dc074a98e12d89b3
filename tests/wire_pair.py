"""Drive a wire.Connection from the client's side, in memory, on a virtual clock."""

from __future__ import annotations

from pamqp import commands, frame, header, heartbeat
from pamqp.body import ContentBody

from amqpd.model.access import Access
from amqpd.wire.connection import PROTOCOL_HEADER, Connection, ConnectionSettings
from amqpd.wire.events import Event

CAPABILITIES = {"authentication_failure_close": True, "consumer_cancel_notify": True}


class ClientPair:
    """The server state machine plus what a client would send and see."""

    def __init__(self, settings: ConnectionSettings | None = None, now: float = 1000.0) -> None:
        self.now = now
        self.access = Access({"guest": "guest"}, {"/"})
        self.server = Connection(settings or ConnectionSettings(), self.access, now)
        self._pending = b""

    # ---- time -----------------------------------------------------------------
    def advance(self, seconds: float) -> None:
        """Move the virtual clock, firing the server's timers that fall due on the way."""
        target = self.now + seconds
        while True:
            due = self.server.get_timer()
            if due is None or due > target:
                break
            self.now = max(self.now, due)
            self.server.handle_timer(self.now)
        self.now = target

    # ---- client to server -----------------------------------------------------
    def send_raw(self, data: bytes) -> None:
        self.server.receive_data(data, self.now)

    def send(self, channel: int, value) -> None:
        self.send_raw(frame.marshal(value, channel))

    def publish(self, channel: int, body: bytes, exchange: str = "", routing_key: str = "q"):
        self.send(channel, commands.Basic.Publish(exchange=exchange, routing_key=routing_key))
        self.send(channel, header.ContentHeader(0, len(body), commands.Basic.Properties()))
        if body:
            self.send(channel, ContentBody(body))

    # ---- server to client -----------------------------------------------------
    def received(self) -> list[tuple[int, object]]:
        """Frames the server wrote since the last call, decoded."""
        data = self._pending + self.server.data_to_send()
        frames = []
        while data:
            if data.startswith(b"AMQP"):
                frames.append((0, data[:8]))
                data = data[8:]
                continue
            used, channel, value = frame.unmarshal(data)
            frames.append((channel, value))
            data = data[used:]
        self._pending = b""
        return frames

    def methods(self) -> list[tuple[int, object]]:
        return [(c, f) for c, f in self.received() if not isinstance(f, heartbeat.Heartbeat)]

    def one(self, kind: type | None = None):
        """The single method the server sent; asserts there was exactly one."""
        got = self.methods()
        assert len(got) == 1, got
        channel, value = got[0]
        if kind is not None:
            assert isinstance(value, kind), value
        return channel, value

    def events(self) -> list[Event]:
        out = []
        while (event := self.server.next_event()) is not None:
            out.append(event)
        return out

    # ---- the usual conversation -----------------------------------------------
    def handshake(
        self,
        *,
        user: str = "guest",
        password: str = "guest",
        vhost: str = "/",
        heartbeat: int = 0,
        frame_max: int = 131072,
        channel_max: int = 2047,
        capabilities: dict | None = None,
    ) -> None:
        self.send_raw(PROTOCOL_HEADER)
        self.one(commands.Connection.Start)
        self.send(
            0,
            commands.Connection.StartOk(
                client_properties={
                    "capabilities": CAPABILITIES if capabilities is None else capabilities
                },
                mechanism="PLAIN",
                response=f"\0{user}\0{password}",
                locale="en_US",
            ),
        )
        self.one(commands.Connection.Tune)
        self.send(0, commands.Connection.TuneOk(channel_max, frame_max, heartbeat))
        self.send(0, commands.Connection.Open(virtual_host=vhost))
        self.one(commands.Connection.OpenOk)

    def open_channel(self, number: int = 1) -> None:
        self.send(number, commands.Channel.Open())
        assert self.one(commands.Channel.OpenOk)[0] == number
