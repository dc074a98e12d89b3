"""``amqpd ctl`` and ``amqpd diagnostics`` without the reference: finding the broker, a broker
that is down, unknown commands, and ``reset`` bringing a busy broker back to a fresh one."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from amqpd.config import BrokerConfig
from amqpd.testing import BrokerThread
from tests.ctl_support import Api, ours

QUEUES_PER_VHOST = 100


@pytest.fixture(scope="module")
def broker() -> Iterator[BrokerThread]:
    with BrokerThread(BrokerConfig(store="memory")) as started:
        yield started


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # nothing listens there once the socket is closed


@pytest.mark.parametrize(
    "tool,args",
    [("ctl", ("list_queues",)), ("ctl", ("add_user", "a", "b")), ("diagnostics", ("ping",)),
     ("diagnostics", ("check_running",)), ("diagnostics", ("check_local_alarms",))],
)  # fmt: skip
def test_a_broker_that_is_down_is_one_line_and_exit_69(tool, args):
    url = f"http://guest:secret@127.0.0.1:{closed_port()}"
    result = ours(url, *args, tool=tool)
    assert result.code == 69
    assert len(result.err.splitlines()) == 1, result.err
    assert "unable to reach the broker's management API" in result.err
    assert "secret" not in result.err and "Traceback" not in result.err


def test_an_unknown_command_exits_64_as_rabbitmqctl(broker):
    result = ours(broker.management_url, "frobnicate")
    assert result.code == 64
    assert result.err.splitlines()[1] == "Command 'frobnicate' not found. "
    assert "list_queues" in result.err


def test_bad_options_exit_64_and_never_echo_the_password(broker):
    result = ours(broker.management_url, "list_queues", "--bogus")
    assert result.code == 64
    assert result.err.splitlines()[:3] == [
        "Error (argument validation): Invalid options for this command:",
        "--bogus : ",
        "Arguments given:",
    ]
    assert "guest:guest" not in result.err


def test_the_broker_is_found_from_its_config_file(broker, tmp_path):
    port = int(broker.management_url.rsplit(":", 1)[1])
    config = tmp_path / "amqpd.toml"
    config.write_text(f'bind = "127.0.0.1"\nmanagement_port = {port}\n')
    result = ours("", "--config", str(config), "list_vhosts")  # an empty --url: not given
    assert (result.code, result.out) == (0, "Listing vhosts ...\nname\n/\n"), result


def test_the_broker_is_found_from_the_environment(broker, monkeypatch):
    monkeypatch.setenv("AMQPD_MANAGEMENT_URL", broker.management_url)
    result = ours("", "-q", "list_users")
    assert (result.code, result.out) == (0, "user\ttags\nguest\t[administrator]\n")


def test_diagnostics_listeners_and_port_connectivity_name_amqpds_ports(broker):
    api_port = broker.management_url.rsplit(":", 1)[1]
    listeners = ours(broker.management_url, "-q", "listeners", tool="diagnostics")
    assert listeners.code == 0
    assert f"port: {broker.port}, protocol: amqp, purpose: AMQP 0-9-1 and AMQP 1.0" in listeners.out
    assert f"port: {api_port}, protocol: http, purpose: HTTP API" in listeners.out
    checked = ours(broker.management_url, "-q", "check_port_connectivity", tool="diagnostics")
    assert checked.code == 0 and checked.out.startswith("Successfully connected to ports ")


def fill(api: Api) -> None:
    for vhost in ("v1", "v2", "v3"):
        api.call("PUT", f"/api/vhosts/{vhost}", {})
        for i in range(QUEUES_PER_VHOST):
            api.call("PUT", f"/api/queues/{vhost}/q{i}", {"durable": i % 2 == 0})
        api.call(
            "PUT", f"/api/policies/{vhost}/p", {"pattern": ".*", "definition": {"max-length": 9}}
        )
    api.call("PUT", "/api/exchanges/%2F/ex", {"type": "fanout", "durable": True})
    api.call("PUT", "/api/queues/%2F/root-q", {"durable": True})
    api.call("PUT", "/api/users/someone", {"password": "pw", "tags": ""})


def state(api: Api) -> dict[str, object]:
    return {
        path: api.call("GET", path)
        for path in ("/api/vhosts", "/api/users", "/api/permissions", "/api/exchanges",
                     "/api/queues", "/api/bindings", "/api/policies")
    }  # fmt: skip


def comparable(value: object) -> object:
    """Lists without what no two brokers share: password hashes (salted)."""
    if isinstance(value, list):
        return [comparable(v) for v in value]
    if isinstance(value, dict):
        return {k: comparable(v) for k, v in value.items() if k != "password_hash"}
    return value


def test_reset_leaves_a_fresh_broker():
    with (
        BrokerThread(BrokerConfig(store="memory")) as busy,
        BrokerThread(BrokerConfig(store="memory")) as fresh,
    ):
        api = Api(busy.management_url)
        fill(api)
        assert len(api.call("GET", "/api/queues")) == 3 * QUEUES_PER_VHOST + 1
        result = ours(busy.management_url, "reset")
        assert result.code == 0, result
        assert result.out.startswith("Resetting node ") and result.err == ""
        assert comparable(state(api)) == comparable(state(Api(fresh.management_url)))


def test_export_then_import_definitions_round_trip(broker, tmp_path):
    api = Api(broker.management_url)
    api.call("PUT", "/api/vhosts/exported", {})
    api.call("PUT", "/api/queues/exported/kept", {"durable": True})
    path = tmp_path / "defs.json"
    exported = ours(broker.management_url, "export_definitions", str(path))
    assert (exported.code, exported.out) == (
        0, f'Exporting definitions in JSON to a file at "{path}" ...\n'
    )  # fmt: skip
    api.call("DELETE", "/api/vhosts/exported")
    imported = ours(broker.management_url, "import_definitions", str(path))
    assert imported.code == 0, imported
    assert imported.out.splitlines()[1] == (
        "Successfully started definition import. "
        "This process is asynchronous and can take some time."
    )
    assert api.call("GET", "/api/queues/exported/kept")["durable"] is True
    to_stdout = ours(broker.management_url, "export_definitions", "-")
    assert '"name":"kept"' in to_stdout.out and to_stdout.out.startswith("{")


def test_close_all_connections_in_a_vhost(broker):
    import pika

    api = Api(broker.management_url)
    api.call("PUT", "/api/vhosts/closing", {})
    params = pika.URLParameters(broker.url.replace("%2F", "closing"))
    connection = pika.BlockingConnection(params)
    try:
        result = ours(broker.management_url, "close_all_connections", "-p", "closing", "bye now")
        assert (result.code, result.out) == (
            0,
            "Closing all connections in vhost closing, reason: bye now...\nClosed 1 connections\n",
        )
        with pytest.raises(pika.exceptions.ConnectionClosedByBroker) as closed:
            connection.process_data_events(time_limit=10)
        assert closed.value.reply_code == 320
    finally:
        if connection.is_open:
            connection.close()
