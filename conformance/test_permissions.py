"""AMQP permission rules, on amqpd and the reference alike: which of configure,
write and read each operation needs on which resource, in which order, and
RabbitMQ's refusal for each. A user with configure "^c", write "^w" and read
"^r" is made through the broker's own management API in a vhost of its own."""

from __future__ import annotations

import uuid

import pika
import pytest
from pika.exceptions import ChannelClosedByBroker

from conformance.http_api import ApiClient, path


@pytest.fixture(scope="module")
def _worlds():
    made: dict = {}
    yield made
    for api, user, vhost in made.values():
        api.delete(path("vhosts", vhost))
        api.delete(path("users", user))


@pytest.fixture
def world(api_target, _worlds):
    """(url for the limited user, vhost, user): made once per broker."""
    if api_target.name not in _worlds:
        api = ApiClient(api_target.url)
        tag = uuid.uuid4().hex[:8]
        user, vhost = f"perm-user-{tag}", f"perm-vhost-{tag}"
        _worlds[api_target.name] = (api, user, vhost)
        assert api.put(path("users", user), {"password": "pw", "tags": ""}).status == 201
        assert api.put(path("vhosts", vhost), {}).status == 201
        api.put(path("permissions", vhost, user), {"configure": "^c", "write": "^w", "read": "^r"})
        api.put(path("topic-permissions", vhost, user),
                {"exchange": "w-topic", "write": "^w", "read": "^r"})  # fmt: skip
        guest = pika.BlockingConnection(pika.URLParameters(api_target.broker.url_with(vhost=vhost)))
        channel = guest.channel()
        for name in ("c-x", "w-x", "r-x", "x", "w-int"):
            channel.exchange_declare(name, "direct", internal=name == "w-int")
        channel.exchange_declare("w-topic", "topic")
        channel.exchange_declare("r-topic", "topic")
        for name in ("c-q", "w-q", "r-q", "q"):
            channel.queue_declare(name)
        guest.close()
    _api, user, vhost = _worlds[api_target.name]
    return api_target.broker.url_with(user=user, password="pw", vhost=vhost), vhost, user


def _outcome(url: str, operation) -> str:
    connection = pika.BlockingConnection(pika.URLParameters(url))
    try:
        operation(connection.channel())
        return "ok"
    except ChannelClosedByBroker as err:
        return f"{err.reply_code} {err.reply_text}"
    finally:
        if connection.is_open:
            connection.close()


def _publish(exchange: str, key: str = "k"):
    def publish(channel) -> None:
        channel.confirm_delivery()
        channel.basic_publish(exchange, key, b"m")

    return publish


def _refused(kind: str, name: str) -> str:
    where = "in vhost '{vhost}' refused for user '{user}'"
    return f"403 ACCESS_REFUSED - access to {kind} '{name}' {where}"


def _topic_refused(key: str, exchange: str) -> str:
    return f"403 ACCESS_REFUSED - access to topic '{key}' in exchange '{exchange}' in vhost " \
        "'{vhost}' refused for user '{user}'"  # fmt: skip


