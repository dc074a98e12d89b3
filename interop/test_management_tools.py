"""Real management API tools, unchanged, against amqpd and the reference RabbitMQ.

- ``rabbitmqadmin``, the classic command-line tool (the rabbitmq-server Debian
  package installs it as /usr/bin/rabbitmqadmin; it runs on the system python3);
- ``pyrabbit2``, the maintained fork of pyrabbit;
- kombu's ``Connection.manager`` (it imports the original ``pyrabbit`` and finds
  the API at the broker's host and ``manager_port`` from the transport options);
- Celery Flower's broker page data: ``flower.utils.broker.Broker(...).queues(names)``,
  called as the page calls it, on tornado's HTTP client.

Each test names its own queues and exchanges and removes them afterwards.
Counts on RabbitMQ's API lag by seconds, so checks of counts poll with a deadline.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import time
from urllib.parse import urlparse

import pika
import pytest

from conformance.helpers import wait_for
from conformance.http_api import ApiClient, path
from interop.helpers import unique

COUNT_LAG = 15.0  # seconds RabbitMQ's API may take to show a new count


@pytest.fixture
def api(api_target):
    return ApiClient(api_target.url)


@pytest.fixture
def made(api):
    """Names of queues and exchanges to delete from vhost "/" after the test."""
    names: list[tuple[str, str]] = []
    yield lambda kind, name: names.append((kind, name)) or name
    for kind, name in names:
        api.delete(path(kind, "/", name))


def publish(api_target, queue: str, count: int) -> None:
    """``count`` messages to ``queue`` through the default exchange, over AMQP."""
    connection = pika.BlockingConnection(pika.URLParameters(api_target.broker.url))
    try:
        channel = connection.channel()
        channel.confirm_delivery()
        for n in range(count):
            channel.basic_publish("", queue, f"m{n}".encode())
    finally:
        connection.close()


def messages(api, queue: str) -> int | None:
    answer = api.get(path("queues", "/", queue))
    return answer.json.get("messages") if answer.status == 200 else None


def depth(client, name: str) -> int | None:
    """A pyrabbit client's get_queue_depth; None while RabbitMQ has no stats for a new queue."""
    try:
        return client.get_queue_depth("/", name)
    except KeyError:
        return None


def api_port(api_target) -> int:
    return urlparse(api_target.url).port or 15672


# ---- rabbitmqadmin --------------------------------------------------------------
RABBITMQADMIN = shutil.which("rabbitmqadmin")
needs_rabbitmqadmin = pytest.mark.skipif(
    RABBITMQADMIN is None,
    reason="rabbitmqadmin is not installed (Debian package rabbitmq-server; .ci/install-clients)",
)


