"""Heartbeats at a 1 s interval: sent by the broker, and enforced on the client."""

import time

from pamqp import frame, heartbeat

HEARTBEAT = frame.marshal(heartbeat.Heartbeat(), 0)


def test_broker_sends_heartbeats_to_an_idle_client(raw, broker):
    raw.handshake(user=broker.user, password=broker.password, vhost=broker.vhost, heartbeat=1)
    received = 0
    deadline = time.monotonic() + 10
    while received < 4:
        assert time.monotonic() < deadline, "too few heartbeats from the broker"
        _, value = raw.read_frame(timeout=2, skip_heartbeats=False)
        assert isinstance(value, heartbeat.Heartbeat)
        received += 1
        raw.send_raw(HEARTBEAT)


def test_client_heartbeats_keep_the_connection_open(raw, broker):
    raw.handshake(user=broker.user, password=broker.password, vhost=broker.vhost, heartbeat=1)
    started = time.monotonic()
    # Answer each broker heartbeat; after 4 s (four intervals) the connection still works.
    while time.monotonic() - started < 4:
        _, value = raw.read_frame(timeout=2, skip_heartbeats=False)
        assert isinstance(value, heartbeat.Heartbeat)
        raw.send_raw(HEARTBEAT)
    raw.open_channel(1)


def test_silent_client_is_dropped_without_a_close_frame(raw, broker):
    raw.handshake(user=broker.user, password=broker.password, vhost=broker.vhost, heartbeat=1)
    took, before_eof = raw.closed_within(10)
    # Only heartbeat frames may arrive before the broker drops the socket.
    assert set(before_eof[i : i + 8] for i in range(0, len(before_eof), 8)) <= {HEARTBEAT}
    assert 1.5 <= took <= 5  # RabbitMQ: at the second silent check, 3 s for a mute client
