"""The connection handshake, byte for byte as a raw client sees it."""

import struct

import pytest
from pamqp import commands

from conformance.rawclient import PROTOCOL_HEADER, raw_frame

RABBITMQ_CAPABILITIES = {
    "publisher_confirms",
    "exchange_exchange_bindings",
    "basic.nack",
    "consumer_cancel_notify",
    "connection.blocked",
    "consumer_priorities",
    "authentication_failure_close",
    "per_consumer_qos",
    "direct_reply_to",
}


def test_start_advertises_what_rabbitmq_advertises(raw):
    raw.send_raw(PROTOCOL_HEADER)
    _, start = raw.expect(commands.Connection.Start)
    assert (start.version_major, start.version_minor) == (0, 9)
    assert start.mechanisms.split() == ["PLAIN", "AMQPLAIN"]
    assert start.locales == "en_US"
    props = start.server_properties
    for key in ("product", "version", "platform", "copyright", "information"):
        assert isinstance(props[key], str) and props[key], key
    assert set(props["capabilities"]) == RABBITMQ_CAPABILITIES
    assert all(value is True for value in props["capabilities"].values())


def test_start_names_a_rabbitmq_3_that_clients_treat_as_such(raw):
    """Clients choose RabbitMQ's semantics by the product name and version: kombu
    (so Celery) sends basic.qos global=true only to RabbitMQ 3.3 and later, and
    relies on that to raise a running consumer's prefetch for held ETA tasks."""
    raw.send_raw(PROTOCOL_HEADER)
    _, start = raw.expect(commands.Connection.Start)
    props = start.server_properties
    assert props["product"] == "RabbitMQ"
    major, minor = (int(part) for part in props["version"].split(".")[:2])
    assert (major, minor) >= (3, 3) and major == 3


def test_tune_offers_the_default_limits(raw, broker):
    raw.start(user=broker.user, password=broker.password)
    _, tune = raw.expect(commands.Connection.Tune)
    assert (tune.channel_max, tune.frame_max, tune.heartbeat) == (2047, 131072, 60)


@pytest.mark.parametrize(
    "header",
    [
        b"AMQP\x00\x00\x09\x02",
        b"AMQP\x00\x00\x08\x00",
        b"AMQP\x00\x00\x09\x00",
        b"AMQP\x00\x00\x0a\x00",
        b"AMQP\x00\x00\x08\x01",
        b"AMQP\x01\x01\x00\x08",
        b"HTTP/1.1",
        b"\x01\x02\x03\x04\x05\x06\x07\x08",
    ],
)
def test_unsupported_protocol_header_gets_ours_then_close(raw, header):
    raw.send_raw(header)
    assert raw.read_bytes(8) == PROTOCOL_HEADER
    assert raw.wait_closed() == b""


def test_the_0_9_header_is_taken_for_0_9_1(raw, broker):
    raw.send_raw(b"AMQP\x01\x01\x00\x09")
    _, start = raw.expect(commands.Connection.Start)
    assert (start.version_major, start.version_minor) == (0, 9)
    assert set(start.server_properties["capabilities"]) == RABBITMQ_CAPABILITIES


def test_a_short_header_gets_no_answer_until_it_is_complete(raw):
    raw.send_raw(b"AMQP")
    with pytest.raises(TimeoutError):
        raw.read_bytes(1, timeout=1)
    raw.send_raw(b"\x00\x00\x09\x01")
    raw.expect(commands.Connection.Start)


def test_amqplain_login(raw, broker):
    user, password = broker.user.encode(), broker.password.encode()
    table = (
        b"\x05LOGINS"
        + len(user).to_bytes(4, "big")
        + user
        + b"\x08PASSWORDS"
        + len(password).to_bytes(4, "big")
        + password
    )
    raw.start(mechanism="AMQPLAIN", response=table.decode("latin-1"))
    raw.expect(commands.Connection.Tune)


def test_bad_password_with_failure_close_capability_gets_403(raw, broker):
    raw.start(user=broker.user, password="definitely-wrong")
    close = raw.expect_connection_close()
    assert (close.reply_code, close.class_id, close.method_id) == (403, 0, 0)
    assert close.reply_text == (
        "ACCESS_REFUSED - Login was refused using authentication mechanism PLAIN. "
        "For details see the broker logfile."
    )


def test_bad_password_without_the_capability_just_closes_the_socket(raw, broker):
    raw.start(user=broker.user, password="definitely-wrong", capabilities={})
    _, before_eof = raw.closed_within(10)
    assert before_eof == b""


def test_tune_ok_above_the_offered_frame_max_is_refused_without_a_frame(raw, broker):
    raw.start(user=broker.user, password=broker.password)
    _, tune = raw.expect(commands.Connection.Tune)
    raw.send(0, commands.Connection.TuneOk(tune.channel_max, tune.frame_max + 1, 0))
    _, before_eof = raw.closed_within(10)
    assert before_eof == b""