def rabbitmqadmin(api_target, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    parsed = urlparse(api_target.url)
    command = [
        RABBITMQADMIN, "-H", parsed.hostname or "127.0.0.1", "-P", str(api_port(api_target)),
        "-u", parsed.username or "guest", "-p", parsed.password or "guest", *args,
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=60)
    if check:
        assert done.returncode == 0, f"rabbitmqadmin {' '.join(args)}: {done.stdout}{done.stderr}"
    return done


def admin_json(api_target, *args: str) -> list[dict]:
    return json.loads(rabbitmqadmin(api_target, "-f", "raw_json", *args).stdout)


@needs_rabbitmqadmin
def test_rabbitmqadmin_declares_lists_and_deletes_a_queue(api_target, made):
    name = made("queues", unique("admin-q"))
    done = rabbitmqadmin(api_target, "declare", "queue", f"name={name}", "durable=false")
    assert "queue declared" in done.stdout
    listed = {q["name"]: q for q in admin_json(api_target, "list", "queues")}
    assert listed[name]["durable"] is False and listed[name]["vhost"] == "/"
    shown = admin_json(api_target, "list", "queues", "name", "durable", "auto_delete")
    assert {"name": name, "durable": False, "auto_delete": False} in shown
    assert "queue deleted" in rabbitmqadmin(api_target, "delete", "queue", f"name={name}").stdout
    assert name not in {q["name"] for q in admin_json(api_target, "list", "queues")}


@needs_rabbitmqadmin
def test_rabbitmqadmin_declares_a_queue_with_arguments(api_target, api, made):
    name = made("queues", unique("admin-args"))
    rabbitmqadmin(
        api_target, "declare", "queue", f"name={name}", "durable=false",
        'arguments={"x-max-length": 5, "x-message-ttl": 60000}',
    )  # fmt: skip
    arguments = api.get(path("queues", "/", name)).json["arguments"]
    assert arguments == {"x-max-length": 5, "x-message-ttl": 60000}


@needs_rabbitmqadmin
def test_rabbitmqadmin_declares_lists_and_deletes_an_exchange(api_target, made):
    name = made("exchanges", unique("admin-x"))
    done = rabbitmqadmin(
        api_target, "declare", "exchange", f"name={name}", "type=topic", "durable=false"
    )
    assert "exchange declared" in done.stdout
    listed = {x["name"]: x for x in admin_json(api_target, "list", "exchanges")}
    assert listed[name]["type"] == "topic" and listed[name]["durable"] is False
    assert {"", "amq.direct", "amq.topic"} <= set(listed)
    done = rabbitmqadmin(api_target, "delete", "exchange", f"name={name}")
    assert "exchange deleted" in done.stdout
    assert name not in {x["name"] for x in admin_json(api_target, "list", "exchanges")}


@needs_rabbitmqadmin
def test_rabbitmqadmin_purges_a_queue(api_target, api, made):
    name = made("queues", unique("admin-purge"))
    rabbitmqadmin(api_target, "declare", "queue", f"name={name}", "durable=false")
    publish(api_target, name, 3)

    def depth() -> int | None:
        shown = admin_json(api_target, "list", "queues", "name", "messages")
        return next((q.get("messages") for q in shown if q["name"] == name), None)

    wait_for(lambda: depth() == 3, COUNT_LAG, "rabbitmqadmin to list 3 messages")
    assert "queue purged" in rabbitmqadmin(api_target, "purge", "queue", f"name={name}").stdout
    wait_for(lambda: depth() == 0, COUNT_LAG, "rabbitmqadmin to list an empty queue")


@needs_rabbitmqadmin
def test_rabbitmqadmin_lists_vhosts_and_shows_the_overview(api_target):
    assert "/" in {v["name"] for v in admin_json(api_target, "list", "vhosts")}
    overview = admin_json(api_target, "show", "overview")
    assert overview[0]["rabbitmq_version"] == "3.10.8"


@needs_rabbitmqadmin
def test_rabbitmqadmin_reports_refusals(api_target, made):
    name = made("queues", unique("admin-bad"))
    done = rabbitmqadmin(
        api_target, "declare", "queue", f"name={name}", "durable=maybe", check=False
    )
    assert done.returncode != 0 and "not_boolean" in done.stdout + done.stderr
    done = rabbitmqadmin(api_target, "delete", "queue", f"name={unique('none')}", check=False)
    assert done.returncode != 0 and "Not found" in done.stdout + done.stderr
    bad_login = rabbitmqadmin(api_target, "-u", "guest", "-p", "wrong", "list", "queues",
                              check=False)  # fmt: skip
    assert bad_login.returncode != 0 and "Access refused" in bad_login.stdout + bad_login.stderr


@needs_rabbitmqadmin
def test_rabbitmqadmin_binds_publishes_and_gets(api_target, made):
    queue, exchange = made("queues", unique("admin-bq")), made("exchanges", unique("admin-bx"))
    rabbitmqadmin(api_target, "declare", "queue", f"name={queue}", "durable=false")
    rabbitmqadmin(api_target, "declare", "exchange", f"name={exchange}", "type=direct",
                  "durable=false")  # fmt: skip
    done = rabbitmqadmin(
        api_target, "declare", "binding", f"source={exchange}", f"destination={queue}",
        "routing_key=k1",
    )  # fmt: skip
    assert "binding declared" in done.stdout
    bindings = admin_json(api_target, "list", "bindings", "source", "destination", "routing_key")
    assert {"source": exchange, "destination": queue, "routing_key": "k1"} in bindings
    assert {"source": "", "destination": queue, "routing_key": queue} in bindings

    done = rabbitmqadmin(
        api_target, "publish", f"exchange={exchange}", "routing_key=k1", "payload=hello"
    )
    assert "Message published" in done.stdout
    got = wait_for(
        lambda: admin_json(api_target, "get", f"queue={queue}", "ackmode=ack_requeue_false"),
        COUNT_LAG, "rabbitmqadmin get to return the message",
    )  # fmt: skip
    assert got[0]["payload"] == "hello" and got[0]["routing_key"] == "k1"
    assert got[0]["exchange"] == exchange and got[0]["redelivered"] is False
    assert admin_json(api_target, "get", f"queue={queue}", "ackmode=ack_requeue_false") == []

    done = rabbitmqadmin(
        api_target, "delete", "binding", f"source={exchange}", "destination_type=queue",
        f"destination={queue}", "properties_key=k1",
    )  # fmt: skip
    assert "binding deleted" in done.stdout
    bindings = admin_json(api_target, "list", "bindings", "source", "destination")
    assert {"source": exchange, "destination": queue} not in bindings


@needs_rabbitmqadmin
def test_rabbitmqadmin_lists_and_closes_a_connection(api_target):
    label = unique("admin-conn")
    parameters = pika.URLParameters(api_target.broker.url)
    parameters.client_properties = {"connection_name": label}
    connection = pika.BlockingConnection(parameters)
    try:
        connection.channel()

        def mine() -> dict | None:
            listed = admin_json(api_target, "list", "connections", "name", "user",
                                "client_properties")  # fmt: skip
            found = [c for c in listed if c["client_properties"].get("connection_name") == label]
            return found[0] if found else None

        found = wait_for(mine, COUNT_LAG, "rabbitmqadmin to list the connection")
        assert found["user"] == "guest"
        done = rabbitmqadmin(api_target, "close", "connection", f"name={found['name']}")
        assert "connection closed" in done.stdout
        with pytest.raises(pika.exceptions.ConnectionClosedByBroker) as closed:
            deadline = time.monotonic() + COUNT_LAG
            while time.monotonic() < deadline:
                connection.process_data_events(time_limit=0.1)
        assert closed.value.reply_code == 320
    finally:
        if connection.is_open:
            connection.close()


@needs_rabbitmqadmin
def test_rabbitmqadmin_manages_users_vhosts_and_permissions(api_target, api):
    user, vhost = unique("admin-user"), unique("admin-vhost")
    try:
        rabbitmqadmin(api_target, "declare", "user", f"name={user}", "password=s3cret",
                      "tags=monitoring")  # fmt: skip
        rabbitmqadmin(api_target, "declare", "vhost", f"name={vhost}")
        rabbitmqadmin(api_target, "declare", "permission", f"vhost={vhost}", f"user={user}",
                      "configure=^amq\\.gen.*", "write=.*", "read=")  # fmt: skip
        users = {u["name"]: u for u in admin_json(api_target, "list", "users")}
        assert users[user]["tags"] == ["monitoring"]
        assert users[user]["hashing_algorithm"] == "rabbit_password_hashing_sha256"
        assert vhost in {v["name"] for v in admin_json(api_target, "list", "vhosts")}
        permissions = [
            p for p in admin_json(api_target, "list", "permissions") if p["user"] == user
        ]
        assert permissions == [{"user": user, "vhost": vhost, "configure": "^amq\\.gen.*",
                                "write": ".*", "read": ""}]  # fmt: skip
        # The new user logs in to the API with its password.
        as_user = ApiClient(api_target.url).as_user(user, "s3cret")
        assert as_user.get("/api/whoami").json["name"] == user
        rabbitmqadmin(api_target, "delete", "permission", f"vhost={vhost}", f"user={user}")
        assert user not in {p["user"] for p in admin_json(api_target, "list", "permissions")}
    finally:
        rabbitmqadmin(api_target, "delete", "vhost", f"name={vhost}", check=False)
        rabbitmqadmin(api_target, "delete", "user", f"name={user}", check=False)
    assert user not in {u["name"] for u in admin_json(api_target, "list", "users")}
    assert vhost not in {v["name"] for v in admin_json(api_target, "list", "vhosts")}


@needs_rabbitmqadmin
def test_rabbitmqadmin_imports_and_exports_definitions(api_target, api, made, tmp_path):
    queue, exchange = made("queues", unique("admin-defq")), made("exchanges", unique("admin-defx"))
    user, vhost = unique("admin-defuser"), unique("admin-defvhost")
    definitions = {
        "users": [{"name": user, "password": "s3cret", "tags": "management"}],
        "vhosts": [{"name": vhost}],
        "permissions": [
            {"user": user, "vhost": vhost, "configure": ".*", "write": ".*", "read": ".*"}
        ],
        "policies": [
            {"vhost": vhost, "name": "admin-ttl", "pattern": "^ttl\\.", "apply-to": "queues",
             "definition": {"message-ttl": 5000}, "priority": 1}
        ],
        "queues": [{"name": queue, "vhost": "/", "durable": True, "auto_delete": False,
                    "arguments": {"x-max-length": 7}}],
        "exchanges": [{"name": exchange, "vhost": "/", "type": "topic", "durable": True,
                       "auto_delete": False, "internal": False, "arguments": {}}],
        "bindings": [{"source": exchange, "vhost": "/", "destination": queue,
                      "destination_type": "queue", "routing_key": "a.#", "arguments": {}}],
    }  # fmt: skip
    file_in, file_out = tmp_path / "in.json", tmp_path / "out.json"
    file_in.write_text(json.dumps(definitions))
    try:
        rabbitmqadmin(api_target, "import", str(file_in))
        assert api.get(path("queues", "/", queue)).json["arguments"] == {"x-max-length": 7}
        assert api.get(path("exchanges", "/", exchange)).json["type"] == "topic"
        bindings = api.get(path("bindings", "/", "e", exchange, "q", queue)).json
        assert [b["routing_key"] for b in bindings] == ["a.#"]
        assert api.get(path("policies", vhost, "admin-ttl")).json["definition"] == {
            "message-ttl": 5000
        }
        assert ApiClient(api_target.url).as_user(user, "s3cret").get("/api/whoami").status == 200

        rabbitmqadmin(api_target, "export", str(file_out))
        exported = json.loads(file_out.read_text())
        assert {"name": queue, "vhost": "/", "durable": True, "auto_delete": False,
                "arguments": {"x-max-length": 7}} in exported["queues"]  # fmt: skip
        assert exchange in {x["name"] for x in exported["exchanges"]}
        assert (exchange, queue, "a.#") in {
            (b["source"], b["destination"], b["routing_key"]) for b in exported["bindings"]
        }
        assert user in {u["name"] for u in exported["users"]}
        assert vhost in {v["name"] for v in exported["vhosts"]}
        assert "admin-ttl" in {p["name"] for p in exported["policies"] if p["vhost"] == vhost}
    finally:
        api.delete(path("vhosts", vhost))
        api.delete(path("users", user))


# ---- pyrabbit2 ------------------------------------------------------------------
@pytest.fixture
def pyrabbit2_client(api_target):
    import pyrabbit2

    parsed = urlparse(api_target.url)
    return pyrabbit2.Client(
        f"{parsed.hostname}:{api_port(api_target)}", parsed.username, parsed.password
    )


def test_pyrabbit2_overview_and_vhosts(pyrabbit2_client):
    overview = pyrabbit2_client.get_overview()
    assert overview["rabbitmq_version"] == "3.10.8"
    assert "queue_totals" in overview and "object_totals" in overview
    assert "/" in pyrabbit2_client.get_vhost_names()
    assert pyrabbit2_client.get_whoami()["name"] == "guest"


def test_pyrabbit2_queue_life(pyrabbit2_client, api_target, made):
    name = made("queues", unique("pyrabbit2-q"))
    pyrabbit2_client.create_queue("/", name, durable=False, arguments={"x-max-length": 10})
    queue = pyrabbit2_client.get_queue("/", name)
    assert queue["durable"] is False and queue["arguments"] == {"x-max-length": 10}
    assert name in {q["name"] for q in pyrabbit2_client.get_queues("/")}
    assert name in {q["name"] for q in pyrabbit2_client.get_queues()}

    publish(api_target, name, 4)
    wait_for(lambda: depth(pyrabbit2_client, name) == 4, COUNT_LAG, "depth 4")
    assert pyrabbit2_client.purge_queue("/", name)
    wait_for(lambda: depth(pyrabbit2_client, name) == 0, COUNT_LAG, "depth 0")
    assert pyrabbit2_client.delete_queue("/", name)
    assert name not in {q["name"] for q in pyrabbit2_client.get_queues("/")}


def test_pyrabbit2_finds_queues_by_pattern(pyrabbit2_client, made):
    """get_queues(pattern=...) walks the paged list with name and use_regex."""
    stem = unique("pyrabbit2-pat")
    names = [made("queues", f"{stem}-{n}") for n in range(3)]
    for name in names:
        pyrabbit2_client.create_queue("/", name, durable=False)
    found = pyrabbit2_client.get_queues("/", pattern=stem)
    assert sorted(q["name"] for q in found) == names
    found = pyrabbit2_client.get_queues("/", pattern=f"^{stem}-[02]$", regex=True)
    assert sorted(q["name"] for q in found) == [names[0], names[2]]


def test_pyrabbit2_exchange_life(pyrabbit2_client, made):
    name = made("exchanges", unique("pyrabbit2-x"))
    assert pyrabbit2_client.create_exchange("/", name, "fanout", durable=False)
    exchange = pyrabbit2_client.get_exchange("/", name)
    assert exchange["type"] == "fanout" and exchange["durable"] is False
    assert name in {x["name"] for x in pyrabbit2_client.get_exchanges("/")}
    assert pyrabbit2_client.delete_exchange("/", name)
    assert name not in {x["name"] for x in pyrabbit2_client.get_exchanges("/")}


def test_pyrabbit2_publishes_and_gets(pyrabbit2_client, made):
    queue = made("queues", unique("pyrabbit2-pub"))
    pyrabbit2_client.create_queue("/", queue, durable=False)
    assert pyrabbit2_client.publish("/", "amq.default", queue, "hello") is True
    assert pyrabbit2_client.publish("/", "amq.default", unique("nowhere"), "lost") is False
    got = wait_for(lambda: pyrabbit2_client.get_messages("/", queue, count=5), COUNT_LAG,
                   "get_messages to return the message")  # fmt: skip
    assert [m["payload"] for m in got] == ["hello"] and got[0]["routing_key"] == queue
    assert pyrabbit2_client.get_messages("/", queue) == []
    keys = {b["routing_key"] for b in pyrabbit2_client.get_queue_bindings("/", queue)}
    assert keys == {queue}


def test_pyrabbit2_users_vhosts_permissions_and_policies(pyrabbit2_client, api_target):
    user, vhost = unique("p2-user"), unique("p2-vhost")
    try:
        pyrabbit2_client.create_vhost(vhost)
        assert vhost in pyrabbit2_client.get_vhost_names()
        pyrabbit2_client.create_user(user, "s3cret", tags="management")
        assert user in {u["name"] for u in pyrabbit2_client.get_users()}
        pyrabbit2_client.set_vhost_permissions(
            vhost, user, "^x$", ".*", ""
        )  # configure, read, write
        [permission] = pyrabbit2_client.get_user_permissions(user)
        assert (permission["vhost"], permission["configure"], permission["write"],
                permission["read"]) == (vhost, "^x$", "", ".*")  # fmt: skip
        assert pyrabbit2_client.is_alive(vhost) is True

        definition = {"message-ttl": 60000, "max-length": 10}
        pyrabbit2_client.create_policy(vhost, "p2-policy", pattern="^p2\\.", priority=3,
                                       definition=definition, **{"apply-to": "queues"})  # fmt: skip
        policy = pyrabbit2_client.get_policy(vhost, "p2-policy")
        assert (policy["pattern"], policy["priority"], policy["apply-to"]) == (
            "^p2\\.",
            3,
            "queues",
        )
        assert policy["definition"] == definition
        assert "p2-policy" in {p["name"] for p in pyrabbit2_client.get_all_policies()}
        pyrabbit2_client.delete_policy(vhost, "p2-policy")
        assert "p2-policy" not in {p["name"] for p in pyrabbit2_client.get_all_policies()}
    finally:
        ApiClient(api_target.url).delete(path("users", user))
        ApiClient(api_target.url).delete(path("vhosts", vhost))
    assert vhost not in pyrabbit2_client.get_vhost_names()


def test_pyrabbit2_reads_the_definitions(pyrabbit2_client, made):
    queue = made("queues", unique("pyrabbit2-def"))
    pyrabbit2_client.create_queue("/", queue, durable=True)
    definitions = pyrabbit2_client.get_definitions()
    assert definitions["rabbit_version"] == "3.10.8"
    assert queue in {q["name"] for q in definitions["queues"]}
    assert "guest" in {u["name"] for u in definitions["users"]}


def test_pyrabbit2_unknown_queue_is_its_http_error(pyrabbit2_client):
    from pyrabbit2.http import HTTPError

    with pytest.raises(HTTPError) as raised:
        pyrabbit2_client.get_queue("/", unique("none"))
    assert raised.value.status == 404


# ---- kombu's Connection.manager (pyrabbit) ---------------------------------------
def kombu_connection(api_target):
    import kombu

    # kombu builds the API address from the broker's host and this option (15672 by default).
    return kombu.Connection(
        api_target.broker.url, transport_options={"manager_port": api_port(api_target)}
    )


def test_kombu_manager_lists_queues_and_their_depth(api_target, made):
    name = made("queues", unique("kombu-mgr"))
    with kombu_connection(api_target) as connection:
        channel = connection.channel()
        channel.queue_declare(name, durable=False)
        producer = connection.Producer(channel)
        for n in range(2):
            producer.publish(f"m{n}", routing_key=name)
        manager = connection.manager
        assert manager.get_whoami()["name"] == "guest"
        assert name in {q["name"] for q in manager.get_queues("/")}
        wait_for(lambda: depth(manager, name) == 2, COUNT_LAG, "depth 2")
        manager.purge_queue("/", name)
        wait_for(lambda: depth(manager, name) == 0, COUNT_LAG, "depth 0")
        assert "/" in manager.get_vhost_names()


def test_kombu_get_manager_takes_the_port_as_an_argument(api_target, made):
    name = made("queues", unique("kombu-mgr2"))
    import kombu

    with kombu.Connection(api_target.broker.url) as connection:
        manager = connection.get_manager(port=api_port(api_target))
        manager.create_queue("/", name, durable=False)
        assert manager.get_queue("/", name)["durable"] is False
        manager.delete_queue("/", name)
        assert name not in {q["name"] for q in manager.get_queues("/")}


# ---- Celery Flower's broker page --------------------------------------------------
def flower_queues(api_target, names: list[str]) -> list[dict]:
    """What Flower's /broker page shows: it asks its Broker for the workers' queues."""
    import kombu
    from flower.utils.broker import Broker

    # The page passes Celery's broker URL as kombu renders it, and --broker_api.
    broker_uri = kombu.Connection(api_target.broker.url).as_uri(include_password=True)
    broker = Broker(broker_uri, http_api=api_target.url + "/api/", broker_options={},
                    broker_use_ssl=None)  # fmt: skip
    return asyncio.run(broker.queues(names))


def test_flower_broker_page_shows_queue_lengths(api_target, made):
    busy, idle = made("queues", unique("flower-busy")), made("queues", unique("flower-idle"))
    connection = pika.BlockingConnection(pika.URLParameters(api_target.broker.url))
    try:
        channel = connection.channel()
        channel.queue_declare(busy, durable=False)
        channel.queue_declare(idle, durable=False)
    finally:
        connection.close()
    publish(api_target, busy, 3)

    def rows() -> dict[str, dict] | None:
        shown = {q["name"]: q for q in flower_queues(api_target, [busy, idle, unique("none")])}
        settled = shown.get(busy, {}).get("messages") == 3 and "consumers" in shown.get(idle, {})
        return shown if settled else None

    shown = wait_for(rows, COUNT_LAG, "Flower to show 3 messages")
    assert set(shown) == {busy, idle}
    # The columns of the page's table.
    assert shown[busy]["messages_ready"] == 3 and shown[busy]["messages_unacknowledged"] == 0
    assert shown[idle]["messages"] == 0 and shown[idle]["consumers"] == 0


def test_flower_broker_page_is_empty_on_a_bad_login(api_target):
    parsed = urlparse(api_target.url)
    wrong = api_target.url.replace(f"{parsed.username}:{parsed.password}@", "guest:wrong@")
    import kombu
    from flower.utils.broker import Broker

    broker_uri = kombu.Connection(api_target.broker.url).as_uri(include_password=True)
    broker = Broker(broker_uri, http_api=wrong + "/api/")
    assert asyncio.run(broker.queues(["celery"])) == []
