"""Changes to users, vhosts, permissions and limits from outside AMQP.

Each returns an ``Outcome`` as ``admin`` does: whether it created the object and
whether a durable change waits for the store (every one of these is durable),
so the caller answers only once it is on disk.
"""

from __future__ import annotations

from collections.abc import Callable

from amqpd.model.access import Permission, TopicPermission, User
from amqpd.model.admin import Outcome
from amqpd.model.broker import Broker
from amqpd.model.session import Session


class Accounts:
    def __init__(self, broker: Broker) -> None:
        self.broker = broker

    def _run(self, change: Callable[[], bool]) -> Outcome:
        journal = self.broker.journal
        mark = journal.mark()
        created = change()
        return Outcome(created=created, durable=journal.durable_since(mark))

    def put_user(self, user: User) -> Outcome:
        return self._run(lambda: self.broker.access.put_user(user))

    def delete_user(self, name: str) -> Outcome:
        return self._run(lambda: self.broker.access.delete_user(name))

    def put_vhost(
        self, name: str, description: str, tags: tuple[str, ...], creator: str
    ) -> Outcome:
        return self._run(lambda: self.broker.put_vhost(name, description, tags, creator))

    def delete_vhost(self, name: str) -> tuple[Outcome, list[Session]]:
        closed: list[Session] = []

        def delete() -> bool:
            closed.extend(self.broker.delete_vhost(name))
            return False

        return self._run(delete), closed

    def set_permission(self, user: str, vhost: str, permission: Permission) -> Outcome:
        return self._run(lambda: self.broker.access.set_permission(user, vhost, permission))

    def clear_permission(self, user: str, vhost: str) -> Outcome:
        return self._run(lambda: self.broker.access.clear_permission(user, vhost))

    def set_topic_permission(self, user: str, vhost: str, permission: TopicPermission) -> Outcome:
        return self._run(lambda: self.broker.access.set_topic_permission(user, vhost, permission))

    def clear_topic_permissions(self, user: str, vhost: str) -> Outcome:
        return self._run(lambda: self.broker.access.clear_topic_permissions(user, vhost))

    def set_tracing(self, vhost: str, on: bool) -> Outcome:
        """The firehose on or off for ``vhost``; nothing to write (not kept)."""

        def change() -> bool:
            self.broker.set_tracing(vhost, on)
            return False

        return self._run(change)

    def set_vhost_limit(self, vhost: str, name: str, value: int | None) -> Outcome:
        def change() -> bool:
            self.broker.access.set_vhost_limit(vhost, name, value)
            return False

        return self._run(change)