def test_unknown_vhost_is_530(raw, broker):
    raw.start(user=broker.user, password=broker.password)
    _, tune = raw.expect(commands.Connection.Tune)
    raw.send(0, commands.Connection.TuneOk(tune.channel_max, tune.frame_max, 0))
    raw.send(0, commands.Connection.Open(virtual_host="amqpd-no-such-vhost"))
    close = raw.expect_connection_close()
    assert (close.reply_code, close.class_id, close.method_id) == (530, 10, 40)
    assert close.reply_text == "NOT_ALLOWED - vhost amqpd-no-such-vhost not found"


def test_channel_open_before_connection_open_is_unexpected_frame(raw, broker):
    raw.start(user=broker.user, password=broker.password)
    _, tune = raw.expect(commands.Connection.Tune)
    raw.send(0, commands.Connection.TuneOk(tune.channel_max, tune.frame_max, 0))
    raw.send_raw(b"\x01\x00\x01\x00\x00\x00\x05\x00\x14\x00\x0a\x00\xce")
    close = raw.expect_connection_close()
    assert (close.reply_code, close.class_id, close.method_id) == (505, 0, 0)
    assert close.reply_text == "UNEXPECTED_FRAME - type 1, all octets = <<0,20,0,10,0>>"


def test_client_close_gets_close_ok(opened):
    opened.close_connection()


def test_handshake_timeout_drops_a_client_that_never_finishes(raw):
    raw.send_raw(PROTOCOL_HEADER)
    raw.expect(commands.Connection.Start)
    took, before_eof = raw.closed_within(20)
    assert before_eof == b""
    assert 8 <= took <= 13  # RabbitMQ's handshake_timeout is 10 s


@pytest.mark.parametrize("secret", ["guest", "not-the-password", ""])
def test_update_secret_is_answered_and_the_connection_goes_on(opened, secret):
    # RabbitMQ's internal users have no secret that expires: whatever the new
    # secret, the reply is update-secret-ok and the connection stays as it was.
    opened.send(0, commands.Connection.UpdateSecret(new_secret=secret, reason="rotation"))
    assert opened.read_raw_frame() == (1, 0, b"\x00\x0a\x00\x47")
    opened.open_channel(1)
    opened.close_connection()


def test_update_secret_on_a_channel_is_an_unimplemented_method(opened):
    opened.open_channel(1)
    opened.send(1, commands.Connection.UpdateSecret(new_secret="guest", reason="r"))
    assert opened.expect_connection_error(timeout=10) == (
        503,
        "COMMAND_INVALID - unimplemented method",
        10,
        70,
    )


def test_update_secret_before_connection_open(raw, broker):
    raw.start(user=broker.user, password=broker.password)
    _, tune = raw.expect(commands.Connection.Tune)
    raw.send(0, commands.Connection.TuneOk(tune.channel_max, tune.frame_max, 0))
    raw.send(0, commands.Connection.UpdateSecret(new_secret=broker.password, reason="r"))
    assert raw.expect_connection_error(timeout=10) == (
        504,
        "CHANNEL_ERROR - unexpected method in connection state opening",
        10,
        70,
    )


@pytest.mark.parametrize(
    "method",
    [
        commands.Connection.Secure(challenge=""),
        commands.Connection.SecureOk(response="x"),
        commands.Connection.Blocked(reason="x"),
        commands.Connection.Unblocked(),
        commands.Connection.UpdateSecretOk(),
        commands.Connection.StartOk(mechanism="PLAIN", response="\0guest\0guest"),
        commands.Connection.TuneOk(2047, 131072, 0),
        commands.Connection.Open(),
    ],
    ids=lambda method: method.name,
)
def test_connection_methods_out_of_turn_while_running(opened, method):
    opened.send(0, method)
    assert opened.expect_connection_error(timeout=10) == (
        504,
        "CHANNEL_ERROR - unexpected method in connection state running",
        *divmod(method.index, 0x10000),
    )


# ---- AMQP 0-8 ------------------------------------------------------------------------------

AMQP_0_8_HEADERS = [b"AMQP\x01\x01\x08\x00", b"AMQP\x01\x01\x09\x01"]


def short(text: bytes) -> bytes:
    return bytes((len(text),)) + text


def method_0_8(channel: int, class_id: int, method_id: int, arguments: bytes = b"") -> bytes:
    return raw_frame(1, channel, struct.pack(">HH", class_id, method_id) + arguments)


