"""The access rules that need no broker: loopback users, patterns, refusals at
open, and what the store keeps; and that a refused login's log line names the
peer and the user but never the password."""

from __future__ import annotations

import logging

import pytest

from amqpd.model.access import (
    FULL,
    Access,
    Permission,
    TopicPermission,
    is_loopback,
    pattern_problem,
)
from amqpd.model.broker import Broker
from amqpd.server.login import PeerLogin


@pytest.mark.parametrize(
    ("host", "loopback"),
    [("127.0.0.1", True), ("127.8.9.10", True), ("::1", True), ("::ffff:127.0.0.1", True),
     ("192.0.2.7", False), ("::ffff:192.0.2.7", False), ("fd00::2", False), ("nonsense", False)],
)  # fmt: skip
def test_loopback_addresses(host, loopback):
    assert is_loopback(host) is loopback


def _broker() -> Broker:
    access = Access({"guest": "guest", "app": "app-pw"}, ("/",))
    return Broker(("/",), access=access)


def test_guest_may_log_in_only_from_this_machine(caplog):
    broker = _broker()
    caplog.set_level(logging.WARNING, "amqpd.connection")
    assert PeerLogin(broker, "127.0.0.1", "127.0.0.1:5000").check_password("guest", "guest")
    assert not PeerLogin(broker, "192.0.2.7", "192.0.2.7:5000").check_password("guest", "guest")
    assert PeerLogin(broker, "192.0.2.7", "192.0.2.7:5001").check_password("app", "app-pw")
    assert "192.0.2.7:5000" in caplog.text
    assert "user 'guest' can only connect via localhost" in caplog.text


def test_loopback_users_can_be_emptied():
    broker = _broker()
    broker.access.loopback_users = ()
    assert PeerLogin(broker, "192.0.2.7", "192.0.2.7:5000").check_password("guest", "guest")


def test_a_refused_login_is_logged_without_the_password(caplog):
    caplog.set_level(logging.DEBUG)
    login = PeerLogin(_broker(), "127.0.0.1", "127.0.0.1:5000")
    assert not login.check_password("app", "Wrong-Secret-77")
    assert "user 'app' - invalid credentials" in caplog.text
    assert "Wrong-Secret-77" not in caplog.text


def test_open_refusals_in_rabbitmqs_words():
    access = Access({"guest": "guest"}, ("/",))
    access.users["nobody"] = access.users["guest"]
    assert access.open_refusal("guest", "/") is None
    assert access.open_refusal("guest", "nope") == "vhost nope not found"
    assert access.open_refusal("nobody", "/") == "access to vhost '/' refused for user 'nobody'"
    access.set_vhost_limit("/", "max-connections", 2)
    assert access.open_refusal("guest", "/", 1) is None
    assert access.open_refusal("guest", "/", 2) == (
        "access to vhost '/' refused for user 'guest': connection limit (2) is reached"
    )
    access.set_vhost_limit("/", "max-connections", -1)  # unlimited
    assert access.open_refusal("guest", "/", 1000) is None


def test_patterns_match_as_rabbitmq_matches_them():
    access = Access({"u": "p"}, ("/",))
    access.set_permission("u", "/", Permission("^c", "", "x"))
    assert access.permitted("u", "/", "configure", "c1")
    assert not access.permitted("u", "/", "configure", "a-c")
    assert not access.permitted("u", "/", "write", "")  # the empty pattern matches nothing
    assert access.permitted("u", "/", "read", "axb")  # a match anywhere
    access.set_topic_permission("u", "/", TopicPermission("t", "", "^{username}.{vhost}$"))
    assert access.topic_permitted("u", "/", "write", "t", "")  # here empty means "^$"
    assert not access.topic_permitted("u", "/", "write", "t", "k")
    assert access.topic_permitted("u", "/", "read", "t", "u./")
    assert access.topic_permitted("u", "/", "write", "other", "anything")


def test_pattern_problems_in_pcres_words():
    assert pattern_problem("^a.*") is None
    assert pattern_problem("(") == ("missing )", 1)
    assert pattern_problem("ab[") == ("missing terminating ] for character class", 3)


def test_the_store_gets_every_change_and_gives_it_back():
    kept: dict = {}

    def record(kind, key, value):
        if value is None:
            kept.pop((kind, key), None)
        else:
            kept[(kind, key)] = value

    access = Access({"guest": "guest"}, ("/",))
    access.record = record
    access.record_all()
    access.put_vhost(access.vhosts["/"].__class__("v2", "d", ("t",), {"max-queues": 3}))
    access.set_permission("guest", "v2", FULL)
    access.set_topic_permission("guest", "v2", TopicPermission("amq.topic", "^a", "^b"))
    again = Access({"other": "x"}, ("/",))
    assert again.restore([(kind, key, value) for (kind, key), value in kept.items()])
    assert set(again.users) == {"guest"} and again.check_password("guest", "guest")
    assert set(again.vhosts) == {"/", "v2"} and again.vhosts["v2"].limits == {"max-queues": 3}
    assert again.permissions == access.permissions
    assert again.topic_permissions == access.topic_permissions
    access.delete_vhost("v2")
    again = Access({}, ())
    again.restore([(kind, key, value) for (kind, key), value in kept.items()])
    assert set(again.vhosts) == {"/"} and ("guest", "v2") not in again.permissions
    assert not Access({}, ()).restore([])  # nothing kept: a first start