DEFAULT_REFUSED = "403 ACCESS_REFUSED - operation not permitted on the default exchange"
CASES = {
    # exchange.declare: configure on it; passive needs nothing
    "declare a new exchange": (lambda ch: ch.exchange_declare("c-new-x", "direct"), "ok"),
    "declare an exchange": (lambda ch: ch.exchange_declare("x", "direct"),
                            _refused("exchange", "x")),
    "declare passive": (lambda ch: ch.exchange_declare("x", "direct", passive=True), "ok"),
    "declare a reserved name": (lambda ch: ch.exchange_declare("amq.foo", "direct"),
                                _refused("exchange", "amq.foo")),
    # an alternate exchange: read on the new exchange, write on the alternate
    "declare with an alternate": (
        lambda ch: ch.exchange_declare("c-ae", "direct", arguments={"alternate-exchange": "w-x"}),
        _refused("exchange", "c-ae")),
    # exchange.delete: configure, after the default and system exchange checks
    "delete an exchange": (lambda ch: ch.exchange_delete("x"), _refused("exchange", "x")),
    "delete a missing exchange": (lambda ch: ch.exchange_delete("nope"),
                                  _refused("exchange", "nope")),
    "delete the default exchange": (lambda ch: ch.exchange_delete(""), DEFAULT_REFUSED),
    "delete a system exchange": (
        lambda ch: ch.exchange_delete("amq.direct"),
        "403 ACCESS_REFUSED - deletion of system exchange 'amq.direct' in vhost '{vhost}' "
        "not allowed"),
    # queue.declare: configure on the name, server-named and exclusive ones too
    "declare a new queue": (lambda ch: ch.queue_declare("c-new-q", auto_delete=True), "ok"),
    "declare a queue": (lambda ch: ch.queue_declare("q"), _refused("queue", "q")),
    "declare a queue passively": (lambda ch: ch.queue_declare("q", passive=True), "ok"),
    "declare a reserved queue": (
        lambda ch: ch.queue_declare("amq.q"),
        "403 ACCESS_REFUSED - queue name 'amq.q' contains reserved prefix 'amq.*'"),
    "declare with a dead-letter exchange": (
        lambda ch: ch.queue_declare("c-dlx", arguments={"x-dead-letter-exchange": "w-x"}),
        _refused("queue", "c-dlx")),
    # queue.delete: configure; queue.purge: read (before looking the queue up)
    "delete a queue": (lambda ch: ch.queue_delete("q"), _refused("queue", "q")),
    "delete a missing queue": (lambda ch: ch.queue_delete("nope"), _refused("queue", "nope")),
    "purge a queue": (lambda ch: ch.queue_purge("q"), _refused("queue", "q")),
    "purge a missing queue": (lambda ch: ch.queue_purge("nope"), _refused("queue", "nope")),
    "purge a readable queue": (lambda ch: ch.queue_purge("r-q"), "ok"),
    # bindings: write on the destination first, then read on the source
    "bind an unwritable queue": (lambda ch: ch.queue_bind("q", "x", "k"), _refused("queue", "q")),
    "bind from an unreadable exchange": (lambda ch: ch.queue_bind("w-q", "x", "k"),
                                         _refused("exchange", "x")),
    "bind": (lambda ch: ch.queue_bind("w-q", "r-x", "k"), "ok"),
    "bind what is not there": (
        lambda ch: ch.queue_bind("w-nope", "r-nope", "k"),
        "404 NOT_FOUND - no exchange 'r-nope' in vhost '{vhost}'"),
    "bind to the default exchange": (lambda ch: ch.queue_bind("w-q", "", "k"), DEFAULT_REFUSED),
    "bind an unwritable queue to the default exchange": (lambda ch: ch.queue_bind("q", "", "k"),
                                                         _refused("queue", "q")),
    "unbind from an unreadable exchange": (lambda ch: ch.queue_unbind("w-q", "x", "k"),
                                           _refused("exchange", "x")),
    "unbind": (lambda ch: ch.queue_unbind("w-q", "r-x", "k"), "ok"),
    "bind an unwritable exchange": (lambda ch: ch.exchange_bind("x", "r-x", "k"),
                                    _refused("exchange", "x")),
    "bind exchanges": (lambda ch: ch.exchange_bind("w-x", "r-x", "k"), "ok"),
    "unbind exchanges from an unreadable one": (lambda ch: ch.exchange_unbind("w-x", "x", "k"),
                                                _refused("exchange", "x")),
    # basic.publish: write on the exchange (the default one is amq.default), before lookup
    "publish": (_publish("w-x"), "ok"),
    "publish to an unwritable exchange": (_publish("x"), _refused("exchange", "x")),
    "publish to the default exchange": (_publish(""), _refused("exchange", "amq.default")),
    "publish to a missing exchange": (_publish("nope"), _refused("exchange", "nope")),
    "publish to a missing writable exchange": (
        _publish("w-nope"), "404 NOT_FOUND - no exchange 'w-nope' in vhost '{vhost}'"),
    "publish to an internal exchange": (
        _publish("w-int"),
        "403 ACCESS_REFUSED - cannot publish to internal exchange 'w-int' in vhost '{vhost}'"),
    # consuming and getting: read
    "consume": (lambda ch: ch.basic_consume("r-q", lambda *a: None), "ok"),
    "consume unreadable": (lambda ch: ch.basic_consume("q", lambda *a: None),
                           _refused("queue", "q")),
    "consume missing": (lambda ch: ch.basic_consume("nope", lambda *a: None),
                        _refused("queue", "nope")),
    "get": (lambda ch: ch.basic_get("r-q"), "ok"),
    "get unreadable": (lambda ch: ch.basic_get("q"), _refused("queue", "q")),
    # topic permissions: write on publish, read on bind and unbind
    "publish a permitted topic": (_publish("w-topic", "w.k"), "ok"),
    "publish a refused topic": (_publish("w-topic", "x.k"), _topic_refused("x.k", "w-topic")),
    "bind from a topic exchange without a topic permission": (
        lambda ch: ch.queue_bind("w-q", "r-topic", "x.k"), "ok"),
    "an exclusive queue of ones own still needs read to consume": (
        lambda ch: (ch.queue_declare("c-excl", exclusive=True),
                    ch.basic_consume("c-excl", lambda *a: None)),
        _refused("queue", "c-excl")),
}  # fmt: skip