def connect_0_8(raw, broker, header=AMQP_0_8_HEADERS[0], vhost=None):
    """A 0-8 handshake up to connection.open; returns the frame answering it."""
    raw.send_raw(header)
    raw.expect(commands.Connection.Start)
    response = f"\0{broker.user}\0{broker.password}".encode()
    start_ok = b"\0\0\0\0" + short(b"PLAIN") + struct.pack(">I", len(response)) + response
    raw.send_raw(method_0_8(0, 10, 11, start_ok + short(b"en_US")))
    _, tune = raw.expect(commands.Connection.Tune)
    raw.send_raw(method_0_8(0, 10, 31, struct.pack(">HIH", tune.channel_max, tune.frame_max, 0)))
    vhost = (broker.vhost if vhost is None else vhost).encode()
    raw.send_raw(method_0_8(0, 10, 40, short(vhost) + short(b"") + b"\0"))
    return raw.read_raw_frame()


@pytest.mark.parametrize("header", AMQP_0_8_HEADERS)
def test_a_0_8_header_gets_a_0_8_start(raw, header):
    raw.send_raw(header)
    _, start = raw.expect(commands.Connection.Start)
    assert (start.version_major, start.version_minor) == (8, 0)
    assert start.server_properties["capabilities"] == {}
    assert start.server_properties["product"] == "RabbitMQ"
    assert start.mechanisms.split() == ["PLAIN", "AMQPLAIN"]


@pytest.mark.parametrize("header", AMQP_0_8_HEADERS)
def test_a_0_8_session(raw, broker, header):
    assert connect_0_8(raw, broker, header) == (1, 0, b"\x00\x0a\x00\x29\x00")
    raw.send_raw(method_0_8(1, 20, 10, short(b"")))
    assert raw.read_raw_frame() == (1, 1, b"\x00\x14\x00\x0b")  # channel.open-ok has no field
    raw.send(1, commands.Queue.Declare(queue="", exclusive=True))
    _, declared = raw.expect(commands.Queue.DeclareOk)
    raw.publish(1, b"old", routing_key=declared.queue)
    got, _, body = raw.basic_get(1, declared.queue)
    assert (got.message_count, body) == (0, b"old")
    raw.send(1, commands.Queue.Declare(queue="amqpd-no-such-queue-0-8", passive=True))
    close = raw.expect_channel_close(1)
    assert (close.reply_code, close.class_id, close.method_id) == (404, 50, 10)
    raw.send(1, commands.Channel.CloseOk())
    # connection.close and close-ok are methods 60 and 61 in 0-8.
    raw.send_raw(method_0_8(0, 10, 60, b"\x00\xc8" + short(b"bye") + b"\0\0\0\0"))
    assert raw.read_raw_frame() == (1, 0, b"\x00\x0a\x00\x3d")


def test_a_0_8_close_from_the_broker_is_method_60(raw, broker):
    kind, channel, payload = connect_0_8(raw, broker, vhost="amqpd-no-such-vhost-0-8")
    text = b"NOT_ALLOWED - vhost amqpd-no-such-vhost-0-8 not found"
    assert (kind, channel) == (1, 0)
    assert payload == b"\x00\x0a\x00\x3c\x02\x12" + short(text) + b"\x00\x0a\x00\x28"


RUNNING = b"CHANNEL_ERROR - unexpected method in connection state running"
EXCHANGE_BIND = b"\0\0" + short(b"amq.direct") + short(b"amq.fanout") + short(b"") + bytes(5)
OUT_OF_PLACE_0_8 = {
    "redirect": ((10, 50), 0, short(b"") + short(b""), (504, RUNNING, 10, 50)),
    "close-ok out of turn": ((10, 61), 0, b"", (504, RUNNING, 10, 61)),
    "update-secret": ((10, 70), 0, b"\0\0\0\0" + short(b""), None),  # 0-9-1's, unknown
    "confirm.select": ((85, 10), 1, b"\0", None),
    "basic.nack": ((60, 120), 1, bytes(9), None),
    "exchange.bind": ((40, 30), 1, EXCHANGE_BIND, None),
}


@pytest.mark.parametrize(
    "ids, channel, arguments, error", OUT_OF_PLACE_0_8.values(), ids=OUT_OF_PLACE_0_8
)
def test_0_8_methods_out_of_place_or_unknown(raw, broker, ids, channel, arguments, error):
    connect_0_8(raw, broker)
    raw.send_raw(method_0_8(1, 20, 10, short(b"")))
    raw.read_raw_frame()
    raw.send_raw(method_0_8(channel, *ids, arguments))
    if error is None:
        _, before_eof = raw.closed_within(10)
        assert before_eof == b""
        return
    code, text, class_id, method_id = error
    close = (
        struct.pack(">HHH", 10, 60, code) + short(text) + struct.pack(">HH", class_id, method_id)
    )
    assert raw.read_raw_frame() == (1, 0, close)
