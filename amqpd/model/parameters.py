"""Runtime parameters: policies, operator policies and global parameters.

Each vhost keeps its policies (``VirtualHost.policies``); the broker keeps the
global parameters (``Broker.parameters``, e.g. cluster_name). Setting or
clearing a policy re-applies the vhost's policies to every queue and exchange
at once, as RabbitMQ does: a queue whose effective settings changed is
reconciled in the next dispatch (a shorter max-length drops or dead-letters
its oldest messages there and then). Every change goes to the store through
``journal.setting_changed``; ``restore`` brings it all back at start-up.
"""

from __future__ import annotations

import json
import logging
from typing import Protocol

from amqpd.model.dispatcher import Dispatcher
from amqpd.model.journal import Journal
from amqpd.model.policies import MIRRORING_KEYS, Policy, from_record
from amqpd.model.vhost import VirtualHost

log = logging.getLogger("amqpd.policies")

POLICY, OPERATOR_POLICY, GLOBAL = "policy", "operator_policy", "global_parameter"


class Host(Protocol):
    """What this module needs of the broker."""

    vhosts: dict[str, VirtualHost]
    dispatcher: Dispatcher
    journal: Journal
    parameters: dict[str, object]


def _json(value: object) -> bytes:
    return json.dumps(value, separators=(",", ":"), sort_keys=True).encode()


def _key(vhost: str, name: str) -> str:
    return json.dumps([vhost, name], separators=(",", ":"))


# ---- policies -------------------------------------------------------------------------
def put_policy(host: Host, policy: Policy, operator: bool = False) -> bool:
    """Set a (validated) policy of an existing vhost; True if it is new."""
    vhost = host.vhosts[policy.vhost]
    table = vhost.policies.table(operator)
    created = policy.name not in table
    ignored = sorted(set(policy.definition) & {*MIRRORING_KEYS, "queue-master-locator"})
    if ignored:
        log.info("policy '%s' in vhost '%s': %s accepted and ignored (amqpd has no mirrors)",
                 policy.name, policy.vhost, ", ".join(ignored))  # fmt: skip
    host.journal.setting_changed(
        OPERATOR_POLICY if operator else POLICY, _key(policy.vhost, policy.name),
        _json(policy.render()),
    )  # fmt: skip
    table[policy.name] = policy
    reapply(host, vhost)
    return created


def clear_policy(host: Host, vhost_name: str, name: str, operator: bool = False) -> bool:
    """Clear a policy; False if there was none."""
    vhost = host.vhosts.get(vhost_name)
    if vhost is None or name not in vhost.policies.table(operator):
        return False
    host.journal.setting_changed(OPERATOR_POLICY if operator else POLICY,
                                 _key(vhost_name, name), None)  # fmt: skip
    del vhost.policies.table(operator)[name]
    reapply(host, vhost)
    return True


def forget_vhost(host: Host, vhost: VirtualHost) -> None:
    """A vhost is being deleted: its policies leave the store with it."""
    for operator in (False, True):
        for name in list(vhost.policies.table(operator)):
            host.journal.setting_changed(OPERATOR_POLICY if operator else POLICY,
                                         _key(vhost.name, name), None)  # fmt: skip
        vhost.policies.table(operator).clear()


def reapply(host: Host, vhost: VirtualHost) -> None:
    """Give every queue and exchange of ``vhost`` the policies that now match it."""
    policies = vhost.policies
    for exchange in vhost.exchanges.values():
        exchange.set_policies(*policies.match("exchange", exchange.name))
    for queue in vhost.queues.values():
        if queue.set_policies(*policies.match("queue", queue.name, queue.type)):
            host.dispatcher.mark(queue)
            host.dispatcher.schedule_queue_expiry(queue)


# ---- global parameters ----------------------------------------------------------------
def put_global(host: Host, name: str, value: object) -> bool:
    """Set a global parameter; True if it is new."""
    created = name not in host.parameters
    host.journal.setting_changed(GLOBAL, name, _json(value))
    host.parameters[name] = value
    return created


def clear_global(host: Host, name: str) -> bool:
    if name not in host.parameters:
        return False
    host.journal.setting_changed(GLOBAL, name, None)
    del host.parameters[name]
    return True


# ---- start-up -------------------------------------------------------------------------
def restore(host: Host, settings: list) -> None:
    """Bring back the policies and global parameters the store kept (``settings``:
    records with kind, key and JSON value), then apply the policies. Runs once
    vhosts, exchanges and queues are back."""
    for record in settings:
        if record.kind not in (POLICY, OPERATOR_POLICY, GLOBAL):
            continue
        try:
            value = json.loads(record.value)
            if record.kind == GLOBAL:
                host.parameters[record.key] = value
                continue
            policy = from_record(value)
        except (ValueError, KeyError, TypeError) as err:
            log.warning("store: %s %s cannot be read (%s); ignored", record.kind, record.key, err)
            continue
        vhost = host.vhosts.get(policy.vhost)
        if vhost is None:
            log.warning("store: policy '%s' of unknown vhost '%s' ignored",
                        policy.name, policy.vhost)  # fmt: skip
            continue
        vhost.policies.table(record.kind == OPERATOR_POLICY)[policy.name] = policy
    for vhost in host.vhosts.values():
        reapply(host, vhost)