@pytest.mark.parametrize("case", list(CASES))
def test_each_operation_needs_its_permission(world, case):
    url, vhost, user = world
    operation, expected = CASES[case]
    assert _outcome(url, operation) == expected.format(vhost=vhost, user=user)


def test_a_server_named_queue_needs_configure_on_its_generated_name(world):
    url, vhost, user = world
    outcome = _outcome(url, lambda ch: ch.queue_declare("", exclusive=True))
    prefix = "403 ACCESS_REFUSED - access to queue 'amq.gen-"
    assert outcome.startswith(prefix)
    assert outcome.endswith(f"' in vhost '{vhost}' refused for user '{user}'")


def test_topic_permission_on_unbind_and_exchange_bind(api_target, world):
    url, vhost, user = world
    api = ApiClient(api_target.url)
    api.put(path("topic-permissions", vhost, user),
            {"exchange": "r-topic", "write": "", "read": "^r"})  # fmt: skip
    try:
        refused = _topic_refused("x.k", "r-topic").format(vhost=vhost, user=user)
        assert _outcome(url, lambda ch: ch.queue_bind("w-q", "r-topic", "x.k")) == refused
        assert _outcome(url, lambda ch: ch.queue_unbind("w-q", "r-topic", "x.k")) == refused
        assert _outcome(url, lambda ch: ch.exchange_bind("w-x", "r-topic", "x.k")) == refused
        assert _outcome(url, lambda ch: ch.queue_bind("w-q", "r-topic", "r.k")) == "ok"
        # The empty pattern allows only the empty routing key.
        api.put(path("topic-permissions", vhost, user),
                {"exchange": "w-topic", "write": "", "read": ""})  # fmt: skip
        assert _outcome(url, _publish("w-topic", "")) == "ok"
        assert _outcome(url, _publish("w-topic", "w.k")) == _topic_refused(
            "w.k", "w-topic").format(vhost=vhost, user=user)  # fmt: skip
        # {username} and {vhost} stand for the user's and the vhost's names.
        api.put(path("topic-permissions", vhost, user),
                {"exchange": "w-topic", "write": "^{username}-{vhost}$", "read": ""})  # fmt: skip
        assert _outcome(url, _publish("w-topic", f"{user}-{vhost}")) == "ok"
    finally:
        api.delete(path("topic-permissions", vhost, user))
        api.put(path("topic-permissions", vhost, user),
                {"exchange": "w-topic", "write": "^w", "read": "^r"})  # fmt: skip


def test_a_vhost_without_permissions_is_refused_at_open(api_target, world):
    _url, vhost, user = world
    url = api_target.broker.url_with(user=user, password="pw", vhost="/")
    with pytest.raises(pika.exceptions.ProbableAccessDeniedError) as refused:
        pika.BlockingConnection(pika.URLParameters(url))
    assert str(refused.value) == (
        f"ConnectionClosedByBroker: (530) \"NOT_ALLOWED - access to vhost '/' refused for user "
        f"'{user}'\""
    )


def test_a_queue_limit_refuses_new_queues_only(api_target, world):
    _url, vhost, _user = world
    api = ApiClient(api_target.url)
    url = api_target.broker.url_with(vhost=vhost)  # guest, who may configure anything
    api.put(path("vhost-limits", vhost, "max-queues"), {"value": 4})
    try:
        assert _outcome(url, lambda ch: ch.queue_declare("q")) == "ok"  # exists already
        assert _outcome(url, lambda ch: ch.queue_declare("over-the-limit")) == (
            f"406 PRECONDITION_FAILED - cannot declare queue 'over-the-limit': queue limit in "
            f"vhost '{vhost}' (4) is reached"
        )
    finally:
        api.delete(path("vhost-limits", vhost, "max-queues"))
    assert _outcome(url, lambda ch: ch.queue_declare("under-no-limit", auto_delete=True,
                                                     exclusive=True)) == "ok"  # fmt: skip
