"""pika (BlockingConnection and SelectConnection) against amqpd and the reference."""

import time

import pika
import pika.exceptions
import pytest


def params(broker, **kwargs):
    p = pika.URLParameters(broker.url)
    for key, value in kwargs.items():
        setattr(p, key, value)
    return p


def test_blocking_open_and_close_200_channels(broker):
    connection = pika.BlockingConnection(params(broker))
    try:
        channels = [connection.channel() for _ in range(200)]
        assert len({ch.channel_number for ch in channels}) == 200
        for ch in channels:
            assert ch.is_open
            ch.close()
            assert ch.is_closed
        # The numbers are free again: another 200 can be opened.
        more = [connection.channel() for _ in range(200)]
        assert all(ch.is_open for ch in more)
    finally:
        connection.close()
    assert connection.is_closed


def test_blocking_connection_stays_alive_on_heartbeats_alone(broker):
    connection = pika.BlockingConnection(params(broker, heartbeat=1))
    try:
        checker = connection._impl._heartbeat_checker
        assert connection._impl.params.heartbeat == 1
        deadline = time.monotonic() + 15
        # Idle except for heartbeats until the broker has sent several of them.
        while checker._heartbeat_frames_received < 3:
            assert time.monotonic() < deadline, "broker sent no heartbeats at a 1 s interval"
            connection.process_data_events(time_limit=0.2)
        assert connection.is_open
        ch = connection.channel()
        assert ch.is_open
    finally:
        connection.close()


def test_blocking_bad_credentials(broker):
    with pytest.raises(pika.exceptions.ProbableAuthenticationError) as err:
        pika.BlockingConnection(params(broker, credentials=pika.PlainCredentials("guest", "nope")))
    assert "ACCESS_REFUSED" in str(err.value)


def test_blocking_unknown_vhost(broker):
    with pytest.raises(pika.exceptions.ProbableAccessDeniedError) as err:
        pika.BlockingConnection(params(broker, virtual_host="no-such-vhost-amqpd"))
    assert "NOT_ALLOWED" in str(err.value)


def test_select_connection_lifecycle(broker):
    """SelectConnection: open, 200 channels opened and closed, a heartbeat, clean close."""
    state = {"opened": 0, "closed": 0, "error": None, "closed_by": None}

    def on_open(conn):
        for _ in range(200):
            conn.channel(on_open_callback=on_channel_open)

    def on_channel_open(ch):
        state["opened"] += 1
        ch.add_on_close_callback(on_channel_closed)
        ch.close()

    def on_channel_closed(ch, reason):
        state["closed"] += 1
        if state["closed"] == 200:
            wait_for_heartbeats(conn)

    def wait_for_heartbeats(conn):
        if conn._heartbeat_checker._heartbeat_frames_received >= 2:
            conn.close()
        else:
            conn.ioloop.call_later(0.1, lambda: wait_for_heartbeats(conn))

    def on_open_error(conn, err):
        state["error"] = err
        conn.ioloop.stop()

    def on_close(conn, reason):
        state["closed_by"] = reason
        conn.ioloop.stop()

    conn = pika.SelectConnection(
        params(broker, heartbeat=1),
        on_open_callback=on_open,
        on_open_error_callback=on_open_error,
        on_close_callback=on_close,
    )
    conn.ioloop.call_later(20, conn.ioloop.stop)  # bound the test if something hangs
    conn.ioloop.start()
    assert state["error"] is None
    assert state["opened"] == 200 and state["closed"] == 200
    assert isinstance(state["closed_by"], pika.exceptions.ConnectionClosedByClient)


def test_select_connection_bad_credentials(broker):
    errors = []

    def on_open_error(conn, err):
        errors.append(err)
        conn.ioloop.stop()

    conn = pika.SelectConnection(
        params(broker, credentials=pika.PlainCredentials("guest", "nope")),
        on_open_callback=lambda c: c.ioloop.stop(),
        on_open_error_callback=on_open_error,
    )
    conn.ioloop.call_later(20, conn.ioloop.stop)
    conn.ioloop.start()
    assert len(errors) == 1
    assert isinstance(errors[0], pika.exceptions.ProbableAuthenticationError)


def test_blocking_update_secret(broker):
    connection = pika.BlockingConnection(params(broker))
    try:
        channel = connection.channel()
        connection.update_secret(broker.password, "rotation")
        # The connection and its channel go on after update-secret-ok.
        declared = channel.queue_declare("", exclusive=True)
        assert declared.method.queue.startswith("amq.gen-")
        assert connection.channel().is_open
    finally:
        connection.close()
