"""Policies without a broker: validation texts, matching, and the one function
that decides a queue's effective settings."""

from __future__ import annotations

import pytest

from amqpd.model.policies import (
    PolicyError,
    PolicySet,
    alternate_exchange,
    effective_definition,
    parse,
    queue_settings,
)
from amqpd.model.queue import Queue
from amqpd.model.vhost import VirtualHost


def policy(name="p", pattern=".*", definition=None, priority=0, apply_to="all", operator=False):
    body = {"pattern": pattern, "definition": definition or {"max-length": 5},
            "priority": priority, "apply-to": apply_to}  # fmt: skip
    return parse("/", name, body, operator)


def test_the_lower_value_counts_for_lengths_and_ttls():
    p = policy(definition={"max-length": 5, "message-ttl": 100, "expires": 9000})
    s = queue_settings({"x-max-length": 3, "x-message-ttl": 500, "x-expires": 10000}, p)
    assert (s.max_length, s.message_ttl, s.expires) == (3, 100, 9000)


def test_the_argument_wins_for_dead_lettering_and_overflow_on_classic_queues():
    p = policy(definition={"dead-letter-exchange": "px", "dead-letter-routing-key": "pk",
                           "overflow": "reject-publish"})  # fmt: skip
    s = queue_settings({"x-dead-letter-exchange": "ax", "x-overflow": "drop-head"}, p)
    assert (s.dead_letter_exchange, s.dead_letter_routing_key, s.overflow) == (
        "ax",
        "pk",
        "drop-head",
    )


def test_on_quorum_queues_the_policy_wins_for_overflow_and_expires():
    p = policy(definition={"overflow": "reject-publish", "expires": 50000})
    s = queue_settings({"x-queue-type": "quorum", "x-overflow": "drop-head", "x-expires": 10}, p)
    assert (s.overflow, s.expires) == ("reject-publish", 50000)


def test_operator_policies_merge_by_the_lower_value():
    user = policy(definition={"max-length": 10, "message-ttl": 100})
    op = policy("op", definition={"max-length": 3, "message-ttl": 500}, operator=True)
    assert effective_definition(user, op) == {"max-length": 3, "message-ttl": 100}
    assert queue_settings({}, user, op).max_length == 3
    assert queue_settings({}, None, op).message_ttl == 500


def test_operator_policies_take_only_limits():
    with pytest.raises(PolicyError) as err:
        policy(definition={"overflow": "drop-head"}, operator=True)
    assert err.value.reasons == [
        '[{<<"overflow">>,<<"drop-head">>}] are not recognised policy settings'
    ]


def test_the_highest_priority_applies_and_ties_go_to_the_first_name():
    policies = PolicySet()
    for p in (policy("b", priority=1), policy("a", priority=1), policy("low", priority=0)):
        policies.user[p.name] = p
    assert policies.match("queue", "q", "classic")[0].name == "a"
    policies.user["top"] = policy("top", pattern="^q$", priority=7)
    assert policies.match("queue", "q", "classic")[0].name == "top"
    assert policies.match("queue", "other", "classic")[0].name == "a"


def test_apply_to_and_what_a_queue_type_refuses():
    policies = PolicySet()
    policies.user["x"] = policy("x", apply_to="exchanges")
    assert policies.match("queue", "q", "classic") == (None, None)
    assert policies.match("exchange", "q")[0].name == "x"
    policies.user["dl"] = policy("dl", definition={"delivery-limit": 3}, apply_to="queues")
    assert policies.match("queue", "q", "classic")[0] is None  # classic queues refuse it
    assert policies.match("queue", "q", "quorum")[0].name == "dl"


def test_the_pattern_matches_anywhere_unless_anchored():
    assert policy(pattern="mid").applies_to("queue", "a-mid-b")
    assert not policy(pattern="^mid").applies_to("queue", "a-mid-b")


def test_the_alternate_exchange_argument_wins():
    p = policy(definition={"alternate-exchange": "pol"})
    assert alternate_exchange({"alternate-exchange": "arg"}, p) == "arg"
    assert alternate_exchange({}, p) == "pol"


def test_a_queue_reads_only_its_effective_settings():
    queue = Queue("q", "/", arguments={"x-max-length": 4})
    assert queue.set_policies(policy(definition={"max-length": 2, "message-ttl": 7}), None)
    assert (queue.max_length, queue.message_ttl) == (2, 7)
    assert not queue.set_policies(policy(definition={"max-length": 2, "message-ttl": 7}), None)
    assert queue.set_policies(None, None)
    assert (queue.max_length, queue.message_ttl) == (4, None)


def test_a_new_queue_gets_the_policy_of_its_vhost():
    vhost = VirtualHost("/")
    vhost.policies.user["p"] = policy(pattern="^ttl\\.", definition={"message-ttl": 50})
    queue = vhost.declare_queue("ttl.q", owner=None, passive=False, durable=False,
                                exclusive=False, auto_delete=False, arguments={})  # fmt: skip
    assert queue.policy.name == "p" and queue.message_ttl == 50


@pytest.mark.parametrize(
    ("definition", "reason"),
    [({"max-length-bytes": "1"}, '<<"1">> is not a valid maximum length in bytes'),
     ({"ha-mode": "foo"}, '<<"foo">> is not a valid ha-mode value'),
     ({"queue-master-locator": "x"}, '<<"x">> invalid queue-master-locator value'),
     ({"b": 3, "a": 2}, '[{<<"a">>,2},{<<"b">>,3}] are not recognised policy settings')],
)  # fmt: skip
def test_reasons(definition, reason):
    with pytest.raises(PolicyError) as err:
        policy(definition=definition)
    assert err.value.reasons == [reason]
