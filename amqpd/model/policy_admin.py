"""Policies, operator policies and global parameters changed from outside AMQP.

Each returns an ``Outcome`` as ``admin`` does: whether it created the object and
whether a durable change waits for the store (every one of these is durable),
so the caller answers only once it is on disk. Re-applying a policy runs the
dispatch at once, so what it drops or dead-letters is gone when it answers.
"""

from __future__ import annotations

from collections.abc import Callable

from amqpd.model import parameters
from amqpd.model.admin import Outcome
from amqpd.model.broker import Broker
from amqpd.model.policies import Policy


class PolicyAdmin:
    def __init__(self, broker: Broker) -> None:
        self.broker = broker

    def _run(self, change: Callable[[], bool]) -> Outcome:
        broker = self.broker
        broker.tick()
        mark = broker.journal.mark()
        try:
            created = change()
        finally:
            broker.dispatch()
        return Outcome(created=created, durable=broker.journal.durable_since(mark))

    def put_policy(self, policy: Policy, operator: bool = False) -> Outcome:
        return self._run(lambda: parameters.put_policy(self.broker, policy, operator))

    def clear_policy(self, vhost: str, name: str, operator: bool = False) -> Outcome:
        return self._run(lambda: parameters.clear_policy(self.broker, vhost, name, operator))

    def put_global(self, name: str, value: object) -> Outcome:
        return self._run(lambda: parameters.put_global(self.broker, name, value))

    def clear_global(self, name: str) -> Outcome:
        return self._run(lambda: parameters.clear_global(self.broker, name))
